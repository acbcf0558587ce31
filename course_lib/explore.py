"""Statistics and plots for a first look at MovieLens.

Introduced in lesson 00. Each ``*_table``-style function returns a DataFrame
(or a number) so tests and the lesson's claim cell can check the figures;
each ``plot_*`` function draws with seaborn on a matplotlib ``Axes`` and
returns it. Nothing here prints.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from course_lib.columns import GENRE_SEP, GENRES, ITEM, NO_GENRE, RATING, SPLIT, TIMESTAMP, USER
from course_lib.split import LIKE_THRESHOLD, SPLITS, chronological_split

__all__ = [
    "genre_counts",
    "plot_genre_counts",
    "plot_long_tail",
    "plot_rating_distribution",
    "plot_ratings_per_year",
    "plot_split",
    "plot_user_activity",
    "plot_user_timelines",
    "popularity_curve",
    "rating_distribution",
    "ratings_per_year",
    "split_by_year",
    "text_sort_damage",
    "top_share",
    "user_activity",
    "user_timelines",
]


def _axes(ax: plt.Axes | None) -> plt.Axes:
    """Use the caller's Axes, or a fresh figure's."""
    if ax is None:
        _, ax = plt.subplots()
    return ax


def _require_numeric_time(ratings: pd.DataFrame) -> None:
    if not pd.api.types.is_numeric_dtype(ratings[TIMESTAMP]):
        raise ValueError(
            f"{TIMESTAMP!r} must be numeric (unix seconds), got {ratings[TIMESTAMP].dtype}; "
            "convert with pd.to_numeric first."
        )


# ---------------------------------------------------------------------------
# Ratings
# ---------------------------------------------------------------------------


def rating_distribution(ratings: pd.DataFrame) -> pd.DataFrame:
    """How often each star value is given.

    Args:
        ratings: DataFrame with a ``RATING`` column.

    Returns:
        One row per distinct rating (ascending index ``rating``) with
        ``count`` and ``share`` (fraction of all ratings, sums to 1).
    """
    counts = ratings[RATING].value_counts().sort_index()
    out = pd.DataFrame({"count": counts.astype("int64"), "share": counts / counts.sum()})
    out.index.name = RATING
    return out


def plot_rating_distribution(
    ratings: pd.DataFrame, threshold: float | None = LIKE_THRESHOLD, ax: plt.Axes | None = None
) -> plt.Axes:
    """Bar chart of the rating distribution, with the "liked" threshold marked.

    Args:
        ratings: DataFrame with a ``RATING`` column.
        threshold: Draw a dashed line here (``None``: no line).
        ax: Axes to draw on; a new figure if ``None``.
    """
    ax = _axes(ax)
    dist = rating_distribution(ratings).reset_index()
    dist[RATING] = dist[RATING].astype(float)
    # A numeric x axis (not categorical bars) so the threshold line sits between bars.
    ax.bar(dist[RATING], dist["count"], width=0.4, color=sns.color_palette()[0])
    if threshold is not None:
        ax.axvline(threshold - 0.25, color="black", linestyle="--", linewidth=1)
        ax.text(threshold - 0.2, ax.get_ylim()[1] * 0.92, f"liked (>= {threshold})", fontsize=9)
    ax.set(xlabel="rating (stars)", ylabel="number of ratings", title="Rating distribution",
           xticks=dist[RATING].to_numpy())
    return ax


# ---------------------------------------------------------------------------
# Popularity: the long tail
# ---------------------------------------------------------------------------


def popularity_curve(ratings: pd.DataFrame) -> pd.DataFrame:
    """Cumulative share of ratings held by the most-rated movies.

    Args:
        ratings: DataFrame with an ``ITEM`` column.

    Returns:
        One row per rated movie, most-rated first (ties by movie id), with
        ``movie_id``, ``ratings`` (its count), ``movie_share`` (fraction of
        movies up to and including this one) and ``ratings_share``
        (cumulative fraction of ratings).
    """
    counts = ratings.groupby(ITEM).size().rename("ratings").reset_index()
    counts = counts.sort_values(["ratings", ITEM], ascending=[False, True], kind="stable", ignore_index=True)
    n = len(counts)
    counts["movie_share"] = np.arange(1, n + 1) / n
    counts["ratings_share"] = counts["ratings"].cumsum() / counts["ratings"].sum()
    return counts


def top_share(ratings: pd.DataFrame, top_fraction: float = 0.1) -> float:
    """Share of all ratings that go to the top ``top_fraction`` most-rated movies.

    Args:
        ratings: DataFrame with an ``ITEM`` column.
        top_fraction: Fraction of rated movies, in (0, 1]; the top
            ``ceil(top_fraction * n_movies)`` are counted.

    Returns:
        A float in (0, 1].

    Raises:
        ValueError: If ``top_fraction`` is outside (0, 1].
    """
    if not 0 < top_fraction <= 1:
        raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction}")
    curve = popularity_curve(ratings)
    k = int(np.ceil(top_fraction * len(curve)))
    return float(curve["ratings_share"].iloc[k - 1])


def plot_long_tail(ratings: pd.DataFrame, mark: float = 0.1, ax: plt.Axes | None = None) -> plt.Axes:
    """Lorenz-style curve: share of ratings vs share of movies, most popular first.

    Args:
        ratings: DataFrame with an ``ITEM`` column.
        mark: Annotate the share held by this top fraction of movies.
        ax: Axes to draw on; a new figure if ``None``.
    """
    ax = _axes(ax)
    curve = popularity_curve(ratings)
    sns.lineplot(x=curve["movie_share"] * 100, y=curve["ratings_share"] * 100, ax=ax)
    ax.plot([0, 100], [0, 100], color="grey", linestyle=":", linewidth=1, label="equal popularity")
    share = top_share(ratings, mark)
    ax.axvline(mark * 100, color="black", linestyle="--", linewidth=1)
    ax.plot([mark * 100], [share * 100], marker="o", color="black")
    ax.annotate(f"top {mark:.0%} of movies: {share:.0%} of ratings", xy=(mark * 100, share * 100),
                xytext=(6, -14), textcoords="offset points")
    ax.set(xlabel="% of movies (most rated first)", ylabel="% of ratings (cumulative)",
           title="Long tail of popularity", xlim=(0, 100), ylim=(0, 101))
    ax.legend(loc="lower right")
    return ax


# ---------------------------------------------------------------------------
# Genres
# ---------------------------------------------------------------------------


def genre_counts(movies: pd.DataFrame, ratings: pd.DataFrame | None = None) -> pd.DataFrame:
    """Movies (and ratings) per genre; a movie counts once for each of its genres.

    Args:
        movies: DataFrame with ``ITEM`` and pipe-separated ``GENRES``.
        ratings: Optional ratings; adds a ``ratings`` column (ratings of
            movies carrying the genre).

    Returns:
        Index ``genre``; column ``movies`` (and ``ratings``), sorted by the
        last column, descending, ties by genre name. "(no genres listed)" is
        left out.
    """
    exploded = movies[[ITEM, GENRES]].assign(genre=movies[GENRES].str.split(GENRE_SEP)).explode("genre")
    exploded = exploded[exploded["genre"] != NO_GENRE]
    out = exploded.groupby("genre").size().rename("movies").to_frame()
    if ratings is not None:
        per_movie = ratings.groupby(ITEM).size().rename("n")
        joined = exploded.join(per_movie, on=ITEM)
        out["ratings"] = joined.groupby("genre")["n"].sum().fillna(0).astype("int64")
    out = out.astype("int64")
    key = out.columns[-1]
    out = out.reset_index().sort_values([key, "genre"], ascending=[False, True], kind="stable")
    return out.set_index("genre")


def plot_genre_counts(counts: pd.DataFrame, column: str = "movies", ax: plt.Axes | None = None) -> plt.Axes:
    """Horizontal bar chart of a :func:`genre_counts` column.

    Args:
        counts: Output of :func:`genre_counts`.
        column: ``"movies"`` or ``"ratings"``.
        ax: Axes to draw on; a new figure if ``None``.
    """
    ax = _axes(ax)
    data = counts[column].sort_values(ascending=False).reset_index()
    sns.barplot(data=data, x=column, y="genre", color=sns.color_palette()[0], ax=ax)
    ax.set(xlabel=f"number of {column}", ylabel="", title=f"{column.capitalize()} per genre")
    return ax


# ---------------------------------------------------------------------------
# Users
# ---------------------------------------------------------------------------


def user_activity(ratings: pd.DataFrame) -> pd.DataFrame:
    """Ratings per user.

    Args:
        ratings: DataFrame with a ``USER`` column.

    Returns:
        One row per user (index ``user_id``) with ``ratings``, most active
        first (ties by user id).
    """
    counts = ratings.groupby(USER).size().rename("ratings").to_frame()
    counts = counts.reset_index().sort_values(["ratings", USER], ascending=[False, True], kind="stable")
    return counts.set_index(USER)


def plot_user_activity(ratings: pd.DataFrame, ax: plt.Axes | None = None) -> plt.Axes:
    """Histogram of ratings per user on a log axis (a few users rate thousands).

    Args:
        ratings: DataFrame with a ``USER`` column.
        ax: Axes to draw on; a new figure if ``None``.
    """
    ax = _axes(ax)
    activity = user_activity(ratings)
    sns.histplot(activity["ratings"], log_scale=True, bins=30, ax=ax)
    median = float(activity["ratings"].median())
    ax.axvline(median, color="black", linestyle="--", linewidth=1, label=f"median {median:.0f}")
    ax.set(xlabel="ratings per user (log scale)", ylabel="users", title="User activity")
    ax.legend()
    return ax


# ---------------------------------------------------------------------------
# Time
# ---------------------------------------------------------------------------


def ratings_per_year(ratings: pd.DataFrame) -> pd.DataFrame:
    """Ratings, active users and mean rating per calendar year (UTC).

    Args:
        ratings: DataFrame with ``USER``, ``RATING`` and numeric ``TIMESTAMP``
            (unix seconds).

    Returns:
        Index ``year`` (int), columns ``ratings``, ``users``, ``mean_rating``.

    Raises:
        ValueError: If the timestamps are not numeric.
    """
    _require_numeric_time(ratings)
    year = pd.to_datetime(ratings[TIMESTAMP], unit="s").dt.year.rename("year")
    grouped = ratings.groupby(year)
    out = pd.DataFrame({
        "ratings": grouped.size().astype("int64"),
        "users": grouped[USER].nunique().astype("int64"),
        "mean_rating": grouped[RATING].mean().astype("float64"),
    })
    out.index = out.index.astype("int64")
    out.index.name = "year"
    return out


def plot_ratings_per_year(ratings: pd.DataFrame, ax: plt.Axes | None = None) -> plt.Axes:
    """Bar chart of ratings per year.

    Args:
        ratings: DataFrame with numeric ``TIMESTAMP``.
        ax: Axes to draw on; a new figure if ``None``.
    """
    ax = _axes(ax)
    per_year = ratings_per_year(ratings).reset_index()
    sns.barplot(data=per_year, x="year", y="ratings", color=sns.color_palette()[0], ax=ax)
    ax.tick_params(axis="x", labelrotation=90)
    ax.set(xlabel="year", ylabel="ratings", title="Ratings per year")
    return ax


# ---------------------------------------------------------------------------
# The split
# ---------------------------------------------------------------------------


def text_sort_damage(ratings: pd.DataFrame) -> dict[str, int]:
    """What would go wrong if timestamps were sorted as text instead of numbers.

    As text, "999999999" (Sep 2001) sorts after "1537799250" (2018) because
    "9" > "1": the order no longer follows time. This function orders each
    user's timeline both ways and splits both with the course's rule.

    Args:
        ratings: DataFrame with ``USER``, ``ITEM`` and numeric ``TIMESTAMP``.

    Returns:
        ``rows_moved``: ratings whose place in their user's timeline changes;
        ``users_affected``: users with at least one such rating;
        ``split_changed``: ratings that land in a different split;
        ``future_in_train``: ratings the text order puts in train although
        they are later than one of the same user's test ratings (leakage).
    """
    _require_numeric_time(ratings)
    base = ratings[[USER, ITEM, TIMESTAMP]].reset_index(drop=True)
    base = base.assign(row=np.arange(len(base)), true_ts=base[TIMESTAMP].astype("int64"))
    # The dense rank of the text form is a number that orders like the
    # strings, so the course's (numeric-only) split can be reused unchanged.
    text_rank = base["true_ts"].astype(str).rank(method="dense").astype("int64")
    numeric = chronological_split(base)
    as_text = chronological_split(base.assign(**{TIMESTAMP: text_rank}))
    numeric = numeric.assign(pos=numeric.groupby(USER).cumcount()).set_index("row").sort_index()
    as_text = as_text.assign(pos=as_text.groupby(USER).cumcount()).set_index("row").sort_index()
    moved = numeric["pos"] != as_text["pos"]
    changed = numeric[SPLIT].astype(str) != as_text[SPLIT].astype(str)
    first_test = as_text.loc[as_text[SPLIT] == "test"].groupby(USER)["true_ts"].min()
    train = as_text.loc[as_text[SPLIT] == "train"]
    limit = train[USER].map(first_test).astype("float64").fillna(np.inf)
    return {
        "rows_moved": int(moved.sum()),
        "users_affected": int(numeric.loc[moved, USER].nunique()),
        "split_changed": int(changed.sum()),
        "future_in_train": int((train["true_ts"] > limit).sum()),
    }


def split_by_year(task: pd.DataFrame) -> pd.DataFrame:
    """Ratings per calendar year in each split (the splits' time ranges).

    Args:
        task: Output of :func:`course_lib.split.make_task`.

    Returns:
        Index ``year``; one column per split (train, val, test), zero-filled.
    """
    _require_numeric_time(task)
    year = pd.to_datetime(task[TIMESTAMP], unit="s").dt.year.rename("year")
    counts = task.groupby([year, task[SPLIT].astype(str).rename(SPLIT)]).size().unstack(SPLIT, fill_value=0)
    counts = counts.reindex(columns=list(SPLITS), fill_value=0).astype("int64")
    counts.index = counts.index.astype("int64")
    counts.columns.name = SPLIT
    return counts


def plot_split(task: pd.DataFrame) -> np.ndarray:
    """Two panels: ratings per split, and ratings per year in each split.

    Args:
        task: Output of :func:`course_lib.split.make_task`.

    Returns:
        The two Axes (sizes, time ranges).
    """
    fig, (ax_size, ax_time) = plt.subplots(1, 2, figsize=(11, 4), width_ratios=[1, 2.2])
    palette = dict(zip(SPLITS, sns.color_palette(n_colors=len(SPLITS))))
    sizes = task[SPLIT].astype(str).value_counts().reindex(list(SPLITS), fill_value=0)
    sizes = sizes.rename_axis(SPLIT).rename("ratings").reset_index()
    sns.barplot(data=sizes, x=SPLIT, y="ratings", hue=SPLIT, palette=palette, ax=ax_size, legend=False)
    ax_size.set(title="Ratings per split", xlabel="")

    per_year = split_by_year(task).stack().rename("ratings").reset_index()
    sns.lineplot(data=per_year, x="year", y="ratings", hue=SPLIT, hue_order=list(SPLITS),
                 palette=palette, marker="o", ax=ax_time)
    ax_time.set(title="When the ratings of each split were given", xlabel="year", ylabel="ratings")
    fig.tight_layout()
    return np.array([ax_size, ax_time])


def user_timelines(task: pd.DataFrame, users) -> pd.DataFrame:
    """The ratings of a few users in time order, with their split.

    Args:
        task: Output of :func:`course_lib.split.make_task`.
        users: User ids to keep, in the order to show them.

    Returns:
        Columns ``USER``, ``date``, ``position`` (0 = the user's first rating)
        and ``SPLIT``, sorted by user (in ``users`` order) and time.

    Raises:
        KeyError: If a user has no ratings in ``task``.
    """
    _require_numeric_time(task)
    users = list(users)
    missing = sorted(set(users) - set(task[USER].unique()))
    if missing:
        raise KeyError(f"users {missing} have no ratings; pick ids from task['{USER}'].")
    part = task[task[USER].isin(users)]
    part = part.assign(_order=part[USER].map({u: i for i, u in enumerate(users)}))
    part = part.sort_values(["_order", TIMESTAMP, ITEM], kind="stable")
    return pd.DataFrame({
        USER: part[USER].to_numpy(),
        "date": pd.to_datetime(part[TIMESTAMP], unit="s").to_numpy(),
        "position": part.groupby(USER).cumcount().to_numpy(),
        SPLIT: part[SPLIT].astype(str).to_numpy(),
    })


def plot_user_timelines(task: pd.DataFrame, users, ax: plt.Axes | None = None) -> plt.Axes:
    """One row per user: each rating a tick at its date, coloured by split.

    Shows that the split is chronological *within* each user (train, then
    val, then test on every row) while the users' calendars differ.

    Args:
        task: Output of :func:`course_lib.split.make_task`.
        users: A few user ids (one row each).
        ax: Axes to draw on (default: a new figure).
    """
    lines = user_timelines(task, users)
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 0.6 * len(set(lines[USER])) + 1.5))
    palette = dict(zip(SPLITS, sns.color_palette(n_colors=len(SPLITS))))
    # Each split on its own lane within the user's row: ratings come in bursts,
    # and a test tick drawn on the same day would hide the validation ticks.
    lane = dict(zip(SPLITS, (-0.25, 0.0, 0.25)))
    order = list(dict.fromkeys(lines[USER]))
    for row, user in enumerate(order):
        mine = lines[lines[USER] == user]
        for split in SPLITS:
            part = mine[mine[SPLIT] == split]
            ax.scatter(part["date"], np.full(len(part), row + lane[split]), marker="|", s=120,
                       color=palette[split], label=split if row == 0 else None)
    ax.set_yticks(range(len(order)), [f"user {u}" for u in order])
    ax.invert_yaxis()
    ax.set(title="Each user's ratings in time, coloured by split", xlabel="date of rating")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), title=SPLIT)
    return ax
