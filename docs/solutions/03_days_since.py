"""Lesson 03, exercise 1 — "days since the user's previous rating", strictly from earlier ratings.

Run from the repository root: ``python docs/solutions/03_days_since.py`` (a few seconds).
"""

import course_lib

course_lib.setup_notebook(seed=42)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from course_lib.columns import TIMESTAMP, USER  # noqa: E402
from course_lib.data import load  # noqa: E402
from course_lib.split import make_task  # noqa: E402


def days_since_previous(task: pd.DataFrame) -> pd.Series:
    """Days between each rating and the user's latest strictly earlier rating (NaN for none).

    Ratings in the same second are not "earlier": the gap is taken to the last
    *distinct* earlier timestamp, so a burst of ratings cannot see itself.
    """
    times = task[[USER, TIMESTAMP]]
    distinct = times.drop_duplicates().sort_values([USER, TIMESTAMP])
    distinct = distinct.assign(previous=distinct.groupby(USER)[TIMESTAMP].shift())
    previous = times.merge(distinct, on=[USER, TIMESTAMP], how="left")["previous"].to_numpy()
    return pd.Series((task[TIMESTAMP].to_numpy() - previous) / 86_400, index=task.index, name="days_since")


ratings, _ = load()
task = make_task(ratings)
feature = days_since_previous(task)
print(feature.describe().round(2).to_string())

# The lesson's perturbation test: change user 1's ratings from row 30 on (ratings and timestamps
# of later rows); the feature of rows 0..30 must not move.
u1 = task[task[USER] == 1].sort_values(TIMESTAMP, kind="stable")
changed = u1.copy()
changed.loc[changed.index[31]:, TIMESTAMP] += 10 * 86_400  # later ratings happen later still
changed.loc[changed.index[30]:, "rating"] = 0.5
np.testing.assert_array_equal(days_since_previous(u1).iloc[:31].to_numpy(),
                              days_since_previous(changed).iloc[:31].to_numpy())
first_second = task[TIMESTAMP] == task.groupby(USER)[TIMESTAMP].transform("min")
assert (feature.isna() == first_second).all()  # no previous rating exactly in each user's first second
assert (feature.dropna() > 0).all()  # strictly earlier: never a zero gap
