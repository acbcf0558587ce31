"""MovieLens-shaped random data with the real schema, for fast unit tests.

Introduced in lesson 00. The generator plants real structure — a taste
vector per user, a quality per movie, genre affinities, popular movies rated
more, ratings ordered in time — so models trained on it learn something and
tests can assert that they do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from course_lib.columns import GENRE_SEP, GENRES, ITEM, RATING, TIMESTAMP, TITLE, USER, YEAR

GENRE_NAMES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)


def synthetic_movielens(
    n_users: int = 200,
    n_movies: int = 300,
    ratings_per_user: tuple[int, int] = (20, 120),
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate ``(ratings, movies)`` with the schema of ``course_lib.data.load``.

    Args:
        n_users: Number of users (ids 1..n_users).
        n_movies: Number of movies (ids 1..n_movies).
        ratings_per_user: Inclusive range of ratings per user (capped at n_movies).
        seed: Same seed, same data.

    Returns:
        ``ratings`` (user_id, movie_id, rating float32 in 0.5 steps, timestamp
        int64) and ``movies`` (movie_id, title "Movie 12 (1994)", genres,
        year Int16).
    """
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
        score = 3.4 + bias + quality[seen] + genre_matrix[seen] @ taste + rng.normal(0, 0.5, size=n)
        rating = np.clip(np.round(score * 2) / 2, 0.5, 5.0)
        t0 = start + int(rng.integers(0, 10 * 365 * 86400))
        times = t0 + np.cumsum(rng.integers(30, 86400 * 7, size=n))
        rows.append(pd.DataFrame({USER: u, ITEM: seen + 1, RATING: rating, TIMESTAMP: times}))
    ratings = pd.concat(rows, ignore_index=True).astype(
        {USER: "int64", ITEM: "int64", RATING: "float32", TIMESTAMP: "int64"}
    )
    ratings = ratings.sort_values([USER, TIMESTAMP, ITEM], kind="stable").reset_index(drop=True)
    return ratings, movies
