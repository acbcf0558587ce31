"""Small worlds, small enough to read: where lessons 01 and 02 open, and the assignments train.

- ``ordered_pairs`` (lesson 01, a01): the label depends on the *ordered* pair
  (a, b) only, so no id alone predicts it and only a cross can memorize it.
- ``taste_clusters`` (lesson 02, a02): users like the movies of their own
  hidden taste cluster; movies of a cluster are interchangeable, so
  embeddings can learn the cluster and score pairs never seen together;
  ``liked_histories`` lists what each user liked (a02 pools it into a
  user vector, so a user never seen in training can be scored).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from course_lib.columns import ITEM, LABEL, USER


def ordered_pairs(n_values: int = 30, rows: int = 6000, seed: int = 0) -> tuple[dict, np.ndarray]:
    """Rows ``(a, b)`` whose label depends on the *ordered* pair: only a cross can learn it.

    Each of the ``n_values**2`` ordered pairs gets its own random label, so
    ``(a, b)`` and ``(b, a)`` disagree half the time and neither id alone
    says anything. The ids are large and scattered (as movie ids are).

    Returns:
        ``({"a": ids, "b": ids}, labels)`` with int64 ids and float32 0/1 labels.
    """
    rng = np.random.default_rng(seed)
    values = np.sort(rng.choice(np.arange(1, 200_000), size=n_values, replace=False)).astype(np.int64)
    table = rng.random((n_values, n_values)) < 0.5
    i, j = rng.integers(0, n_values, size=rows), rng.integers(0, n_values, size=rows)
    return {"a": values[i], "b": values[j]}, table[i, j].astype(np.float32)


def taste_clusters(n_users: int = 240, n_movies: int = 96, n_clusters: int = 4, rows_per_user: int = 32,
                   noise: float = 0.1, seed: int = 0) -> tuple[pd.DataFrame, dict[int, int]]:
    """Ratings where a user likes the movies of their own taste cluster.

    Neither a user id nor a movie id alone predicts ``liked``; their
    *interaction* does, and movies of one cluster are interchangeable, so a
    deep model's movie embeddings should group them. Movie ids are
    scattered (not row numbers). Every row is a distinct (user, movie)
    pair; ``split`` sends a random 20% of them to "val".

    Returns:
        ``(frame, cluster_of_movie)``: columns user_id, movie_id, liked
        (float32), split; and the cluster of each movie id.
    """
    rng = np.random.default_rng(seed)
    movie_ids = 101 + 13 * np.arange(n_movies, dtype=np.int64)
    movie_cluster = rng.integers(0, n_clusters, size=n_movies)
    user_cluster = rng.integers(0, n_clusters, size=n_users)
    users, movies = [], []
    for u in range(n_users):
        users.append(np.full(rows_per_user, u + 1, dtype=np.int64))
        movies.append(rng.choice(n_movies, size=rows_per_user, replace=False))
    users, movies = np.concatenate(users), np.concatenate(movies)
    liked = movie_cluster[movies] == user_cluster[users - 1]
    liked ^= rng.random(liked.size) < noise
    frame = pd.DataFrame({USER: users, ITEM: movie_ids[movies], LABEL: liked.astype(np.float32),
                          "split": np.where(rng.random(liked.size) < 0.2, "val", "train")})
    return frame, {int(m): int(c) for m, c in zip(movie_ids, movie_cluster)}


def liked_histories(rows: pd.DataFrame, likes: pd.DataFrame, length: int = 16) -> np.ndarray:
    """For each row, the movies its user liked in ``likes``, padded with 0: what a history model reads.

    Row ``i`` lists the ``movie_id`` of the liked rows (``liked`` > 0.5) of
    ``rows``' user ``i`` in ``likes``, in their order there, without the
    row's own movie (a training row never sees its own label through its
    history), truncated to ``length`` and padded on the right with 0, the
    padding id (index 0 of the lessons' lookups). A user with no liked row
    in ``likes`` gets all zeros.

    Returns:
        An int64 array of shape ``(len(rows), length)``.
    """
    liked = likes[likes[LABEL] > 0.5]
    by_user = {int(u): group.to_numpy(np.int64) for u, group in liked.groupby(USER, sort=False)[ITEM]}
    out = np.zeros((len(rows), length), dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)
    for i, (user, movie) in enumerate(zip(rows[USER].to_numpy(), rows[ITEM].to_numpy())):
        history = by_user.get(int(user), empty)
        history = history[history != movie][:length]
        out[i, :len(history)] = history
    return out
