"""Lesson 05, exercise 1 — the segment table for heavy users only.

Run from the repository root: ``python docs/solutions/05_heavy_users.py`` (about a minute:
3 wide and 3 deep models).
"""

import course_lib

course_lib.setup_notebook(seed=42)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from course_lib.compare import compare_runs  # noqa: E402
from course_lib.explain import seen_cross  # noqa: E402
from course_lib.metrics import segment_report  # noqa: E402
from course_lib.prepare import course_data  # noqa: E402
from course_lib.train import course_model, predict  # noqa: E402

data = course_data()
train, test = data.train, data.test
popularity = train.groupby("movie_id").size()
activity = train.groupby("user_id").size()
seg = test.assign(
    movie_segment=np.where(test.movie_id.map(popularity).fillna(0) >= popularity.quantile(0.8), "head", "long tail"),
    cross_segment=np.where(seen_cross(test, train), "seen cross", "unseen cross"),
    heavy=test.user_id.map(activity) > activity.median())
rows = []
for seed in (1, 2, 3):
    scores = {name: predict((r := course_model(data, name, seed=seed)).model, test, r.spec) for name in ("wide", "deep")}
    for who, part in (("all users", seg), ("heavy users", seg[seg.heavy])):
        idx = seg.index.get_indexer(part.index)
        for column in ("movie_segment", "cross_segment"):
            table = segment_report(part, {k: v[idx] for k, v in scores.items()}, column)
            rows += [{"users": who, "segment": s, "seed": seed, "lead": r["deep"] - r["wide"]} for s, r in table.iterrows()]
runs = pd.DataFrame(rows)
leads = runs.groupby(["users", "segment"]).lead.agg(["mean", lambda s: s.std(ddof=1)])
leads.columns = ["deep lead", "sd"]
print(leads.round(4).unstack("users").to_string())

# The course's rule over seeds 1-3, on the deep model's lead (deep minus wide AUC, per seed).
verdicts = {(who, a, b): compare_runs(runs, {"users": who, "segment": a}, {"users": who, "segment": b}, "lead")
            for who in ("all users", "heavy users") for a, b in (("unseen cross", "seen cross"), ("long tail", "head"))}
for (who, a, b), verdict in verdicts.items():
    print(f"{who}: lead on {a} vs {b}: {verdict}")

# For heavy users too, the deep model leads everywhere, and its lead is larger on unseen crosses than
# on seen ones, and on long-tail movies than on the head (both `better` by the seed rule).
heavy = leads.loc["heavy users", "deep lead"]
assert (heavy > 0).all()
assert verdicts["heavy users", "unseen cross", "seen cross"].verdict == "better"
assert verdicts["heavy users", "long tail", "head"].verdict == "better"
