"""Big MovieLens files (25M/32M ratings) streamed through tf.data instead of pandas.

For learners who outgrow the lessons' in-memory tables (``python -m course_lib
stream``). ``build_features`` holds a whole table in memory (fine for 100k
ratings). Here ``ratings.csv`` is read in chunks (pandas ``chunksize``) of
*complete users* (MovieLens files are grouped by user; the last, possibly
incomplete user of a read is carried into the next), each chunk is
featurized and its batches reach Keras through ``tf.data.Dataset.from_generator``.

Two passes keep every feature time-correct:

1. ``plan_stream`` reads the file once, labels and splits each chunk with
   ``make_task`` (the split is per user, so a chunk of complete users splits
   as the whole file does) and keeps every ``train`` rating in the feature
   core's ``MovieIndex``: memory proportional to the train ratings (24 bytes
   each), plus the id vocabularies and each chunk's size.
2. ``stream_features`` reads it again; each chunk's rows come from the
   feature core (``FeatureIndex(...).rows()``) with the movie statistics
   (count, mean, std) taken from the file-wide ``MovieIndex``: train ratings
   of *any* user strictly earlier in time. No statistic of a row includes a
   rating at or after that row's time, and every column equals
   ``build_features`` on the whole file (``tests/test_scale.py``).

Memory is one chunk plus the index (about 400 MiB for ml-25m). Chunk ``i``
goes to worker ``i % n``, so ``n`` workers featurize disjoint shares
(``course_lib.multiworker``). The feature spec's normalisation comes from the
first chunk's train rows, its vocabularies from the first pass, and the
movie x history cross is hashed (``FeatureSpec.movie_pairs = []``) because
the exact pair vocabulary of 25M ratings would not fit in memory.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from course_lib.columns import GENRES, ITEM, LABEL, RATING, SPLIT, TIMESTAMP, TITLE, USER
from course_lib.features import FeatureIndex, MovieIndex, genre_vocabulary
from course_lib.split import make_task

#: MovieLens' csv header -> course column names.
CSV_COLUMNS = {"userId": USER, "movieId": ITEM, "rating": RATING, "timestamp": TIMESTAMP}
CSV_DTYPES = {"userId": "int64", "movieId": "int64", "rating": "float32", "timestamp": "int64"}
DEFAULT_CHUNK_ROWS = 500_000
#: The big csv releases, biggest first.
RELEASES = ("ml-32m", "ml-25m")


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


def release_folder(source: str | os.PathLike) -> Path:
    """The folder of ``source``: a folder holding ``ratings.csv`` and ``movies.csv``, or a csv release's name.

    A release name (``ml-25m``, ``ml-32m``, ``ml-latest-small``) is fetched if missing.

    Raises:
        ValueError: If ``source`` is neither, saying what to pass instead.
    """
    from course_lib.data import VARIANTS, fetch

    path = Path(source).expanduser()
    if path.is_dir():
        missing = [name for name in ("ratings.csv", "movies.csv") if not (path / name).is_file()]
        if missing:
            raise ValueError(f"{path} lacks {' and '.join(missing)}; pass a MovieLens csv release folder "
                             "(ratings.csv + movies.csv), e.g. the one `python -m course_lib fetch ml-25m` prints.")
        return path
    variant = VARIANTS.get(str(source))
    if variant is None or variant.fmt != "csv":
        csv = ", ".join(name for name, v in VARIANTS.items() if v.fmt == "csv")
        raise ValueError(f"{source!r} is neither a folder nor a csv release; pass a folder holding ratings.csv "
                         f"and movies.csv, or one of: {csv}.")
    return fetch(variant.name)


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


def load_movies_csv(folder: str | os.PathLike) -> pd.DataFrame:
    """The movies table of a csv release folder, in the course's schema."""
    from course_lib.data import load_movies

    return load_movies("ml-25m", path=folder)


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


# --------------------------------------------------------------- features ---

@dataclass
class StreamPlan:
    """What the first pass over ``ratings.csv`` learns, for the second pass and for sharding.

    Attributes:
        path: The ``ratings.csv``.
        chunk_rows, max_rows: The reading parameters (the second pass must reuse them).
        users, movies: Sorted id vocabularies.
        chunk_sizes, chunk_train_rows: Rows and train rows of each chunk of complete users.
        history: Every train rating of the file, for time-correct movie statistics.
        seconds: Wall time of the pass.
    """

    path: Path
    chunk_rows: int
    max_rows: int | None
    users: np.ndarray
    movies: np.ndarray
    chunk_sizes: list[int]
    chunk_train_rows: list[int]
    history: MovieIndex
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return int(sum(self.chunk_sizes))

    def shard_train_rows(self, num_shards: int) -> list[int]:
        """Train rows each of ``num_shards`` workers streams (chunk ``i`` goes to worker ``i % num_shards``)."""
        return [int(sum(self.chunk_train_rows[i::num_shards])) for i in range(num_shards)]


def plan_stream(path: str | os.PathLike, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                max_rows: int | None = None) -> StreamPlan:
    """First pass: id vocabularies, chunk sizes and every train rating (a ``MovieIndex``).

    The split is per user and chunks hold complete users, so labelling a
    chunk with ``make_task`` gives the same split as labelling the whole file.
    A user-grouped file delivers the train ratings out of time order, hence
    the index of all of them before any row is featurized.
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
    history = MovieIndex(*(np.concatenate(parts[c]) for c in (ITEM, TIMESTAMP, RATING)))
    return StreamPlan(path=path, chunk_rows=chunk_rows, max_rows=max_rows,
                      users=np.concatenate(users), movies=np.array(sorted(movies), dtype=np.int64),
                      chunk_sizes=sizes, chunk_train_rows=train_sizes, history=history,
                      seconds=time.perf_counter() - start)


class StreamingFeaturizer:
    """Course features for chunks of complete users, with time-correct movie statistics.

    Args:
        movies: The movies table (genres, years).
        history: The file's train ratings (``plan_stream(...).history``).
    """

    def __init__(self, movies: pd.DataFrame, history: MovieIndex):
        self.movies, self.history = movies, history
        self.vocab = genre_vocabulary(movies)

    def transform(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Feature rows of one chunk of complete users (columns and values as ``build_features``)."""
        return FeatureIndex(make_task(chunk), self.movies, self.vocab, movie_index=self.history).rows()


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

def streaming_spec(plan: StreamPlan, movies: pd.DataFrame, first: pd.DataFrame | None = None):
    """A ``FeatureSpec`` for the stream: normalisation from the first chunk, the plan's id vocabularies.

    Args:
        first: The first chunk's features, if already made (else featurized here).
    """
    from course_lib.features import FeatureSpec, make_feature_spec

    first = first if first is not None else next(stream_features(plan.path, movies, plan=plan))
    spec = make_feature_spec(first)
    return FeatureSpec.from_dict({**spec.to_dict(), "users": [int(u) for u in plan.users],
                                  "movies": [int(m) for m in plan.movies], "movie_pairs": []})


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


# --------------------------------------------------------------- training ---

#: ``get_strategy`` names.
STRATEGIES = ("default", "mirrored")


def get_strategy(name: str):
    """``tf.distribute`` strategy by name: "default" (no distribution) or "mirrored" (all local devices)."""
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "default":
        return tf.distribute.get_strategy()
    raise ValueError(f"unknown strategy {name!r}; use one of {', '.join(STRATEGIES)}.")


@dataclass
class StreamTraining:
    """One streamed training pass: the model and what the pass saw.

    Attributes:
        model, spec: The trained W&D and its feature spec.
        plan: The first pass.
        replicas: Replicas of the strategy it trained under.
        train_rows: Examples trained on.
        streamed_rows: Rows the pass featurized (train rows and the others).
        seconds: Wall time of the training pass (featurizing overlapped).
        test: The first streamed test rows (at most ``keep_test``).
    """

    model: object
    spec: object
    plan: StreamPlan
    replicas: int
    train_rows: int
    streamed_rows: int
    seconds: float
    test: pd.DataFrame

    def test_report(self) -> dict | None:
        """``classification_report`` on the kept test rows (None without both labels)."""
        from course_lib.metrics import classification_report
        from course_lib.train import predict

        if not len(self.test) or self.test[LABEL].nunique() < 2:
            return None
        return classification_report(self.test[LABEL].to_numpy(), predict(self.model, self.test, self.spec))


def train_streaming(path, movies: pd.DataFrame | None = None, *, plan: StreamPlan | None = None, spec=None,
                    train_rows: int | None = None, batch_size: int | None = None, strategy: str = "default",
                    chunk_rows: int = DEFAULT_CHUNK_ROWS, max_rows: int | None = None, seed: int = 1,
                    model_kwargs: dict | None = None, keep_test: int = 100_000) -> StreamTraining:
    """Train the course's W&D in one pass over a big ``ratings.csv``, streamed.

    Args:
        path: A csv release folder (or its ``ratings.csv``).
        movies: Its movies table (default: read from the folder).
        plan, spec: The first pass and the spec, if already made.
        train_rows: Train on the first this many train rows (None: all of them),
            in full batches (the last ``< batch_size`` rows are left out).
        batch_size: Rows per step (default ``course_lib.train.BATCH_SIZE``).
        strategy: ``get_strategy`` name; the model is built and compiled in its scope.
        seed: Initial weights.
        model_kwargs: More ``build_wide_deep`` arguments (deep branch size, dropout).
        keep_test: Test rows kept for ``StreamTraining.test_report``.
    """
    from course_lib.models import build_wide_deep
    from course_lib.train import BATCH_SIZE, compile_model

    folder = Path(path).parent if Path(path).is_file() else Path(path)
    movies = movies if movies is not None else load_movies_csv(folder)
    plan = plan or plan_stream(path, chunk_rows, max_rows)
    spec = spec or streaming_spec(plan, movies)
    batch_size = batch_size or BATCH_SIZE
    dist = get_strategy(strategy)
    with dist.scope():  # variables and both optimizers created under the strategy
        model = compile_model(build_wide_deep(spec, "wide_deep", seed=seed, **(model_kwargs or {})))
    counter = StreamCounter(keep_test=keep_test)
    total = int(sum(plan.chunk_train_rows))
    # Full batches only, so fit knows the step count; a file with less than one batch trains on what it has.
    steps = min(train_rows or total, total) // batch_size or None
    ds = make_streaming_dataset(plan.path, movies, spec, batch_size, plan=plan, counter=counter, steps=steps)
    start = time.perf_counter()
    model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    seconds = time.perf_counter() - start
    return StreamTraining(model=model, spec=spec, plan=plan, replicas=int(dist.num_replicas_in_sync),
                          train_rows=steps * batch_size if steps else counter.train_rows,
                          streamed_rows=counter.rows, seconds=seconds, test=counter.test_rows())
