"""The scale path: stream MovieLens 25M/32M through tf.data instead of pandas.

``course_lib`` builds features in memory (fine for 100k ratings). For 25-32M
ratings this module reads ``ratings.csv`` in chunks (pandas ``chunksize``)
of *complete users* (MovieLens files are grouped by user; the last, possibly
incomplete user of a read is carried into the next), featurizes each chunk
and feeds the batches to Keras through ``tf.data.Dataset.from_generator``.

Two passes keep every feature time-correct:

1. ``plan_stream`` reads the file once, labels and splits each chunk with
   ``make_task`` (the split is per user, so a chunk of complete users splits
   as the whole file does) and keeps every ``train`` rating in a
   ``MovieHistory``: memory proportional to the train ratings (24 bytes
   each), plus the id vocabularies and each chunk's size.
2. ``stream_features`` reads it again; per chunk the user features, genres
   and years come from the feature core of ``course_lib.features``, and the
   movie statistics (count, mean, std) from the train ratings of *any* user
   strictly earlier in time, looked up in the ``MovieHistory``. No statistic
   of a row includes a rating at or after that row's time, and every column
   equals ``build_features`` on the whole file (``tests/test_scale.py``).

Memory is one chunk plus the history (about 400 MiB for ml-25m). Chunk
``i`` goes to worker ``i % n``, so ``n`` workers featurize disjoint shares
(``benchmarks/multiworker.py``). The feature spec's normalisation comes from
the first chunk's train rows, its vocabularies from the first pass, and the
movie x history cross is hashed (``FeatureSpec.movie_pairs = []``) because
the exact pair vocabulary of 25M ratings would not fit in memory.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from course_lib.columns import GENRES, ITEM, LABEL, RATING, SPLIT, TIMESTAMP, TITLE, USER
from course_lib.features import (
    assemble, earlier_rating_sums, genre_vocabulary, median_year, movie_columns, movie_years, rating_index,
    user_history_features,
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
    path = _ratings_path(path)
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


def _ratings_path(path) -> Path:
    path = Path(path)
    return path / "ratings.csv" if path.is_dir() else path


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


# --------------------------------------------------------------- features ---

class MovieHistory:
    """Every ``train`` rating of the file, indexed by (movie, time): the first pass's product.

    Movie statistics must use only train ratings strictly earlier in time, of
    any user; a user-grouped file delivers them out of time order, so the
    first pass keeps them all in the feature core's ``rating_index`` (24
    bytes each: a sorted int64 (movie, time) key and two float64 prefix
    sums; about 400 MiB for ml-25m's ~17.7M train ratings) and the second
    pass looks rows up with ``earlier_rating_sums``, as ``build_features`` does.

    Args:
        movie, time, rating: The train ratings (any order).
    """

    def __init__(self, movie: np.ndarray, time: np.ndarray, rating: np.ndarray):
        self.index = rating_index(movie, time, rating)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.index)

    def sums(self, movie_ids: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Count, sum and sum of squares of each movie's train ratings strictly before each time."""
        return earlier_rating_sums(self.index, movie_ids, times)


@dataclass
class StreamPlan:
    """What the first pass over ``ratings.csv`` learns, for the second pass and for sharding.

    Attributes:
        path: The ``ratings.csv``.
        chunk_rows, max_rows: The reading parameters (the second pass must reuse them).
        users, movies: Sorted id vocabularies.
        chunk_sizes, chunk_train_rows: Rows and train rows of each chunk of complete users.
        history: The train ratings, for time-correct movie statistics.
        seconds: Wall time of the pass.
    """

    path: Path
    chunk_rows: int
    max_rows: int | None
    users: np.ndarray
    movies: np.ndarray
    chunk_sizes: list[int]
    chunk_train_rows: list[int]
    history: MovieHistory
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return int(sum(self.chunk_sizes))

    def shard_train_rows(self, num_shards: int) -> list[int]:
        """Train rows each of ``num_shards`` workers streams (chunk ``i`` goes to worker ``i % num_shards``)."""
        return [int(sum(self.chunk_train_rows[i::num_shards])) for i in range(num_shards)]


def plan_stream(path: str | os.PathLike, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                max_rows: int | None = None) -> StreamPlan:
    """First pass: id vocabularies, chunk sizes and every train rating (``MovieHistory``).

    The split is per user and chunks hold complete users, so labelling a
    chunk with ``make_task`` gives the same split as labelling the whole file.
    """
    path = _ratings_path(path)
    start = time.perf_counter()
    users, movies, sizes, train_sizes = [], set(), [], []
    parts: dict[str, list[np.ndarray]] = {ITEM: [], TIMESTAMP: [], RATING: []}
    for chunk in stream_ratings(path, chunk_rows, max_rows):
        task = make_task(chunk)
        train = task[task[SPLIT] == "train"]
        for col, store in parts.items():
            store.append(train[col].to_numpy())
        users.append(np.unique(chunk[USER].to_numpy()))
        movies.update(np.unique(chunk[ITEM].to_numpy()).tolist())
        sizes.append(len(task))
        train_sizes.append(len(train))
    if not sizes:
        raise ValueError(f"{path} holds no ratings; check the file (header userId,movieId,rating,timestamp).")
    history = MovieHistory(*(np.concatenate(parts[c]) for c in (ITEM, TIMESTAMP, RATING)))
    return StreamPlan(path=path, chunk_rows=chunk_rows, max_rows=max_rows,
                      users=np.concatenate(users), movies=np.array(sorted(movies), dtype=np.int64),
                      chunk_sizes=sizes, chunk_train_rows=train_sizes, history=history,
                      seconds=time.perf_counter() - start)


class StreamingFeaturizer:
    """Course features for chunks of complete users, with time-correct movie statistics.

    Every column comes from the feature core of ``course_lib.features``; only
    the movie statistics' running sums come from the file-wide ``MovieHistory``.

    Args:
        movies: The movies table (genres, years).
        history: The file's train ratings (``plan_stream(...).history``).
    """

    def __init__(self, movies: pd.DataFrame, history: MovieHistory):
        self.movies, self.history = movies, history
        self.vocab = genre_vocabulary(movies)
        self.year_fill = median_year(movies)

    def movie_statistics(self, movie_ids: np.ndarray, times: np.ndarray) -> pd.DataFrame:
        """Movie columns from train ratings strictly before each row's time (any user)."""
        return movie_columns(*self.history.sums(movie_ids, times), movie_years(movie_ids, self.movies))

    def transform(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Feature rows of one chunk of complete users (columns and values as ``build_features``)."""
        task = make_task(chunk)
        movie_ids = task[ITEM].to_numpy(np.int64)
        base = task[[USER, ITEM, TIMESTAMP, RATING, LABEL, SPLIT]]
        user = user_history_features(task, self.movies, self.vocab)
        movie = self.movie_statistics(movie_ids, task[TIMESTAMP].to_numpy(np.int64))
        return assemble(base, movie_ids, user, movie, self.movies, self.vocab, self.year_fill)


def stream_features(path, movies: pd.DataFrame, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                    max_rows: int | None = None, plan: StreamPlan | None = None,
                    shard: tuple[int, int] = (0, 1)) -> Iterator[pd.DataFrame]:
    """Feature tables, one per chunk of complete users (second pass).

    Args:
        plan: The first pass (``plan_stream``); made here if not given.
        shard: ``(index, count)``: featurize only chunks ``index, index + count, ...``
            (a worker's share; the others are read and skipped).
    """
    plan = plan or plan_stream(path, chunk_rows, max_rows)
    index, count = shard
    featurizer = StreamingFeaturizer(movies, plan.history)
    for i, chunk in enumerate(stream_ratings(plan.path, plan.chunk_rows, plan.max_rows)):
        if i % count == index:
            yield featurizer.transform(chunk)


# ---------------------------------------------------------------- tf.data ---

def streaming_spec(first_features: pd.DataFrame, users: list[int], movies: list[int]):
    """A ``FeatureSpec`` for the stream: normalisation from the first chunk, full id vocabularies."""
    from course_lib.features import FeatureSpec, make_feature_spec

    spec = make_feature_spec(first_features)
    return FeatureSpec.from_dict({**spec.to_dict(), "users": [int(u) for u in users],
                                  "movies": [int(m) for m in movies], "movie_pairs": []})


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
                           shuffle_buffer: int = 0, seed: int = 0, prefetch: bool = True,
                           plan: StreamPlan | None = None, shard: tuple[int, int] = (0, 1),
                           steps: int | None = None):
    """A one-pass ``tf.data.Dataset`` of ``(inputs, liked)`` train batches read from ``ratings.csv``.

    Featurizing runs in the generator (Python, in tf.data's thread) and
    ``prefetch`` overlaps it with training. Rows arrive grouped by user;
    ``shuffle_buffer`` > 0 mixes them across users (costs memory).

    Args:
        plan: The first pass (made here if not given).
        shard: ``(index, count)``: this worker's chunks (see ``stream_features``).
        steps: Yield exactly this many full batches (workers must step in
            lockstep); None yields every row, the last batch possibly short.
    """
    import tensorflow as tf

    counter = counter or StreamCounter()

    def batches():
        feats = stream_features(path, movies, chunk_rows, max_rows, plan=plan, shard=shard)
        yield from _train_batches(feats, spec, batch_size, counter, steps)

    signature = ({name: tf.TensorSpec((None,), _tf_dtype(name, spec)) for name in spec.input_names},
                 tf.TensorSpec((None,), tf.float32))
    ds = tf.data.Dataset.from_generator(batches, output_signature=signature)
    if shuffle_buffer:
        ds = ds.unbatch().shuffle(shuffle_buffer, seed=seed).batch(batch_size)
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds


def _train_batches(feature_chunks, spec, batch_size: int, counter: StreamCounter, steps: int | None):
    """``(inputs, labels)`` numpy batches of the train rows; full batches only when ``steps`` is set."""
    from course_lib.train import model_inputs

    done = 0
    pending: list[pd.DataFrame] = []
    held = 0
    for feats in feature_chunks:
        pending.append(counter.see(feats))
        held += len(pending[-1])
        if held < batch_size and steps is not None:
            continue
        train = pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0]
        full = len(train) - len(train) % batch_size if steps is not None else len(train)
        inputs, labels = model_inputs(train, spec), train[LABEL].to_numpy(np.float32)
        for lo in range(0, full, batch_size):
            if steps is not None and done == steps:
                return
            yield {k: v[lo:lo + batch_size] for k, v in inputs.items()}, labels[lo:lo + batch_size]
            done += 1
        pending, held = ([train.iloc[full:]], len(train) - full)
    if steps is not None and done < steps:
        raise ValueError(f"the stream ended after {done} of {steps} batches; steps must come from the same "
                         "plan, shard and batch size (StreamPlan.shard_train_rows).")


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


@cache
def _replica_loss_class():
    import keras

    @keras.saving.register_keras_serializable(package="benchmarks")
    class ReplicaBinaryCrossentropy(keras.losses.Loss):
        """Binary cross-entropy returned per example, so Keras divides it by the replica count.

        The course's models output shape ``(batch,)``; on that,
        ``keras.losses.BinaryCrossentropy`` averages inside the loss function
        and returns a scalar, and Keras skips its 1 / replicas scaling for
        scalars: with ``n`` replicas the summed gradients would be ``n`` times
        the batch mean (FTRL's step is not scale-free). Same value on one replica.
        """

        def call(self, y_true, y_pred):
            return keras.losses.binary_crossentropy(y_true[:, None], y_pred[:, None])

    return ReplicaBinaryCrossentropy


def compile_for_strategy(model):
    """Compile like ``course_lib.train.compile_model``, with a replica-safe loss.

    Call under ``strategy.scope()``; builds both optimizers there, since a
    variable created inside ``strategy.run`` would be per replica.
    """
    from course_lib.train import compile_model

    compile_model(model)
    model.compile(optimizer=model.optimizer, loss=_replica_loss_class()())
    if getattr(model, "deep", None) is not None:
        model.optimizer.build(model.deep.trainable_variables)
    if getattr(model, "wide", None) is not None:
        model.wide_optimizer.build(model.wide.trainable_variables)
    return model


# ------------------------------------------------------------- the section ---

#: Big releases the section uses when they are already on disk (never downloaded unasked).
RELEASES = ("ml-32m", "ml-25m")


def local_release(names=RELEASES) -> tuple[str, Path] | None:
    """``(name, folder)`` of the first big release in the cache or the mirror folder, or None.

    Never downloads: a release counts only if its ``ratings.csv`` is extracted in
    the cache or its zip lies in the ``COURSE_DATA_MIRROR`` folder.
    """
    from course_lib.data import DataError, cache_dir, fetch

    mirror = os.environ.get("COURSE_DATA_MIRROR") or ""
    for name in names:
        cached = (cache_dir() / name / "ratings.csv").is_file()
        mirrored = bool(mirror) and "://" not in mirror and (Path(mirror).expanduser() / f"{name}.zip").is_file()
        if cached or mirrored:
            try:
                return name, fetch(name, progress=False)
            except DataError:
                continue
    return None


def measure(source: str = "auto", n_users: int = 30_000, n_movies: int = 3_000,
            chunk_rows: int = DEFAULT_CHUNK_ROWS, train_rows: int = 1_000_000, max_rows: int | None = None,
            strategy: str = "default", batch_size: int | None = None, workers: tuple[int, ...] = (),
            multiworker_rows: int = 1_000_000, multiworker_chunk_rows: int = 100_000,
            log=print) -> dict:
    """The scale section of ``benchmarks/run.py``: stream a big ``ratings.csv``, return plain data.

    Args:
        source: "auto" (ml-32m or ml-25m if already on disk, else synthetic),
            "synthetic", or "ml-25m" / "ml-32m" (fetched if missing).
        n_users, n_movies: Size of the synthetic csv.
        chunk_rows: Rows per read.
        train_rows: Train examples of the one training pass (from the file's start).
        max_rows: Stream at most about this many rows (None: the whole file).
        strategy: "default" or "mirrored" (``get_strategy``).
        batch_size: Rows per step (default: ``course_lib.train.BATCH_SIZE``).
        workers: Also train with 1 and each of these many local workers
            (``benchmarks.multiworker``) on the first ``multiworker_rows`` rows.
        log: Progress printer (None: silent).

    Returns:
        ``source``, ``real_data``, sizes, ``plan_*`` (first pass), ``read_*`` and
        ``read_featurize_*`` rows/s, ``train_*`` examples/s, ``peak_rss_mib_*``
        per stage, ``test`` (AUC on the streamed test rows) and, with ``workers``,
        ``multiworker`` (``benchmarks.multiworker.compare_workers``).
    """
    import shutil
    import tempfile

    from course_lib.metrics import classification_report
    from course_lib.models import build_wide_deep
    from course_lib.train import BATCH_SIZE, predict

    say = log or (lambda *a, **k: None)
    batch_size = batch_size or BATCH_SIZE
    out: dict = {"strategy": strategy, "chunk_rows": chunk_rows, "time_correct": True}
    tmp = None
    try:
        release = None
        if source in ("ml-25m", "ml-32m"):
            from course_lib.data import fetch

            release = (source, fetch(source))
        elif source == "auto":
            release = local_release()
        elif source != "synthetic":
            raise ValueError(f"source must be 'auto', 'synthetic', 'ml-25m' or 'ml-32m', got {source!r}")
        if release:
            out["source"], folder = release
            out["real_data"] = True
        else:
            tmp = tempfile.mkdtemp(prefix="wd-scale-")
            gen = write_synthetic_csv(tmp, n_users=n_users, n_movies=n_movies, users_per_call=10_000)
            folder = Path(tmp)
            out["source"] = (f"synthetic MovieLens-shaped csv ({n_users:,} users, {gen['rows']:,} rows): "
                             "no ml-25m/ml-32m in the cache or the mirror")
            out.update(real_data=False, generate_seconds=gen["seconds"])
            say(f"  wrote {gen['rows']:,} synthetic rows in {gen['seconds']:.1f} s", flush=True)
        path = folder / "ratings.csv"
        out["csv_mib"] = round(path.stat().st_size / 1024 ** 2, 1)
        movies = load_movies_csv(folder)
        out["rss_mib_before"] = _rss_mib()

        with _PeakRSS() as mem:
            plan = plan_stream(path, chunk_rows, max_rows)
        out.update(rows=plan.rows, chunks=len(plan.chunk_sizes), plan_seconds=round(plan.seconds, 1),
                   plan_rows_per_s=round(plan.rows / plan.seconds, 0),
                   history_train_ratings=int(sum(plan.chunk_train_rows)),
                   history_mib=round(plan.history.nbytes / 1024 ** 2, 1), peak_rss_mib_plan=mem.mib)
        t = time.perf_counter()
        rows = sum(len(c) for c in stream_ratings(path, chunk_rows, max_rows))
        out["read_rows_per_s"] = round(rows / (time.perf_counter() - t), 0)
        with _PeakRSS() as mem:
            t = time.perf_counter()
            first, feat_rows = None, 0
            for feats in stream_features(path, movies, plan=plan):
                first = feats if first is None else first
                feat_rows += len(feats)
            feat_s = time.perf_counter() - t
        out.update(read_featurize_rows_per_s=round(feat_rows / feat_s, 0), read_featurize_seconds=round(feat_s, 1),
                   peak_rss_mib_featurize=mem.mib, rss_growth_mib_featurize=_growth(mem.mib, out["rss_mib_before"]))
        say(f"  first pass {out['plan_rows_per_s']:,.0f} rows/s (history {out['history_mib']} MiB); "
            f"read {out['read_rows_per_s']:,.0f} rows/s; read+featurize {out['read_featurize_rows_per_s']:,.0f} "
            "rows/s", flush=True)

        spec = streaming_spec(first, plan.users, plan.movies)
        dist = get_strategy(strategy)
        out["replicas"] = int(dist.num_replicas_in_sync)
        with dist.scope():  # variables (and both optimizers) created under the strategy
            model = compile_for_strategy(build_wide_deep(spec, "wide_deep", seed=1))
        counter = StreamCounter(keep_test=100_000)
        # Full batches only; a file with less than one batch trains on what it has.
        steps = min(train_rows, int(sum(plan.chunk_train_rows))) // batch_size or None
        ds = make_streaming_dataset(path, movies, spec, batch_size, plan=plan, counter=counter, steps=steps)
        with _PeakRSS() as mem:
            t = time.perf_counter()
            model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
            train_s = time.perf_counter() - t
        test = counter.test_rows()
        trained = steps * batch_size if steps else counter.train_rows
        out.update({"train_rows": trained, "train_seconds": round(train_s, 1),
                    "train_examples_per_s": round(trained / train_s, 0),
                    "streamed_rows_train_pass": counter.rows, "peak_rss_mib_train": mem.mib,
                    "rss_growth_mib_train": _growth(mem.mib, out["rss_mib_before"]),
                    "batch_size": batch_size, "epochs": 1, "test_rows_evaluated": len(test)})
        if len(test) and test[LABEL].nunique() == 2:
            out["test"] = classification_report(test[LABEL].to_numpy(), predict(model, test, spec))
        say(f"  trained {out['train_examples_per_s']:,.0f} examples/s (end to end, streaming)", flush=True)
        if workers:
            from benchmarks.multiworker import compare_workers

            out["multiworker"] = compare_workers(folder, (1, *workers), global_batch=batch_size,
                                                 chunk_rows=multiworker_chunk_rows, max_rows=multiworker_rows)
            out["multiworker_rows"] = multiworker_rows
            for n, res in out["multiworker"].items():
                say(f"  {n} worker(s): {res['global_examples_per_s']:,.0f} examples/s, "
                    f"peak RSS {res['peak_rss_mib_per_worker']} MiB per worker", flush=True)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def render(sc: dict) -> list[str]:
    """Markdown lines of the section for RESULTS.md, from ``measure``'s dict."""
    from benchmarks.run import md_table

    rows = [["first pass: ids, split, train ratings by (movie, time)", f"{sc['plan_rows_per_s']:,.0f} rows/s",
             f"{sc['rows']:,} rows in {sc['chunks']} chunks, {sc['plan_seconds']:.1f} s; history of "
             f"{sc['history_train_ratings']:,} train ratings = {sc['history_mib']} MiB; "
             f"peak RSS {sc['peak_rss_mib_plan']} MiB"],
            ["read (pandas chunks, complete users)", f"{sc['read_rows_per_s']:,.0f} rows/s", ""],
            ["read + featurize (second pass)", f"{sc['read_featurize_rows_per_s']:,.0f} rows/s",
             f"{sc['read_featurize_seconds']:.1f} s; peak process RSS {sc['peak_rss_mib_featurize']} MiB "
             f"(+{sc['rss_growth_mib_featurize']} MiB over the {sc['rss_mib_before']} MiB before streaming)"],
            ["train W&D, one pass, streamed through tf.data", f"{sc['train_examples_per_s']:,.0f} examples/s",
             f"{sc['train_rows']:,} train rows of the first {sc['streamed_rows_train_pass']:,} streamed, "
             f"in {sc['train_seconds']:.1f} s (featurizing overlapped), "
             f"peak RSS {sc['peak_rss_mib_train']} MiB (+{sc['rss_growth_mib_train']} MiB)"]]
    real = "the real release" if sc.get("real_data") else "synthetic data"
    lines = [f"Source: {sc['source']} ({real}), {sc['csv_mib']} MiB csv, chunks of {sc['chunk_rows']:,} rows, "
             f"strategy `{sc['strategy']}` ({sc['replicas']} replica(s)). Movie statistics are time-correct "
             "(two passes; see `benchmarks/README.md`).", "",
             *md_table(["Stage", "Throughput", "Notes"], rows)]
    if "test" in sc:
        lines += ["", f"Sanity check: test ROC AUC {sc['test']['roc_auc']:.4f} on the first "
                  f"{sc['test_rows_evaluated']:,} streamed test rows after one pass."]
    if sc.get("multiworker"):
        mw = [[n, f"{r['global_examples_per_s']:,.0f}", f"{r['train_seconds']:.1f} s", f"{r['steps']:,}",
               f"{r['prepare_seconds']:.1f} s", f"{r['peak_rss_mib_per_worker']} MiB", f"{r['wall_seconds']:.1f} s"]
              for n, r in sc["multiworker"].items()]
        lines += ["", f"MultiWorkerMirroredStrategy on this machine (`benchmarks/multiworker.py`, worker processes "
                  f"on 127.0.0.1), the first {sc['multiworker_rows']:,} rows, global batch "
                  f"{next(iter(sc['multiworker'].values()))['global_batch']:,}; slowest worker:", "",
                  *md_table(["Workers", "Examples/s (global)", "Train", "Steps", "First pass + spec",
                             "Peak RSS per worker", "Wall (incl. start)"], mw)]
    return lines


def _growth(peak, before):
    return round(peak - before, 1) if peak and before else None


def _rss_mib() -> float | None:
    try:
        import psutil
    except ImportError:
        return None
    return round(psutil.Process().memory_info().rss / 1024 ** 2, 1)


def _PeakRSS():
    # The harness's sampler (this process and its children); imported late: run.py imports this module.
    from benchmarks.run import PeakRSS

    return PeakRSS(children_only=False)


def main(argv=None) -> int:
    """``python -m benchmarks.scale``: the scale section alone; prints its table and writes no file."""
    import argparse
    import json

    p = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=main.__doc__)
    p.add_argument("--source", default="auto", choices=("auto", "synthetic", *RELEASES),
                   help="auto: ml-32m/ml-25m if already on disk, else a synthetic csv")
    p.add_argument("--users", type=int, default=30_000, help="users of the synthetic csv")
    p.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS)
    p.add_argument("--train-rows", type=int, default=1_000_000, help="train examples of the training pass")
    p.add_argument("--max-rows", type=int, default=None, help="stream at most about this many rows")
    p.add_argument("--strategy", default="default", choices=("default", "mirrored"))
    p.add_argument("--workers", type=int, nargs="*", default=[], help="also compare 1 and N local workers")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args(argv)
    from course_lib.runtime import configure_environment, configure_tensorflow

    configure_environment()
    configure_tensorflow()
    res = measure(args.source, n_users=args.users, chunk_rows=args.chunk_rows, train_rows=args.train_rows,
                  max_rows=args.max_rows, strategy=args.strategy, workers=tuple(args.workers))
    print("\n".join(render(res)))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
