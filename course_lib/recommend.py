"""Top-k recommendations from raw ids, with a clear cold-start rule.

Introduced in lesson 05.

Rule for unknown input (never a crash):
- an unknown *user* is treated as brand new: no history (features start at
  the priors) and the model's out-of-vocabulary user slot; the ranking then
  rests on what the model learned about the movies themselves;
- an unknown *movie* id can be scored (it takes the out-of-vocabulary movie
  slot and no statistics) but is never recommended: we recommend only from
  the catalogue.

Speed: the movie side of the features (statistics, genres) is the same for
every user "now", so it is computed once; per request only the user's
history is summarised (``course_lib.features.user_state``, the same core as
the training rows) and the genre affinity computed for all candidates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from course_lib.columns import GENRES, ITEM, LABEL, RATING, SPLIT, TIMESTAMP, TITLE, USER
from course_lib.features import (
    USER_COLUMNS, FeatureSpec, build_features, fill_years, genre_matrix, genre_vocabulary, median_year,
    user_columns, user_state,
)
from course_lib.train import model_inputs


class Recommender:
    """Scores every catalogue movie for a user "now" (after all known ratings).

    Args:
        model: A trained course model (``WideDeep`` or any model taking the
            spec's raw inputs and returning a probability).
        spec: Its ``FeatureSpec``.
        task: The ratings known "now", labelled and split (history for user
            features; movie statistics come from its ``train`` rows only).
            For an offline evaluation pass the rows before the test period.
        movies: The movies table (the catalogue).
    """

    def __init__(self, model, spec: FeatureSpec, task: pd.DataFrame, movies: pd.DataFrame):
        self.model, self.spec, self.task, self.movies = model, spec, task, movies
        self.catalogue = movies[ITEM].to_numpy(np.int64)
        self.now = int(task[TIMESTAMP].max()) + 1
        self.vocab = genre_vocabulary(movies)
        self.rated = {int(u): set(g.tolist()) for u, g in task.groupby(USER, sort=False)[ITEM]}
        self._history = {int(u): g for u, g in task.groupby(USER, sort=False)}
        self._titles = movies.set_index(ITEM)[[TITLE, GENRES]]
        # Movie side at "now", computed once (any user id works: only the
        # movie columns of this table are used).
        probe = pd.DataFrame({USER: np.int64(-1), ITEM: self.catalogue, TIMESTAMP: np.int64(self.now)})
        self._static = build_features(task, movies, vocab=self.vocab, queries=probe)
        self._genres = genre_matrix(self.catalogue, movies, self.vocab).astype(np.float64)
        self._year_fill = median_year(movies)
        self._static_inputs = None
        #: Optional boolean mask over the catalogue: movies a retrieval stage
        #: let through (None = all). Only these are recommended.
        self.allowed = None

    def known_user(self, user_id: int) -> bool:
        return int(user_id) in self.rated

    def features(self, user_id: int, movie_ids=None) -> pd.DataFrame:
        """Feature rows for ``user_id`` x ``movie_ids`` (default: whole catalogue) at "now"."""
        if movie_ids is not None:
            items = np.asarray(movie_ids, dtype=np.int64)
            queries = pd.DataFrame({USER: np.int64(user_id), ITEM: items, TIMESTAMP: np.int64(self.now)})
            return build_features(self.task, self.movies, vocab=self.vocab, queries=queries)
        out = self._static.copy()
        for col, value in self._user_columns(user_id).items():
            out[col] = value
        return out

    def _user_columns(self, user_id: int) -> dict:
        """The user feature columns "now", over the catalogue (``USER_COLUMNS``, plus the id)."""
        hist = self._history.get(int(user_id))
        hist = hist if hist is not None else self.task.iloc[:0]
        # The user's state "now": a probe row after their last rating, with weight 0.
        probe = pd.DataFrame({USER: [np.int64(user_id)], ITEM: [self.catalogue[0]],
                              TIMESTAMP: [np.int64(self.now)], RATING: [np.float32(0.0)]})
        rows = pd.concat([hist[[USER, ITEM, TIMESTAMP, RATING]], probe], ignore_index=True)
        weight = np.r_[np.ones(len(hist)), 0.0]
        state = user_state(rows, self.movies, self.vocab, weight)
        state = type(state)(**{k: v[-1:] for k, v in vars(state).items()})
        user = user_columns(state, self._genres, self.vocab)
        user["movie_year"] = self._static["movie_year"].to_numpy()
        user = fill_years(user, self._year_fill)
        out = {USER: np.int64(user_id)}
        for col in USER_COLUMNS:
            values = user[col].to_numpy()
            # Columns that do not depend on the candidate travel as scalars.
            out[col] = values if col in ("user_genre_affinity", "user_year_mean") else values[0]
        return out

    def inputs(self, user_id: int, movie_ids=None) -> dict[str, np.ndarray]:
        """The model's raw input dict for ``user_id`` x candidates.

        For the whole catalogue the movie columns come precomputed and only
        the user columns are filled in (no DataFrame work per request).
        """
        if movie_ids is not None:
            return model_inputs(self.features(user_id, movie_ids), self.spec)
        if self._static_inputs is None:
            self._static_inputs = model_inputs(self._static, self.spec)
        user = self._user_columns(user_id)
        n = len(self.catalogue)
        out = dict(self._static_inputs)
        for col, value in user.items():
            if col in out:
                out[col] = value if np.ndim(value) else np.full(n, value, dtype=out[col].dtype)
        return out

    def score(self, user_id: int, movie_ids=None) -> np.ndarray:
        """Probability that ``user_id`` likes each movie (catalogue order by default)."""
        out = self.model.predict_on_batch(self.inputs(user_id, movie_ids))
        return np.asarray(out, dtype=np.float64).reshape(-1)

    def branch_logits(self, user_id: int, movie_ids=None) -> tuple[np.ndarray, np.ndarray]:
        """Wide and deep logits per movie (zeros for a branch the model lacks)."""
        w, d = self.model.branch_logits(self.inputs(user_id, movie_ids))
        return np.asarray(w, dtype=np.float64), np.asarray(d, dtype=np.float64)

    def recommend(self, user_id: int, k: int = 10, exclude_rated: bool = True) -> pd.DataFrame:
        """The top-``k`` catalogue movies for ``user_id``, with titles.

        Args:
            user_id: A raw MovieLens user id (unknown ids get the cold-start rule).
            k: How many movies.
            exclude_rated: Skip movies the user already rated.

        Returns:
            Columns rank, movie_id, title, genres, score (probability of liking).
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        return self.top_k(self.score(user_id), user_id, k, exclude_rated)

    def recommend_many(self, user_ids, k: int = 10, exclude_rated: bool = True,
                       users_per_batch: int = 8) -> dict[int, pd.DataFrame]:
        """``recommend`` for many users, scoring several users per model call (faster)."""
        users = [int(u) for u in user_ids]
        out = {}
        n = len(self.catalogue)
        for start in range(0, len(users), users_per_batch):
            chunk = users[start:start + users_per_batch]
            parts = [self.inputs(u) for u in chunk]
            batch = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
            scores = np.asarray(self.model.predict_on_batch(batch), dtype=np.float64).reshape(-1)
            for i, user in enumerate(chunk):
                out[user] = self.top_k(scores[i * n:(i + 1) * n], user, k, exclude_rated)
        return out

    def top_k(self, scores: np.ndarray, user_id: int, k: int = 10, exclude_rated: bool = True) -> pd.DataFrame:
        """Rank catalogue ``scores`` (any monotone score) into a top-``k`` table."""
        scores = np.asarray(scores, dtype=np.float64)
        if self.allowed is not None:
            scores = np.where(self.allowed, scores, -np.inf)
        if exclude_rated:
            seen = self.rated.get(int(user_id), set())
            scores = np.where(np.isin(self.catalogue, list(seen)), -np.inf, scores)
        k = min(k, int(np.isfinite(scores).sum()))
        # Stable order: ties broken by movie id, so lists repeat exactly.
        top = np.lexsort((self.catalogue, -scores))[:k]
        ids = self.catalogue[top]
        info = self._titles.loc[ids]
        return pd.DataFrame({"rank": np.arange(1, k + 1), ITEM: ids, TITLE: info[TITLE].to_numpy(),
                             GENRES: info[GENRES].to_numpy(), "score": np.round(scores[top], 4)})


def ranking_evaluation(model, spec, task: pd.DataFrame, movies: pd.DataFrame, users=None,
                       k: int = 10, pool: int | None = None) -> tuple[dict, dict]:
    """HR@k and NDCG@k over the full catalogue minus already-rated movies.

    For each user the history is their ratings before the test period (train
    and val); relevant items are the movies they liked in the test period.

    Args:
        pool: If set, a two-stage recommender as in the Wide&Deep paper: a
            retrieval stage keeps the ``pool`` most-rated movies (before the
            test period) and the model ranks only those. None = the model
            ranks the whole catalogue.

    Returns:
        ``(metrics, ranked)``: the averaged metrics and each user's top-k ids.
    """
    from course_lib.metrics import hit_rate_and_ndcg

    history = task[task[SPLIT] != "test"]
    test = task[(task[SPLIT] == "test") & (task[LABEL] == 1)]
    relevant = {int(u): set(g.tolist()) for u, g in test.groupby(USER)[ITEM]}
    users = sorted(relevant) if users is None else [int(u) for u in users if int(u) in relevant]
    rec = Recommender(model, spec, history, movies)
    if pool is not None:
        counts = history.groupby(ITEM).size().reindex(rec.catalogue).fillna(0).to_numpy()
        ranks = np.argsort(np.lexsort((rec.catalogue, -counts)))  # rank 0 = most rated
        rec.allowed = ranks < pool
    ranked = {u: top[ITEM].tolist() for u, top in rec.recommend_many(users, k).items()}
    return hit_rate_and_ndcg(ranked, {u: relevant[u] for u in users}, k), ranked


def popularity_evaluation(task: pd.DataFrame, users=None, k: int = 10) -> tuple[dict, dict]:
    """The same HR@k / NDCG@k for the most-rated movies (a model-free baseline).

    Popularity counts only ratings before the test period (``train`` and
    ``val``); each user gets the most popular movies they have not rated yet.
    """
    from course_lib.metrics import hit_rate_and_ndcg

    history = task[task[SPLIT] != "test"]
    test = task[(task[SPLIT] == "test") & (task[LABEL] == 1)]
    relevant = {int(u): set(g.tolist()) for u, g in test.groupby(USER)[ITEM]}
    users = sorted(relevant) if users is None else [int(u) for u in users if int(u) in relevant]
    counts = history.groupby(ITEM).size()
    order = counts.sort_values(ascending=False, kind="stable").index.to_numpy()
    rated = {int(u): set(g.tolist()) for u, g in history.groupby(USER)[ITEM]}
    ranked = {}
    for u in users:
        seen = rated.get(u, set())
        ranked[u] = [int(m) for m in order[:k + len(seen)] if m not in seen][:k]
    return hit_rate_and_ndcg(ranked, {u: relevant[u] for u in users}, k), ranked
