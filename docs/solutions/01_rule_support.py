"""Lesson 01, exercise 3 — min_count=1: do rules memorized from one row rise to the top?

Run from the repository root: ``python docs/solutions/01_rule_support.py`` (about 30 s).
"""

import course_lib

course_lib.setup_notebook(seed=42)

import pandas as pd  # noqa: E402

from course_lib.explain import movie_cross_weights, top_movie_crosses  # noqa: E402
from course_lib.features import HIST_COLUMNS  # noqa: E402
from course_lib.prepare import course_data  # noqa: E402
from course_lib.train import course_model  # noqa: E402

data = course_data()
wide = course_model(data, "wide", seed=1).model  # the lesson's seed-1 wide model
strict = top_movie_crosses(wide, data.features, data.movies, k=10, min_count=3)
loose = top_movie_crosses(wide, data.features, data.movies, k=10, min_count=1)
print(loose[["liked", "likes", "weight", "train_rows", "liked_rate"]].to_string())

# Why nothing changes: a pair seen in one training row gets few, small updates -- one FTRL step per
# epoch from that row, whose gradient is its share of a loss averaged over a batch of 2,048 rows -- so
# its weight stays small, and the strongest rules are the well-supported ones. It is not L1: the
# course's L1 (1e-5) is kept small so that such pairs can learn at all, and it zeroes almost none of
# them (the `nonzero` column: the share of pairs whose weight is not exactly 0).
train = data.train[data.train[HIST_COLUMNS[0]] > 0]
pairs = (train.assign(liked_movie=train[HIST_COLUMNS[0]]).groupby(["movie_id", "liked_movie"])
         .size().rename("support").reset_index())
pairs["weight"] = movie_cross_weights(wide, pairs)
pairs["support"] = pd.cut(pairs["support"], [0, 1, 2, 5, 10**6], labels=["1", "2", "3-5", "6+"])
by_support = pairs.groupby("support", observed=True)["weight"].agg(
    pairs="size", nonzero=lambda w: (w != 0).mean(), mean_abs=lambda w: w.abs().mean())
print(by_support.round(4).to_string())

assert loose.equals(strict)  # the same ten rules
assert by_support.loc["1", "mean_abs"] < by_support.loc["6+", "mean_abs"]  # small weights: little evidence
assert by_support["nonzero"].min() > 0.99  # ... and not zeroed by L1
