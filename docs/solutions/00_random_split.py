"""Lesson 00, exercise 2 — a random 70/10/20 split leaks the future for almost every user.

Run from the repository root: ``python docs/solutions/00_random_split.py`` (a few seconds).
"""

import course_lib

course_lib.setup_notebook(seed=42)

import numpy as np  # noqa: E402

from course_lib import data  # noqa: E402
from course_lib.columns import SPLIT, TIMESTAMP, USER  # noqa: E402
from course_lib.split import make_task  # noqa: E402


def users_with_future_in_train(split_ratings):
    """Users whose train rows include a rating later than their first test rating."""
    first_test = split_ratings[split_ratings[SPLIT] == "test"].groupby(USER)[TIMESTAMP].min()
    train_part = split_ratings[split_ratings[SPLIT] == "train"]
    return int((train_part[TIMESTAMP] > train_part[USER].map(first_test)).groupby(train_part[USER]).any().sum())


ratings, _ = data.load()
task = make_task(ratings)
rng = np.random.default_rng(0)
# One random draw per rating: 70 % train, 10 % val, 20 % test (not per user, as a careless split would do).
u = rng.random(len(ratings))
random_split = ratings.assign(**{SPLIT: np.where(u < 0.7, "train", np.where(u < 0.8, "val", "test"))})

chrono, careless = users_with_future_in_train(task), users_with_future_in_train(random_split)
print(f"users with a later rating in train: chronological {chrono}, random {careless} of {ratings[USER].nunique()}")
assert chrono == 0
assert careless > 0.9 * ratings[USER].nunique()
