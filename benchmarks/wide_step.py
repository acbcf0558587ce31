"""Does the wide part converge within the course's budget, and what if it did?

``python -m benchmarks.wide_step`` (about 2.5 minutes on 2 cores) trains, over
seeds 1-3 and the course's budget (``TRAINING``: early stopping on validation
AUC, at most 20 epochs), with FTRL steps 0.5 and 2.0 (the course uses 2.0 for
the wide model alone, ``models.WIDE_LEARNING_RATE``, and 0.5 inside
Wide&Deep, ``models.WIDE_JOINT_LEARNING_RATE``: the better on validation):

- the wide model alone, ids only and ids + crosses (lesson 01);
- Wide&Deep with the deep branch on embeddings only and on the statistics (lesson 04).

It prints validation and test ROC AUC (mean, sample std) and the best epoch.
A best epoch equal to the last allowed one means the model was still improving.
"""

from __future__ import annotations

import sys

import pandas as pd

from course_lib.runtime import configure_environment, configure_tensorflow

configure_environment()
configure_tensorflow()

from course_lib import models  # noqa: E402
from course_lib.compare import score_on_test  # noqa: E402
from course_lib.features import DEEP_INPUTS  # noqa: E402
from course_lib.prepare import course_data  # noqa: E402
from course_lib.train import TRAINING, train_model  # noqa: E402

SEEDS = (1, 2, 3)
STEPS = (0.5, 2.0)


def run(data, name: str, branches: str, spec, step: float, seed: int) -> dict:
    model = models.build_wide_deep(spec, branches, seed=seed, wide_optimizer=models.wide_ftrl(learning_rate=step))
    result = train_model(model, data.features, spec, seed=seed)
    return {"model": name, "ftrl_step": step, "seed": seed, "best_epoch": result.best_epoch,
            "val_auc": result.val_auc, "test_auc": round(score_on_test(result, data)["roc_auc"], 4)}


def main() -> int:
    data = course_data()
    embeddings = data.spec.with_numeric(DEEP_INPUTS["embeddings"], data.features)
    variants = (("wide, ids only", "wide", data.spec.with_crosses()),
                ("wide, ids + crosses", "wide", data.spec),
                ("W&D, deep on embeddings", "wide_deep", embeddings),
                ("W&D, deep on statistics", "wide_deep", data.spec))
    rows = []
    for name, branches, spec in variants:
        for step in STEPS:
            for seed in SEEDS:
                rows.append(run(data, name, branches, spec, step, seed))
                print(rows[-1], flush=True)
    runs = pd.DataFrame(rows)
    table = runs.groupby(["model", "ftrl_step"], sort=False).agg(
        val_auc=("val_auc", "mean"), val_sd=("val_auc", "std"), test_auc=("test_auc", "mean"),
        test_sd=("test_auc", "std"), best_epochs=("best_epoch", lambda e: "/".join(map(str, e))))
    print(f"\nmax_epochs {TRAINING.max_epochs}, patience {TRAINING.patience}; seeds {SEEDS}")
    print(table.round(4).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
