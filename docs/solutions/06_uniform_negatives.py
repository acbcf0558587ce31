"""Lesson 06, optional exercise 4 — uniform or popularity-weighted negatives?

Run from the repository root: ``python docs/solutions/06_uniform_negatives.py`` (about a minute).
``make bench`` (section 9) records the same comparison in ``benchmarks/results.json``.
"""

import course_lib

course_lib.setup_notebook(seed=42)

from course_lib.compare import compare_users  # noqa: E402
from course_lib.features import make_feature_spec  # noqa: E402
from course_lib.metrics import per_user_hits  # noqa: E402
from course_lib.prepare import course_data  # noqa: E402
from course_lib.evaluation import RankingEvaluation, liked_in_test  # noqa: E402
from course_lib.ranking import (  # noqa: E402
    NEGATIVES_PER_ROW, CooccurrenceRetriever, implicit_features, train_ranker,
)

data = course_data()
task, movies = data.task, data.movies
relevant = liked_in_test(task)
# Time-correct candidates: a retriever over every rating, each user asked at their moment.
two_stage = RankingEvaluation(task, movies, retriever=CooccurrenceRetriever(task, movies["movie_id"].to_numpy()))
hits = {}
for sampling in ("popularity", "uniform"):
    implicit = implicit_features(task, movies, negatives=NEGATIVES_PER_ROW, sampling=sampling, seed=0)
    ranker = train_ranker(implicit, make_feature_spec(implicit), "wide_deep", seed=1).model
    metrics, ranked = two_stage(ranker)
    hits[sampling] = per_user_hits(ranked, relevant)
    print(f"{sampling:>10} negatives, seed 1: HR@10 {metrics['hr@10']:.4f} | NDCG@10 {metrics['ndcg@10']:.4f}")

# One seed each: the rule over users measures the users' noise, not the seeds'.
verdicts = {metric: compare_users(hits["popularity"][metric], hits["uniform"][metric]) for metric in ("hr@10", "ndcg@10")}
for metric, verdict in verdicts.items():
    print(f"popularity-weighted vs uniform, {metric}, over users:", verdict)

# What we find (seed 1): popularity-weighted negatives give the higher HR@10 (0.488 vs 0.461)
# with NDCG@10 on par, but over users neither gap is distinguishable, and one seed each says
# nothing about training noise: this comparison does not settle the sampling choice.
assert all(v.verdict == "not distinguishable" for v in verdicts.values())
