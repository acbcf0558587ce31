"""Lesson 00, exercise 1 — how concentrated are the ratings on a few movies?

Run from the repository root: ``python docs/solutions/00_long_tail.py`` (a few seconds).
"""

import course_lib

course_lib.setup_notebook(seed=42)

from course_lib import data, explore  # noqa: E402

ratings, _ = data.load()
curve = explore.popularity_curve(ratings)
top1, top50 = explore.top_share(ratings, 0.01), explore.top_share(ratings, 0.50)
# The first movie (most-rated first) at which the cumulative share reaches 90 %.
cover90 = float(curve.loc[curve["ratings_share"] >= 0.9, "movie_share"].iloc[0])
print(f"top 1% of movies: {top1:.1%} of ratings; top 50%: {top50:.1%}")
print(f"{cover90:.1%} of the movies cover 90% of the ratings")

# A long tail: 1 % of the movies already hold a sixth of the ratings,
# and the bottom half of the catalogue holds under a tenth.
assert top1 > 0.15 and top50 > 0.9
assert cover90 < 0.5
