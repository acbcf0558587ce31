"""Lesson 02, exercise 1 — does the embedding size matter? Deep models with 4, 16 and 32 dims.

Run from the repository root: ``python docs/solutions/02_embedding_dim.py`` (about a minute:
9 deep models).
"""

import course_lib

course_lib.setup_notebook(seed=42)

import pandas as pd  # noqa: E402

from course_lib.experiments import margin_in_sd, score_on_test, summarize  # noqa: E402
from course_lib.prepare import course_data  # noqa: E402
from course_lib.train import course_model  # noqa: E402

data = course_data()
runs = pd.DataFrame([{"embedding_dim": d, "seed": seed,
                      **score_on_test(course_model(data, "deep", seed=seed, embedding_dim=d), data)}
                     for d in (4, 16, 32) for seed in (1, 2, 3)])
print(summarize(runs, "embedding_dim").round(4).to_string())
gaps = {d: margin_in_sd(runs, {"embedding_dim": d}, {"embedding_dim": 16}) for d in (4, 32)}
for d, g in gaps.items():
    print(f"{d:2d} dims vs 16: {g['diff']:+.4f} ROC AUC ({g['in_sd']:+.1f} pooled SD)")

# The deep model also sees the rating statistics, which carry most of its signal: the size of
# the embeddings moves the test AUC by less than 0.005 either way.
assert all(abs(g["diff"]) < 0.005 for g in gaps.values()), gaps
