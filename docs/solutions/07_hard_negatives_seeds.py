"""Lesson 07, exercise 1 — does the choice of negatives hold over seeds?

The lesson chose the sampled-negatives ranker on the validation window with one
seed. Here the hard-negatives + retrieval-evidence ranker (trained on the
retriever's own candidates, reading ``RETRIEVAL_COLUMNS``) and the sampled one
are each trained on seeds 1-3 and compared on the validation window by the
course's rule: over seeds (training noise) and over users (each system's hits
averaged over its seeds). The test period is never read.

Run from the repository root: ``python docs/solutions/07_hard_negatives_seeds.py`` (several minutes).
"""

import course_lib

course_lib.setup_notebook(seed=42)

from course_lib.compare import compare_seeds, compare_users  # noqa: E402
from course_lib.evaluation import liked_in_validation, validation_ranking  # noqa: E402
from course_lib.features import NUMERIC_COLUMNS, RETRIEVAL_COLUMNS, make_feature_spec  # noqa: E402
from course_lib.metrics import per_user_hits_over_runs  # noqa: E402
from course_lib.prepare import course_data  # noqa: E402
from course_lib.ranking import (  # noqa: E402
    CooccurrenceRetriever, candidate_training_set, implicit_features, train_ranker,
)
from course_lib.train import predict  # noqa: E402

SEEDS = (1, 2, 3)
data = course_data()
task, movies = data.task, data.movies
retriever = CooccurrenceRetriever(task, movies["movie_id"].to_numpy())  # every rating, asked "as of" each window
implicit = implicit_features(task, movies)  # liked vs disliked + popularity-sampled negatives
candidates = candidate_training_set(task, movies, retriever)  # hard negatives + the validation window
val_rows = candidates[candidates["split"] == "val"]
systems = {
    "sampled negatives": (implicit, make_feature_spec(implicit)),
    "hard negatives + retrieval evidence": (candidates,
                                            make_feature_spec(candidates, numeric=NUMERIC_COLUMNS + RETRIEVAL_COLUMNS)),
}
metrics, lists = {}, {}
for name, (rows, spec) in systems.items():
    for seed in SEEDS:
        model = train_ranker(rows, spec, "wide_deep", seed).model
        metrics[name, seed], lists[name, seed] = validation_ranking(val_rows, predict(model, val_rows, spec), task)
        print(f"{name}, seed {seed}: validation HR@10 {metrics[name, seed]['hr@10']:.4f} "
              f"NDCG@10 {metrics[name, seed]['ndcg@10']:.4f}")
alone, _ = validation_ranking(val_rows, -val_rows["retrieval_rank"].to_numpy(), task)
print(f"retrieval alone: validation HR@10 {alone['hr@10']:.4f} NDCG@10 {alone['ndcg@10']:.4f}")

relevant = liked_in_validation(task)
sampled, hard = systems
verdicts = {}
for metric in ("hr@10", "ndcg@10"):
    per_seed = {name: [metrics[name, s][metric] for s in SEEDS] for name in systems}
    users = {name: per_user_hits_over_runs([lists[name, s] for s in SEEDS], relevant) for name in systems}
    common = sorted(set(users[hard].index) & set(users[sampled].index))
    verdicts[metric, "seeds"] = compare_seeds(per_seed[hard], per_seed[sampled])
    verdicts[metric, "users"] = compare_users(users[hard].loc[common, metric], users[sampled].loc[common, metric])
for (metric, over), verdict in verdicts.items():
    print(f"hard negatives + evidence vs sampled negatives, validation {metric}, over {over}: {verdict}")

# What we find (594 users' validation windows, about 160 s): sampled negatives HR@10 0.3104 /
# 0.3051 / 0.2981 (seeds 1-3, mean 0.3045), NDCG@10 mean 0.0666; hard negatives + retrieval
# evidence 0.2963 / 0.3122 / 0.2998 (mean 0.3028), NDCG@10 mean 0.0665; retrieval alone 0.2698 /
# 0.0590. Hard vs sampled: HR@10 -0.0018 (-0.2 SD over seeds; over users 95% interval -0.038 to
# +0.034), NDCG@10 -0.0000: not distinguishable on all four counts. Seed 1's gap (0.3104 vs
# 0.2963), which the lesson's choice rested on, is seed noise: seed 2 reverses it. So the choice
# does not hold as "sampled is better"; it holds only as a tie, and a tie keeps the simpler,
# cheaper ranker (sampled negatives, no retrieval evidence). Both rankers clear retrieval alone
# on validation by about 0.03 HR@10.
assert all(v.verdict == "not distinguishable" for v in verdicts.values())
means = {name: sum(metrics[name, s]["hr@10"] for s in SEEDS) / len(SEEDS) for name in systems}
assert min(means.values()) > alone["hr@10"]
