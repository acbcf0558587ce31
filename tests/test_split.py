"""The task label and the per-user chronological split (course_lib.split)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib.columns import ITEM, LABEL, RATING, SPLIT, TIMESTAMP, USER
from course_lib.split import (
    LIKE_THRESHOLD,
    SPLITS,
    add_label,
    chronological_split,
    make_task,
    split_summary,
)
from course_lib.synthetic import synthetic_movielens


@pytest.fixture(scope="module")
def synthetic():
    ratings, _ = synthetic_movielens(n_users=60, n_movies=120, ratings_per_user=(3, 60), seed=5)
    return ratings


def hand_made() -> pd.DataFrame:
    """User 1: ten ratings, one tie at t=500; user 2: one; user 3: two; user 4: a 9-/10-digit mix."""
    rows = [
        # user, movie, rating, timestamp
        (1, 10, 4.0, 100), (1, 11, 3.5, 200), (1, 12, 3.0, 300), (1, 13, 5.0, 400),
        (1, 15, 1.0, 500), (1, 14, 2.0, 500), (1, 16, 4.5, 600), (1, 17, 0.5, 700),
        (1, 18, 3.0, 800), (1, 19, 4.0, 900),
        (2, 10, 5.0, 50),
        (3, 10, 3.4, 70), (3, 11, 3.6, 60),
        (4, 1, 4.0, 999_999_999), (4, 2, 4.0, 1_000_000_001), (4, 3, 4.0, 1_000_000_000),
        (4, 4, 2.0, 999_999_998), (4, 5, 2.0, 1_500_000_000),
    ]
    df = pd.DataFrame(rows, columns=[USER, ITEM, RATING, TIMESTAMP])
    return df.astype({USER: "int64", ITEM: "int64", RATING: "float32", TIMESTAMP: "int64"})


def test_label_threshold():
    task = make_task(hand_made())
    assert LIKE_THRESHOLD == 3.5
    expected = (task[RATING] >= 3.5).astype("int8")
    assert task[LABEL].dtype == np.int8
    pd.testing.assert_series_equal(task[LABEL], expected, check_names=False)
    # 3.5 is liked, 3.4 is not.
    assert task.loc[task[RATING] == 3.5, LABEL].eq(1).all()
    assert task.loc[np.isclose(task[RATING], 3.4), LABEL].eq(0).all()


def test_add_label_does_not_modify_input():
    df = hand_made()
    before = df.copy()
    out = add_label(df, threshold=4.0)
    pd.testing.assert_frame_equal(df, before)
    assert out[LABEL].tolist() == (df[RATING] >= 4.0).astype(int).tolist()


def test_hand_made_split_exact():
    task = make_task(hand_made())
    u1 = task[task[USER] == 1]
    # 10 ratings: floor(2) test, floor(1) val, 7 train; the t=500 tie goes movie 14 then 15.
    assert u1[ITEM].tolist() == [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
    assert u1[SPLIT].astype(str).tolist() == ["train"] * 7 + ["val"] + ["test"] * 2
    # 5 ratings, numeric order 4,1,3,2,5: floor(1.0) test, floor(0.5) val.
    u4 = task[task[USER] == 4]
    assert u4[ITEM].tolist() == [4, 1, 3, 2, 5]
    assert u4[SPLIT].astype(str).tolist() == ["train"] * 4 + ["test"]


def test_users_with_one_or_two_ratings_keep_a_train_row():
    task = make_task(hand_made())
    assert task.loc[task[USER] == 2, SPLIT].astype(str).tolist() == ["train"]
    assert task.loc[task[USER] == 3, SPLIT].astype(str).tolist() == ["train", "train"]
    # Even fractions that would take everything of a tiny user leave one for train.
    df = hand_made()
    tiny = chronological_split(df[df[USER].isin([2, 3])], test_fraction=0.5, val_fraction=0.45)
    assert (tiny.groupby(USER)[SPLIT].apply(lambda s: (s == "train").sum()) >= 1).all()
    assert tiny.loc[tiny[USER] == 3, SPLIT].astype(str).tolist() == ["train", "test"]


def test_split_is_categorical_and_sorted(synthetic):
    task = make_task(synthetic)
    assert isinstance(task[SPLIT].dtype, pd.CategoricalDtype)
    assert list(task[SPLIT].cat.categories) == list(SPLITS)
    assert isinstance(task.index, pd.RangeIndex)
    key = task[[USER, TIMESTAMP, ITEM]]
    assert key.equals(key.sort_values([USER, TIMESTAMP, ITEM], ignore_index=True))
    assert len(task) == len(synthetic)


def test_per_user_proportions_floor_rule(synthetic):
    task = make_task(synthetic)
    sizes = task.groupby([USER, SPLIT], observed=False).size().unstack(SPLIT)
    n = sizes.sum(axis=1)
    assert (sizes["test"] == np.floor(n * 0.2)).all()
    assert (sizes["val"] == np.floor(n * 0.1)).all()
    assert (sizes["train"] == n - sizes["test"] - sizes["val"]).all()
    assert (sizes["train"] >= 1).all()


def test_custom_fractions(synthetic):
    task = chronological_split(synthetic, test_fraction=0.3, val_fraction=0.0)
    sizes = task.groupby([USER, SPLIT], observed=False).size().unstack(SPLIT)
    n = sizes.sum(axis=1)
    assert (sizes["val"] == 0).all()
    assert (sizes["test"] == np.minimum(np.floor(n * 0.3), n - 1)).all()


def test_chronological_per_user(synthetic):
    task = make_task(synthetic)
    g = task.groupby([USER, SPLIT], observed=True)[TIMESTAMP].agg(["min", "max"]).unstack(SPLIT)
    has_val = g[("min", "val")].notna()
    has_test = g[("min", "test")].notna()
    assert (g.loc[has_val, ("max", "train")] <= g.loc[has_val, ("min", "val")]).all()
    assert (g.loc[has_test & has_val, ("max", "val")] <= g.loc[has_test & has_val, ("min", "test")]).all()
    assert (g.loc[has_test, ("max", "train")] <= g.loc[has_test, ("min", "test")]).all()


def test_numeric_order_not_text_order():
    """A 9-digit timestamp (older) must come before a 10-digit one."""
    task = make_task(hand_made())
    u4 = task[task[USER] == 4]
    assert u4[TIMESTAMP].is_monotonic_increasing
    assert u4[SPLIT].astype(str).iloc[-1] == "test" and u4[TIMESTAMP].iloc[-1] == 1_500_000_000


def test_deterministic_under_shuffled_input(synthetic):
    base = make_task(synthetic)
    for seed in range(3):
        shuffled = synthetic.sample(frac=1.0, random_state=seed)
        pd.testing.assert_frame_equal(make_task(shuffled), base)


def test_ties_broken_by_movie_id():
    df = pd.DataFrame({USER: [1] * 5, ITEM: [50, 40, 30, 20, 10], RATING: [4.0] * 5, TIMESTAMP: [7] * 5})
    task = make_task(df)
    assert task[ITEM].tolist() == [10, 20, 30, 40, 50]
    assert task[SPLIT].astype(str).tolist() == ["train"] * 4 + ["test"]
    assert task.loc[task[SPLIT] == "test", ITEM].item() == 50


@pytest.mark.parametrize("dtype", ["str", "object"])
def test_string_timestamps_are_refused(dtype):
    df = hand_made()
    df[TIMESTAMP] = df[TIMESTAMP].astype(str).astype(dtype)
    with pytest.raises(ValueError, match="sorting timestamps as text") as info:
        make_task(df)
    assert "pd.to_numeric" in str(info.value)


@pytest.mark.parametrize(
    "test_fraction,val_fraction",
    [(0.8, 0.2), (1.0, 0.0), (0.5, 0.6), (-0.1, 0.1), (0.2, -0.1), (0.0, 1.0)],
)
def test_bad_fractions_are_refused(test_fraction, val_fraction):
    with pytest.raises(ValueError, match="leave some ratings for training"):
        chronological_split(hand_made(), test_fraction=test_fraction, val_fraction=val_fraction)


def test_split_summary(synthetic):
    task = make_task(synthetic)
    summary = split_summary(task)
    assert list(summary.index) == list(SPLITS)
    assert list(summary.columns) == ["ratings", "users", "movies", "liked_rate", "first", "last"]
    assert summary["ratings"].sum() == len(task)
    for name in SPLITS:
        part = task[task[SPLIT] == name]
        row = summary.loc[name]
        assert row["ratings"] == len(part)
        assert row["users"] == part[USER].nunique()
        assert row["movies"] == part[ITEM].nunique()
        assert row["liked_rate"] == pytest.approx(part[LABEL].mean(), abs=5e-4)
        assert row["first"] == pd.to_datetime(part[TIMESTAMP].min(), unit="s").date()
        assert row["last"] == pd.to_datetime(part[TIMESTAMP].max(), unit="s").date()
    assert summary.loc["train", "users"] == task[USER].nunique()


def test_split_summary_with_empty_split():
    task = chronological_split(add_label(hand_made()), test_fraction=0.2, val_fraction=0.0)
    summary = split_summary(task)
    assert summary.loc["val", "ratings"] == 0
    assert np.isnan(summary.loc["val", "liked_rate"])
    assert summary.loc["val", "first"] is None
