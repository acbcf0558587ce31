"""How much the sparse wide update saves: ``SparseFtrl`` vs Keras' dense ``Ftrl``.

Run from the repository root (about 2 minutes on 2 cores)::

    python -m benchmarks.wide_update

Trains the same model, seed and data with the course's wide optimizer
(``models.wide_ftrl``: ``SparseFtrl``, which updates only the rows a batch
touched) and with Keras' ``Ftrl`` at the same settings (``WideDeep`` hands it
the dense gradient, which is how every wide model trained before the tables'
gradients were made sparse). Runs alternate, three each, and the medians of
wall-clock and CPU seconds are printed: on a shared 2-core machine single runs
vary by 15 % or more. The validation AUCs agree to float rounding (the two
round ``pow`` differently; see ``SparseFtrl``).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from course_lib.runtime import configure_environment, configure_tensorflow

REPEATS = 3


def _train(features, spec, branches: str, dense: bool, seed: int, **training) -> dict:
    import keras

    from course_lib import models
    from course_lib.train import train_model

    optimizer = models.wide_ftrl(joint=branches == "wide_deep")
    if dense:  # the same settings in Keras' own class
        optimizer = keras.optimizers.Ftrl.from_config(optimizer.get_config())
    model = models.build_wide_deep(spec, branches, seed=seed, wide_optimizer=optimizer)
    wall, cpu = time.perf_counter(), time.process_time()
    result = train_model(model, features, spec, seed=seed, **training)
    return {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu, "val_auc": result.val_auc}


def main() -> pd.DataFrame:
    configure_environment()  # before TensorFlow is imported (it reads the environment once)
    configure_tensorflow()
    from course_lib import models
    from course_lib.features import make_feature_spec
    from course_lib.prepare import course_data
    from course_lib.ranking import NEGATIVES_PER_ROW, RANKER_TRAINING, implicit_features

    data = course_data()
    implicit = implicit_features(data.task, data.movies, negatives=NEGATIVES_PER_ROW, sampling="popularity", seed=0)
    cases = {"W&D ranker (lesson 06)": (implicit, make_feature_spec(implicit), "wide_deep", RANKER_TRAINING),
             "wide model (lesson 01)": (data.features, data.spec, "wide", {})}
    rows = []
    for case, (features, spec, branches, training) in cases.items():
        print(f"{case}: wide table sizes {[int(np.prod(v.shape)) for v in models.build_wide(spec).weights]}",
              flush=True)
        for _ in range(REPEATS):
            for dense in (False, True):
                run = _train(features, spec, branches, dense, seed=1, **training)
                rows.append({"model": case, "wide optimizer": "Keras Ftrl (dense)" if dense else "SparseFtrl", **run})
                print(f"  {rows[-1]['wide optimizer']:20s} {run['wall_s']:6.2f} s wall  {run['cpu_s']:6.2f} s CPU  "
                      f"val AUC {run['val_auc']:.4f}", flush=True)
    table = pd.DataFrame(rows).groupby(["model", "wide optimizer"], sort=False).median().round(4)
    print(table.to_string())
    return table


if __name__ == "__main__":
    main()
