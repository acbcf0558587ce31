"""Lesson 01, exercise 1 — which single cross adds the most to the wide model?

Run from the repository root: ``python docs/solutions/01_one_cross.py`` (about 2 minutes:
12 wide models).
"""

import course_lib

course_lib.setup_notebook(seed=42)

import pandas as pd  # noqa: E402

from course_lib.experiments import margin_in_sd, score_on_test, summarize  # noqa: E402
from course_lib.features import ALL_CROSSES  # noqa: E402
from course_lib.prepare import course_data  # noqa: E402
from course_lib.train import course_model  # noqa: E402

data = course_data()
variants = {"ids only": (), **{f"+ {name}": (name,) for name in ALL_CROSSES}}
runs = pd.DataFrame([{"model": label, "seed": seed,
                      **score_on_test(course_model(data, "wide", seed=seed, crosses=crosses), data)}
                     for label, crosses in variants.items() for seed in (1, 2, 3)])
table = summarize(runs, "model").round(4)
print(table.to_string())
gains = {label: margin_in_sd(runs, {"model": label}, {"model": "ids only"}) for label in variants if label != "ids only"}
for label, g in gains.items():
    print(f"{label:20s} {g['diff']:+.4f} over ids only ({g['in_sd']:.1f} pooled SD)")

# On the test period, no single cross is a clear gain over ids alone (the lesson's finding
# for all three: crosses fit the past). The user x genre cross (a personal genre taste,
# repeated over many rows) comes closest and is the best of the three. The movie x history
# cross alone is *worse* than ids only, by more than 2 pooled SD: its 278,000 pair weights,
# most of them from one or two rows, fit noise that does not carry over to later ratings.
best = max(gains, key=lambda k: gains[k]["diff"])
assert best == "+ user_x_genre", best
assert gains["+ movie_x_history"]["in_sd"] < -2, gains["+ movie_x_history"]
assert margin_in_sd(runs, {"model": best}, {"model": "+ movie_x_history"})["in_sd"] > 2
