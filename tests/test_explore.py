"""course_lib.explore: the statistics and plots of lesson 00."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: tests never open windows

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from course_lib import explore  # noqa: E402
from course_lib.columns import GENRES, ITEM, RATING, SPLIT, TIMESTAMP, TITLE, USER, YEAR  # noqa: E402
from course_lib.split import make_task  # noqa: E402
from course_lib.synthetic import synthetic_movielens  # noqa: E402

DAY = 86_400
Y2000 = 946_684_800  # 2000-01-01 00:00 UTC


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def frame(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=[USER, ITEM, RATING, TIMESTAMP])
    return df.astype({USER: "int64", ITEM: "int64", RATING: "float32", TIMESTAMP: "int64"})


@pytest.fixture
def small() -> pd.DataFrame:
    # Movie 1: 4 ratings, movie 2: 3, movie 3: 2, movie 4: 1 (10 in all).
    return frame([
        (1, 1, 4.0, Y2000), (1, 2, 3.5, Y2000 + DAY), (1, 3, 1.0, Y2000 + 2 * DAY), (1, 4, 5.0, Y2000 + 3 * DAY),
        (2, 1, 4.0, Y2000 + 400 * DAY), (2, 2, 4.0, Y2000 + 401 * DAY), (2, 3, 2.0, Y2000 + 402 * DAY),
        (3, 1, 4.0, Y2000 + 800 * DAY), (3, 2, 0.5, Y2000 + 801 * DAY),
        (4, 1, 5.0, Y2000 + 802 * DAY),
    ])


@pytest.fixture
def movies() -> pd.DataFrame:
    return pd.DataFrame({
        ITEM: [1, 2, 3, 4],
        TITLE: ["A (1990)", "B (1991)", "C (1992)", "D"],
        GENRES: ["Drama|Comedy", "Comedy", "(no genres listed)", "Drama|Sci-Fi|Comedy"],
        YEAR: pd.array([1990, 1991, 1992, None], dtype="Int16"),
    })


def test_rating_distribution(small):
    dist = explore.rating_distribution(small)
    assert dist.index.tolist() == [0.5, 1.0, 2.0, 3.5, 4.0, 5.0]
    assert dist.loc[4.0, "count"] == 4 and dist.loc[5.0, "count"] == 2
    assert dist["count"].sum() == len(small)
    assert dist["share"].sum() == pytest.approx(1.0)
    assert dist.loc[4.0, "share"] == pytest.approx(0.4)


def test_popularity_curve_and_top_share(small):
    curve = explore.popularity_curve(small)
    assert curve[ITEM].tolist() == [1, 2, 3, 4]
    assert curve["ratings"].tolist() == [4, 3, 2, 1]
    assert curve["movie_share"].tolist() == [0.25, 0.5, 0.75, 1.0]
    assert curve["ratings_share"].tolist() == pytest.approx([0.4, 0.7, 0.9, 1.0])
    assert explore.top_share(small, 0.25) == pytest.approx(0.4)
    assert explore.top_share(small, 0.3) == pytest.approx(0.7)  # ceil(0.3 * 4) = 2 movies
    assert explore.top_share(small, 1.0) == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [0, -0.1, 1.5])
def test_top_share_rejects_bad_fraction(small, bad):
    with pytest.raises(ValueError, match="top_fraction"):
        explore.top_share(small, bad)


def test_popularity_ties_by_movie_id():
    df = frame([(1, 9, 4.0, 1), (2, 9, 4.0, 2), (1, 3, 4.0, 3), (2, 3, 4.0, 4), (1, 5, 4.0, 5)])
    assert explore.popularity_curve(df)[ITEM].tolist() == [3, 9, 5]


def test_genre_counts_explodes_pipes(small, movies):
    counts = explore.genre_counts(movies)
    assert counts.to_dict()["movies"] == {"Comedy": 3, "Drama": 2, "Sci-Fi": 1}
    assert counts.index.tolist() == ["Comedy", "Drama", "Sci-Fi"]
    with_ratings = explore.genre_counts(movies, small)
    # Comedy: movies 1, 2, 4 -> 4 + 3 + 1 ratings; Drama: 1, 4 -> 5; Sci-Fi: 4 -> 1.
    assert with_ratings["ratings"].to_dict() == {"Comedy": 8, "Drama": 5, "Sci-Fi": 1}
    assert with_ratings.index.tolist() == ["Comedy", "Drama", "Sci-Fi"]
    assert "(no genres listed)" not in with_ratings.index


def test_genre_counts_unrated_genre_is_zero(movies):
    only_movie_3 = frame([(1, 3, 4.0, 1)])
    counts = explore.genre_counts(movies, only_movie_3)
    assert (counts["ratings"] == 0).all()
    assert counts["ratings"].dtype == np.int64


def test_user_activity(small):
    act = explore.user_activity(small)
    assert act.index.tolist() == [1, 2, 3, 4]
    assert act["ratings"].tolist() == [4, 3, 2, 1]


def test_ratings_per_year(small):
    per_year = explore.ratings_per_year(small)
    assert per_year.index.tolist() == [2000, 2001, 2002]
    assert per_year["ratings"].tolist() == [4, 3, 3]
    assert per_year["users"].tolist() == [1, 1, 2]
    assert per_year.loc[2002, "mean_rating"] == pytest.approx((4.0 + 0.5 + 5.0) / 3)


def test_ratings_per_year_refuses_text_timestamps(small):
    with pytest.raises(ValueError, match="numeric"):
        explore.ratings_per_year(small.astype({TIMESTAMP: str}))


def test_text_sort_damage_on_9_and_10_digit_timestamps():
    # User 1 rates in 1996 (9 digits) then 2018 (10 digits); as text the 2018
    # ratings sort first. User 2 has only 10-digit timestamps: unaffected.
    rows = [(1, m, 4.0, 828_124_615 + m) for m in range(1, 9)]
    rows += [(1, m, 4.0, 1_537_799_250 + m) for m in range(9, 11)]
    rows += [(2, m, 4.0, 1_100_000_000 + m) for m in range(1, 11)]
    damage = explore.text_sort_damage(frame(rows))
    assert damage["users_affected"] == 1
    assert damage["rows_moved"] == 10  # all of user 1's timeline shifts
    # 7 train, 1 val, 2 test. Numeric: movies 1-7 | 8 | 9, 10.
    # Text: 9, 10, 1-5 | 6 | 7, 8 -> movies 6, 7, 8, 9 and 10 change split.
    assert damage["split_changed"] == 5
    assert damage["future_in_train"] == 2


def test_text_sort_damage_is_zero_when_digits_agree(small):
    assert explore.text_sort_damage(small) == {
        "rows_moved": 0, "users_affected": 0, "split_changed": 0, "future_in_train": 0,
    }


def test_split_by_year(small):
    task = make_task(small)
    table = explore.split_by_year(task)
    assert table.columns.tolist() == ["train", "val", "test"]
    assert table.to_numpy().sum() == len(task)
    assert table.loc[2000].tolist() == [4, 0, 0]  # user 1: 4 ratings, floor(0.8) = 0 test


def test_plots_return_axes_with_data(small, movies):
    ax = explore.plot_rating_distribution(small)
    assert isinstance(ax, plt.Axes) and len(ax.patches) == 6
    ax = explore.plot_long_tail(small)
    assert isinstance(ax, plt.Axes) and len(ax.lines) >= 2
    ax = explore.plot_genre_counts(explore.genre_counts(movies, small), "ratings")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Comedy", "Drama", "Sci-Fi"]
    ax = explore.plot_user_activity(small)
    assert isinstance(ax, plt.Axes) and ax.get_xscale() == "log"
    ax = explore.plot_ratings_per_year(small)
    assert len(ax.patches) == 3
    _, ax = plt.subplots()
    assert explore.plot_rating_distribution(small, threshold=None, ax=ax) is ax


def test_plot_split_on_synthetic():
    ratings, _ = synthetic_movielens(n_users=20, n_movies=50, seed=1)
    task = make_task(ratings)
    axes = explore.plot_split(task)
    assert axes.shape == (2,)
    heights = [p.get_height() for p in axes[0].patches]
    counts = task[SPLIT].astype(str).value_counts()
    assert heights == [counts["train"], counts["val"], counts["test"]]
    assert [t.get_text() for t in axes[1].get_legend().get_texts()][-3:] == ["train", "val", "test"]


def test_nothing_is_printed(small, movies, capsys):
    explore.rating_distribution(small)
    explore.genre_counts(movies, small)
    explore.text_sort_damage(small)
    explore.plot_long_tail(small)
    assert capsys.readouterr().out == ""


def test_user_timelines_orders_each_user_and_keeps_the_split(small):
    task = make_task(small)
    lines = explore.user_timelines(task, [2, 1])
    assert list(dict.fromkeys(lines[USER])) == [2, 1]
    for _, g in lines.groupby(USER):
        assert g["date"].is_monotonic_increasing
        assert list(g["position"]) == list(range(len(g)))
    assert set(lines[SPLIT]) <= {"train", "val", "test"}
    with pytest.raises(KeyError, match="no ratings"):
        explore.user_timelines(task, [999])


def test_plot_user_timelines_draws_one_row_per_user(small):
    ax = explore.plot_user_timelines(make_task(small), [1, 2, 3])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["user 1", "user 2", "user 3"]
