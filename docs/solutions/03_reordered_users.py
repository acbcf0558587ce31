"""Lesson 03, exercise 3 — who is reordered by a text sort of timestamps, and when did they start?

Run from the repository root: ``python docs/solutions/03_reordered_users.py`` (a few seconds).
"""

import course_lib

course_lib.setup_notebook(seed=42)

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # a script: draw to a file, open no window

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from course_lib.columns import TIMESTAMP, USER  # noqa: E402
from course_lib.data import load  # noqa: E402
from course_lib.explore import text_sort_damage  # noqa: E402

ratings, _ = load()
span = ratings.groupby(USER)[TIMESTAMP].agg(["min", "max", "size"])
# A text sort only reorders a user whose timestamps have both 9 and 10 digits.
straddle = span[(span["min"] < 10**9) & (span["max"] >= 10**9)]
first = pd.to_datetime(straddle["min"], unit="s")
print(straddle.assign(first=first.dt.date, last=pd.to_datetime(straddle["max"], unit="s").dt.date)
      [["first", "last", "size"]].to_string())

fig, ax = plt.subplots(figsize=(7, 3))
ax.hist(first, bins=12)
ax.set(title="First rating of the users a text sort reorders", xlabel="date", ylabel="users")
fig.savefig("/tmp/03_reordered_users.png")

assert len(straddle) == text_sort_damage(ratings)["users_affected"] == 16
assert (first < pd.Timestamp("2001-09-09")).all()  # all of them started before 10**9 s
