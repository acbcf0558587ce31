"""The scale path: stream MovieLens 25M/32M through tf.data instead of pandas.

``course_lib`` builds features in memory (fine for 100k ratings). For 25-32M
ratings this module reads ``ratings.csv`` in chunks (pandas ``chunksize``),
featurizes each chunk with a per-user streaming state and feeds the batches to
Keras through ``tf.data.Dataset.from_generator``, so memory is bounded by one
chunk plus per-movie counters, not by the data set.

What matches the in-memory path (``course_lib.features.build_features``):
MovieLens files are grouped by user, so every chunk is cut at a user boundary
(the last, possibly incomplete user is carried into the next chunk). Within a
complete user, labels, the chronological split, the user history features,
the last liked movies, favourite genres and the movie genres are computed by
the same ``course_lib`` functions and are identical.

What differs: movie statistics (count, mean, std of ``train`` ratings) come
from a running state updated in *file order*: a row sees the train ratings of
the users earlier in the file (all of them, whatever their timestamps), not
"train ratings strictly earlier in time" of every user. That needs no global
sort, but a movie's statistics may include ratings from its future and differ
between the two paths; the first users see only the priors. The feature spec
(numeric normalisation) comes from the first chunk's train rows, its
vocabularies from a cheap id-only pass, and the movie x history cross is
hashed (``FeatureSpec.movie_pairs = []``) because the exact pair vocabulary
of 25M ratings would not fit in memory.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from course_lib.columns import GENRES, ITEM, LABEL, RATING, SPLIT, TIMESTAMP, TITLE, USER, YEAR
from course_lib.features import (
    PRIOR_RATING, SHRINKAGE, genre_vocabulary, movie_genre_columns, user_history_features,
)
from course_lib.split import make_task

#: MovieLens' csv header -> course column names.
CSV_COLUMNS = {"userId": USER, "movieId": ITEM, "rating": RATING, "timestamp": TIMESTAMP}
CSV_DTYPES = {"userId": "int64", "movieId": "int64", "rating": "float32", "timestamp": "int64"}
DEFAULT_CHUNK_ROWS = 500_000


# ------------------------------------------------------------------- data ---

def write_synthetic_csv(folder: str | os.PathLike, n_users: int = 30_000, n_movies: int = 3_000,
                        ratings_per_user: tuple[int, int] = (20, 180), seed: int = 0,
                        users_per_call: int | None = None) -> dict:
    """Write a MovieLens-25M-shaped ``ratings.csv`` + ``movies.csv`` into ``folder``.

    Ratings come from ``course_lib.synthetic.synthetic_movielens`` and are
    written like the real files: header ``userId,movieId,rating,timestamp``,
    ordered by user then movie (not by time: the reader must sort each user).

    Args:
        users_per_call: Generate and append this many users at a time (bounded
            memory); each block reuses the same movies (same seed) with fresh users.

    Returns:
        ``rows``, ``seconds`` and the ``folder``.
    """
    from course_lib.synthetic import synthetic_movielens

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    step = users_per_call or n_users
    rows = 0
    movies = None
    with open(folder / "ratings.csv", "w", encoding="utf-8", newline="") as fh:
        fh.write("userId,movieId,rating,timestamp\n")
        for block, first in enumerate(range(0, n_users, step)):
            n = min(step, n_users - first)
            ratings, block_movies = synthetic_movielens(n_users=n, n_movies=n_movies,
                                                        ratings_per_user=ratings_per_user, seed=seed + block)
            if movies is None:
                movies = block_movies
            ratings[USER] += first
            ratings = ratings.sort_values([USER, ITEM], kind="stable")
            ratings.rename(columns={v: k for k, v in CSV_COLUMNS.items()}).to_csv(
                fh, header=False, index=False, columns=list(CSV_COLUMNS))
            rows += len(ratings)
    movies[[ITEM, TITLE, GENRES]].rename(columns={ITEM: "movieId", TITLE: "title", GENRES: "genres"}).to_csv(
        folder / "movies.csv", index=False)
    return {"rows": rows, "seconds": round(time.perf_counter() - start, 2), "folder": str(folder)}


def stream_ratings(path: str | os.PathLike, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                   max_rows: int | None = None) -> Iterator[pd.DataFrame]:
    """Ratings of complete users, one chunk at a time, sorted by (user, time, movie).

    ``ratings.csv`` must be grouped by user (MovieLens files are). Each chunk
    ends at a user boundary: the last user of a read is held back and joined
    to the next read, so per-user features see the user's whole history.

    Args:
        path: ``ratings.csv`` (or the release folder holding it).
        chunk_rows: Rows read per ``pandas.read_csv`` chunk.
        max_rows: Stop after about this many rows (whole users only).

    Raises:
        ValueError: If a user reappears after another one (file not grouped by user).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "ratings.csv"
    carry = None
    seen = 0
    last_done = -1
    reader = pd.read_csv(path, dtype=CSV_DTYPES, usecols=list(CSV_COLUMNS), chunksize=chunk_rows)
    for raw in reader:
        raw = raw.rename(columns=CSV_COLUMNS)[[USER, ITEM, RATING, TIMESTAMP]]
        if carry is not None:
            raw = pd.concat([carry, raw], ignore_index=True)
        users = raw[USER].to_numpy()
        if not _is_grouped(users):
            _raise_ungrouped(path)
        cut = int(np.searchsorted(users, users[-1], side="left"))
        carry = raw.iloc[cut:]
        chunk = raw.iloc[:cut]
        if len(chunk):
            if int(chunk[USER].iloc[0]) <= last_done:
                _raise_ungrouped(path)
            last_done = int(chunk[USER].iloc[-1])
            yield _sorted(chunk)
            seen += len(chunk)
            if max_rows is not None and seen >= max_rows:
                return
    if carry is not None and len(carry):
        if int(carry[USER].iloc[0]) <= last_done:
            _raise_ungrouped(path)
        yield _sorted(carry)


def _is_grouped(users: np.ndarray) -> bool:
    # Grouped and ascending by user, like MovieLens; cheap to check per chunk.
    return bool(np.all(users[1:] >= users[:-1]))


def _raise_ungrouped(path) -> None:
    raise ValueError(f"{path} is not ordered by userId; the streaming reader needs each user's "
                     "ratings together (MovieLens files are). Sort it once, e.g. "
                     "`sort -t, -k1,1n` on the body, or load it in memory instead.")


def _sorted(chunk: pd.DataFrame) -> pd.DataFrame:
    return chunk.sort_values([USER, TIMESTAMP, ITEM], kind="stable").reset_index(drop=True)


def load_movies_csv(folder: str | os.PathLike) -> pd.DataFrame:
    """The movies table of a release folder, in the course's schema."""
    from course_lib.data import load_movies

    return load_movies("ml-25m", path=folder)


def id_vocabularies(path: str | os.PathLike, chunk_rows: int = 2_000_000,
                    max_rows: int | None = None) -> tuple[list[int], list[int]]:
    """Sorted user and movie ids of ``ratings.csv``, reading only the id columns."""
    path = Path(path)
    if path.is_dir():
        path = path / "ratings.csv"
    users, movies = set(), set()
    n = 0
    for raw in pd.read_csv(path, usecols=["userId", "movieId"], dtype="int64", chunksize=chunk_rows):
        users.update(np.unique(raw["userId"].to_numpy()).tolist())
        movies.update(np.unique(raw["movieId"].to_numpy()).tolist())
        n += len(raw)
        if max_rows is not None and n >= max_rows:
            break
    return sorted(users), sorted(movies)


# --------------------------------------------------------------- features ---

class StreamingFeaturizer:
    """Course features for a stream of complete-user chunks (see the module docstring).

    Args:
        movies: The movies table (genres, years).
    """

    def __init__(self, movies: pd.DataFrame):
        self.movies = movies
        self.vocab = genre_vocabulary(movies)
        size = int(movies[ITEM].max()) + 1
        # Running sums of train ratings per movie id, in file order.
        self.count = np.zeros(size)
        self.s1 = np.zeros(size)
        self.s2 = np.zeros(size)
        years = movies[YEAR].astype("Float64").to_numpy(np.float64, na_value=np.nan)
        self.year = np.full(size, np.nan)
        self.year[movies[ITEM].to_numpy(np.int64)] = years
        finite = years[np.isfinite(years)]
        self.median_year = float(np.median(finite)) if len(finite) else 1995.0

    def _grow(self, max_id: int) -> None:
        if max_id >= len(self.count):
            extra = max_id + 1 - len(self.count)
            self.count, self.s1, self.s2 = (np.r_[a, np.zeros(extra)] for a in (self.count, self.s1, self.s2))
            self.year = np.r_[self.year, np.full(extra, np.nan)]

    def movie_statistics(self, movie_ids: np.ndarray) -> pd.DataFrame:
        """Movie columns from the running state (same formulas as ``course_lib.features``)."""
        count, s1, s2 = self.count[movie_ids], self.s1[movie_ids], self.s2[movie_ids]
        mean = (s1 + SHRINKAGE * PRIOR_RATING) / (count + SHRINKAGE)
        var = np.where(count > 1, (s2 - s1 ** 2 / np.maximum(count, 1)) / np.maximum(count - 1, 1), 0.0)
        return pd.DataFrame({
            "movie_rating_count": np.log1p(count).astype(np.float32),
            "movie_rating_mean": mean.astype(np.float32),
            "movie_rating_std": np.sqrt(np.maximum(var, 0)).astype(np.float32),
            "movie_year": self.year[movie_ids],
        })

    def update(self, task: pd.DataFrame) -> None:
        """Add the chunk's train ratings to the movie state (after featurizing it)."""
        train = task[task[SPLIT] == "train"]
        ids = train[ITEM].to_numpy(np.int64)
        r = train[RATING].to_numpy(np.float64)
        np.add.at(self.count, ids, 1.0)
        np.add.at(self.s1, ids, r)
        np.add.at(self.s2, ids, r * r)

    def transform(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Feature rows of one chunk of complete users (columns as ``build_features``)."""
        task = make_task(chunk)
        movie_ids = task[ITEM].to_numpy(np.int64)
        self._grow(int(movie_ids.max()))
        base = task[[USER, ITEM, TIMESTAMP, RATING, LABEL, SPLIT]]
        genres = movie_genre_columns(movie_ids, self.movies, self.vocab)
        user = user_history_features(task, self.movies, self.vocab).reset_index(drop=True)
        movie = self.movie_statistics(movie_ids)
        out = pd.concat([base.reset_index(drop=True), genres, user, movie], axis=1)
        out["movie_year"] = out["movie_year"].fillna(self.median_year)
        out["user_year_mean"] = out["user_year_mean"].fillna(out["movie_year"]).astype(np.float32)
        out["movie_year"] = out["movie_year"].astype(np.float32)
        self.update(task)
        return out


def stream_features(path, movies: pd.DataFrame, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                    max_rows: int | None = None) -> Iterator[pd.DataFrame]:
    """Feature tables, one per chunk of complete users."""
    featurizer = StreamingFeaturizer(movies)
    for chunk in stream_ratings(path, chunk_rows, max_rows):
        yield featurizer.transform(chunk)


# ---------------------------------------------------------------- tf.data ---

def streaming_spec(first_features: pd.DataFrame, users: list[int], movies: list[int]):
    """A ``FeatureSpec`` for the stream: normalisation from the first chunk, full id vocabularies."""
    from course_lib.models import FeatureSpec, make_feature_spec

    spec = make_feature_spec(first_features)
    return FeatureSpec.from_dict({**spec.to_dict(), "users": list(users), "movies": list(movies),
                                  "movie_pairs": []})


class StreamCounter:
    """What a streaming pass saw: rows per split and a bounded sample of test rows."""

    def __init__(self, keep_test: int = 100_000):
        self.rows = self.train_rows = 0
        self.keep_test = keep_test
        self.test_parts: list[pd.DataFrame] = []
        self.kept = 0

    def see(self, feats: pd.DataFrame) -> pd.DataFrame:
        self.rows += len(feats)
        train = feats[feats[SPLIT] == "train"]
        self.train_rows += len(train)
        if self.kept < self.keep_test:
            test = feats[feats[SPLIT] == "test"].iloc[: self.keep_test - self.kept]
            self.test_parts.append(test)
            self.kept += len(test)
        return train

    def test_rows(self) -> pd.DataFrame:
        return pd.concat(self.test_parts, ignore_index=True) if self.test_parts else pd.DataFrame()


def make_streaming_dataset(path, movies: pd.DataFrame, spec, batch_size: int, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                           max_rows: int | None = None, counter: StreamCounter | None = None,
                           shuffle_buffer: int = 0, seed: int = 0, prefetch: bool = True):
    """A one-pass ``tf.data.Dataset`` of ``(inputs, liked)`` train batches read from ``ratings.csv``.

    Featurizing runs in the generator (Python, in tf.data's thread) and
    ``prefetch`` overlaps it with training. Rows arrive grouped by user;
    ``shuffle_buffer`` > 0 mixes them across users (costs memory).
    """
    import tensorflow as tf

    from course_lib.train import model_inputs

    counter = counter or StreamCounter()

    def batches():
        for feats in stream_features(path, movies, chunk_rows, max_rows):
            train = counter.see(feats)
            inputs = model_inputs(train, spec)
            labels = train[LABEL].to_numpy(np.float32)
            for lo in range(0, len(train), batch_size):
                yield {k: v[lo:lo + batch_size] for k, v in inputs.items()}, labels[lo:lo + batch_size]

    signature = ({name: tf.TensorSpec((None,), _tf_dtype(name, spec)) for name in spec.input_names},
                 tf.TensorSpec((None,), tf.float32))
    ds = tf.data.Dataset.from_generator(batches, output_signature=signature)
    if shuffle_buffer:
        ds = ds.unbatch().shuffle(shuffle_buffer, seed=seed).batch(batch_size)
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds


def _tf_dtype(name: str, spec):
    import tensorflow as tf

    if name in spec.numeric:
        return tf.float32
    if name in (*spec.movie_genre_columns, *spec.user_genre_columns):
        return tf.string
    return tf.int64


def get_strategy(name: str):
    """``tf.distribute`` strategy by name: "default" (no distribution) or "mirrored"."""
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "default":
        return tf.distribute.get_strategy()
    raise ValueError(f"unknown strategy {name!r}; use 'default' or 'mirrored'.")
