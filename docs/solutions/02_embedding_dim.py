"""Lesson 02, exercise 1 — does the embedding size matter? The embeddings-only deep model with 4, 16 and 32 dims.

Run from the repository root: ``python docs/solutions/02_embedding_dim.py`` (about a minute:
6 new deep models; the 16-dim ones are the lesson's, reused from the model cache).
"""

import course_lib

course_lib.setup_notebook(seed=42)

import pandas as pd  # noqa: E402

from course_lib.compare import compare_runs, score_on_test, summarize  # noqa: E402
from course_lib.prepare import course_data  # noqa: E402
from course_lib.train import course_model  # noqa: E402

data = course_data()


def deep(d, seed):
    """The lesson's deep model (embeddings only) with d-number id embeddings (genres and years get d // 2)."""
    size = {} if d == 16 else {"embedding_dim": d}  # 16 is the default: the lesson's cached models
    return course_model(data, "deep", seed=seed, deep_inputs="embeddings", **size)


runs = pd.DataFrame([{"embedding_dim": d, "seed": seed, **score_on_test(deep(d, seed), data)}
                     for d in (4, 16, 32) for seed in (1, 2, 3)])
print(summarize(runs, "embedding_dim").round(4).to_string())
verdicts = {d: compare_runs(runs, {"embedding_dim": d}, {"embedding_dim": 16}) for d in (4, 32)}
for d, verdict in verdicts.items():
    print(f"{d:2d} dims vs 16, test ROC AUC: {verdict}")

# The deep model sees nothing but embeddings here (and the release year), so their size is the
# whole of its capacity for ids: both 4 and 32 numbers score below the course's 16 by the rule,
# 32 only just (its seeds spread the most).
assert all(v.verdict == "worse" for v in verdicts.values()), verdicts
