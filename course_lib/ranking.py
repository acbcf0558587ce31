"""Recommending what to watch next: implicit feedback and a retrieval stage.

Introduced in lesson 06.

Lessons 01-05 train on "liked | rated": given that a user rated a movie, did
they like it? Ranking a catalogue asks something else: of all movies, which
will the user go on to watch *and* like? This module builds the training set
for that question and the retrieval stage that goes in front of the ranker.

**Implicit-feedback training set** (``implicit_features``):

- positives are liked ratings (label 1);
- negatives are disliked ratings (label 0) plus, for every rating row,
  ``negatives`` movies the user had not rated, sampled from the catalogue
  (label 0): *negative sampling*, since "not watched" is never observed
  directly.

It is time-correct and leak-free like every course feature:

- a sampled movie is described at its anchor row's time, through
  ``build_features(..., queries=...)``: the same user history, and movie
  statistics from strictly earlier training ratings only;
- the sampling weights count ``train`` ratings only, and a user's sampled
  negatives skip the movies they rated *before the test period* (never
  looking at it): a movie they go on to rate in the test period can be drawn
  as a negative, exactly as it would be in real use;
- test rows are dropped before anything is computed, so changing or removing
  them cannot change the set (``tests/test_ranking.py`` proves it).

**Retrieval** (``CooccurrenceRetriever``): item-to-item co-occurrence, the
classic "people who liked A also watched B", scored from the user's recent
likes and counted on ratings before the test period.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from course_lib.columns import ITEM, LABEL, RATING, SPLIT, TIMESTAMP, USER
from course_lib.features import PAIR_SHIFT

#: Sampled negatives per rating row. On ml-latest-small 4 negatives and 5 epochs
#: gave a two-stage HR@10 of 0.491 (mean of seeds 1-3), 3 and 4 epochs 0.482:
#: within the seed spread (0.01-0.02), for 35 % less training.
NEGATIVES_PER_ROW = 3
#: Popularity-weighted sampling draws a movie with probability proportional to
#: ``(train count + 1) ** POPULARITY_POWER`` (word2vec's 0.75): popular movies
#: are drawn more often, so the model cannot rank by popularity alone, yet the
#: long tail still appears.
POPULARITY_POWER = 0.75
SAMPLING_SCHEMES = ("uniform", "popularity")
#: Marks where a training row comes from.
SOURCE = "source"
#: How the ranker trains on the implicit set: it has 4x the rows of the
#: "liked | rated" set, so larger batches with a larger Adam step (the wide
#: part's FTRL keeps its step); at most 4 epochs (the lesson's time budget),
#: stopping early on the validation mix. Batches of 8,192 with step 8e-3 train
#: no faster per epoch on 2 cores and starve the wide part (ml-latest-small,
#: seed 1: two-stage HR@10 0.478 vs 0.507). No per-epoch training-rows AUC
#: (``train_auc_rows=0``): no lesson plots the rankers' learning curves.
RANKER_TRAINING = {"epochs": 4, "batch_size": 4096, "learning_rate": 4e-3, "patience": 1, "train_auc_rows": 0}


def pre_test(task: pd.DataFrame) -> pd.DataFrame:
    """The ratings before each user's test period (``train`` and ``val`` rows)."""
    if SPLIT not in task:
        raise KeyError(f"task needs a {SPLIT!r} column; build it with course_lib.split.make_task.")
    return task[task[SPLIT] != "test"]


def sampling_weights(task: pd.DataFrame, catalogue: np.ndarray, sampling: str = "popularity") -> np.ndarray:
    """Probability of drawing each catalogue movie as a negative.

    Args:
        task: Labelled, split ratings; only ``train`` rows are counted.
        catalogue: Movie ids that can be drawn.
        sampling: ``"uniform"`` or ``"popularity"`` (∝ (count + 1) ** 0.75).
    """
    if sampling not in SAMPLING_SCHEMES:
        raise ValueError(f"sampling must be one of {SAMPLING_SCHEMES}, got {sampling!r}")
    if sampling == "uniform":
        weights = np.ones(len(catalogue))
    else:
        counts = task[task[SPLIT] == "train"].groupby(ITEM).size()
        weights = (counts.reindex(catalogue).fillna(0).to_numpy(np.float64) + 1.0) ** POPULARITY_POWER
    return weights / weights.sum()


def sample_negatives(task: pd.DataFrame, catalogue: np.ndarray, negatives: int = NEGATIVES_PER_ROW,
                     sampling: str = "popularity", seed: int = 0) -> pd.DataFrame:
    """Unrated movies drawn for every rating row before the test period.

    Each draw takes its anchor row's user, timestamp and split. A movie the
    user rated before the test period is redrawn (a few rounds; the rare
    leftovers are dropped).

    Returns:
        Columns ``USER, ITEM, TIMESTAMP, SPLIT`` (one row per kept draw),
        sorted by (user, timestamp, movie).
    """
    if negatives < 0:
        raise ValueError(f"negatives must be >= 0, got {negatives}")
    anchors = pre_test(task)
    catalogue = np.asarray(catalogue, dtype=np.int64)
    p = sampling_weights(task, catalogue, sampling)
    rng = np.random.default_rng(seed)
    users = np.repeat(anchors[USER].to_numpy(np.int64), negatives)
    times = np.repeat(anchors[TIMESTAMP].to_numpy(np.int64), negatives)
    splits = np.repeat(anchors[SPLIT].astype(str).to_numpy(), negatives)
    shift = np.int64(PAIR_SHIFT)  # user * shift + movie: one key per (user, movie)
    rated = np.unique(anchors[USER].to_numpy(np.int64) * shift + anchors[ITEM].to_numpy(np.int64))
    movies = rng.choice(catalogue, size=len(users), p=p)
    for _ in range(10):
        clash = np.isin(users * shift + movies, rated)
        if not clash.any():
            break
        movies[clash] = rng.choice(catalogue, size=int(clash.sum()), p=p)
    keep = ~np.isin(users * shift + movies, rated)
    out = pd.DataFrame({USER: users[keep], ITEM: movies[keep], TIMESTAMP: times[keep], SPLIT: splits[keep]})
    return out.sort_values([USER, TIMESTAMP, ITEM], kind="stable").reset_index(drop=True)


def implicit_features(task: pd.DataFrame, movies: pd.DataFrame, negatives: int = NEGATIVES_PER_ROW,
                      sampling: str = "popularity", seed: int = 0) -> pd.DataFrame:
    """The implicit-feedback training set, with every course feature.

    Rows: every ``train`` and ``val`` rating (label = liked) and the sampled
    negatives (label 0), all described by ``build_features(..., queries=...)``
    against the ratings before the test period, so a sampled movie gets the
    features it had at its anchor row's time.

    Args:
        task: Output of ``make_task``.
        movies: The movies table (its ids are the catalogue negatives come from).
        negatives: Sampled negatives per rating row.
        sampling: ``"uniform"`` or ``"popularity"``.
        seed: Seed of the draw.

    Returns:
        A feature table like ``build_features``'s with ``SPLIT`` in
        {train, val}, ``LABEL`` and a ``source`` column (liked, disliked,
        sampled), sorted by (user, timestamp, movie).
    """
    from course_lib.features import build_features

    history = pre_test(task)
    rated = history[[USER, ITEM, TIMESTAMP, SPLIT, LABEL, RATING]].astype({SPLIT: str})
    rated = rated.assign(**{SOURCE: np.where(rated[LABEL] == 1, "liked", "disliked")})
    drawn = sample_negatives(history, movies[ITEM].to_numpy(), negatives, sampling, seed)
    drawn = drawn.assign(**{LABEL: np.int8(0), RATING: np.nan, SOURCE: "sampled"})
    rows = pd.concat([rated, drawn], ignore_index=True)
    # One feature path for rated and sampled rows alike: each is a query at its own time.
    feats = build_features(history, movies, queries=rows[[USER, ITEM, TIMESTAMP]])
    feats[LABEL] = rows[LABEL].to_numpy(np.int8)
    feats[SPLIT] = rows[SPLIT].to_numpy()
    feats[SOURCE] = rows[SOURCE].to_numpy()
    feats[RATING] = rows[RATING].to_numpy(np.float32)  # NaN: never rated
    return feats.sort_values([USER, TIMESTAMP, ITEM, SOURCE], kind="stable").reset_index(drop=True)


def train_ranker(features: pd.DataFrame, spec, branches: str = "wide_deep", seed: int = 1):
    """Build and train a course model on the implicit set (``RANKER_TRAINING`` settings).

    Early stopping watches the validation rows of the same mix (liked vs
    disliked + sampled), so it stops when ranking, not rating, stops improving.

    Returns:
        The ``TrainResult`` of ``course_lib.train.train_model``.
    """
    from course_lib.models import build_wide_deep
    from course_lib.train import train_model

    if SOURCE not in features:
        raise ValueError("train_ranker needs the implicit set; build it with implicit_features(task, movies).")
    model = build_wide_deep(spec, branches, seed=seed)
    return train_model(model, features, spec, seed=seed, **RANKER_TRAINING)


# -------------------------------------------------------------- retrieval ---

#: How many of the user's latest likes seed the co-occurrence scores.
RECENT_LIKES = 20
#: Candidates the retrieval stage hands to the ranker.
N_CANDIDATES = 300


class CooccurrenceRetriever:
    """Item-to-item co-occurrence retrieval: "people who liked A also watched B".

    A movie ``j``'s score for a user is a sum over the user's last ``recent``
    liked movies ``i`` and over the other users ``v`` who liked ``i`` and rated
    ``j``, each term divided by ``(n_i * n_j * d_v) ** damping``: ``n`` = how
    many users rated the movie, ``d`` = how many movies the user rated. With
    ``damping = 0.5`` the movie part is cosine similarity, and a user who rated
    half the catalogue does not outvote everyone else; 0 gives raw counts,
    which favour blockbusters. Computed as two sparse products
    (likes -> users -> movies), never as the catalogue x catalogue matrix. Movies the user rated are never
    returned; users with no likes (cold start) get the most-rated movies,
    and short lists are topped up from them.

    **As of a time.** ``candidates(user, n, at=t)`` and ``popular_positions(user,
    n, at=t)`` use only the ratings of ``history`` made strictly before ``t``
    (every count: co-occurrences, ``n``, ``d``, the most-rated order, the
    user's own likes and rated movies). A rating made later changes nothing,
    so a user is served as they would have been at ``t``. ``at=None`` uses
    every rating ("now").

    Args:
        history: The ratings known "now" (any split); for a time-correct
            offline evaluation, all ratings, queried ``at`` each user's moment.
        catalogue: Movie ids that can be retrieved.
        recent: How many latest likes describe the user.
        damping: Popularity damping exponent (see above).
    """

    def __init__(self, history: pd.DataFrame, catalogue, recent: int = RECENT_LIKES, damping: float = 0.5):
        from scipy import sparse

        self.catalogue = np.asarray(catalogue, dtype=np.int64)
        self.recent, self.damping = int(recent), float(damping)
        ordered = history.sort_values([USER, TIMESTAMP, ITEM], kind="stable")
        pos = pd.Index(self.catalogue).get_indexer(ordered[ITEM].to_numpy())
        ordered = ordered[pos >= 0]
        pos = pos[pos >= 0]
        user_ids, user_row = np.unique(ordered[USER].to_numpy(np.int64), return_inverse=True)
        time = ordered[TIMESTAMP].to_numpy(np.int64)
        first = ~pd.DataFrame({"u": user_row, "p": pos}).duplicated().to_numpy()  # a movie rated twice counts once
        liked = (ordered[LABEL].to_numpy() == 1)
        shape = (len(user_ids), len(self.catalogue))

        def matrix(rows, cols, when, shape):
            # A 0/1 matrix and each stored entry's rating time, to mask entries "as of" a time.
            m = sparse.csr_matrix((np.arange(1.0, len(rows) + 1), (rows, cols)), shape=shape)
            m.sum_duplicates()  # none left (deduplicated above): keeps the canonical order
            entry_time = when[m.data.astype(np.int64) - 1]
            m.data[:] = 1.0
            return m, entry_time

        self._rated_all, self._rated_time = matrix(user_row[first], pos[first], time[first], shape)
        keep = liked & first
        self._liked_all, self._liked_time = matrix(pos[keep], user_row[keep], time[keep], shape[::-1])
        self._now = self._counts(None)
        self._row = {int(u): i for i, u in enumerate(user_ids)}
        # Each user's ratings in time order: catalogue position, time, liked.
        self._timeline = {}
        users = ordered[USER].to_numpy(np.int64)
        bounds = np.flatnonzero(np.r_[True, users[1:] != users[:-1], True])
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            self._timeline[int(users[lo])] = (pos[lo:hi], time[lo:hi], liked[lo:hi])

    def _counts(self, at: int | None) -> dict:
        """The matrices and counts built from the ratings strictly before ``at`` (None: all)."""
        if at is None:
            rated, liked_t = self._rated_all, self._liked_all
        else:
            # Same sparsity, later entries zeroed: sums add exact zeros, so "as of now" equals at=None.
            rated, liked_t = self._rated_all.copy(), self._liked_all.copy()
            rated.data = (self._rated_time < at).astype(np.float64)
            liked_t.data = (self._liked_time < at).astype(np.float64)
        counts = np.asarray(rated.sum(axis=0)).ravel()
        popular = np.lexsort((self.catalogue, -counts))  # most-rated first, ties by movie id
        rank = np.empty(len(self.catalogue), dtype=np.int64)
        rank[popular] = np.arange(len(self.catalogue))
        return {"rated": rated, "liked_t": liked_t, "scale": np.maximum(counts, 1.0) ** -self.damping,
                "user_scale": np.maximum(np.asarray(rated.sum(axis=1)).ravel(), 1.0) ** -self.damping,
                "popular": popular, "popular_rank": rank}

    def _as_of(self, at: int | None) -> dict:
        if at is None:
            return self._now
        if getattr(self, "_cached_at", None) != at:  # an evaluation asks many users at few distinct times
            self._cached, self._cached_at = self._counts(int(at)), at
        return self._cached

    def _user(self, user_id: int, at: int | None) -> tuple[np.ndarray, np.ndarray]:
        """The user's rated positions and latest ``recent`` likes, from ratings strictly before ``at``."""
        pos, time, liked = self._timeline.get(int(user_id), (np.zeros(0, np.int64),) * 2 + (np.zeros(0, bool),))
        if at is not None:
            before = time < at
            pos, liked = pos[before], liked[before]
        likes = pos[liked]
        return np.unique(pos), likes[len(likes) - min(self.recent, len(likes)):]

    def scores(self, user_id: int, at: int | None = None) -> np.ndarray:
        """Co-occurrence score of every catalogue movie for ``user_id`` (zeros for a cold start)."""
        state, (_, seeds) = self._as_of(at), self._user(user_id, at)
        if not len(seeds):
            return np.zeros(len(self.catalogue))
        weight = np.zeros(len(self.catalogue))
        np.add.at(weight, seeds, state["scale"][seeds])
        per_user = (state["liked_t"].T @ weight) * state["user_scale"]  # how strongly each user shares these likes
        return (state["rated"].T @ per_user) * state["scale"]

    def candidate_positions(self, user_id: int, n: int = N_CANDIDATES, at: int | None = None) -> np.ndarray:
        """Catalogue positions of the top-``n`` unrated movies, best first (ties: most rated)."""
        s = self.scores(user_id, at)
        s[self._user(user_id, at)[0]] = -np.inf
        k = min(int(n), int(np.isfinite(s).sum()))
        if k <= 0:
            return np.array([], dtype=np.int64)
        # Only the movies scoring at least the k-th best need sorting (ties at the cut all kept).
        cut = -np.partition(-s, k - 1)[k - 1]
        pool = np.flatnonzero(s >= cut)
        return pool[np.lexsort((self._as_of(at)["popular_rank"][pool], -s[pool]))][:k]

    def candidates(self, user_id: int, n: int = N_CANDIDATES, at: int | None = None) -> np.ndarray:
        """Movie ids of the top-``n`` unrated movies for ``user_id``, best first."""
        return self.catalogue[self.candidate_positions(user_id, n, at)]

    def popular_positions(self, user_id: int, n: int = 10, at: int | None = None) -> np.ndarray:
        """The popularity baseline: the ``n`` most-rated movies the user has not rated (as of ``at``)."""
        rated = np.zeros(len(self.catalogue), bool)
        rated[self._user(user_id, at)[0]] = True
        popular = self._as_of(at)["popular"]
        return popular[~rated[popular]][:n]


def retrieval_recall(candidates: dict[int, np.ndarray], relevant: dict[int, set[int]]) -> float:
    """Mean over users of the share of their relevant movies among their candidates (recall@N)."""
    shares = [len(rel & set(np.asarray(candidates[u]).tolist())) / len(rel) for u, rel in relevant.items() if rel]
    if not shares:
        raise ValueError("no user has a relevant test movie; nothing to recall.")
    return round(float(np.mean(shares)), 4)
