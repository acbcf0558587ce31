"""Lesson 00, exercise 3 — a stricter "liked" (rating >= 4) changes the balance of the task.

Run from the repository root: ``python docs/solutions/00_threshold.py`` (a few seconds).
"""

import course_lib

course_lib.setup_notebook(seed=42)

from course_lib import data  # noqa: E402
from course_lib.columns import LABEL, SPLIT  # noqa: E402
from course_lib.split import add_label, make_task  # noqa: E402

ratings, _ = data.load()
task = make_task(ratings)  # the course's split; only the label changes below
rates = {}
for threshold in (3.5, 4.0):
    labelled = add_label(task, threshold=threshold)
    rates[threshold] = (float(labelled[LABEL].mean()), float(labelled.loc[labelled[SPLIT] == "test", LABEL].mean()))
    print(f"threshold {threshold}: liked rate {rates[threshold][0]:.3f} overall, {rates[threshold][1]:.3f} on test")

# 3.5-star ratings stop counting as "liked": the positives drop from about 61 % to under half.
# The task gets harder because a 3.5 and a 4 are often the same taste expressed by different users.
assert rates[4.0][0] < 0.5 < rates[3.5][0]
