"""Top-k recommendations from raw ids, with a clear cold-start rule.

Introduced in lesson 05; the two-stage path (``retriever=``) and ``score(at=...)`` in lesson 06.

Rule for unknown input (never a crash):
- an unknown *user* is treated as brand new: no history (features start at
  the priors) and the model's out-of-vocabulary user slot; the ranking then
  rests on what the model learned about the movies themselves;
- an unknown *movie* id can be scored (it takes the out-of-vocabulary movie
  slot and no statistics) but is never recommended: we recommend only from
  the catalogue.

Speed: the movie side of the features (statistics, genres) is the same for
every user "now", so it is computed once, and every known user's state "now"
too, both by the history's ``FeatureIndex`` (the same core as the training
rows). Requests are scored by ``course_lib.serving.CatalogueScorer`` (one
traced model call over encoded inputs). With a retrieval stage (lesson 06)
only its candidates are scored.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from course_lib.columns import GENRES, ITEM, TIMESTAMP, TITLE, USER
from course_lib.features import FeatureIndex, FeatureSpec, UserState
from course_lib.ranking import N_CANDIDATES
from course_lib.serving import CatalogueScorer, top_positions
from course_lib.train import model_inputs


class Recommender:
    """Serves top-k catalogue movies for a user "now" (after all known ratings).

    Args:
        model: A trained course model (``WideDeep`` or any model taking the
            spec's raw inputs and returning a probability).
        spec: Its ``FeatureSpec``.
        task: The ratings known "now", labelled and split (history for user
            features; movie statistics come from its ``train`` rows only).
        movies: The movies table (the catalogue).
        retriever: Optional retrieval stage (``course_lib.ranking.CooccurrenceRetriever``
            or anything with ``candidate_positions(user, n)``): the model
            then ranks only its ``n_candidates`` candidates (two-stage).
            None = rank the whole catalogue.
        n_candidates: Candidates per request when ``retriever`` is set.
        index: The history's ``FeatureIndex``, if already built.
    """

    def __init__(self, model, spec: FeatureSpec, task: pd.DataFrame, movies: pd.DataFrame,
                 retriever=None, n_candidates: int = N_CANDIDATES, index: FeatureIndex | None = None):
        self.model, self.spec, self.movies = model, spec, movies
        self.index = index or FeatureIndex(task, movies)
        self.retriever, self.n_candidates = retriever, int(n_candidates)
        self.catalogue, self.now = self.index.catalogue, self.index.now
        if retriever is not None and not np.array_equal(np.asarray(retriever.catalogue), self.catalogue):
            raise ValueError("the retriever's catalogue differs from movies': build both from the same movies table.")
        self.rated = {int(u): set(g.tolist()) for u, g in task.groupby(USER, sort=False)[ITEM]}
        self._titles = movies.set_index(ITEM)[[TITLE, GENRES]]
        self._movie_side = self.index.catalogue_features()  # the movie side "now", for every user
        users = np.array(sorted(self.rated), dtype=np.int64)
        self._state_row = {int(u): i for i, u in enumerate(users)}
        # Every known user's state now, in one pass, and (last) a brand-new user's: no history.
        self._states = self.index.user_states(np.r_[users, users.max() + 1 if len(users) else 1], self.now)
        self._rated_pos: dict[int, np.ndarray] = {}
        self._scorer = self._raw_movie_side = None  # built on first use, for this model and spec

    def for_model(self, model, spec: FeatureSpec | None = None) -> "Recommender":
        """The same recommender (history, catalogue, retriever, user states) serving another model."""
        other = copy.copy(self)
        other.model, other.spec = model, spec or model.spec
        other._scorer = other._raw_movie_side = None
        return other

    def known_user(self, user_id: int) -> bool:
        return int(user_id) in self.rated

    def state(self, user_id: int, at: int | None = None) -> UserState:
        """The user's ``UserState`` "now" or at time ``at`` (a brand-new user's for an unknown id)."""
        if at is not None:
            return self.index.user_states([user_id], [at])
        row = self._state_row.get(int(user_id), len(self._state_row))
        return self._states.take(slice(row, row + 1))

    def features(self, user_id: int, movie_ids=None) -> pd.DataFrame:
        """Feature rows for ``user_id`` x ``movie_ids`` (default: whole catalogue) at "now"."""
        if movie_ids is not None:
            items = np.asarray(movie_ids, dtype=np.int64)
            return self.index.features(pd.DataFrame({USER: np.int64(user_id), ITEM: items,
                                                     TIMESTAMP: np.int64(self.now)}))
        out = self._movie_side.copy()
        out[USER] = np.int64(user_id)
        for col, value in self.index.user_columns_over(self.state(user_id)).items():
            out[col] = value
        return out

    def inputs(self, user_id: int, movie_ids=None) -> dict[str, np.ndarray]:
        """The model's raw input dict for ``user_id`` x candidates (default: the whole catalogue).

        For the whole catalogue the movie columns come precomputed and only
        the user columns are filled in (no DataFrame work per request).
        """
        if movie_ids is not None:
            return model_inputs(self.features(user_id, movie_ids), self.spec)
        if self._raw_movie_side is None:
            self._raw_movie_side = model_inputs(self._movie_side, self.spec)
        out, n = dict(self._raw_movie_side), len(self.catalogue)
        user = {USER: np.int64(user_id), **self.index.user_columns_over(self.state(user_id))}
        for col, value in user.items():
            if col in out:
                out[col] = value if np.ndim(value) else np.full(n, value, dtype=out[col].dtype)
        return out

    def score(self, user_id: int, movie_ids=None, positions=None, at: int | None = None) -> np.ndarray:
        """Probability that ``user_id`` likes each movie.

        Args:
            user_id: A raw user id.
            movie_ids: Any movie ids (feature path, for movies outside the catalogue).
            positions: Catalogue positions to score (default: the whole
                catalogue, in catalogue order).
            at: Describe user and movies as they were at this timestamp
                (only strictly earlier ratings count); None = "now".
                Catalogue positions only.
        """
        if movie_ids is None and getattr(self.model, "encoder", None) is not None:
            if self._scorer is None:
                self._scorer = CatalogueScorer(self.model, self.spec, self.index, self._movie_side)
                # Every known user's ids encoded now, in one call: a first request pays no encoder call.
                users = list(self._state_row)
                self._scorer.encode_users([(u, None) for u in users], users, self._states.take(slice(0, len(users))))
            pos = np.arange(len(self.catalogue)) if positions is None else np.asarray(positions)
            stats = None if at is None else self.index.movie_statistics(self.catalogue[pos], np.full(len(pos), at))
            return self._scorer.score((int(user_id), at), user_id, self.state(user_id, at), pos, stats)
        if at is not None:
            raise ValueError("score(at=...) needs a course model with an encoder (build_wide_deep).")
        if positions is not None:
            movie_ids = self.catalogue[positions]
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
        if self.retriever is None:
            return self.top_k(self.score(user_id), user_id, k, exclude_rated)
        # Two-stage: the model scores only the retrieved candidates.
        pos = np.asarray(self.retriever.candidate_positions(user_id, self.n_candidates))
        scores = np.full(len(self.catalogue), -np.inf)
        scores[pos] = self.score(user_id, positions=pos)
        return self.top_k(scores, user_id, k, exclude_rated)

    def recommend_many(self, user_ids, k: int = 10, exclude_rated: bool = True) -> dict[int, pd.DataFrame]:
        """``recommend`` for each of ``user_ids`` (user -> top-k table)."""
        return {int(u): self.recommend(int(u), k, exclude_rated) for u in user_ids}

    def rated_positions(self, user_id: int) -> np.ndarray:
        """Catalogue positions of the movies ``user_id`` rated (cached per user)."""
        if int(user_id) not in self._rated_pos:
            pos = pd.Index(self.catalogue).get_indexer(list(self.rated.get(int(user_id), ())))
            self._rated_pos[int(user_id)] = pos[pos >= 0]
        return self._rated_pos[int(user_id)]

    def top_k(self, scores: np.ndarray, user_id: int, k: int = 10, exclude_rated: bool = True) -> pd.DataFrame:
        """Rank catalogue ``scores`` (any monotone score) into a top-``k`` table (ties by movie id)."""
        scores = np.asarray(scores, dtype=np.float64)
        top = top_positions(scores, self.catalogue, k, self.rated_positions(user_id) if exclude_rated else None)
        ids = self.catalogue[top]
        info = self._titles.loc[ids]
        return pd.DataFrame({"rank": np.arange(1, len(top) + 1), ITEM: ids, TITLE: info[TITLE].to_numpy(),
                             GENRES: info[GENRES].to_numpy(), "score": np.round(scores[top], 4)})
