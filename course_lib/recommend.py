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
every user "now", so it is computed, and encoded by the model's
``InputEncoder``, once; every known user's state "now"
(``course_lib.features.user_state``, the same core as the training rows) is
computed once too. A request then fills in the user's columns (the genre
affinity per candidate), looks up the (candidate, liked movie) pairs, and
makes one traced model call with a fixed signature: no string lookups, no
Keras ``predict`` bookkeeping. With a retrieval stage (lesson 06) only its
candidates are scored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from course_lib.columns import GENRES, ITEM, LABEL, RATING, SPLIT, TIMESTAMP, TITLE, USER
from course_lib.features import (
    MOVIE_NUMERIC, USER_COLUMNS, FeatureSpec, build_features, fill_years, genre_matrix, genre_vocabulary,
    median_year, movie_statistics, user_columns, user_state,
)
from course_lib.ranking import N_CANDIDATES
from course_lib.train import model_inputs


class Recommender:
    """Scores catalogue movies for a user "now" (after all known ratings).

    Args:
        model: A trained course model (``WideDeep`` or any model taking the
            spec's raw inputs and returning a probability).
        spec: Its ``FeatureSpec``.
        task: The ratings known "now", labelled and split (history for user
            features; movie statistics come from its ``train`` rows only).
            For an offline evaluation pass the rows before the test period.
        movies: The movies table (the catalogue).
        retriever: Optional retrieval stage (``course_lib.ranking.CooccurrenceRetriever``
            or anything with ``candidate_positions(user, n)``): the model
            then ranks only its ``n_candidates`` candidates (two-stage).
            None = rank the whole catalogue.
        n_candidates: Candidates per request when ``retriever`` is set.
    """

    def __init__(self, model, spec: FeatureSpec, task: pd.DataFrame, movies: pd.DataFrame,
                 retriever=None, n_candidates: int = N_CANDIDATES):
        self.model, self.spec, self.task, self.movies = model, spec, task, movies
        self.retriever, self.n_candidates = retriever, int(n_candidates)
        self.catalogue = movies[ITEM].to_numpy(np.int64)
        self.now = int(task[TIMESTAMP].max()) + 1
        self.vocab = genre_vocabulary(movies)
        self.rated = {int(u): set(g.tolist()) for u, g in task.groupby(USER, sort=False)[ITEM]}
        self._titles = movies.set_index(ITEM)[[TITLE, GENRES]]
        # Movie side at "now", computed once (any user id works: only the
        # movie columns of this table are used).
        probe = pd.DataFrame({USER: np.int64(-1), ITEM: self.catalogue, TIMESTAMP: np.int64(self.now)})
        self._static = build_features(task, movies, vocab=self.vocab, queries=probe)
        self._genres = genre_matrix(self.catalogue, movies, self.vocab).astype(np.float64)
        self._year_fill = median_year(movies)
        self._static_inputs = None
        self._states, self._state_row = self._user_states_now(task)
        self._rated_pos: dict[int, np.ndarray] = {}
        self._train_rows = None  # built on the first score(at=...)
        self._states_at: dict[tuple[int, int], object] = {}  # (user, time) -> UserState (``prepare_at``)
        if retriever is not None and not np.array_equal(np.asarray(retriever.catalogue), self.catalogue):
            raise ValueError("the retriever's catalogue differs from movies': build both from the same movies table.")
        self._serving = None  # built on first use: the encoded movie side and a traced model call
        #: Optional boolean mask over the catalogue: movies a retrieval stage
        #: let through (None = all). Only these are recommended.

    def for_model(self, model, spec: FeatureSpec | None = None) -> "Recommender":
        """The same recommender (history, catalogue, retriever) serving another model.

        Everything that does not depend on the model (the movie side "now",
        every user's state, ``prepare_at`` states) is shared, not recomputed:
        comparing several models costs one setup.
        """
        import copy

        other = copy.copy(self)
        other.model, other.spec = model, spec or model.spec
        other._static_inputs = other._serving = None  # encoded by (and traced for) the old model
        return other

    def _user_states_now(self, task: pd.DataFrame):
        """Every known user's ``UserState`` "now", in one pass (plus a brand-new user's, last)."""
        users = np.array(sorted(self.rated), dtype=np.int64)
        new_user = (users.max() + 1) if len(users) else np.int64(1)  # no ratings: a brand-new user
        probes = pd.DataFrame({USER: np.r_[users, new_user], ITEM: self.catalogue[0],
                               TIMESTAMP: np.int64(self.now), RATING: np.float32(0.0)})
        rows = pd.concat([task[[USER, ITEM, TIMESTAMP, RATING]].assign(_probe=0), probes.assign(_probe=1)],
                         ignore_index=True).sort_values([USER, TIMESTAMP, "_probe"], kind="stable")
        # Probes sit after the user's last rating with weight 0: they see every rating, add none.
        state = user_state(rows, self.movies, self.vocab, (rows["_probe"] == 0).to_numpy(np.float64))
        keep = np.flatnonzero(rows["_probe"].to_numpy() == 1)
        state = type(state)(**{k: v[keep] for k, v in vars(state).items()})
        return state, {int(u): i for i, u in enumerate(users)}

    def _rated_positions(self, user_id: int) -> np.ndarray:
        """Catalogue positions of the movies ``user_id`` rated (cached per user)."""
        if int(user_id) not in self._rated_pos:
            pos = pd.Index(self.catalogue).get_indexer(list(self.rated.get(int(user_id), ())))
            self._rated_pos[int(user_id)] = pos[pos >= 0]
        return self._rated_pos[int(user_id)]

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

    def _state_now(self, user_id: int):
        """The user's ``UserState`` "now" (a brand-new user's for an unknown id), one row."""
        row = self._state_row.get(int(user_id))
        rows = slice(row, row + 1) if row is not None else slice(-1, None)  # last row: the brand-new user
        return type(self._states)(**{k: v[rows] for k, v in vars(self._states).items()})

    def _user_columns(self, user_id: int, positions=None) -> dict:
        """The user feature columns "now" (``USER_COLUMNS``, plus the id) over catalogue ``positions``.

        Columns that do not depend on the candidate are scalars; the genre
        affinity and (without dated history) the mean year are arrays.
        """
        state = self._state_now(user_id)
        pos = slice(None) if positions is None else positions
        user = user_columns(state, self._genres[pos], self.vocab)
        user["movie_year"] = self._static["movie_year"].to_numpy()[pos]
        user = fill_years(user, self._year_fill)
        out = {USER: np.int64(user_id)}
        for col in USER_COLUMNS:
            values = user[col].to_numpy()
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

    def score(self, user_id: int, movie_ids=None, positions=None, at: int | None = None,
              movie_stats: pd.DataFrame | None = None) -> np.ndarray:
        """Probability that ``user_id`` likes each movie.

        Args:
            user_id: A raw user id.
            movie_ids: Any movie ids (feature path, for movies outside the catalogue).
            positions: Catalogue positions to score (default: the whole
                catalogue, in catalogue order).
            at: Describe user and movies as they were at this timestamp
                (only strictly earlier ratings count), as an offline
                evaluation needs; None = "now". Catalogue positions only.
            movie_stats: With ``at``: the candidates' ``MOVIE_NUMERIC`` at that
                time, if already computed (``movie_statistics`` over many
                users at once is much faster than one call per user).
        """
        if movie_ids is None and getattr(self.model, "encoder", None) is not None:
            return self._score_encoded(user_id, positions, at, movie_stats)
        if at is not None:
            raise ValueError("score(at=...) needs a course model with an encoder (build_wide_deep).")
        if positions is not None:
            movie_ids = self.catalogue[positions]
        out = self.model.predict_on_batch(self.inputs(user_id, movie_ids))
        return np.asarray(out, dtype=np.float64).reshape(-1)

    def _serving_state(self) -> dict:
        """Built once per recommender: the catalogue's encoded movie side, every known
        user's encoded history, and one traced model call with a fixed signature.

        So a request does no string or id lookup for the movies, no Keras
        ``predict`` bookkeeping, and no retracing (the candidates' count varies).
        """
        if self._serving is not None:
            return self._serving
        import tensorflow as tf

        from course_lib.features import PAIR_SHIFT

        model, spec, encoder = self.model, self.spec, self.model.encoder
        if self._static_inputs is None:
            self._static_inputs = model_inputs(self._static, spec)
        static = {k: tf.constant(np.asarray(v)) for k, v in encoder(self._static_inputs).items()}
        movie_ids = tf.constant(self.catalogue)
        numeric = np.asarray(static["numeric"]) if "numeric" in static else None
        n_hist, n_genres = len(spec.hist_columns), len(spec.user_genre_columns)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, None], tf.float32),
                                      tf.TensorSpec([], tf.int64), tf.TensorSpec([n_hist], tf.int64),
                                      tf.TensorSpec([n_genres], tf.int64), tf.TensorSpec([n_hist], tf.int64)])
        def call(pos, numeric_rows, user_index, history_index, user_genres_index, history_ids):
            n = tf.shape(pos)[0]
            x = {"user_index": tf.fill([n], user_index), "movie_index": tf.gather(static["movie_index"], pos),
                 "history_index": tf.tile(history_index[None], [n, 1]),
                 "movie_genres_index": tf.gather(static["movie_genres_index"], pos),
                 "user_genres_index": tf.tile(user_genres_index[None], [n, 1])}
            if encoder.pair is not None:
                x["movie_pair_index"] = encoder.pair(tf.gather(movie_ids, pos)[:, None] * PAIR_SHIFT
                                                     + history_ids[None])
            if "numeric" in static:
                x["numeric"] = numeric_rows
            if "movie_year" in static:
                x["movie_year"] = tf.gather(static["movie_year"], pos)
            return tf.reshape(model(x, training=False), [-1])

        raw_signature = {k: tf.TensorSpec([None], tf.string if v.dtype == object else tf.as_dtype(v.dtype))
                         for k, v in self._static_inputs.items()}
        encode = tf.function(lambda raw: encoder(raw), input_signature=[raw_signature])
        self._serving = {"call": call, "encode": encode, "numeric": numeric, "users": {}}
        return self._serving

    def _columns_at(self, user_id: int, at: int, pos: np.ndarray, movie=None) -> tuple[dict, pd.DataFrame]:
        """User columns (as ``_user_columns``) and movie statistics at time ``at``, over ``pos``.

        The same core as every other path: the user's state from a weight-0
        probe slotted into their history, the movies' statistics from train
        ratings strictly before ``at``.
        """
        state = self._states_at.get((int(user_id), int(at)))
        if state is None:
            self.prepare_at([user_id], [at])
            state = self._states_at[int(user_id), int(at)]
        if movie is None:
            movie = self.movie_stats_at(self.catalogue[pos], np.full(len(pos), at, dtype=np.int64))
        user = user_columns(state, self._genres[pos], self.vocab)
        user["movie_year"] = movie["movie_year"].to_numpy()
        user = fill_years(user, self._year_fill)
        columns = {USER: np.int64(user_id)}
        for col in USER_COLUMNS:
            values = user[col].to_numpy()
            columns[col] = values if col in ("user_genre_affinity", "user_year_mean") else values[0]
        return columns, movie

    def prepare_at(self, user_ids, times) -> None:
        """Compute the users' states at their times in one pass, for later ``score(at=...)`` calls.

        Each (user, time) is a weight-0 probe slotted into the user's history
        after every rating strictly before that time (``_user_states_now``
        does the same for "now"); one ``user_state`` call serves them all,
        instead of one per request.
        """
        users = np.asarray(user_ids, dtype=np.int64)
        probes = pd.DataFrame({USER: users, ITEM: self.catalogue[0], TIMESTAMP: np.asarray(times, dtype=np.int64),
                               RATING: np.float32(0.0)})
        history = self.task.loc[self.task[USER].isin(users), [USER, ITEM, TIMESTAMP, RATING]]
        rows = pd.concat([history.assign(_probe=0), probes.assign(_probe=1)], ignore_index=True).sort_values(
            [USER, TIMESTAMP, "_probe"], kind="stable")
        state = user_state(rows, self.movies, self.vocab, (rows["_probe"] == 0).to_numpy(np.float64))
        keep = np.flatnonzero(rows["_probe"].to_numpy() == 1)
        for i, (user, at) in zip(keep, rows.iloc[keep][[USER, TIMESTAMP]].itertuples(index=False)):
            self._states_at[int(user), int(at)] = type(state)(**{k: v[i:i + 1] for k, v in vars(state).items()})

    def encode_users_at(self, user_ids, times) -> None:
        """Encode the prepared states of many (user, time) pairs in one encoder call.

        ``score(at=...)`` encodes a user's ids, liked movies and favourite
        genres once per request otherwise; an evaluation over hundreds of
        users does them all here (the same lookups, so the same indices).
        """
        keys = [(int(u), int(t)) for u, t in zip(user_ids, times)]
        missing = [key for key in keys if key not in self._states_at]
        if missing:
            self.prepare_at([u for u, _ in missing], [t for _, t in missing])
        keys = [key for key in dict.fromkeys(keys) if key not in self._serving_state()["users"]]
        if keys:
            states = [self._states_at[key] for key in keys]
            self._encode_states(keys, type(states[0])(**{k: np.concatenate([getattr(s, k) for s in states])
                                                          for k in vars(states[0])}))

    def _encode_states(self, keys: list[tuple], state) -> None:
        """Encode the users of ``keys`` ((user, time or None) pairs; ``state`` has one row each) in one call.

        Only the user-side indices are kept (user id, liked movies, favourite
        genres): they do not depend on the candidate, so one row per user does.
        """
        serving = self._serving_state()
        columns = user_columns(state, np.repeat(self._genres[:1], len(keys), axis=0), self.vocab)
        columns[USER] = np.array([user for user, _ in keys], dtype=np.int64)
        raw = {k: np.repeat(v[:1], len(keys)) for k, v in self._static_inputs.items()}
        for col in raw:
            if col in columns:
                raw[col] = np.asarray(columns[col].to_numpy(), dtype=raw[col].dtype)
        hist = columns[list(self.spec.hist_columns)].to_numpy(np.int64)
        enc = {k: np.asarray(v) for k, v in serving["encode"](raw).items()}
        for i, key in enumerate(keys):
            serving["users"][key] = (enc["user_index"][i], enc["history_index"][i], enc["user_genres_index"][i],
                                     hist[i])

    def movie_stats_at(self, movie_ids, times) -> pd.DataFrame:
        """``MOVIE_NUMERIC`` of each (movie, time): train ratings strictly before that time.

        One ``movie_statistics`` call for all pairs (years filled as everywhere).
        """
        if self._train_rows is None:
            self._train_rows = self.task.loc[self.task[SPLIT] == "train", [ITEM, TIMESTAMP, RATING, SPLIT]].astype(
                {SPLIT: str})
        queries = pd.DataFrame({ITEM: np.asarray(movie_ids, dtype=np.int64), TIMESTAMP: np.asarray(times, np.int64),
                                RATING: np.float32(0.0), SPLIT: "query"})
        movie = movie_statistics(pd.concat([self._train_rows, queries], ignore_index=True),
                                 self.movies).iloc[len(self._train_rows):].reset_index(drop=True)
        movie["movie_year"] = movie["movie_year"].fillna(self._year_fill).astype(np.float32)
        return movie

    def _encoded_user(self, user_id: int, at=None) -> tuple[np.ndarray, ...]:
        """``(user_index, history_index, user_genres_index, history_ids)`` of a user, encoded once."""
        key = (int(user_id), at)
        if key not in self._serving["users"]:
            state = self._state_now(user_id) if at is None else self._states_at[int(user_id), int(at)]
            self._encode_states([key], state)
        return self._serving["users"][key]

    def _score_encoded(self, user_id: int, positions=None, at: int | None = None, movie=None) -> np.ndarray:
        """``score`` through the encoded fast path (same numbers as the raw path)."""
        serving = self._serving_state()
        pos = np.arange(len(self.catalogue)) if positions is None else np.asarray(positions)
        if at is None:
            columns, movie = self._user_columns(user_id, pos), None
        else:
            columns, movie = self._columns_at(user_id, at, pos, movie)
        numeric = np.zeros((len(pos), 0), np.float32)
        if serving["numeric"] is not None:
            numeric = serving["numeric"][pos]  # a copy: fancy indexing
            for i, col in enumerate(self.spec.numeric):
                if col in USER_COLUMNS:
                    numeric[:, i] = columns[col]
                elif movie is not None and col in MOVIE_NUMERIC:
                    numeric[:, i] = movie[col].to_numpy()
        user_index, history_index, genres_index, hist = self._encoded_user(user_id, at)
        out = serving["call"](pos.astype(np.int32), numeric, user_index, history_index, genres_index, hist)
        return np.asarray(out, dtype=np.float64)

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

    def top_positions(self, scores: np.ndarray, user_id: int, k: int = 10, exclude_rated: bool = True) -> np.ndarray:
        """Catalogue positions of the ``k`` best ``scores``, best first (what ``top_k`` tabulates).

        With ``exclude_rated``, skips the movies the user rated (and any score
        of -inf). Ties are broken by movie id, so lists repeat exactly.
        """
        scores = np.asarray(scores, dtype=np.float64)
        if exclude_rated:
            scores = scores.copy()
            scores[self._rated_positions(user_id)] = -np.inf
        finite = np.flatnonzero(np.isfinite(scores))
        k = min(k, len(finite))
        if k <= 0:
            return finite[:0]
        # Only the movies scoring at least the k-th best need sorting (ties at the cut all kept).
        cut = -np.partition(-scores[finite], k - 1)[k - 1]
        pool = finite[scores[finite] >= cut]
        return pool[np.lexsort((self.catalogue[pool], -scores[pool]))[:k]]

    def top_k(self, scores: np.ndarray, user_id: int, k: int = 10, exclude_rated: bool = True) -> pd.DataFrame:
        """Rank catalogue ``scores`` (any monotone score) into a top-``k`` table."""
        scores = np.asarray(scores, dtype=np.float64)
        top = self.top_positions(scores, user_id, k, exclude_rated)
        k = len(top)
        ids = self.catalogue[top]
        info = self._titles.loc[ids]
        return pd.DataFrame({"rank": np.arange(1, k + 1), ITEM: ids, TITLE: info[TITLE].to_numpy(),
                             GENRES: info[GENRES].to_numpy(), "score": np.round(scores[top], 4)})


def ranking_evaluation(model, spec, task: pd.DataFrame, movies: pd.DataFrame, users=None,
                       k: int = 10) -> tuple[dict, dict]:
    """HR@k and NDCG@k over the full catalogue minus already-rated movies.

    For each user the history is their ratings before the test period (train
    and val); relevant items are the movies they liked in the test period.

    Returns:
        ``(metrics, ranked)``: the averaged metrics and each user's top-k ids.
    """
    from course_lib.metrics import hit_rate_and_ndcg

    history = task[task[SPLIT] != "test"]
    test = task[(task[SPLIT] == "test") & (task[LABEL] == 1)]
    relevant = {int(u): set(g.tolist()) for u, g in test.groupby(USER)[ITEM]}
    users = sorted(relevant) if users is None else [int(u) for u in users if int(u) in relevant]
    rec = Recommender(model, spec, history, movies)
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


def list_sameness(lists: dict, catalogue_size: int | None = None) -> dict[str, float]:
    """How alike the users' top-k lists are: over-generalization measured as what it is (lesson 02).

    A model that generalizes too much gives everyone the same list, whatever
    their taste.

    Args:
        lists: User -> recommended movie ids (e.g. the ``ranked`` lists of
            ``ranking.RankingEvaluation``); no movie twice in one list.
        catalogue_size: Number of movies that could be recommended (adds ``coverage``).

    Returns:
        ``shared``: titles two users' lists have in common, averaged over every
        pair of users (0 = all lists differ; k = everyone gets the same list);
        ``top_title_share``: share of users whose list holds the single most
        common title; ``distinct``: distinct titles over all lists; and
        ``coverage`` = distinct / ``catalogue_size`` when given.
    """
    sets = [set(int(m) for m in movies) for movies in lists.values()]
    if len(sets) < 2:
        raise ValueError(f"list_sameness needs the lists of at least 2 users, got {len(sets)}.")
    if any(len(s) != len(list(movies)) for s, movies in zip(sets, lists.values())):
        raise ValueError("a list holds the same movie twice.")
    counts = pd.Series([m for s in sets for m in s], dtype=np.int64).value_counts()
    n = len(sets)
    out = {"shared": float((counts * (counts - 1)).sum() / (n * (n - 1))),
           "top_title_share": float(counts.iloc[0] / n) if len(counts) else 0.0,
           "distinct": int(len(counts))}
    if catalogue_size is not None:
        out["coverage"] = out["distinct"] / int(catalogue_size)
    return out
