"""Leak-free features for the wide and the deep model.

Introduced in lesson 03 (used from lesson 01 on).

Every feature of a rating row is computed from information available
*before* that rating was made:

- user history features use the user's ratings with a strictly smaller
  numeric timestamp (ratings at the same second are not "earlier");
- movie statistics use only ``train`` ratings, again strictly earlier in
  time, so no validation or test rating ever feeds a feature.

``tests/test_features.py`` proves this by perturbing a row's rating (and every
later rating) and checking that the row's features do not move.
"""

from __future__ import annotations

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
#: Release-year bucket edges (lesson 03 bucketizes the year).
YEAR_BOUNDARIES = [1950.0, 1970.0, 1980.0, 1990.0, 1995.0, 2000.0, 2005.0, 2010.0, 2015.0]

HIST_COLUMNS = [f"hist_movie_{i}" for i in range(1, HISTORY_LENGTH + 1)]
MOVIE_GENRE_COLUMNS = [f"movie_genre_{i}" for i in range(1, N_MOVIE_GENRES + 1)]
USER_GENRE_COLUMNS = [f"user_genre_{i}" for i in range(1, N_USER_GENRES + 1)]
USER_NUMERIC = ["user_rating_count", "user_rating_mean", "user_rating_std",
                "user_liked_rate", "user_year_mean", "user_genre_affinity"]
MOVIE_NUMERIC = ["movie_rating_count", "movie_rating_mean", "movie_rating_std", "movie_year"]
NUMERIC_COLUMNS = USER_NUMERIC + MOVIE_NUMERIC


def genre_vocabulary(movies: pd.DataFrame) -> list[str]:
    """Sorted genre names present in ``movies`` (without "(no genres listed)")."""
    names = {g for gs in movies[GENRES] for g in str(gs).split(GENRE_SEP)}
    names.discard(NO_GENRE)
    names.discard("")
    return sorted(names)


def _genre_matrix(movie_ids: np.ndarray, movies: pd.DataFrame, vocab: list[str]) -> np.ndarray:
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


def _first_of_tie(frame: pd.DataFrame, values: np.ndarray) -> np.ndarray:
    """For each row, ``values`` at the first row of its (user, timestamp) tie group.

    Exclusive cumulative sums evaluated there count only strictly earlier ratings.
    """
    key = frame[USER].to_numpy().astype(np.int64) * (1 << 33) + frame[TIMESTAMP].to_numpy()
    first = np.r_[True, key[1:] != key[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(key)), 0))
    return values[start]


def _exclusive_user_cumsum(frame: pd.DataFrame, values: np.ndarray) -> np.ndarray:
    """Per-user cumulative sum of ``values`` over strictly earlier timestamps."""
    csum = np.cumsum(values, axis=0)
    excl = np.concatenate([np.zeros((1,) + values.shape[1:], values.dtype), csum[:-1]])
    # Subtract everything before this user's first row.
    users = frame[USER].to_numpy()
    first = np.r_[True, users[1:] != users[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(users)), 0))
    excl = excl - excl[start]
    return _first_of_tie(frame, excl)


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


def user_history_features(task: pd.DataFrame, movies: pd.DataFrame,
                          vocab: list[str] | None = None, weight: np.ndarray | None = None) -> pd.DataFrame:
    """Features of the user *before* each rating, from strictly earlier ratings.

    Args:
        task: Ratings sorted by (user, timestamp, movie), as ``make_task`` returns.
        movies: The movies table (for genres and release years).
        vocab: Genre vocabulary; defaults to ``genre_vocabulary(movies)``.
        weight: 1 for a real rating, 0 for a query row that must not count as
            history (used to score (user, movie) pairs that were never rated).

    Returns:
        One row per ``task`` row (same index): the last liked movies, rating
        count, mean, std and liked rate, favourite genres, mean release year of
        rated movies, and the liked rate in the candidate's genres.
    """
    vocab = vocab or genre_vocabulary(movies)
    _check_sorted(task)
    n = len(task)
    w = np.ones(n) if weight is None else np.asarray(weight, dtype=np.float64)
    rating = np.nan_to_num(task[RATING].to_numpy(np.float64)) * w
    liked = (rating >= LIKE_THRESHOLD).astype(np.float64) * w
    movie = task[ITEM].to_numpy()
    year = pd.Index(movies[ITEM]).get_indexer(movie)
    years = movies[YEAR].astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    year = np.where(year >= 0, years[np.maximum(year, 0)], np.nan)
    has_year = ~np.isnan(year) & (w > 0)

    count = _exclusive_user_cumsum(task, w)
    s1 = _exclusive_user_cumsum(task, rating)
    s2 = _exclusive_user_cumsum(task, rating ** 2)
    nliked = _exclusive_user_cumsum(task, liked)
    ycount = _exclusive_user_cumsum(task, has_year.astype(np.float64))
    ysum = _exclusive_user_cumsum(task, np.where(has_year, year, 0.0))

    prior_mean, prior_like = PRIOR_RATING, PRIOR_LIKED
    mean = (s1 + SHRINKAGE * prior_mean) / (count + SHRINKAGE)
    var = np.where(count > 1, (s2 - s1 ** 2 / np.maximum(count, 1)) / np.maximum(count - 1, 1), 0.0)

    genres = _genre_matrix(movie, movies, vocab)
    rated_g = _exclusive_user_cumsum(task, genres.astype(np.float64) * w[:, None])
    liked_g = _exclusive_user_cumsum(task, genres * liked[:, None])
    user_rate = (nliked + SHRINKAGE * prior_like) / (count + SHRINKAGE)
    affinity = genre_affinity(rated_g, liked_g, genres, user_rate)

    out = pd.DataFrame(index=task.index)
    out["user_rating_count"] = np.log1p(count).astype(np.float32)
    out["user_rating_mean"] = mean.astype(np.float32)
    out["user_rating_std"] = np.sqrt(np.maximum(var, 0)).astype(np.float32)
    out["user_liked_rate"] = user_rate.astype(np.float32)
    out["user_year_mean"] = np.where(ycount > 0, ysum / np.maximum(ycount, 1), np.nan).astype(np.float32)
    out["user_genre_affinity"] = affinity.astype(np.float32)

    # Favourite genres: most liked before now (ties by vocabulary order).
    order = np.argsort(-liked_g, axis=1, kind="stable")[:, :N_USER_GENRES]
    top_counts = np.take_along_axis(liked_g, order, axis=1)
    names = np.array(vocab + [""], dtype=object)
    order = np.where(top_counts > 0, order, len(vocab))
    for j, col in enumerate(USER_GENRE_COLUMNS):
        out[col] = names[order[:, j]]

    # Last liked movies: liked rows strictly before the row's tie group.
    liked_rows = np.flatnonzero(liked > 0)
    k = nliked.astype(np.int64)
    key = task[USER].to_numpy().astype(np.int64) * (1 << 33) + task[TIMESTAMP].to_numpy()
    first = np.r_[True, key[1:] != key[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    p = np.searchsorted(liked_rows, start)
    for j, col in enumerate(HIST_COLUMNS, start=1):
        ok = k >= j
        idx = np.where(ok, p - j, 0)
        out[col] = np.where(ok, movie[liked_rows[idx]] if len(liked_rows) else 0, 0).astype(np.int64)
    return out


def movie_statistics(task: pd.DataFrame, movies: pd.DataFrame) -> pd.DataFrame:
    """Each movie's rating count, mean and std from earlier *training* ratings.

    For a row at time ``t`` only ``train`` ratings with timestamp < ``t`` count
    (of any user): validation and test ratings never feed a feature, and a
    training row never sees its own rating.

    Returns:
        One row per ``task`` row (same index): log count, shrunk mean, std and
        the release year.
    """
    train = task[task[SPLIT] == "train"]
    prior = PRIOR_RATING
    t_movie = train[ITEM].to_numpy().astype(np.int64)
    t_time = train[TIMESTAMP].to_numpy().astype(np.int64)
    t_rating = train[RATING].to_numpy(np.float64)
    order = np.lexsort((t_time, t_movie))
    t_movie, t_time, t_rating = t_movie[order], t_time[order], t_rating[order]
    shift = np.int64(1) << 33
    t_key = t_movie * shift + t_time
    c1 = np.r_[0.0, np.cumsum(t_rating)]
    c2 = np.r_[0.0, np.cumsum(t_rating ** 2)]

    q_movie = task[ITEM].to_numpy().astype(np.int64)
    q_time = task[TIMESTAMP].to_numpy().astype(np.int64)
    lo = np.searchsorted(t_key, q_movie * shift, side="left")
    hi = np.searchsorted(t_key, q_movie * shift + q_time, side="left")  # strictly earlier
    count = (hi - lo).astype(np.float64)
    s1 = c1[hi] - c1[lo]
    s2 = c2[hi] - c2[lo]
    mean = (s1 + SHRINKAGE * prior) / (count + SHRINKAGE)
    var = np.where(count > 1, (s2 - s1 ** 2 / np.maximum(count, 1)) / np.maximum(count - 1, 1), 0.0)

    pos = pd.Index(movies[ITEM]).get_indexer(q_movie)
    years = movies[YEAR].astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    year = np.where(pos >= 0, years[np.maximum(pos, 0)], np.nan)

    out = pd.DataFrame(index=task.index)
    out["movie_rating_count"] = np.log1p(count).astype(np.float32)
    out["movie_rating_mean"] = mean.astype(np.float32)
    out["movie_rating_std"] = np.sqrt(np.maximum(var, 0)).astype(np.float32)
    out["movie_year"] = year.astype(np.float32)
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
    keys = task[[USER, TIMESTAMP, ITEM]].to_numpy()
    if len(keys) > 1:
        prev, nxt = keys[:-1], keys[1:]
        ok = (prev[:, 0] < nxt[:, 0]) | ((prev[:, 0] == nxt[:, 0]) & (prev[:, 1] <= nxt[:, 1]))
        if not ok.all():
            raise ValueError("ratings must be sorted by (user, timestamp, movie); "
                             "pass the output of course_lib.split.make_task.")


def build_features(task: pd.DataFrame, movies: pd.DataFrame, vocab: list[str] | None = None,
                   queries: pd.DataFrame | None = None) -> pd.DataFrame:
    """The full feature table: ids, label, split and every leak-free feature.

    Args:
        task: Output of ``make_task`` (labelled, split, sorted).
        movies: The movies table.
        vocab: Genre vocabulary (default: from ``movies``).
        queries: Optional (user, movie, timestamp) pairs to describe instead of
            ``task``'s own rows, using ``task`` as the history (for scoring
            movies a user has not rated). The result follows their order.

    Returns:
        A DataFrame aligned with ``task`` (or ``queries``) holding ``USER``, ``ITEM``,
        ``TIMESTAMP``, ``LABEL``, ``SPLIT``, the genre, history and numeric
        features (see ``HIST_COLUMNS``, ``NUMERIC_COLUMNS``...).
    """
    vocab = vocab or genre_vocabulary(movies)
    if queries is not None:
        return _features_for_queries(task, movies, vocab, queries)
    base = task[[USER, ITEM, TIMESTAMP, RATING, LABEL, SPLIT]].copy()
    user = user_history_features(task, movies, vocab)
    movie = movie_statistics(task, movies)
    genres = movie_genre_columns(task[ITEM].to_numpy(), movies, vocab)
    genres.index = task.index
    out = pd.concat([base, genres, user, movie], axis=1)
    # Movies without a year get the catalogue's median; a user's mean year is
    # unknown before their first rating, so it starts at the candidate's year.
    out["movie_year"] = out["movie_year"].fillna(_median_year(movies))
    out["user_year_mean"] = out["user_year_mean"].fillna(out["movie_year"]).astype(np.float32)
    out["movie_year"] = out["movie_year"].astype(np.float32)
    return out


def _features_for_queries(task, movies, vocab, queries: pd.DataFrame) -> pd.DataFrame:
    """Features of arbitrary (user, movie, time) pairs against ``task``'s history."""
    missing = [c for c in (USER, ITEM, TIMESTAMP) if c not in queries.columns]
    if missing:
        raise KeyError(f"queries need columns {[USER, ITEM, TIMESTAMP]}; missing {missing}")
    q = queries[[USER, ITEM, TIMESTAMP]].copy()
    q[RATING] = np.float32(0.0)
    q[LABEL] = np.int8(0)
    q[SPLIT] = "query"
    user = user_features_for_queries(task, movies, vocab, q)
    movie = movie_statistics(pd.concat([task[[USER, ITEM, TIMESTAMP, RATING, SPLIT]].astype({SPLIT: str}),
                                        q[[USER, ITEM, TIMESTAMP, RATING, SPLIT]]], ignore_index=True),
                             movies).iloc[len(task):]
    movie.index = np.arange(len(q))
    genres = movie_genre_columns(q[ITEM].to_numpy(), movies, vocab)
    base = q[[USER, ITEM, TIMESTAMP, RATING, LABEL, SPLIT]].reset_index(drop=True)
    out = pd.concat([base, genres, user.reset_index(drop=True), movie], axis=1)
    out["movie_year"] = out["movie_year"].fillna(_median_year(movies))
    out["user_year_mean"] = out["user_year_mean"].fillna(out["movie_year"]).astype(np.float32)
    out["movie_year"] = out["movie_year"].astype(np.float32)
    return out


def user_features_for_queries(history: pd.DataFrame, movies: pd.DataFrame, vocab: list[str],
                              queries: pd.DataFrame) -> pd.DataFrame:
    """User history features of (user, movie, time) queries, from ``history``'s rows.

    Queries are slotted into their users' timelines with weight 0, so they see
    exactly the strictly earlier ratings and add nothing themselves.

    Returns:
        ``user_history_features`` columns, one row per query, in query order
        (index 0..n-1).
    """
    q = queries[[USER, ITEM, TIMESTAMP]].copy()
    q[RATING] = np.float32(0.0)
    q["_query"] = np.arange(len(q))
    hist = history[history[USER].isin(set(q[USER].unique()))][[USER, ITEM, TIMESTAMP, RATING]].copy()
    hist["_query"] = -1
    both = pd.concat([hist, q], ignore_index=True)
    both = both.sort_values([USER, TIMESTAMP, "_query", ITEM], kind="stable").reset_index(drop=True)
    user = user_history_features(both, movies, vocab, weight=(both["_query"] < 0).to_numpy(float))
    keep = both["_query"].to_numpy() >= 0
    user = user[keep]
    user.index = both.loc[keep, "_query"].to_numpy()
    return user.sort_index()


def _median_year(movies: pd.DataFrame) -> float:
    years = movies[YEAR].astype("Float64").to_numpy(np.float64, na_value=np.nan)
    return float(np.nanmedian(years)) if np.isfinite(years).any() else 1995.0
