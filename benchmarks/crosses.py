"""``make bench`` section ``crosses`` (lesson 08): deep, Wide&Deep, DeepFM and DCN-v2 over seeds.

``python -m benchmarks.run --only crosses``. Lesson 04's protocol (the same
features, split, ``TRAINING`` budget and both deep-input settings) over the
bench's seeds (1-5), every model through ``course_model`` (deep and Wide&Deep
come from the cache the ``branches`` section fills), each difference judged
by ``course_lib.compare``. Registered in ``benchmarks.run.SECTIONS``.
"""

from __future__ import annotations

import dataclasses
import time

import pandas as pd

from benchmarks.report import md_table, mean_std_cell, verdict_record
from course_lib.compare import mean_sd

from course_lib.crosses import GRID_MODELS as MODELS
from course_lib.crosses import PAIRS, successor_comparisons

NAMES = {"deep": "deep", "wide_deep": "Wide&Deep", "deepfm": "DeepFM", "dcn": "DCN-v2"}
LABELS = {"embeddings": "embeddings only", "statistics": "+ rating statistics"}


def crosses_comparisons(runs: pd.DataFrame) -> dict:
    """Every pair of ``course_lib.crosses.PAIRS`` in both deep-input settings: the course's verdicts."""
    return {f"{a}_minus_{b}_{inputs}": v for (a, b, inputs), v in successor_comparisons(runs).items()}


def bench_crosses(ctx) -> dict:
    """Issue 24: the learned crosses against deep and Wide&Deep, both deep-input settings."""
    from course_lib import branch_studies as studies
    from course_lib.prepare import CourseData
    from course_lib.train import TRAINING

    data = CourseData(*ctx.data)
    seeds = ctx.cfg["seeds"]
    start = time.perf_counter()
    runs, _ = studies.branch_grid(data, seeds=seeds, models=MODELS, wide_seeds=())
    seconds = time.perf_counter() - start
    summary = {f"{model}/{inputs}": {key: dict(zip(("mean", "std"), (round(v, 4) for v in mean_sd(part[key]))),
                                               n=len(part))
                                     for key in ("roc_auc", "pr_auc", "log_loss", "best_epoch")}
               for (model, inputs), part in runs.groupby(["model", "deep_inputs"], sort=False)}
    return {"dataset": ctx.data_name, "seeds": seeds, "training": dataclasses.asdict(TRAINING),
            "grid_seconds": round(seconds, 1), "runs": runs.to_dict("records"), "summary": summary,
            "comparisons": {k: verdict_record(v) for k, v in crosses_comparisons(runs).items()}}


def render_crosses(body: dict, results: dict) -> list[str]:
    s = body["summary"]
    rows = [[NAMES[m], *(mean_std_cell(s[f"{m}/{i}"]["roc_auc"]) for i in LABELS)] for m in MODELS]
    comp = []
    for key, v in body["comparisons"].items():
        inputs = next(i for i in LABELS if key.endswith(i))
        a, b = next((a, b) for a, b in PAIRS if key == f"{a}_minus_{b}_{inputs}")
        comp.append([f"{NAMES[a]} − {NAMES[b]}, deep sees {LABELS[inputs]}", f"{v['diff']:+.4f}",
                     f"{v['spread']:.4f}", f"{v['in_sd']:+.1f}", v["verdict"]])
    return [f"{body['dataset']}, `course_model(data, branches, seed=s, deep_inputs=...)` (lessons 04 and 08), "
            f"seeds {body['seeds']}; test ROC AUC, mean ± sample std.", "",
            *md_table(["Model", "deep sees embeddings only", "deep sees + rating statistics"], rows), "",
            *md_table(["Difference", "Mean", "Seed SD", "In SD", "Verdict (course_lib.compare)"], comp)]
