"""The feature contract: leak-free features, computed one way for training and serving.

Introduced in lesson 03 (used from lesson 01 on).

Every feature of a rating row is computed from information available
*before* that rating was made:

- user history features use the user's ratings with a strictly smaller
  numeric timestamp (ratings at the same second are not "earlier");
- movie statistics use only ``train`` ratings, again strictly earlier in
  time, so no validation or test rating ever feeds a feature.

One core serves every path. A user's history is summarised as a
``UserState`` (running sums); ``user_columns`` turns states into feature
columns and ``movie_columns`` turns a movie's running sums into its
statistics. ``FeatureIndex`` (below) owns "features at time t": user states
at any times, movie statistics strictly before any times (``MovieIndex``),
and the feature rows of training ratings or of (user, movie, time) queries.
``build_features``, the recommender (``course_lib.recommend``), the ranking
evaluation, the sampled negatives and the streaming path
(``course_lib.streaming``) all go through it.
``FeatureSpec`` (below) is the contract between this table and the models.

``tests/test_features.py`` proves leak-freedom by perturbing a row's rating
(and every later rating) and checking that no earlier feature moves, and
checks that training and serving give identical rows (the skew test).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from course_lib.columns import GENRE_SEP, GENRES, ITEM, LABEL, NO_GENRE, RATING, SPLIT, TIMESTAMP, USER, YEAR
from course_lib.split import LIKE_THRESHOLD

#: How many recently liked movies describe a user (Sparrow RecSys used 5).
HISTORY_LENGTH = 5
#: How many of a movie's genres, and of a user's favourite genres, are kept.
N_MOVIE_GENRES = 3
N_USER_GENRES = 3
#: Pseudo-count that shrinks a mean toward the global mean, so a movie with
#: one 5-star rating is not "the best movie ever".
SHRINKAGE = 5.0
#: Fixed priors the shrunk means start from. Constants, not data means: a
#: mean over all ratings would let test ratings leak into every feature.
PRIOR_RATING = 3.5
PRIOR_LIKED = 0.6
#: Release year used when no movie in the catalogue has one (the median of
#: ml-latest-small's years is 1999; any mid-range year would do).
YEAR_FALLBACK = 1995.0
#: Release-year bucket edges (lesson 03 bucketizes the year).
YEAR_BOUNDARIES = [1950.0, 1970.0, 1980.0, 1990.0, 1995.0, 2000.0, 2005.0, 2010.0, 2015.0]
#: Sort keys ``id * TIME_KEY_SHIFT + timestamp`` order rows by (id, time):
#: Unix seconds stay below 2**33 until the year 2242.
TIME_KEY_SHIFT = np.int64(1) << 33
#: Pair keys ``movie * PAIR_SHIFT + liked_movie`` name a movie x history cross.
PAIR_SHIFT = 1 << 32

HIST_COLUMNS = [f"hist_movie_{i}" for i in range(1, HISTORY_LENGTH + 1)]
MOVIE_GENRE_COLUMNS = [f"movie_genre_{i}" for i in range(1, N_MOVIE_GENRES + 1)]
USER_GENRE_COLUMNS = [f"user_genre_{i}" for i in range(1, N_USER_GENRES + 1)]
USER_NUMERIC = ["user_rating_count", "user_rating_mean", "user_rating_std",
                "user_liked_rate", "user_year_mean", "user_genre_affinity"]
MOVIE_NUMERIC = ["movie_rating_count", "movie_rating_mean", "movie_rating_std", "movie_year"]
NUMERIC_COLUMNS = USER_NUMERIC + MOVIE_NUMERIC
#: The retrieval stage's evidence about a candidate (lesson 06's ranker reads
#: them): its retrieval score relative to the user's best candidate, and
#: log(1 + its rank among the candidates). Written by ``ranking.candidate_queries``.
RETRIEVAL_COLUMNS = ["retrieval_score", "retrieval_rank"]
#: Every column that describes the user (their history) ...
USER_COLUMNS = [*HIST_COLUMNS, *USER_GENRE_COLUMNS, *USER_NUMERIC]
#: ... and every column that describes the candidate movie.
MOVIE_COLUMNS = [*MOVIE_GENRE_COLUMNS, *MOVIE_NUMERIC]
#: What the deep branch may see besides embeddings (lesson 04's experiment):
#: "embeddings" keeps only the release year (it feeds the year embedding),
#: "statistics" adds every rating statistic of the user and the movie.
DEEP_INPUTS = {"embeddings": ["movie_year"], "statistics": list(NUMERIC_COLUMNS)}


# ------------------------------------------------------------ the contract ---

ALL_CROSSES = ("movie_x_history", "genre_x_genre", "user_x_genre")


@dataclass
class FeatureSpec:
    """What the models see: vocabularies, numeric statistics, cross sizes.

    Build it with ``make_feature_spec`` from the training rows only (so no
    statistic leaks from validation or test).
    """

    users: list[int]
    movies: list[int]
    genres: list[str]
    numeric: list[str]
    numeric_mean: list[float]
    numeric_var: list[float]
    hist_columns: list[str] = field(default_factory=lambda: list(HIST_COLUMNS))
    movie_genre_columns: list[str] = field(default_factory=lambda: list(MOVIE_GENRE_COLUMNS))
    user_genre_columns: list[str] = field(default_factory=lambda: list(USER_GENRE_COLUMNS))
    year_boundaries: list[float] = field(default_factory=lambda: list(YEAR_BOUNDARIES))
    #: The (candidate, liked movie) pairs seen in training, as keys
    #: ``movie_id * PAIR_SHIFT + liked_movie_id``: the exact vocabulary of the
    #: movie x history cross. Empty -> hash pairs into ``movie_cross_bins``.
    movie_pairs: list[int] = field(default_factory=list)
    #: Hash bins of the movie x history cross when ``movie_pairs`` is empty.
    movie_cross_bins: int = 1 << 17
    #: Which crosses the wide model uses (lesson 01 adds them one by one).
    crosses: tuple[str, ...] = ALL_CROSSES

    def to_dict(self) -> dict:
        # Every field is flat (numbers, or lists and tuples of them), so a copy of each
        # container equals dataclasses.asdict, which copies the ~10^6 cross pairs one
        # element at a time (0.2-0.7 s per call, and every course_model call makes some).
        return {f.name: type(v)(v) if isinstance(v, (list, tuple)) else v
                for f in fields(self) for v in (getattr(self, f.name),)}

    @classmethod
    def from_dict(cls, config: dict) -> "FeatureSpec":
        config = dict(config)
        config["crosses"] = tuple(config.get("crosses", ()))
        return cls(**config)

    @property
    def input_names(self) -> list[str]:
        return [USER, ITEM, *self.hist_columns, *self.movie_genre_columns,
                *self.user_genre_columns, *self.numeric]

    def with_crosses(self, *crosses: str) -> "FeatureSpec":
        """A copy of this spec using only the named crosses (lesson 01)."""
        unknown = set(crosses) - set(ALL_CROSSES)
        if unknown:
            raise ValueError(f"unknown cross {sorted(unknown)}; choose from {ALL_CROSSES}")
        return FeatureSpec.from_dict({**self.to_dict(), "crosses": tuple(crosses)})

    def with_numeric(self, numeric: list[str], features: pd.DataFrame) -> "FeatureSpec":
        """A copy whose deep branch sees only ``numeric`` (statistics from ``features``' train rows)."""
        other = make_feature_spec(features, numeric=numeric, genres=self.genres, pairs=self.movie_pairs)
        return FeatureSpec.from_dict({**self.to_dict(), **{k: getattr(other, k) for k in
                                                           ("numeric", "numeric_mean", "numeric_var")}})


def make_feature_spec(features: pd.DataFrame, numeric: list[str] | None = None,
                      genres: list[str] | None = None, pairs: list[int] | None = None) -> FeatureSpec:
    """Vocabularies and normalisation statistics from the ``train`` rows.

    Args:
        features: Output of ``build_features``.
        numeric: Numeric columns for the deep model (None: all of
            ``NUMERIC_COLUMNS``; ``[]``: none, embeddings only; may add
            ``RETRIEVAL_COLUMNS`` when the rows carry them).
        genres: Genre vocabulary (default: genres seen in train).
        pairs: Movie-pair vocabulary (default: the pairs of the train rows).
    """
    train = features[features[SPLIT] == "train"] if SPLIT in features else features
    if train.empty:
        raise ValueError("no training rows: make_feature_spec needs rows with split == 'train'.")
    numeric = list(NUMERIC_COLUMNS if numeric is None else numeric)
    unknown = [c for c in numeric if c not in NUMERIC_COLUMNS + RETRIEVAL_COLUMNS]
    if unknown:
        raise ValueError(f"unknown numeric feature(s) {unknown}; choose from {NUMERIC_COLUMNS + RETRIEVAL_COLUMNS}")
    missing = [c for c in numeric if c not in train]
    if missing:
        raise KeyError(f"numeric feature(s) {missing} are not columns of the rows; the retrieval columns "
                       "come from ranking.candidate_training_set.")
    if genres is None:
        genres = sorted({g for c in MOVIE_GENRE_COLUMNS for g in train[c].unique() if g})
    values = train[numeric].to_numpy(np.float64).reshape(len(train), len(numeric))
    return FeatureSpec(
        movie_pairs=movie_pair_vocabulary(train) if pairs is None else list(pairs),
        users=sorted(int(u) for u in train[USER].unique()),
        movies=sorted(int(m) for m in train[ITEM].unique()),
        genres=list(genres),
        numeric=numeric,
        numeric_mean=[float(v) for v in np.nanmean(values, axis=0)] if numeric else [],
        numeric_var=[float(max(v, 1e-6)) for v in np.nanvar(values, axis=0)] if numeric else [],
    )


def pair_keys(movie, liked_movie) -> np.ndarray:
    """Keys of (candidate, liked movie) pairs; broadcasting like NumPy."""
    return np.asarray(movie, np.int64) * PAIR_SHIFT + np.asarray(liked_movie, np.int64)


def movie_pair_vocabulary(train: pd.DataFrame) -> list[int]:
    """Sorted keys of every (candidate, recently liked movie) pair in ``train``."""
    hist = train[HIST_COLUMNS].to_numpy(np.int64)
    keys = pair_keys(train[ITEM].to_numpy(np.int64)[:, None], hist)[hist > 0]
    return [int(k) for k in np.unique(keys)]


# ------------------------------------------------------------- the core ---

def genre_vocabulary(movies: pd.DataFrame) -> list[str]:
    """Sorted genre names present in ``movies`` (without "(no genres listed)")."""
    names = {g for gs in movies[GENRES] for g in str(gs).split(GENRE_SEP)}
    names.discard(NO_GENRE)
    names.discard("")
    return sorted(names)


def genre_matrix(movie_ids, movies: pd.DataFrame, vocab: list[str]) -> np.ndarray:
    """Multi-hot genre matrix (rows follow ``movie_ids``; unknown movies are all-zero)."""
    index = {g: j for j, g in enumerate(vocab)}
    movie_ids = np.asarray(movie_ids)
    # Only the movies asked for: scoring one user must not walk the catalogue.
    movies = movies[movies[ITEM].isin(np.unique(movie_ids))]
    table = np.zeros((len(movies), len(vocab)), dtype=np.float32)
    for i, gs in enumerate(movies[GENRES].astype(str)):
        for g in gs.split(GENRE_SEP):
            if g in index:
                table[i, index[g]] = 1.0
    pos = pd.Index(movies[ITEM]).get_indexer(movie_ids)
    out = np.zeros((len(movie_ids), len(vocab)), dtype=np.float32)
    ok = pos >= 0
    out[ok] = table[pos[ok]]
    return out


def movie_years(movie_ids, movies: pd.DataFrame) -> np.ndarray:
    """Release year of each movie id (NaN when unknown or not in ``movies``)."""
    pos = pd.Index(movies[ITEM]).get_indexer(np.asarray(movie_ids))
    years = movies[YEAR].astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(pos >= 0, years[np.maximum(pos, 0)], np.nan)


def median_year(movies: pd.DataFrame) -> float:
    """The catalogue's median release year: the fill for movies without one."""
    years = movies[YEAR].astype("Float64").to_numpy(np.float64, na_value=np.nan)
    return float(np.nanmedian(years)) if np.isfinite(years).any() else YEAR_FALLBACK


def fill_years(out: pd.DataFrame, fill: float) -> pd.DataFrame:
    """Fill missing years in place: a movie without a year gets ``fill``; a
    user without dated history starts at the candidate's year (``user_year_or``)."""
    out["movie_year"] = out["movie_year"].fillna(fill).astype(np.float32)
    out["user_year_mean"] = user_year_or(out["user_year_mean"].to_numpy(), out["movie_year"].to_numpy())
    return out


def user_year_or(user_year_mean, movie_year) -> np.ndarray:
    """The user's mean release year, or the candidate's (filled) year for a user without dated history."""
    return np.where(np.isnan(user_year_mean), movie_year, user_year_mean).astype(np.float32)


def shrunk_mean_std(count, s1, s2, prior: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean shrunk toward ``prior`` by ``SHRINKAGE`` pseudo-ratings, and the sample std.

    Args:
        count: Number of values; s1: their sum; s2: the sum of their squares.
    """
    count, s1, s2 = (np.asarray(a, np.float64) for a in (count, s1, s2))
    mean = (s1 + SHRINKAGE * prior) / (count + SHRINKAGE)
    var = np.where(count > 1, (s2 - s1 ** 2 / np.maximum(count, 1)) / np.maximum(count - 1, 1), 0.0)
    return mean, np.sqrt(np.maximum(var, 0.0))


def movie_columns(count, s1, s2, year) -> pd.DataFrame:
    """A movie's statistics from its running sums of earlier train ratings.

    Args:
        count, s1, s2: Number, sum and sum of squares of the ratings that count.
        year: Release year (NaN: unknown, filled later by ``fill_years``).
    """
    mean, std = shrunk_mean_std(count, s1, s2, PRIOR_RATING)
    return pd.DataFrame({
        "movie_rating_count": np.log1p(np.asarray(count, np.float64)).astype(np.float32),
        "movie_rating_mean": mean.astype(np.float32),
        "movie_rating_std": std.astype(np.float32),
        "movie_year": np.asarray(year, np.float64).astype(np.float32),
    })


def liked_rate(state: "UserState") -> np.ndarray:
    """Each state's share of liked ratings, shrunk toward ``PRIOR_LIKED`` by ``SHRINKAGE`` pseudo-ratings."""
    return (state.liked + SHRINKAGE * PRIOR_LIKED) / (state.count + SHRINKAGE)


def genre_affinity(rated_g: np.ndarray, liked_g: np.ndarray, candidate_genres: np.ndarray,
                   user_rate: np.ndarray) -> np.ndarray:
    """The user's liked rate within the candidate's genres, shrunk toward their overall rate.

    Args:
        rated_g: Per genre, how many earlier ratings the user gave (rows x genres,
            or one row broadcast over candidates).
        liked_g: Per genre, how many of those were liked.
        candidate_genres: Multi-hot genres of each candidate movie.
        user_rate: The user's (shrunk) overall liked rate.
    """
    g_rated = (rated_g * candidate_genres).sum(1)
    g_liked = (liked_g * candidate_genres).sum(1)
    return (g_liked + SHRINKAGE * user_rate) / (g_rated + SHRINKAGE)


def _time_keys(ids, times) -> np.ndarray:
    return np.asarray(ids).astype(np.int64) * TIME_KEY_SHIFT + np.asarray(times).astype(np.int64)


def _group_starts(keys: np.ndarray) -> np.ndarray:
    """For each row, the index of the first row with its key (keys sorted)."""
    first = np.r_[True, keys[1:] != keys[:-1]]
    return np.maximum.accumulate(np.where(first, np.arange(len(keys)), 0))


def _exclusive_user_cumsum(frame: pd.DataFrame, values: np.ndarray) -> np.ndarray:
    """Per-user cumulative sum of ``values`` over strictly earlier timestamps.

    Evaluated at the first row of each (user, timestamp) tie group, so ratings
    made in the same second do not count as "earlier".
    """
    csum = np.cumsum(values, axis=0)
    excl = np.concatenate([np.zeros((1,) + values.shape[1:], values.dtype), csum[:-1]])
    # Subtract everything before this user's first row.
    excl = excl - excl[_group_starts(frame[USER].to_numpy())]
    return excl[_group_starts(_time_keys(frame[USER], frame[TIMESTAMP]))]


@dataclass
class UserState:
    """What a user's earlier ratings add up to, one entry per described row.

    Every field is a running sum (or, for ``last_liked``, the latest liked
    movie ids, most recent first, 0 = none). ``user_columns`` turns it into
    features; ``user_state`` computes it from a rating history.
    """

    count: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    liked: np.ndarray
    year_count: np.ndarray
    year_sum: np.ndarray
    rated_genres: np.ndarray  # rows x genres
    liked_genres: np.ndarray  # rows x genres
    last_liked: np.ndarray  # rows x HISTORY_LENGTH

    def take(self, rows) -> "UserState":
        """The states of ``rows`` (an index array or a slice)."""
        return UserState(**{k: v[rows] for k, v in vars(self).items()})


def user_state(task: pd.DataFrame, movies: pd.DataFrame, vocab: list[str],
               weight: np.ndarray | None = None, genres: np.ndarray | None = None) -> UserState:
    """Each row's user state from that user's strictly earlier ratings.

    Args:
        task: Ratings sorted by (user, timestamp, ...), as ``make_task`` returns.
        movies: The movies table (genres, release years).
        vocab: Genre vocabulary.
        weight: 1 for a real rating, 0 for a query row that must not count as
            history (to describe (user, movie, time) pairs that were never rated).
        genres: The rows' ``genre_matrix``, if the caller already has it.
    """
    _check_sorted(task)
    n = len(task)
    w = np.ones(n) if weight is None else np.asarray(weight, dtype=np.float64)
    rating = np.nan_to_num(task[RATING].to_numpy(np.float64)) * w
    liked = (rating >= LIKE_THRESHOLD).astype(np.float64) * w
    movie = task[ITEM].to_numpy()
    year = movie_years(movie, movies)
    has_year = ~np.isnan(year) & (w > 0)
    genres = (genre_matrix(movie, movies, vocab) if genres is None else genres).astype(np.float64)
    cum = lambda v: _exclusive_user_cumsum(task, v)  # noqa: E731

    # Last liked movies: liked rows strictly before the row's tie group.
    nliked = cum(liked)
    liked_rows = np.flatnonzero(liked > 0)
    p = np.searchsorted(liked_rows, _group_starts(_time_keys(task[USER], task[TIMESTAMP])))
    k = nliked.astype(np.int64)
    last = np.zeros((n, HISTORY_LENGTH), dtype=np.int64)
    for j in range(HISTORY_LENGTH):
        ok = k > j
        idx = np.where(ok, p - j - 1, 0)
        last[:, j] = np.where(ok, movie[liked_rows[idx]] if len(liked_rows) else 0, 0)
    return UserState(count=cum(w), s1=cum(rating), s2=cum(rating ** 2), liked=nliked,
                     year_count=cum(has_year.astype(np.float64)), year_sum=cum(np.where(has_year, year, 0.0)),
                     rated_genres=cum(genres * w[:, None]), liked_genres=cum(genres * liked[:, None]),
                     last_liked=last)


def user_columns(state: UserState, candidate_genres: np.ndarray, vocab: list[str]) -> pd.DataFrame:
    """The user feature columns (``USER_COLUMNS``) from user states.

    Args:
        state: One state per row, or a single state (length 1) broadcast over
            every candidate (the recommender's "this user, now").
        candidate_genres: Multi-hot genres of each row's candidate movie; the
            one candidate-dependent user feature is the genre affinity.
        vocab: Genre vocabulary (for the favourite-genre names).
    """
    n = len(candidate_genres)
    rows = lambda a: np.broadcast_to(a, (n,) + np.shape(a)[1:])  # noqa: E731
    mean, std = shrunk_mean_std(state.count, state.s1, state.s2, PRIOR_RATING)
    rate = liked_rate(state)
    out = {col: rows(state.last_liked[:, j]) for j, col in enumerate(HIST_COLUMNS)}
    # Favourite genres: most liked before now (ties by vocabulary order).
    order = np.argsort(-state.liked_genres, axis=1, kind="stable")[:, :N_USER_GENRES]
    top = np.take_along_axis(state.liked_genres, order, axis=1)
    names = np.array(vocab + [""], dtype=object)[np.where(top > 0, order, len(vocab))]
    out.update({col: rows(names[:, j]) for j, col in enumerate(USER_GENRE_COLUMNS)})
    out["user_rating_count"] = rows(np.log1p(state.count).astype(np.float32))
    out["user_rating_mean"] = rows(mean.astype(np.float32))
    out["user_rating_std"] = rows(std.astype(np.float32))
    out["user_liked_rate"] = rows(rate.astype(np.float32))
    year_mean = np.where(state.year_count > 0, state.year_sum / np.maximum(state.year_count, 1), np.nan)
    out["user_year_mean"] = rows(year_mean.astype(np.float32))
    out["user_genre_affinity"] = genre_affinity(state.rated_genres, state.liked_genres, candidate_genres,
                                                rate).astype(np.float32)
    # One construction, not a column at a time: the recommender calls this once per user.
    return pd.DataFrame(out, index=pd.RangeIndex(n))


def user_history_features(task: pd.DataFrame, movies: pd.DataFrame,
                          vocab: list[str] | None = None, weight: np.ndarray | None = None) -> pd.DataFrame:
    """Features of the user *before* each rating, from strictly earlier ratings.

    Args:
        task: Ratings sorted by (user, timestamp, movie), as ``make_task`` returns.
        movies: The movies table (for genres and release years).
        vocab: Genre vocabulary; defaults to ``genre_vocabulary(movies)``.
        weight: See ``user_state``.

    Returns:
        ``USER_COLUMNS``, one row per ``task`` row (same index): the last liked
        movies, favourite genres, rating count, mean, std and liked rate, mean
        release year of rated movies, and the liked rate in the candidate's genres.
    """
    vocab = vocab or genre_vocabulary(movies)
    genres = genre_matrix(task[ITEM].to_numpy(), movies, vocab)  # each row's candidate is the row's movie
    state = user_state(task, movies, vocab, weight, genres)
    out = user_columns(state, genres, vocab)
    out.index = task.index
    return out


class MovieIndex:
    """Train ratings indexed by (movie, time): each movie's statistics strictly before any time.

    Movie statistics use only ``train`` ratings (of any user) made strictly
    earlier, so no validation or test rating ever feeds a feature. The index
    keeps the ratings sorted by (movie, time) with prefix sums (24 bytes a
    rating), so any (movie, time) query is two binary searches. Half-star
    ratings keep the sums exact in float64, whatever the order they came in.

    Args:
        movie_ids, times, ratings: The train ratings (any order).
    """

    def __init__(self, movie_ids, times, ratings):
        keys = _time_keys(movie_ids, times)
        order = np.argsort(keys, kind="stable")
        r = np.asarray(ratings, np.float64)[order]
        self.keys, self.c1, self.c2 = keys[order], np.r_[0.0, np.cumsum(r)], np.r_[0.0, np.cumsum(r ** 2)]

    @classmethod
    def from_task(cls, task: pd.DataFrame) -> "MovieIndex":
        """The index of ``task``'s ``train`` rows."""
        train = task[task[SPLIT] == "train"]
        return cls(train[ITEM].to_numpy(), train[TIMESTAMP].to_numpy(), train[RATING].to_numpy())

    @property
    def nbytes(self) -> int:
        return self.keys.nbytes + self.c1.nbytes + self.c2.nbytes

    def sums(self, movie_ids, times) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Count, sum and sum of squares of each movie's train ratings strictly before each time."""
        ids = np.asarray(movie_ids).astype(np.int64)
        lo = np.searchsorted(self.keys, _time_keys(ids, np.zeros_like(ids)), side="left")
        hi = np.searchsorted(self.keys, _time_keys(ids, times), side="left")  # strictly earlier
        return hi - lo, self.c1[hi] - self.c1[lo], self.c2[hi] - self.c2[lo]


def movie_statistics(task: pd.DataFrame, movies: pd.DataFrame) -> pd.DataFrame:
    """Each row's movie statistics from earlier *training* ratings (``MovieIndex``).

    For a row at time ``t`` only ``train`` ratings with timestamp < ``t`` count
    (of any user): a training row never sees its own rating.

    Returns:
        ``MOVIE_NUMERIC``, one row per ``task`` row (same index); the year is
        NaN where unknown (``fill_years`` fills it).
    """
    q_movie = task[ITEM].to_numpy().astype(np.int64)
    sums = MovieIndex.from_task(task).sums(q_movie, task[TIMESTAMP].to_numpy())
    out = movie_columns(*sums, movie_years(q_movie, movies))
    out.index = task.index
    return out


def movie_genre_columns(movie_ids, movies: pd.DataFrame, vocab: list[str]) -> pd.DataFrame:
    """A movie's first ``N_MOVIE_GENRES`` genres as string columns ("" pads)."""
    movie_ids = np.asarray(movie_ids)
    lookup = movies[movies[ITEM].isin(np.unique(movie_ids))].set_index(ITEM)[GENRES].astype(str)
    known = set(vocab)
    per_movie = {m: [g for g in gs.split(GENRE_SEP) if g in known][:N_MOVIE_GENRES] for m, gs in lookup.items()}
    uniq, inverse = np.unique(movie_ids, return_inverse=True)
    padded = np.array([(per_movie.get(m, []) + [""] * N_MOVIE_GENRES)[:N_MOVIE_GENRES] for m in uniq],
                      dtype=object).reshape(len(uniq), N_MOVIE_GENRES)
    rows = padded[inverse.reshape(-1)]
    return pd.DataFrame({col: rows[:, j] for j, col in enumerate(MOVIE_GENRE_COLUMNS)})


def _check_sorted(task: pd.DataFrame) -> None:
    if not pd.api.types.is_numeric_dtype(task[TIMESTAMP]):
        raise ValueError(f"{TIMESTAMP!r} must be numeric; convert it with pd.to_numeric first.")
    keys = task[[USER, TIMESTAMP]].to_numpy()
    if len(keys) > 1:
        prev, nxt = keys[:-1], keys[1:]
        ok = (prev[:, 0] < nxt[:, 0]) | ((prev[:, 0] == nxt[:, 0]) & (prev[:, 1] <= nxt[:, 1]))
        if not ok.all():
            raise ValueError("ratings must be sorted by (user, timestamp, movie); "
                             "pass the output of course_lib.split.make_task.")


def assemble(base: pd.DataFrame, movie_ids, user: pd.DataFrame, movie: pd.DataFrame,
             movies: pd.DataFrame, vocab: list[str], year_fill: float) -> pd.DataFrame:
    """One feature table from its parts, columns in the contract's order (every path ends here)."""
    genres = movie_genre_columns(movie_ids, movies, vocab)
    parts = [p.reset_index(drop=True) for p in (base, genres, user, movie)]
    out = pd.concat(parts, axis=1)
    out.index = base.index
    return fill_years(out, year_fill)


#: User columns that depend on the candidate as well as the user: the genre
#: affinity, and the mean year (a user without dated history takes the candidate's).
CANDIDATE_USER_COLUMNS = ("user_genre_affinity", "user_year_mean")


class FeatureIndex:
    """Everything the features know at any time t, built once from a history.

    The one owner of "features of (user, movie) at time t":

    - ``user_states(users, times)``: each user's ``UserState`` from their
      ratings strictly before each time (the only place that computes user
      states at a time: serving "now", evaluation at each user's moment and
      sampled negatives all call it);
    - ``movie_statistics(movie_ids, times)``: from train ratings strictly
      before each time (``MovieIndex``);
    - ``features(queries)``: the feature rows of (user, movie, time) queries,
      equal to those of a rating of that movie by that user at that time;
    - ``rows()``: the feature rows of the history's own ratings (training rows).

    Args:
        task: The known ratings, labelled, split and sorted (``make_task``):
            history for user states; movie statistics come from its ``train``
            rows only.
        movies: The movies table (the catalogue: genres, release years).
        vocab: Genre vocabulary (default: from ``movies``).
        movie_index: Movie statistics from another (bigger) set of train
            ratings, e.g. a whole file read in chunks (``course_lib.streaming``).
    """

    def __init__(self, task: pd.DataFrame, movies: pd.DataFrame, vocab: list[str] | None = None,
                 movie_index: MovieIndex | None = None):
        _check_sorted(task)
        self.task, self.movies = task, movies
        self.vocab = vocab or genre_vocabulary(movies)
        self.year_fill = median_year(movies)
        self.movie_index = movie_index or MovieIndex.from_task(task)
        #: The first moment after every known rating ("now" for serving).
        self.now = int(task[TIMESTAMP].max()) + 1 if len(task) else 0
        self.catalogue = movies[ITEM].to_numpy(np.int64)
        self.catalogue_genres = genre_matrix(self.catalogue, movies, self.vocab).astype(np.float64)
        self.catalogue_years = movie_years(self.catalogue, movies)
        self._filled_years = np.where(np.isnan(self.catalogue_years), self.year_fill,
                                      self.catalogue_years).astype(np.float32)
        self._history = task[[USER, ITEM, TIMESTAMP, RATING]]

    def user_states(self, users, times) -> UserState:
        """Each (user, time)'s ``UserState``, in the order given (a user without history starts empty).

        Each pair is a weight-0 probe slotted into its user's timeline after
        the ratings at or before its time: ``user_state`` counts only strictly
        earlier ratings for it, and the probe adds nothing. One pass serves
        every pair.
        """
        users = np.asarray(users, dtype=np.int64).reshape(-1)
        times = np.broadcast_to(np.asarray(times, dtype=np.int64), users.shape)
        history = self._history[self._history[USER].isin(np.unique(users))]
        probes = pd.DataFrame({USER: users, ITEM: self.catalogue[:1].repeat(len(users)), TIMESTAMP: times,
                               RATING: np.float32(0.0), "_probe": np.arange(len(users))})
        rows = pd.concat([history.assign(_probe=-1), probes], ignore_index=True).sort_values(
            [USER, TIMESTAMP, "_probe", ITEM], kind="stable")
        probe = rows["_probe"].to_numpy()
        state = user_state(rows, self.movies, self.vocab, (probe < 0).astype(np.float64))
        at = np.flatnonzero(probe >= 0)
        return state.take(at[np.argsort(probe[at])])

    def movie_statistics(self, movie_ids, times) -> pd.DataFrame:
        """``MOVIE_NUMERIC`` of each (movie, time), years filled as in every feature row."""
        movie_ids = np.asarray(movie_ids, dtype=np.int64)
        out = movie_columns(*self.movie_index.sums(movie_ids, times), movie_years(movie_ids, self.movies))
        out["movie_year"] = out["movie_year"].fillna(self.year_fill).astype(np.float32)
        return out

    def user_columns_over(self, state: UserState, positions=slice(None)) -> dict:
        """Users' ``USER_COLUMNS`` against catalogue ``positions`` (what serving fills in).

        Args:
            state: The user's state (one row), or several users' (one row each).
            positions: Catalogue positions of the candidates.

        Returns:
            Column -> value. One user: a scalar for columns that depend on the
            user only, an array over the candidates for
            ``CANDIDATE_USER_COLUMNS``. Several: arrays over (user, candidate)
            rows, user after user.
        """
        positions = np.arange(len(self.catalogue))[positions]
        users, n = len(state.count), len(positions)
        # The user-only columns once per user (its genre affinity is replaced below) ...
        user = user_columns(state, np.zeros((users, len(self.vocab))), self.vocab)
        out = {col: user[col].to_numpy()[0] if users == 1 else np.repeat(user[col].to_numpy(), n)
               for col in USER_COLUMNS}
        # ... the candidate-dependent ones per (user, candidate) row, user after user.
        each, positions = np.repeat(np.arange(users), n), np.tile(positions, users)
        out["user_genre_affinity"] = genre_affinity(state.rated_genres[each], state.liked_genres[each],
                                                    self.catalogue_genres[positions],
                                                    liked_rate(state)[each]).astype(np.float32)
        # As fill_years, without a DataFrame round trip per request.
        out["user_year_mean"] = user_year_or(out["user_year_mean"], self._filled_years[positions])
        return out

    def features(self, queries: pd.DataFrame) -> pd.DataFrame:
        """Feature rows of (user, movie, time) queries, in query order (index 0..n-1).

        A query carries no rating and is not "train": it sees exactly the
        strictly earlier ratings and adds nothing to any statistic.
        """
        missing = [c for c in (USER, ITEM, TIMESTAMP) if c not in queries.columns]
        if missing:
            raise KeyError(f"queries need columns {[USER, ITEM, TIMESTAMP]}; missing {missing}")
        q = queries[[USER, ITEM, TIMESTAMP]].reset_index(drop=True).astype(np.int64)
        q[RATING] = np.float32(0.0)
        q[LABEL] = np.int8(0)
        q[SPLIT] = "query"
        movie_ids, times = q[ITEM].to_numpy(), q[TIMESTAMP].to_numpy()
        state = self.user_states(q[USER].to_numpy(), times)
        user = user_columns(state, genre_matrix(movie_ids, self.movies, self.vocab), self.vocab)
        return assemble(q, movie_ids, user, self.movie_statistics(movie_ids, times), self.movies, self.vocab,
                        self.year_fill)

    def catalogue_features(self, time: int | None = None) -> pd.DataFrame:
        """Every catalogue movie's feature rows at ``time`` (default: ``now``), for a user without history.

        Serving reads only their movie columns: the movie side of any request.
        """
        at = self.now if time is None else int(time)
        return self.features(pd.DataFrame({USER: np.int64(-1), ITEM: self.catalogue, TIMESTAMP: np.int64(at)}))

    def rows(self) -> pd.DataFrame:
        """The feature rows of the history's own ratings (each from strictly earlier ratings)."""
        task = self.task
        movie_ids, times = task[ITEM].to_numpy().astype(np.int64), task[TIMESTAMP].to_numpy()
        movie = movie_columns(*self.movie_index.sums(movie_ids, times), movie_years(movie_ids, self.movies))
        base = task[[USER, ITEM, TIMESTAMP, RATING, LABEL, SPLIT]]
        return assemble(base, movie_ids, user_history_features(task, self.movies, self.vocab), movie,
                        self.movies, self.vocab, self.year_fill)


def build_features(task: pd.DataFrame, movies: pd.DataFrame, vocab: list[str] | None = None,
                   queries: pd.DataFrame | None = None) -> pd.DataFrame:
    """The full feature table: ids, label, split and every leak-free feature.

    Args:
        task: Output of ``make_task`` (labelled, split, sorted).
        movies: The movies table.
        vocab: Genre vocabulary (default: from ``movies``).
        queries: Optional (user, movie, timestamp) pairs to describe instead of
            ``task``'s own rows, using ``task`` as the history (for scoring
            movies a user has not rated, or sampled negatives); see
            ``FeatureIndex.features``.

    Returns:
        A DataFrame aligned with ``task`` (or ``queries``) holding ``USER``, ``ITEM``,
        ``TIMESTAMP``, ``RATING``, ``LABEL``, ``SPLIT``, then ``MOVIE_GENRE_COLUMNS``,
        ``USER_COLUMNS`` and ``MOVIE_NUMERIC``.
    """
    index = FeatureIndex(task, movies, vocab)
    return index.rows() if queries is None else index.features(queries)
