"""The task and the split: one definition, used by every lesson and test.

Introduced in lesson 00.

Task: predict ``liked = rating >= 3.5`` for a (user, movie) pair.

Split: per user, chronological by the *numeric* timestamp. Each user's last
20 % of ratings are ``test``, the 10 % before them ``val``, the rest
``train``. A model is therefore always asked about a user's future from that
user's past, which is how a recommender is used. (Sorting timestamps as text
puts "999..." after "1000..." and silently mixes the future into training.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from course_lib.columns import ITEM, LABEL, RATING, SPLIT, TIMESTAMP, USER

LIKE_THRESHOLD = 3.5
TEST_FRACTION = 0.2
VAL_FRACTION = 0.1
SPLITS = ("train", "val", "test")


def add_label(ratings: pd.DataFrame, threshold: float = LIKE_THRESHOLD) -> pd.DataFrame:
    """Return a copy of ``ratings`` with the binary ``liked`` label.

    Args:
        ratings: DataFrame with a ``RATING`` column.
        threshold: Ratings at or above it count as liked.
    """
    out = ratings.copy()
    out[LABEL] = (out[RATING] >= threshold).astype("int8")
    return out


def chronological_split(
    ratings: pd.DataFrame,
    test_fraction: float = TEST_FRACTION,
    val_fraction: float = VAL_FRACTION,
) -> pd.DataFrame:
    """Tag each rating ``train``, ``val`` or ``test`` by its place in the user's timeline.

    Per user, ratings are ordered by numeric timestamp (ties broken by movie
    id, so the result never depends on input order). The last
    ``floor(n * test_fraction)`` are test, the ``floor(n * val_fraction)``
    before them validation; at least one rating always stays in train.

    Args:
        ratings: DataFrame with ``USER``, ``ITEM`` and ``TIMESTAMP`` columns.
        test_fraction: Share of each user's ratings held out for test.
        val_fraction: Share held out for validation.

    Returns:
        A copy sorted by (user, timestamp, movie) with a ``split`` column
        (categorical with categories train, val, test).

    Raises:
        ValueError: If the fractions leave nothing for training or the
            timestamps are not numeric.
    """
    if not (0 <= test_fraction < 1 and 0 <= val_fraction < 1 and test_fraction + val_fraction < 1):
        raise ValueError(
            f"test_fraction + val_fraction must be below 1 (got {test_fraction} + {val_fraction}); "
            "leave some ratings for training."
        )
    if not pd.api.types.is_numeric_dtype(ratings[TIMESTAMP]):
        raise ValueError(
            f"{TIMESTAMP!r} must be numeric (unix seconds), got {ratings[TIMESTAMP].dtype}; "
            "sorting timestamps as text mixes future ratings into training. "
            "Convert with pd.to_numeric first."
        )
    out = ratings.sort_values([USER, TIMESTAMP, ITEM], kind="stable").reset_index(drop=True)
    n = out.groupby(USER, sort=False)[USER].transform("size").to_numpy()
    pos = out.groupby(USER, sort=False).cumcount().to_numpy()
    n_test = np.floor(n * test_fraction).astype(int)
    n_val = np.floor(n * val_fraction).astype(int)
    # Never leave a user with no training rating.
    overflow = np.maximum(n_test + n_val - (n - 1), 0)
    n_val = np.maximum(n_val - overflow, 0)
    n_test = np.minimum(n_test, n - 1 - n_val)
    n_train = n - n_test - n_val
    split = np.where(pos < n_train, 0, np.where(pos < n_train + n_val, 1, 2))
    out[SPLIT] = pd.Categorical.from_codes(split, categories=list(SPLITS))
    return out


def make_task(ratings: pd.DataFrame) -> pd.DataFrame:
    """Label and split ``ratings`` the course's way (``add_label`` + ``chronological_split``)."""
    return chronological_split(add_label(ratings))


def split_summary(task: pd.DataFrame) -> pd.DataFrame:
    """Rows, users, movies, positive rate and date range of each split.

    Args:
        task: Output of ``make_task``.
    """
    rows = []
    for name in SPLITS:
        part = task[task[SPLIT] == name]
        rows.append({
            "split": name,
            "ratings": len(part),
            "users": part[USER].nunique(),
            "movies": part[ITEM].nunique(),
            "liked_rate": round(float(part[LABEL].mean()), 3) if len(part) else float("nan"),
            "first": pd.to_datetime(part[TIMESTAMP].min(), unit="s").date() if len(part) else None,
            "last": pd.to_datetime(part[TIMESTAMP].max(), unit="s").date() if len(part) else None,
        })
    return pd.DataFrame(rows).set_index("split")
