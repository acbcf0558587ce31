"""Lesson 07, exercise 2 — the two-tower model without the logQ correction.

In-batch negatives are drawn as often as a movie is liked, so without the
correction every popular movie is pushed down once per batch it appears in.
Here the same towers (seed 1) are trained with and without it and compared on
recall@10 and recall@100 at each test user's moment, and on how popular the
retrieved movies are.

Run from the repository root: ``python docs/solutions/07_logq.py`` (about 30 s).
"""

import course_lib

course_lib.setup_notebook(seed=42)

import numpy as np  # noqa: E402

from course_lib.columns import ITEM, LABEL, SPLIT  # noqa: E402
from course_lib.compare import compare_users  # noqa: E402
from course_lib.evaluation import liked_in_test, recommendation_times  # noqa: E402
from course_lib.prepare import course_data  # noqa: E402
from course_lib.two_tower import TwoTowerConfig, TwoTowerRetriever, compare_retrievers, train_two_tower  # noqa: E402

data = course_data()
task, movies, spec = data.task, data.movies, data.spec
retrievers = {name: TwoTowerRetriever(train_two_tower(data.features, movies, spec, TwoTowerConfig(logq_correction=q), seed=1),
                                      task, movies)
              for name, q in (("with logQ", True), ("without logQ", False))}
comparison = compare_retrievers(retrievers, task, ns=(10, 100))
print(comparison.recall.round(4).to_string())
per_user = comparison.per_user[comparison.per_user["N"] == 100].pivot(index="user_id", columns="retriever", values="recall")
verdict = compare_users(per_user["without logQ"], per_user["with logQ"])
print("recall@100, without vs with logQ, over users:", verdict)

# How popular are the movies each one retrieves? Median training likes of each user's top 10.
likes = data.features[(data.features[SPLIT] == "train") & (data.features[LABEL] == 1)][ITEM].value_counts()
when, users = recommendation_times(task), sorted(liked_in_test(task))
for name, retriever in retrievers.items():
    top = np.concatenate([retriever.candidates(u, 10, at=when[u]) for u in users])
    print(f"{name}: median training likes of a top-10 movie {likes.reindex(top).fillna(0).median():.0f}")

# What we find: without the correction recall@10 falls from 0.075 to 0.028 and recall@100 from
# 0.31 to 0.14 (`worse` over users), and the top 10 tilt to obscure movies (median training likes
# of a retrieved movie 41 -> 2): in-batch negatives punish each movie once per batch it is liked
# in, so popular movies end up below the long tail.
assert verdict.verdict == "worse"
