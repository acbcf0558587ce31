"""A learned retriever: the two-tower model, trained with in-batch negatives.

Introduced in lesson 07.

Co-occurrence (``course_lib.ranking``) only counts. A two-tower model
*learns* where users and movies sit in one vector space, and retrieves by
dot product over the whole catalogue (YouTube DNN, TFRS, keras-rs):

- the **user tower** reads what the course's feature rows say about the user
  at the recommendation time: their id, last liked movies (``hist_movie_*``),
  favourite genres and rating statistics, from strictly earlier ratings
  (``FeatureIndex.user_states``); never the candidate;
- the **movie tower** reads the movie's id, genres and release-year bucket:
  nothing that changes with time, so the catalogue is embedded once;
- both end in a unit vector, and the score is their dot product.

**Training** (``train_two_tower``) uses implicit feedback only: each liked
``train`` rating is a (user as of that moment, movie) pair. The other movies
of the batch are its negatives (*in-batch negatives*, a sampled softmax). A
movie is a negative in proportion to how often it is liked, so popular movies
would be pushed down just for being popular; the **logQ correction**
(Yi et al., RecSys 2019) subtracts log(how often the movie is sampled) from
every logit to undo that. Hyperparameters live in one frozen ``TwoTowerConfig``.

**Retrieval** (``TwoTowerRetriever``) has ``CooccurrenceRetriever``'s
interface (``scores``, ``candidate_positions``, ``candidates``, all "as of"
``at``) plus ``candidates_batch`` for many (user, time) pairs in one tower
call. ``UnionRetriever`` merges two retrievers' candidates, and
``compare_retrievers`` measures recall@N at each user's recommendation time,
overall and by history length (where a learned retriever wins or loses).

``tests/test_two_tower.py`` checks that rated movies never come back, that
ratings at or after ``at`` cannot move a user's candidates, that a seed
repeats a run bit for bit, and the loss against a hand computation.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
from keras import layers, ops

from course_lib.columns import ITEM, LABEL, SPLIT, TIMESTAMP, USER
from course_lib.features import (
    HIST_COLUMNS, USER_GENRE_COLUMNS, FeatureIndex, FeatureSpec, genre_matrix, median_year, movie_years,
    user_columns,
)

#: The user statistics the user tower reads. ``user_genre_affinity`` and
#: ``user_year_mean`` are left out: in a feature row they depend on the
#: candidate (its genres; its year for a user without dated history), and a
#: user tower that saw the candidate would see the answer.
USER_TOWER_NUMERIC = ["user_rating_count", "user_rating_mean", "user_rating_std", "user_liked_rate"]
#: The cut-offs recall is measured at (the ranker takes 300).
RECALL_AT = (10, 100, 300, 1000)
#: Edges of the history-length buckets (ratings before the recommendation time).
HISTORY_EDGES = (25, 50, 100, 200)


@dataclass(frozen=True)
class TwoTowerConfig:
    """Every hyperparameter of the two-tower model and its training.

    On ml-latest-small (seed 1) these train in about 10 s on 2 cores.
    """

    #: Size of the shared space (both towers' output).
    dim: int = 32
    #: Sizes of the user-id, genre and year-bucket embeddings.
    user_dim: int = 16
    genre_dim: int = 8
    year_dim: int = 4
    #: Width of each tower's hidden layer.
    hidden: int = 64
    #: Softmax temperature: unit vectors have dot products in [-1, 1]; dividing
    #: by 0.05 gives logits a range of +-20, sharp enough to rank a catalogue.
    temperature: float = 0.05
    batch_size: int = 1024
    epochs: int = 5
    learning_rate: float = 3e-3
    #: Subtract log(sampling probability) from each logit (see the module docstring).
    #: It matters: without it recall@100 falls from 0.31 to 0.14 (ml-latest-small, seed 1).
    logq_correction: bool = True
    #: A movie liked twice in one batch is not a negative for itself (standard;
    #: on ml-latest-small it moves recall@N by less than 0.002).
    remove_accidental_hits: bool = True


# ------------------------------------------------------------- the inputs ---

class TwoTowerEncoder:
    """Raw ids and feature columns -> the integer and float arrays the towers read.

    Index 0 means "unknown or padding" everywhere: a user or movie missing
    from the training vocabulary (``spec.users``, ``spec.movies``), an empty
    history slot or favourite-genre slot.

    Args:
        spec: The course's ``FeatureSpec`` (vocabularies, year boundaries).
        movies: The movies table (genres, years).
    """

    def __init__(self, spec: FeatureSpec, movies: pd.DataFrame):
        self.spec, self.movies = spec, movies
        self._users, self._movies = pd.Index(spec.users), pd.Index(spec.movies)
        self._genres = pd.Index(spec.genres)
        self.year_fill = median_year(movies)

    def movie_index(self, movie_ids) -> np.ndarray:
        ids = np.asarray(movie_ids, dtype=np.int64)
        return (self._movies.get_indexer(ids.ravel()) + 1).reshape(ids.shape)

    def user_inputs(self, frame: pd.DataFrame) -> dict:
        """The user tower's inputs from ``USER`` and the user columns of ``frame``."""
        names = frame[USER_GENRE_COLUMNS].to_numpy().astype(str)
        return {"user": self._users.get_indexer(frame[USER].to_numpy(np.int64)) + 1,
                "history": self.movie_index(frame[HIST_COLUMNS].to_numpy(np.int64)),
                "user_genres": (self._genres.get_indexer(names.ravel()) + 1).reshape(names.shape),
                "user_statistics": frame[USER_TOWER_NUMERIC].to_numpy(np.float32)}

    def movie_inputs(self, movie_ids) -> dict:
        """The movie tower's inputs: id, multi-hot genres, release-year bucket."""
        ids = np.asarray(movie_ids, dtype=np.int64)
        years = movie_years(ids, self.movies)
        years = np.where(np.isnan(years), self.year_fill, years)
        return {"movie": self.movie_index(ids),
                "movie_genres": genre_matrix(ids, self.movies, self.spec.genres).astype(np.float32),
                "year_bucket": np.digitize(years, self.spec.year_boundaries).astype(np.int64)}


# -------------------------------------------------------------- the model ---

def in_batch_softmax_loss(user_vectors, movie_vectors, log_q, movie_index=None, temperature: float = 1.0):
    """Sampled-softmax loss with in-batch negatives and the logQ correction.

    Row i's positive is movie i; every other movie of the batch is a
    negative. ``logits[i, j] = <u_i, m_j> / temperature - log_q[j]``; with
    ``movie_index``, a column holding row i's own movie (j != i) is masked out.

    Args:
        user_vectors, movie_vectors: ``(batch, dim)`` tower outputs.
        log_q: ``(batch,)`` log sampling probability of each row's movie (zeros: no correction).
        movie_index: ``(batch,)`` movie ids or indices, to remove accidental hits (None: keep them).
        temperature: Softmax temperature.

    Returns:
        The mean cross-entropy over the batch (a scalar tensor).
    """
    logits = ops.matmul(user_vectors, ops.transpose(movie_vectors)) / temperature
    logits = logits - ops.expand_dims(ops.cast(log_q, logits.dtype), 0)
    n = ops.shape(logits)[0]
    if movie_index is not None:
        same = ops.equal(ops.expand_dims(movie_index, 1), ops.expand_dims(movie_index, 0))
        hits = ops.logical_and(same, ops.logical_not(ops.cast(ops.eye(n), "bool")))
        logits = ops.where(hits, ops.cast(-1e9, logits.dtype), logits)
    losses = keras.losses.sparse_categorical_crossentropy(ops.arange(n), logits, from_logits=True)
    return ops.mean(losses)


def build_two_tower(spec: FeatureSpec, numeric_mean, numeric_var, config: TwoTowerConfig = TwoTowerConfig(),
                    seed: int | None = None):
    """An untrained ``TwoTowerModel`` (the towers are plain functional models).

    Args:
        spec: Vocabularies and year boundaries.
        numeric_mean, numeric_var: Normalisation of ``USER_TOWER_NUMERIC`` (from training rows).
        config: Sizes.
        seed: If given, re-seed before drawing the initial weights.
    """
    if seed is not None:
        from course_lib.runtime import seed_everything

        seed_everything(seed)
    c = config
    # One movie-id table for both towers: a liked movie in the history and the
    # same movie as a candidate are one vector, so "liked A" pulls toward A.
    movie_ids = layers.Embedding(len(spec.movies) + 1, c.dim, name="movie_id_embedding")

    def masked_mean(vectors, index):
        """Mean of the vectors whose index is not 0 (0 = padding or unknown); zeros if none."""
        mask = ops.expand_dims(ops.cast(index > 0, "float32"), -1)
        return ops.sum(vectors * mask, 1) / ops.maximum(ops.sum(mask, 1), 1.0)

    # Movie tower: id (zeroed for a movie unseen in training), genres, year bucket.
    m_in = {"movie": keras.Input((), dtype="int64", name="movie"),
            "movie_genres": keras.Input((len(spec.genres),), name="movie_genres"),
            "year_bucket": keras.Input((), dtype="int64", name="year_bucket")}
    known = ops.expand_dims(ops.cast(m_in["movie"] > 0, "float32"), -1)
    m = layers.Concatenate()([movie_ids(m_in["movie"]) * known,
                              layers.Dense(c.genre_dim, use_bias=False, name="genre_projection")(m_in["movie_genres"]),
                              layers.Embedding(len(spec.year_boundaries) + 1, c.year_dim, name="year_embedding")(
                                  m_in["year_bucket"])])
    m = layers.Dense(c.hidden, activation="relu", name="movie_hidden")(m)
    m = layers.UnitNormalization(name="movie_vector")(layers.Dense(c.dim, name="movie_out")(m))
    movie_tower = keras.Model(m_in, m, name="movie_tower")

    # User tower: id, mean of the last liked movies, mean favourite genre, statistics.
    u_in = {"user": keras.Input((), dtype="int64", name="user"),
            "history": keras.Input((len(HIST_COLUMNS),), dtype="int64", name="history"),
            "user_genres": keras.Input((len(USER_GENRE_COLUMNS),), dtype="int64", name="user_genres"),
            "user_statistics": keras.Input((len(USER_TOWER_NUMERIC),), name="user_statistics")}
    genre_table = layers.Embedding(len(spec.genres) + 1, c.genre_dim, name="user_genre_embedding")
    u = layers.Concatenate()([
        layers.Embedding(len(spec.users) + 1, c.user_dim, name="user_id_embedding")(u_in["user"]),
        masked_mean(movie_ids(u_in["history"]), u_in["history"]),
        masked_mean(genre_table(u_in["user_genres"]), u_in["user_genres"]),
        layers.Normalization(mean=list(numeric_mean), variance=list(numeric_var), name="statistics")(
            u_in["user_statistics"])])
    u = layers.Dense(c.hidden, activation="relu", name="user_hidden")(u)
    u = layers.UnitNormalization(name="user_vector")(layers.Dense(c.dim, name="user_out")(u))
    user_tower = keras.Model(u_in, u, name="user_tower")
    return TwoTowerModel(user_tower, movie_tower, config)


class TwoTowerModel(keras.Model):
    """Both towers and the in-batch loss; ``call`` gives the batch's user and movie vectors.

    A batch is ``{"user": user inputs, "movie": movie inputs, "log_q": (batch,)}``.
    """

    def __init__(self, user_tower, movie_tower, config: TwoTowerConfig, **kwargs):
        super().__init__(**kwargs)
        self.user_tower, self.movie_tower, self.config = user_tower, movie_tower, config

    def call(self, batch, training=False):
        return self.user_tower(batch["user"], training=training), self.movie_tower(batch["movie"], training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        u, m = y_pred
        hits = x["movie"]["movie"] if self.config.remove_accidental_hits else None
        return in_batch_softmax_loss(u, m, x["log_q"], hits, self.config.temperature)


#: Rows per user-tower call (padded): a user's vector is then the same bits alone or in a batch.
USER_BLOCK = 256


@dataclass
class TrainedTwoTower:
    """A trained two-tower model with what serving needs to feed it.

    Attributes:
        model: The ``TwoTowerModel`` (``.user_tower``, ``.movie_tower``).
        encoder: Its ``TwoTowerEncoder``.
        config: The hyperparameters it was trained with.
        seed: The seed it was trained with.
        losses: Mean training loss of each epoch.
    """

    model: object
    encoder: TwoTowerEncoder
    config: TwoTowerConfig
    seed: int
    losses: list[float]

    def user_vectors(self, frame: pd.DataFrame) -> np.ndarray:
        """Unit vectors of the users described by ``frame`` (``USER`` and the user columns).

        The tower always runs on blocks of ``USER_BLOCK`` rows (the last one
        padded): a matrix product's rounding depends on how many rows it
        has (one row takes another kernel than many), so a user asked alone
        and the same user asked among 600 would otherwise differ in the last
        bits, enough to swap two movies at a top-N cut. A row's vector is
        now the same bits in any batch.
        """
        inputs, n = self.encoder.user_inputs(frame), len(frame)
        if n == 0:
            return np.asarray(self.model.user_tower(inputs, training=False))
        out = []
        for start in range(0, n, USER_BLOCK):
            rows = np.minimum(np.arange(start, start + USER_BLOCK), n - 1)  # the last block padded with its last row
            block = {k: np.take(v, rows, axis=0) for k, v in inputs.items()}
            out.append(np.asarray(self.model.user_tower(block, training=False))[:n - start])
        return np.concatenate(out)

    def movie_vectors(self, movie_ids) -> np.ndarray:
        """Unit vectors of ``movie_ids``."""
        return np.asarray(self.model.movie_tower(self.encoder.movie_inputs(movie_ids), training=False))


def log_sampling_probability(movie_ids) -> np.ndarray:
    """log q of each row's movie: its share of the rows (in-batch negatives are drawn like that)."""
    ids = np.asarray(movie_ids, dtype=np.int64)
    _, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    return np.log(counts / len(ids))[inverse].astype(np.float32)


def train_two_tower(features: pd.DataFrame, movies: pd.DataFrame, spec: FeatureSpec,
                    config: TwoTowerConfig = TwoTowerConfig(), seed: int = 1) -> TrainedTwoTower:
    """Train a two-tower model on the liked ``train`` rows of ``features``.

    Each row is a (user as of the rating's time, liked movie) pair: the user
    columns of a course feature row are computed from strictly earlier
    ratings, so the user tower trains on exactly what it will see at serving.

    Args:
        features: Course feature rows (``build_features``, e.g. ``data.features``).
        movies: The movies table.
        spec: The ``FeatureSpec`` (vocabularies).
        config: Hyperparameters.
        seed: Seeds the initial weights and the shuffling: same seed, same model, bit for bit
            (under ``course_lib.runtime.configure_tensorflow``'s deterministic settings).
    """
    import tensorflow as tf

    rows = features[(features[SPLIT] == "train") & (features[LABEL] == 1)]
    if rows.empty:
        raise ValueError("no liked training rows to learn from.")
    encoder = TwoTowerEncoder(spec, movies)
    numeric = rows[USER_TOWER_NUMERIC].to_numpy(np.float64)
    model = build_two_tower(spec, numeric.mean(0), np.maximum(numeric.var(0), 1e-6), config, seed=seed)
    liked = rows[ITEM].to_numpy(np.int64)
    log_q = log_sampling_probability(liked) if config.logq_correction else np.zeros(len(rows), np.float32)
    batch = {"user": encoder.user_inputs(rows), "movie": encoder.movie_inputs(liked), "log_q": log_q}
    size = min(config.batch_size, len(rows))
    # Every batch full (drop_remainder): each row meets the same number of negatives.
    ds = (tf.data.Dataset.from_tensor_slices(batch).shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
          .batch(size, drop_remainder=True).map(lambda b: (b,)))
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
    history = model.fit(ds, epochs=config.epochs, verbose=0, shuffle=False)  # the dataset shuffles itself
    return TrainedTwoTower(model, encoder, config, int(seed), [float(v) for v in history.history["loss"]])


# -------------------------------------------------------------- retrieval ---

class TwoTowerRetriever:
    """Retrieval by dot product with a trained two-tower model, "as of" any time.

    Same interface as ``ranking.CooccurrenceRetriever``. For ``at=t`` the
    user is described from their ratings strictly before ``t``
    (``FeatureIndex.user_states``) and the movies they rated before ``t`` are
    never returned; the movie vectors do not depend on time. ``at=None``
    means after every known rating ("now"). Ties are broken by catalogue
    position, so lists repeat exactly and a shorter list is a prefix of a longer one.

    Args:
        trained: A ``TrainedTwoTower``.
        history: The known ratings (sorted like ``make_task``'s output); for a
            time-correct evaluation, all of them, queried ``at`` each user's moment.
        movies: The catalogue.
    """

    def __init__(self, trained: TrainedTwoTower, history: pd.DataFrame, movies: pd.DataFrame):
        self.trained = trained
        self.index = FeatureIndex(history, movies)
        self.catalogue = self.index.catalogue
        self.movie_vectors = trained.movie_vectors(self.catalogue)  # once: movies do not change with time
        pos = pd.Index(self.catalogue).get_indexer(history[ITEM].to_numpy(np.int64))
        users, times = history[USER].to_numpy(np.int64), history[TIMESTAMP].to_numpy(np.int64)
        ok = pos >= 0
        self._rated = {int(u): (pos[ok][idx], times[ok][idx])
                       for u, idx in pd.Series(np.arange(ok.sum())).groupby(users[ok]).indices.items()}

    def _times(self, times) -> np.ndarray:
        return np.array([self.index.now if t is None else int(t) for t in times], dtype=np.int64)

    def user_vectors(self, users, times) -> np.ndarray:
        """The user tower's vectors of (user, time) pairs, in one tower call."""
        users = np.asarray(users, dtype=np.int64)
        state = self.index.user_states(users, self._times(times))
        frame = user_columns(state, np.zeros((len(users), len(self.index.vocab))), self.index.vocab)
        frame[USER] = users
        return self.trained.user_vectors(frame)

    def rated_positions(self, user_id: int, at: int | None = None) -> np.ndarray:
        """Catalogue positions of the movies the user rated strictly before ``at``."""
        pos, time = self._rated.get(int(user_id), (np.zeros(0, np.int64),) * 2)
        return np.unique(pos if at is None else pos[time < at])

    def scores(self, user_id: int, at: int | None = None) -> np.ndarray:
        """Dot-product score of every catalogue movie for ``user_id`` as of ``at``."""
        return self.movie_vectors @ self.user_vectors([user_id], [at])[0]

    def _top(self, scores: np.ndarray, rated: np.ndarray, n: int) -> np.ndarray:
        s = scores.astype(np.float64)
        s[rated] = -np.inf
        k = min(int(n), int(np.isfinite(s).sum()))
        if k <= 0:
            return np.array([], dtype=np.int64)
        pool = np.argpartition(-s, k - 1)[:k] if k < len(s) else np.arange(len(s))
        cut = s[pool].min()
        pool = np.flatnonzero(s >= cut)  # ties at the cut all compete, by position
        return pool[np.lexsort((pool, -s[pool]))][:k]

    def candidate_positions(self, user_id: int, n: int = 300, at: int | None = None) -> np.ndarray:
        """Catalogue positions of the top-``n`` movies the user had not rated, best first."""
        return self.candidate_positions_batch([user_id], [at], n)[0]

    def candidates(self, user_id: int, n: int = 300, at: int | None = None) -> np.ndarray:
        """Movie ids of the top-``n`` movies the user had not rated, best first."""
        return self.catalogue[self.candidate_positions(user_id, n, at)]

    def candidate_positions_batch(self, users, times, n: int = 300) -> list[np.ndarray]:
        """``candidate_positions`` of many (user, time) pairs: one user-state pass, one tower call."""
        times = list(times)
        vectors = self.user_vectors(users, times)
        # One matrix-vector product per user (not one big product), on user
        # vectors made in fixed-size blocks: a user's scores are the same bits
        # whether asked alone or in a batch.
        return [self._top(self.movie_vectors @ v, self.rated_positions(u, t), n)
                for u, t, v in zip(users, times, vectors)]

    def candidates_batch(self, users, times, n: int = 300) -> list[np.ndarray]:
        """``candidates`` of many (user, time) pairs, in the order given."""
        return [self.catalogue[p] for p in self.candidate_positions_batch(users, times, n)]


def interleave(first, second) -> np.ndarray:
    """``first[0], second[0], first[1], second[1], ...`` without repeats (first occurrence kept)."""
    a, b = np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)
    rank = np.r_[np.arange(len(a)) * 2, np.arange(len(b)) * 2 + 1]  # a's i-th at 2i, b's at 2i + 1
    merged = np.r_[a, b][np.argsort(rank, kind="stable")]
    _, first_seen = np.unique(merged, return_index=True)
    return merged[np.sort(first_seen)]


class UnionRetriever:
    """The union of two retrievers' candidates: each one's top ``n``, interleaved.

    ``candidates(user, n, at)`` returns up to ``2 n`` movies, in a defined
    order: the first retriever's best, the second's best, the first's second
    best, ... (a movie both found appears once, at its first place).

    Args:
        first, second: Retrievers with ``candidates(user, n, at)`` over the same catalogue.
    """

    def __init__(self, first, second):
        if not np.array_equal(first.catalogue, second.catalogue):
            raise ValueError("both retrievers must share one catalogue.")
        self.first, self.second, self.catalogue = first, second, first.catalogue

    def candidates(self, user_id: int, n: int = 300, at: int | None = None) -> np.ndarray:
        return interleave(self.first.candidates(user_id, n, at=at), self.second.candidates(user_id, n, at=at))

    def candidate_positions(self, user_id: int, n: int = 300, at: int | None = None) -> np.ndarray:
        return pd.Index(self.catalogue).get_indexer(self.candidates(user_id, n, at))

    def candidates_batch(self, users, times, n: int = 300) -> list[np.ndarray]:
        lists = [batch_candidates(r, users, times, n) for r in (self.first, self.second)]
        return [interleave(a, b) for a, b in zip(*lists)]


def batch_candidates(retriever, users, times, n: int) -> list[np.ndarray]:
    """Candidates of many (user, time) pairs: the retriever's batch method if it has one."""
    if hasattr(retriever, "candidates_batch"):
        return retriever.candidates_batch(users, times, n)
    return [np.asarray(retriever.candidates(u, n, at=t), dtype=np.int64) for u, t in zip(users, times)]


# ------------------------------------------------------------- evaluation ---

@dataclass
class RetrievalComparison:
    """Recall@N of several retrievers, each user asked at their recommendation time.

    Attributes:
        per_user: One row per (retriever, user, N): ``history`` (ratings the
            user made before their moment), ``bucket`` and ``recall``.
        seconds: Seconds each retriever took for every user's candidates at the largest N
            (a union that reuses its parts: the sum of theirs).
    """

    per_user: pd.DataFrame
    seconds: dict

    @property
    def recall(self) -> pd.DataFrame:
        """Mean recall@N (retrievers x N): the mean over users, as ``ranking.retrieval_recall``."""
        return self.per_user.pivot_table(index="retriever", columns="N", values="recall", sort=False)

    @property
    def by_history(self) -> pd.DataFrame:
        """Mean recall@N per history-length bucket (rows: bucket; columns: retriever, N) and user counts."""
        table = self.per_user.pivot_table(index="bucket", columns=["retriever", "N"], values="recall",
                                          observed=True)[list(self.recall.index)]
        users = self.per_user.drop_duplicates(USER).groupby("bucket", observed=True).size()
        table.insert(0, "users", users)
        return table


def history_buckets(lengths, edges=HISTORY_EDGES) -> pd.Categorical:
    """Labels such as "<25", "25-49", ..., "200+" for history lengths."""
    labels = [f"<{edges[0]}"] + [f"{a}-{b - 1}" for a, b in zip(edges[:-1], edges[1:])] + [f"{edges[-1]}+"]
    return pd.Categorical.from_codes(np.searchsorted(edges, lengths, side="right"), labels)


def compare_retrievers(retrievers: dict, task: pd.DataFrame, ns=RECALL_AT, users=None,
                       edges=HISTORY_EDGES) -> RetrievalComparison:
    """Recall@N of each retriever, every user asked at their recommendation time.

    Each retriever is asked once, for ``max(ns)`` candidates; recall@N reads
    the first N (every retriever orders its candidates best first). A
    ``UnionRetriever`` whose parts are among ``retrievers`` reuses their lists:
    its recall@N is that of the union of their top N.

    Args:
        retrievers: Name -> retriever (``candidates(user, n, at)``).
        task: Output of ``make_task``: relevant = liked in the test period
            (``evaluation.liked_in_test``), moment = first test rating
            (``evaluation.recommendation_times``).
        ns: Cut-offs.
        users: Users to ask (default: every user with a liked test movie).
        edges: History-length bucket edges.
    """
    import time

    from course_lib.evaluation import liked_in_test, recommendation_times

    relevant, when = liked_in_test(task), recommendation_times(task)
    users = sorted(relevant) if users is None else [int(u) for u in users if relevant.get(int(u))]
    times = [when[u] for u in users]
    top = max(ns)
    # Ratings each user made before their moment: the history length the buckets use.
    moment = task[USER].map(when)
    lengths = task[task[TIMESTAMP] < moment].groupby(USER).size().reindex(users, fill_value=0).to_numpy()
    lists, took = {}, {}  # by retriever id: each retriever is asked once

    def ranked(retriever):
        if id(retriever) not in lists:
            start = time.perf_counter()
            lists[id(retriever)] = batch_candidates(retriever, users, times, top)
            took[id(retriever)] = time.perf_counter() - start
        return lists[id(retriever)]

    asked = {id(r) for r in retrievers.values()}
    rows, seconds = [], {}
    for name, retriever in retrievers.items():
        reuse = isinstance(retriever, UnionRetriever) and {id(retriever.first), id(retriever.second)} <= asked
        parts = [retriever.first, retriever.second] if reuse else [retriever]
        found = [ranked(p) for p in parts]
        seconds[name] = sum(took[id(p)] for p in parts)
        for n in ns:
            for i, user in enumerate(users):
                hits = set().union(*(f[i][:n].tolist() for f in found)) & relevant[user]
                rows.append((name, user, n, len(hits) / len(relevant[user])))
    per_user = pd.DataFrame(rows, columns=["retriever", USER, "N", "recall"])
    info = pd.DataFrame({USER: users, "history": lengths, "bucket": history_buckets(lengths, edges)})
    return RetrievalComparison(per_user.merge(info, on=USER), seconds)
