"""Scoring the catalogue fast: a course model's traced call over encoded inputs.

Used behind ``course_lib.recommend.Recommender`` (lesson 05) and the ranking
evaluation (lessons 02 and 06).

The movie side of the catalogue (ids, genres, years) is the same for every
request, so the model's ``InputEncoder`` encodes it once; a user's ids (user,
liked movies, favourite genres) are encoded once per (user, time). A request
then fills in the numeric columns that depend on the user or the time, and
makes one traced model call with a fixed signature: no string or id lookup,
no Keras ``predict`` bookkeeping, no retracing when the candidates' count
varies. It gives the numbers of ``model.predict`` on the same feature rows
(``tests/test_recommend.py`` checks it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from course_lib.columns import USER
from course_lib.features import MOVIE_NUMERIC, PAIR_SHIFT, USER_COLUMNS, FeatureIndex, UserState, user_columns
from course_lib.train import model_inputs


class CatalogueScorer:
    """One course model's probabilities for one user over catalogue positions.

    Args:
        model: A course model with an ``encoder`` (``build_wide_deep`` and the
            other course builders).
        spec: Its ``FeatureSpec``.
        index: The ``FeatureIndex`` of the history.
        movie_side: ``index.catalogue_features()``: the catalogue's rows (their
            movie columns are encoded once; the numeric ones are defaults).
    """

    def __init__(self, model, spec, index: FeatureIndex, movie_side: pd.DataFrame):
        import tensorflow as tf

        self.model, self.spec, self.index = model, spec, index
        encoder = model.encoder
        self.raw = model_inputs(movie_side, spec)
        static = {k: tf.constant(np.asarray(v)) for k, v in encoder(self.raw).items()}
        self.numeric = np.asarray(static["numeric"]) if "numeric" in static else None
        self.users: dict = {}  # key -> encoded (user, history, favourite genres, liked ids)
        movie_ids = tf.constant(index.catalogue)
        n_hist, n_genres = len(spec.hist_columns), len(spec.user_genre_columns)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, None], tf.float32),
                                      tf.TensorSpec([None], tf.int64), tf.TensorSpec([None, n_hist], tf.int64),
                                      tf.TensorSpec([None, n_genres], tf.int64), tf.TensorSpec([None, n_hist], tf.int64)])
        def call(pos, numeric_rows, user_index, history_index, user_genres_index, history_ids):
            # Rows: user 0 x every position, then user 1 x every position, ...
            n, b = tf.shape(pos)[0], tf.shape(user_index)[0]
            movies = tf.tile(pos, [b])
            x = {"user_index": tf.repeat(user_index, n), "movie_index": tf.gather(static["movie_index"], movies),
                 "history_index": tf.repeat(history_index, n, axis=0),
                 "movie_genres_index": tf.gather(static["movie_genres_index"], movies),
                 "user_genres_index": tf.repeat(user_genres_index, n, axis=0)}
            if encoder.pair is not None:
                x["movie_pair_index"] = encoder.pair(tf.gather(movie_ids, movies)[:, None] * PAIR_SHIFT
                                                     + tf.repeat(history_ids, n, axis=0))
            if "numeric" in static:
                x["numeric"] = numeric_rows
            if "movie_year" in static:
                x["movie_year"] = tf.gather(static["movie_year"], movies)
            return tf.reshape(model(x, training=False), [b, n])

        raw_signature = {k: tf.TensorSpec([None], tf.string if v.dtype == object else tf.as_dtype(v.dtype))
                         for k, v in self.raw.items()}
        self._call = call
        self._encode = tf.function(lambda raw: encoder(raw), input_signature=[raw_signature])

    def encode_users(self, keys: list, user_ids, state: UserState) -> None:
        """Encode many users' ids at once (``state``: one row per key), kept under ``keys``.

        Only the user-side indices are kept (user id, liked movies, favourite
        genres): they do not depend on the candidate, so one row per user does.
        """
        columns = user_columns(state, self.index.catalogue_genres[np.zeros(len(keys), int)], self.index.vocab)
        columns[USER] = np.asarray(user_ids, dtype=np.int64)
        raw = {k: np.repeat(v[:1], len(keys)) for k, v in self.raw.items()}
        for col in raw:
            if col in columns:
                raw[col] = np.asarray(columns[col].to_numpy(), dtype=raw[col].dtype)
        hist = columns[list(self.spec.hist_columns)].to_numpy(np.int64)
        enc = {k: np.asarray(v) for k, v in self._encode(raw).items()}
        for i, key in enumerate(keys):
            self.users[key] = (enc["user_index"][i], enc["history_index"][i], enc["user_genres_index"][i], hist[i])

    def score(self, key, user_id: int, state: UserState, positions, movie_stats: pd.DataFrame | None = None
              ) -> np.ndarray:
        """Probabilities over catalogue ``positions`` for the user of ``state`` (encoded once under ``key``).

        Args:
            movie_stats: The candidates' ``MOVIE_NUMERIC`` at the user's time
                (None: the movie side's, i.e. "now").
        """
        return self.score_users([key], [user_id], state, positions, movie_stats)[0]

    def score_users(self, keys: list, user_ids, state: UserState, positions,
                    movie_stats: pd.DataFrame | None = None) -> np.ndarray:
        """``score`` of several users over the same ``positions`` in one model call: (users, positions).

        Every row goes through the same layers as when its user is scored
        alone, only more rows at once: the probabilities agree to float32
        rounding (about 1e-7: a matrix product rounds differently for another
        number of rows; ``tests/test_recommend.py`` checks 1e-6), which left
        every ranked list of lessons 02, 05 and 06 unchanged.

        Args:
            keys, user_ids, positions: As ``score``'s, one key and id per user.
            state: One row per key.
            movie_stats: The candidates' ``MOVIE_NUMERIC`` at each user's time,
                user after user (None: the movie side's, i.e. "now").
        """
        missing = [i for i, key in enumerate(keys) if key not in self.users]
        if missing:
            self.encode_users([keys[i] for i in missing], [user_ids[i] for i in missing], state.take(missing))
        pos = np.asarray(positions)
        rows = np.tile(pos, len(keys))
        numeric = np.zeros((len(rows), 0), np.float32)
        if self.numeric is not None:
            columns = self.index.user_columns_over(state, pos)
            numeric = self.numeric[rows]  # a copy: fancy indexing
            for i, col in enumerate(self.spec.numeric):
                if col in USER_COLUMNS:
                    numeric[:, i] = columns[col]
                elif movie_stats is not None and col in MOVIE_NUMERIC:
                    numeric[:, i] = movie_stats[col].to_numpy()
        encoded = [self.users[key] for key in keys]
        out = self._call(pos.astype(np.int32), numeric, *(np.stack(part) for part in zip(*encoded)))
        return np.asarray(out, dtype=np.float64)


def top_positions(scores: np.ndarray, catalogue: np.ndarray, k: int = 10, exclude=None) -> np.ndarray:
    """Catalogue positions of the ``k`` best finite ``scores``, best first.

    Positions in ``exclude`` (e.g. the movies a user rated) are skipped. Ties
    are broken by movie id, so lists repeat exactly.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if exclude is not None and len(exclude):
        scores = scores.copy()
        scores[exclude] = -np.inf
    finite = np.flatnonzero(np.isfinite(scores))
    k = min(k, len(finite))
    if k <= 0:
        return finite[:0]
    # Only the movies scoring at least the k-th best need sorting (ties at the cut all kept).
    cut = -np.partition(-scores[finite], k - 1)[k - 1]
    pool = finite[scores[finite] >= cut]
    return pool[np.lexsort((catalogue[pool], -scores[pool]))[:k]]
