"""Lesson 01, exercise 2 — hashing the movie x history cross: unseen pairs get weights too.

Run from the repository root: ``python docs/solutions/01_hashed_cross.py`` (about 30 s).
"""

import course_lib

course_lib.setup_notebook(seed=42)

import numpy as np  # noqa: E402

from course_lib.explain import cross_contribution, seen_cross  # noqa: E402
from course_lib.features import FeatureSpec  # noqa: E402
from course_lib.metrics import auc  # noqa: E402
from course_lib.models import build_wide_deep  # noqa: E402
from course_lib.prepare import course_data  # noqa: E402
from course_lib.train import model_inputs, predict, train_model  # noqa: E402

data = course_data()
hashed = FeatureSpec.from_dict({**data.spec.to_dict(), "movie_pairs": [], "movie_cross_bins": 4096})
model = build_wide_deep(hashed, "wide", seed=1)
train_model(model, data.features, hashed, seed=1)

test = data.test
seen = seen_cross(test, data.train)
term = cross_contribution(model, model_inputs(test, hashed), "movie_x_history")
unseen_nonzero = float((term[~seen] != 0).mean())
print(f"unseen rows with a nonzero movie x history term: {unseen_nonzero:.1%} "
      f"(mean |term| {np.abs(term[~seen]).mean():.4f}; seen rows {np.abs(term[seen]).mean():.4f})")
print(f"test ROC AUC of the hashed wide model: {auc(test.liked, predict(model, test, hashed)):.4f}")

# With 278,000 training pairs in 4,096 bins, every bin is shared by dozens of pairs: an unseen pair
# lands in a bin that other pairs trained, and inherits their weight (a collision). It is no longer
# silent where it knows nothing — it speaks with someone else's voice.
assert unseen_nonzero > 0.5
