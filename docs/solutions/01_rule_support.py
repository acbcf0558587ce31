"""Lesson 01, exercise 3 — rules memorized from one row rise to the top when min_count=1.

Run from the repository root: ``python docs/solutions/01_rule_support.py`` (about 30 s).
"""

import course_lib

course_lib.setup_notebook(seed=42)

from course_lib.explain import top_movie_crosses  # noqa: E402
from course_lib.prepare import course_data  # noqa: E402
from course_lib.train import course_model  # noqa: E402

data = course_data()
wide = course_model(data, "wide", seed=1).model  # the lesson's seed-1 wide model
strict = top_movie_crosses(wide, data.features, data.movies, k=10, min_count=3)
loose = top_movie_crosses(wide, data.features, data.movies, k=10, min_count=1)
print(loose[["liked", "likes", "weight", "train_rows", "liked_rate"]].to_string())
print(f"median support of the top 10: min_count=1 -> {loose.train_rows.median():.0f} rows, "
      f"min_count=3 -> {strict.train_rows.median():.0f} rows")

# With min_count=1 the top rules rest on far fewer training rows than the min_count=3 list:
# a pair seen once or twice, liked each time, looks like a perfect rule (liked_rate 1.0)
# but is one person's taste, not a pattern.
assert loose.train_rows.median() < strict.train_rows.median()
assert (loose.liked_rate == 1.0).mean() >= 0.5
