"""MovieLens-shaped random data with the real schema, for fast unit tests.

Introduced in lesson 00. The generator plants real structure — a taste
vector per user, a quality per movie, genre affinities, popular movies rated
more, ratings ordered in time — so models trained on it learn something and
tests can assert that they do.

Opt-in options (lesson 04's planted-rules experiment; the defaults leave the
output unchanged, bit for bit): ``latent_rank`` replaces the genre-linear
taste by low-rank latent factors that no genre cross can express, and
``n_rules`` plants sparse, strong "liked A -> likes B" rules (sequels): a user
who rated A also watches B soon after, and likes B more if A is among their
last liked movies, so the rule is visible in the ``hist_movie_*`` features.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import pandas as pd

from course_lib.columns import GENRE_SEP, GENRES, ITEM, RATING, TIMESTAMP, TITLE, USER, YEAR
from course_lib.split import LIKE_THRESHOLD

GENRE_NAMES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)


#: How many recently liked movies a planted rule looks at (the features'
#: ``HISTORY_LENGTH``; repeated here so the generator does not import features).
RULE_WINDOW = 5


@dataclass(frozen=True)
class SyntheticWorld:
    """A generated data set and the rules planted in it.

    Attributes:
        ratings: As ``course_lib.data.load`` returns them.
        movies: The movies table.
        rules: One row per planted rule: ``antecedent`` (A) and ``consequent``
            (B) movie ids; empty without ``n_rules``.
    """

    ratings: pd.DataFrame
    movies: pd.DataFrame
    rules: pd.DataFrame


def synthetic_movielens(
    n_users: int = 200,
    n_movies: int = 300,
    ratings_per_user: tuple[int, int] = (20, 120),
    seed: int = 0,
    **options,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate ``(ratings, movies)`` with the schema of ``course_lib.data.load``.

    Args:
        n_users: Number of users (ids 1..n_users).
        n_movies: Number of movies (ids 1..n_movies).
        ratings_per_user: Inclusive range of ratings per user (capped at n_movies).
        seed: Same seed, same data.
        **options: The opt-in options of ``synthetic_world`` (latent taste,
            planted rules).

    Returns:
        ``ratings`` (user_id, movie_id, rating float32 in 0.5 steps, timestamp
        int64) and ``movies`` (movie_id, title "Movie 12 (1994)", genres,
        year Int16).
    """
    world = synthetic_world(n_users, n_movies, ratings_per_user, seed, **options)
    return world.ratings, world.movies


def synthetic_world(
    n_users: int = 200,
    n_movies: int = 300,
    ratings_per_user: tuple[int, int] = (20, 120),
    seed: int = 0,
    *,
    latent_rank: int = 0,
    latent_scale: float = 0.45,
    n_rules: int = 0,
    rule_strength: float = 2.0,
    rule_follow: float = 0.5,
    rule_ranks: tuple[int, int] = (5, 60),
) -> SyntheticWorld:
    """``synthetic_movielens`` with its planted rules; every option is opt-in.

    Args:
        n_users, n_movies, ratings_per_user, seed: As in ``synthetic_movielens``.
        latent_rank: 0 (default): a user's taste is linear in the movie's genres.
            k > 0: taste is ``u . v`` for rank-k user and movie factors drawn
            from N(0, latent_scale); genre crosses cannot express it.
        latent_scale: Standard deviation of each latent factor.
        n_rules: Number of planted "liked A -> likes B" rules (0: none).
            A and B are distinct movies among the ``rule_ranks`` most popular.
        rule_strength: Stars added to B's rating when A is among the user's
            ``RULE_WINDOW`` last liked movies (strictly earlier).
        rule_follow: Probability that a user who rates A also watches B within
            the next three ratings (a sequel); sets how often each rule repeats.
        rule_ranks: Popularity ranks (1 = most rated) the rule movies come from.

    Returns:
        A ``SyntheticWorld``.

    Raises:
        ValueError: If the options are out of range.
    """
    if latent_rank < 0 or n_rules < 0:
        raise ValueError("latent_rank and n_rules must be >= 0 (0 switches the option off).")
    if not 0.0 <= rule_follow <= 1.0:
        raise ValueError(f"rule_follow is a probability, got {rule_follow}.")
    lo_rank, hi_rank = rule_ranks
    if n_rules and not (1 <= lo_rank and hi_rank <= n_movies and hi_rank - lo_rank + 1 >= 2 * n_rules):
        raise ValueError(f"rule_ranks {rule_ranks} must lie in 1..n_movies={n_movies} and hold "
                         f"2 * n_rules = {2 * n_rules} movies; widen them or plant fewer rules.")
    rng = np.random.default_rng(seed)
    n_genres = len(GENRE_NAMES)
    # Movies: 1-3 genres, a release year, a latent quality and a popularity.
    genre_sets = [rng.choice(n_genres, size=rng.integers(1, 4), replace=False) for _ in range(n_movies)]
    years = rng.integers(1930, 2019, size=n_movies)
    quality = rng.normal(0, 0.6, size=n_movies)
    popularity = 1.0 / np.arange(1, n_movies + 1) ** 0.9  # Zipf-like long tail
    popularity = rng.permutation(popularity)
    popularity /= popularity.sum()
    movies = pd.DataFrame({
        ITEM: np.arange(1, n_movies + 1, dtype="int64"),
        TITLE: [f"Movie {i} ({y})" for i, y in zip(range(1, n_movies + 1), years)],
        GENRES: [GENRE_SEP.join(GENRE_NAMES[g] for g in sorted(gs)) for gs in genre_sets],
        YEAR: pd.array(years, dtype="Int16"),
    })
    genre_matrix = np.zeros((n_movies, n_genres))
    for m, gs in enumerate(genre_sets):
        genre_matrix[m, gs] = 1.0 / len(gs)
    # The opt-in parts draw from their own generator: the default stream, and
    # so the default output, stays exactly as it was.
    extra = np.random.default_rng([seed, 1])
    movie_factors = extra.normal(0, latent_scale, size=(n_movies, latent_rank)) if latent_rank else None
    rules = _draw_rules(popularity, n_rules, rule_ranks, extra)
    follows = dict(zip(rules["antecedent"] - 1, rules["consequent"] - 1))
    boosts: dict[int, set[int]] = {}
    for a, b in follows.items():
        boosts.setdefault(b, set()).add(a)

    rows = []
    lo, hi = ratings_per_user
    hi = min(hi, n_movies)
    lo = min(lo, hi)
    start = 946_684_800  # 2000-01-01
    for u in range(1, n_users + 1):
        n = int(rng.integers(lo, hi + 1))
        seen = rng.choice(n_movies, size=n, replace=False, p=popularity)
        bias = rng.normal(0, 0.5)
        taste = rng.normal(0, 1.0, size=n_genres)
        if follows:
            seen = _watch_sequels(seen, follows, rule_follow, extra)
            n = len(seen)
        noise = rng.normal(0, 0.5, size=n)
        if latent_rank:
            taste_term = movie_factors[seen] @ extra.normal(0, latent_scale, size=latent_rank)
        else:
            taste_term = genre_matrix[seen] @ taste
        score = 3.4 + bias + quality[seen] + taste_term + noise
        if boosts:
            rating = _apply_rules(seen, score, boosts, rule_strength)
        else:
            rating = _rating(score)
        t0 = start + int(rng.integers(0, 10 * 365 * 86400))
        times = t0 + np.cumsum(rng.integers(30, 86400 * 7, size=n))
        rows.append(pd.DataFrame({USER: u, ITEM: seen + 1, RATING: rating, TIMESTAMP: times}))
    ratings = pd.concat(rows, ignore_index=True).astype(
        {USER: "int64", ITEM: "int64", RATING: "float32", TIMESTAMP: "int64"}
    )
    ratings = ratings.sort_values([USER, TIMESTAMP, ITEM], kind="stable").reset_index(drop=True)
    return SyntheticWorld(ratings, movies, rules)


def _rating(score):
    """Scores -> ratings in half-star steps within 0.5..5."""
    return np.clip(np.round(np.asarray(score) * 2) / 2, 0.5, 5.0)


def _draw_rules(popularity: np.ndarray, n_rules: int, ranks: tuple[int, int],
                rng: np.random.Generator) -> pd.DataFrame:
    """``n_rules`` (A, B) pairs of distinct movies among the given popularity ranks (1-based ids)."""
    if not n_rules:
        return pd.DataFrame({"antecedent": pd.Series([], dtype="int64"),
                             "consequent": pd.Series([], dtype="int64")})
    by_rank = np.argsort(-popularity, kind="stable")[ranks[0] - 1:ranks[1]]
    picked = rng.choice(by_rank, size=2 * n_rules, replace=False)
    return pd.DataFrame({"antecedent": picked[:n_rules] + 1, "consequent": picked[n_rules:] + 1}).astype("int64")


def _watch_sequels(seen: np.ndarray, follows: dict[int, int], p: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Place each rule's B 1-3 ratings after its A, with probability ``p`` per user who rates A."""
    order = list(seen)
    for a, b in follows.items():
        if a in order and rng.random() < p:
            if b in order:
                order.remove(b)
            pos = order.index(a) + int(rng.integers(1, 4))
            order.insert(min(pos, len(order)), b)
    return np.asarray(order, dtype=seen.dtype)


def _apply_rules(seen: np.ndarray, score: np.ndarray, boosts: dict[int, set[int]],
                 strength: float) -> np.ndarray:
    """Ratings in time order, adding ``strength`` where a rule's A is among the last liked movies."""
    recent: deque[int] = deque(maxlen=RULE_WINDOW)
    rating = np.empty(len(seen))
    for i, (movie, s) in enumerate(zip(seen.tolist(), score.tolist())):
        if movie in boosts and not boosts[movie].isdisjoint(recent):
            s += strength
        rating[i] = _rating(s)
        if rating[i] >= LIKE_THRESHOLD:
            recent.append(movie)
    return rating
