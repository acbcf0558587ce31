"""Lesson 04, exercise 1 — how many wide weights are exactly zero with FTRL + L1, and with Adam?

Run from the repository root: ``python docs/solutions/04_sparsity.py`` (about a minute).
"""

import course_lib

course_lib.setup_notebook(seed=42)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from course_lib.metrics import auc  # noqa: E402
from course_lib.models import WideDeep, build_wide_deep  # noqa: E402
from course_lib.prepare import course_data  # noqa: E402
from course_lib.train import course_model, predict, train_model  # noqa: E402


def zero_share(wide_branch):
    """Share of the wide branch's weights that are exactly 0."""
    values = np.concatenate([np.ravel(v.numpy()) for v in wide_branch.trainable_variables])
    return float((values == 0).mean())


data = course_data()
ftrl = course_model(data, "wide", seed=1)  # the course's wide model: FTRL + L1

# The same wide branch, trained by Adam instead (no L1): a new WideDeep with another wide optimizer.
built = build_wide_deep(data.spec, "wide", seed=1)
adam = WideDeep(wide=built.wide, encoder=built.encoder, wide_optimizer=keras.optimizers.Adam(2e-3), name="wide")
adam_result = train_model(adam, data.features, data.spec, seed=1)

test = data.test
for name, result in (("FTRL + L1", ftrl), ("Adam", adam_result)):
    print(f"{name:>9}: {zero_share(result.model.wide):.1%} of the wide weights are exactly 0 | "
          f"test AUC {auc(test.liked, predict(result.model, test, result.spec)):.4f} | "
          f"best epoch {result.best_epoch}")

# What we find: Adam moves every weight that ever received a gradient; FTRL's L1
# keeps a weight at exactly 0 until its accumulated evidence exceeds the penalty.
# Weights no training row touches (pairs of ids never seen together) stay 0 for both.
assert zero_share(ftrl.model.wide) > zero_share(adam_result.model.wide)
