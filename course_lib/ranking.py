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
likes and counted, for each user, on the ratings made before that user's
recommendation time (``at=``), like the popularity baseline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from course_lib.columns import ITEM, LABEL, RATING, SPLIT, TIMESTAMP, USER
from course_lib.features import PAIR_SHIFT, RETRIEVAL_COLUMNS, FeatureIndex

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
#: The order of the splits in each user's timeline (``split.make_task``).
SPLIT_ORDER = {"train": 0, "val": 1, "test": 2}
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
    Like ``course_model``, a trained ranker is cached (keyed by its rows, spec
    and recipe): lesson 07 and ``make bench`` reuse lesson 06's rankers.

    Returns:
        The ``TrainResult`` of ``course_lib.train.train_model``.
    """
    return ranker_training(features, spec, branches, seed).run()


def train_rankers(features: pd.DataFrame, spec, branches: str = "wide_deep", seeds=(1, 2, 3)) -> dict:
    """``{seed: train_ranker(features, spec, branches, seed)}``, two at a time (``course_lib.train.train_all``)."""
    from course_lib.train import train_all

    calls = [{"features": features, "spec": spec, "branches": branches, "seed": seed} for seed in seeds]
    return dict(zip(seeds, train_all(ranker_training, calls)))


def ranker_training(features: pd.DataFrame, spec, branches: str = "wide_deep", seed: int = 1):
    """``train_ranker``'s training, not yet run (a ``course_lib.train.Training``)."""
    from course_lib.models import build_wide_deep
    from course_lib.train import Training, model_key, train_model

    if SOURCE not in features:
        raise ValueError("train_ranker needs the implicit set; build it with implicit_features(task, movies) "
                         "or candidate_training_set(task, movies, retriever).")
    key = model_key(features, spec, branches, seed, {"ranker": RANKER_TRAINING, "sources": sorted(features[SOURCE].unique())})
    return Training(f"ranker-{key}", spec, lambda: train_model(build_wide_deep(spec, branches, seed=seed),
                                                               features, spec, seed=seed, **RANKER_TRAINING))


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
    user's own likes and rated movies), whatever their split: a system running
    at ``t`` would know other users' ratings made before ``t`` even if our
    offline split later puts them in someone's test period. The one addition:
    the user's *own* ratings made in the same second as ``t`` that the split
    puts before the period starting at ``t`` (at their first test rating: their
    train and validation ratings; at their first validation rating: their
    train ratings) count at ``t``, since the split orders same-second ratings. A rating made later changes nothing, so a user is
    served as they would have been at ``t``. ``at=None`` uses every rating ("now").

    Args:
        history: The ratings known "now" (any split); for a time-correct
            offline evaluation, all ratings (``task``), queried ``at`` each
            user's recommendation time.
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
        # Split order of each rating (train 0, val 1, test 2; -1 without splits): it orders same-second ratings.
        stage = (pd.Series(ordered[SPLIT].astype(str).to_numpy()).map(SPLIT_ORDER).fillna(-1).to_numpy(np.int64)
                 if SPLIT in ordered else np.full(len(ordered), -1, np.int64))
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
        # Each user's ratings in time order: catalogue position, time, liked, split order.
        self._timeline = {}
        users = ordered[USER].to_numpy(np.int64)
        bounds = np.flatnonzero(np.r_[True, users[1:] != users[:-1], True])
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            self._timeline[int(users[lo])] = (pos[lo:hi], time[lo:hi], liked[lo:hi], stage[lo:hi])

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
        empty = np.zeros(0, np.int64)
        pos, time, liked, stage = self._timeline.get(int(user_id), (empty, empty, np.zeros(0, bool), empty))
        if at is not None:
            same = time == at
            # Same-second ratings the split puts before the period starting at ``at`` are known then.
            period = stage[same].max() if same.any() else -1
            before = (time < at) | (same & (stage < period))
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


# ------------------------------------------- a ranker trained on candidates ---

#: Where the ranker's training windows start, as quantiles of each user's
#: training ratings: each window runs to the next start, the last one to the
#: user's first validation rating. Two windows per user double the positives
#: of one; more add rows, not accuracy, at the lesson's budget.
WINDOW_STARTS = (0.7, 0.85)
#: Share of non-liked candidates kept in the training windows (every liked one
#: is kept): a third of 300 candidates per window keeps training at the size
#: of the sampled set's, and the validation window keeps them all.
KEEP_NEGATIVES = 1 / 3
#: Marks candidate rows in ``SOURCE`` (besides liked / disliked / sampled).
CANDIDATE = "candidate"


def candidate_queries(retriever, moments: dict[int, int], n: int = N_CANDIDATES) -> pd.DataFrame:
    """Each user's top-``n`` candidates at their moment, with the retrieval stage's evidence.

    Args:
        retriever: Anything with ``candidate_positions(user, n, at)`` and
            ``catalogue`` (e.g. ``CooccurrenceRetriever``); its
            ``candidates_batch(users, times, n)`` instead when it has one
            (a two-tower or a union: one tower pass for every user), and its
            ``scores(user, at)`` when it has them (a union has none: NaN).
        moments: User -> the time the user is served (candidates count only
            what was known before it).
        n: Candidates per user.

    Returns:
        Columns ``USER, ITEM, TIMESTAMP`` (the query) and
        ``features.RETRIEVAL_COLUMNS``: the score over the user's best
        candidate's (0 when that is not positive: a cold start) and
        log(1 + rank); users in the order given, candidates best first.
    """
    users = list(moments)
    # A two-tower or a union answers every user in one tower pass. A user's vector is the same bits
    # there as when ``scores`` asks for it alone (two_tower.USER_BLOCK), so places and scores agree.
    batch = (retriever.candidates_batch(users, [moments[u] for u in users], n)
             if hasattr(retriever, "candidates_batch") else None)
    where = pd.Index(retriever.catalogue)
    parts = []
    for i, (user, at) in enumerate(moments.items()):
        positions = where.get_indexer(batch[i]) if batch is not None else retriever.candidate_positions(user, n, at=at)
        score = (retriever.scores(user, at=at)[positions] if hasattr(retriever, "scores")
                 else np.full(len(positions), np.nan))
        top = score[0] if len(score) and score[0] > 0 else np.inf
        parts.append(pd.DataFrame({USER: np.int64(user), ITEM: retriever.catalogue[positions],
                                   TIMESTAMP: np.int64(at), RETRIEVAL_COLUMNS[0]: (score / top).astype(np.float32),
                                   RETRIEVAL_COLUMNS[1]: np.log1p(np.arange(1, len(positions) + 1), dtype=np.float32)}))
    columns = [USER, ITEM, TIMESTAMP, *RETRIEVAL_COLUMNS]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def _window_starts(task: pd.DataFrame, quantile: float) -> dict[int, int]:
    """User -> the time of their training rating at ``quantile`` of their training ratings."""
    train = task[task[SPLIT] == "train"].sort_values([USER, TIMESTAMP], kind="stable")
    return {int(u): int(t.iloc[int(quantile * len(t))]) for u, t in train.groupby(USER)[TIMESTAMP]}


def _liked_between(task: pd.DataFrame, start: dict[int, int], end: dict[int, int]) -> dict[int, set[int]]:
    """User -> the movies they liked in [start, end) (pre-test ratings only)."""
    liked = pre_test(task)
    liked = liked[liked[LABEL] == 1]
    lo = liked[USER].map(start).to_numpy(np.float64)
    hi = liked[USER].map(end).to_numpy(np.float64)
    t = liked[TIMESTAMP].to_numpy(np.float64)
    inside = liked[(t >= lo) & (t < hi)]
    return {int(u): set(g.tolist()) for u, g in inside.groupby(USER)[ITEM]}


def candidate_training_set(task: pd.DataFrame, movies: pd.DataFrame, retriever, n: int = N_CANDIDATES,
                           starts=WINDOW_STARTS, keep_negatives: float = KEEP_NEGATIVES, seed: int = 0) -> pd.DataFrame:
    """A ranker's training set drawn from what it will rank: the retriever's candidates.

    For each user and each window (``starts``, then their validation period),
    the retriever's top-``n`` candidates as of the window's start are the
    rows, labelled 1 when the user liked the movie inside the window. The
    non-liked ones are *hard negatives*: movies retrieval thought likely. Each
    row carries the course features at the window's start (``FeatureIndex``
    over the pre-test ratings) and the retrieval evidence
    (``features.RETRIEVAL_COLUMNS``). Windows in the training period are
    ``train`` rows (a ``keep_negatives`` share of their negatives); the
    validation window is ``val`` (every candidate), for early stopping and for
    every choice. Nothing reads the test period.

    Args:
        task: Output of ``make_task``.
        movies: The catalogue.
        retriever: A ``CooccurrenceRetriever`` over every rating (``task``),
            queried ``at`` each window's start.
        n: Candidates per user and window.
        starts: Window starts, as quantiles of each user's training ratings.
        keep_negatives: Share of non-liked training-window candidates kept.
        seed: Seed of that thinning.
    """
    if not 0 < keep_negatives <= 1:
        raise ValueError(f"keep_negatives must be in (0, 1], got {keep_negatives}")
    val_start, test_start = _period_starts(task, "val"), _period_starts(task, "test")
    windows = [_window_starts(task, q) for q in starts]
    rng = np.random.default_rng(seed)
    parts = [_window(task, retriever, start, end, n, "train", keep_negatives, rng)
             for start, end in zip(windows, windows[1:] + [val_start])]
    parts.append(_window(task, retriever, val_start, test_start, n, "val", 1.0, rng))
    return _describe(task, movies, pd.concat(parts, ignore_index=True))


def validation_window(task: pd.DataFrame, movies: pd.DataFrame, retriever, n: int = N_CANDIDATES) -> pd.DataFrame:
    """Only ``candidate_training_set``'s validation rows, for another retriever or ``n``.

    Each user's top-``n`` candidates at their first validation rating,
    labelled 1 when they liked the movie in their validation period, with the
    course features and retrieval evidence: the rows on which a choice of
    retriever is made (``evaluation.validation_ranking`` scores them).
    """
    window = _window(task, retriever, _period_starts(task, "val"), _period_starts(task, "test"), n, "val", 1.0,
                     np.random.default_rng(0))
    return _describe(task, movies, window)


def _period_starts(task: pd.DataFrame, split: str) -> dict[int, int]:
    """User -> the time of their first rating in ``split``."""
    rows = task[task[SPLIT] == split]
    return {int(u): int(t) for u, t in rows.groupby(USER)[TIMESTAMP].min().items()}


def _window(task, retriever, start: dict, end: dict, n: int, split: str, keep_negatives: float, rng) -> pd.DataFrame:
    """The candidates at each user's window start, labelled by the likes in [start, end); a share of negatives kept."""
    start = {u: t for u, t in start.items() if u in end}
    liked = _liked_between(task, start, end)
    rows = candidate_queries(retriever, start, n)
    label = np.fromiter((m in liked.get(u, ()) for u, m in zip(rows[USER], rows[ITEM])), bool, len(rows))
    keep = label | (rng.random(len(rows)) < keep_negatives)
    return rows[keep].assign(**{LABEL: label[keep].astype(np.int8), SPLIT: split})


def _describe(task: pd.DataFrame, movies: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Candidate rows with every course feature at their time (pre-test ratings only) and their evidence."""
    feats = FeatureIndex(pre_test(task), movies).features(rows[[USER, ITEM, TIMESTAMP]])
    for col in (*RETRIEVAL_COLUMNS, LABEL, SPLIT):
        feats[col] = rows[col].to_numpy()
    feats[SOURCE] = CANDIDATE
    return feats
