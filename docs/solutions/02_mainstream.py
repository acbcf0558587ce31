"""Lesson 02, exercise 3 — over-generalization for mainstream users.

Run from the repository root: ``python docs/solutions/02_mainstream.py`` (about a minute:
3 wide and 3 deep models).
"""

import course_lib

course_lib.setup_notebook(seed=42)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from course_lib.experiments import margin_in_sd, summarize  # noqa: E402
from course_lib.prepare import course_data  # noqa: E402
from course_lib.recommend import Recommender  # noqa: E402
from course_lib.train import course_model  # noqa: E402

data = course_data()
train, task, movies, spec = data.train, data.task, data.movies, data.spec
popularity = train.groupby("movie_id").size()
liked_pop = (task[task.liked == 1].assign(pop=lambda d: d.movie_id.map(popularity).fillna(0))
             .groupby("user_id")["pop"].median())
groups = {"niche": liked_pop[liked_pop <= liked_pop.quantile(0.25)].index[:40],
          "mainstream": liked_pop[liked_pop >= liked_pop.quantile(0.75)].index[:40]}
rows = []
for seed in (1, 2, 3):
    for name in ("wide", "deep"):
        rec = Recommender(course_model(data, name, seed=seed).model, spec, task, movies)
        generic = set(rec.recommend(10**9, k=50).movie_id)
        for group, users in groups.items():
            lists = rec.recommend_many(users, k=10).values()
            rows.append({"model": name, "users": group, "seed": seed,
                         "share": np.mean([len(set(l.movie_id) & generic) / 10 for l in lists])})
rows = pd.DataFrame(rows)
print(summarize(rows, ["model", "users"], "share").round(3).to_string())
deep = rows[rows.model == "deep"]
gap = margin_in_sd(deep, {"users": "mainstream"}, {"users": "niche"}, "share")
print(f"deep model, share of the generic list: mainstream minus niche {gap['diff']:+.3f} ({gap['in_sd']:+.1f} pooled SD)")

# The deep model gives both groups mostly its generic list: the sameness is a property of the
# model (its scores are dominated by what it thinks of each movie), not of the niche users.
assert (deep.share > 0.5).all()
