"""Lesson 02, exercise 3 — is over-generalization a niche-user problem?

The niche quarter (test users whose training likes are the least popular movies) against the
mainstream quarter (the most popular), wide and deep (embeddings only), seeds 1-3: how alike are
the top-10 lists within each group?

Run from the repository root: ``python docs/solutions/02_mainstream.py`` (about a minute: the
lesson's models come from the model cache; ranking the whole catalogue for 300 users takes the rest).
"""

import course_lib

course_lib.setup_notebook(seed=42)

import pandas as pd  # noqa: E402

from course_lib.compare import compare_runs  # noqa: E402
from course_lib.prepare import course_data  # noqa: E402
from course_lib.evaluation import RankingEvaluation, list_sameness  # noqa: E402
from course_lib.train import course_model  # noqa: E402

data = course_data()
train, task, movies = data.train, data.task, data.movies
everyone = RankingEvaluation(task, movies)
popularity = train.groupby("movie_id").size()
taste = (train[train.liked == 1].assign(pop=lambda d: d.movie_id.map(popularity))
         .groupby("user_id")["pop"].median().reindex(everyone.users).dropna())
groups = {"niche": taste[taste <= taste.quantile(0.25)].index,
          "mainstream": taste[taste >= taste.quantile(0.75)].index}
evaluations = {group: RankingEvaluation(task, movies, users=users) for group, users in groups.items()}

rows = []
for seed in (1, 2, 3):
    for name, kwargs in (("wide", {}), ("deep", {"deep_inputs": "embeddings"})):
        result = course_model(data, name, seed=seed, **kwargs)
        for group, evaluation in evaluations.items():
            _, lists = evaluation(result.model, result.spec)
            rows.append({"model": name, "users": group, "seed": seed, **list_sameness(lists)})
rows = pd.DataFrame(rows)
print(rows.groupby(["model", "users"])[["shared", "top_title_share", "distinct"]].agg(["mean", "std"]).round(3)
      .to_string())

# The rule needs "higher is better": count the titles two users' lists do NOT share (more = more personal).
rows["titles not shared"] = 10 - rows["shared"]
for group in groups:
    verdict = compare_runs(rows, {"model": "deep", "users": group}, {"model": "wide", "users": group},
                           "titles not shared")
    print(f"{group} users, deep vs wide, titles two lists do not share: {verdict}")
    assert verdict.verdict == "worse", verdict  # the deep model's lists are more alike in both groups
niche_vs_mainstream = compare_runs(rows, {"model": "deep", "users": "niche"}, {"model": "deep", "users": "mainstream"},
                                   "titles not shared")
print(f"deep model, niche vs mainstream users, titles two lists do not share: {niche_vs_mainstream}")

# Not a niche-user problem: the deep model hands both groups mostly the same list (two users' lists
# share about 6 of 10 titles in each group), and if anything the mainstream users' lists are the more
# alike. The sameness is a property of the model: its scores are dominated by what it thinks of each
# movie, whoever the user is.
assert (rows[rows.model == "deep"].shared > 5).all()
assert niche_vs_mainstream.verdict == "better", niche_vs_mainstream
