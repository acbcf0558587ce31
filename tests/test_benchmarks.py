"""Smoke tests of the benchmark harness (issue #6) on tiny synthetic data.

They check the harness's shape — the JSON schema, Sparrow's architecture, the
report rendered from recorded results — never a speed (the streaming path
itself is tested in ``tests/test_scale.py``).

results.json schema 1, as changed by issue #9 (one ``Target`` table): every
entry of ``targets`` has the same keys (key, description, target, value,
status, margin, note, remedy), so an ``n/a`` target now carries
``"remedy": null``; ``our_wd_train_seconds`` is rounded to 4 decimals instead
of 2. Issue #22 added, without removing or renaming anything: ``calibration``
(the yardstick's passes and the reference), the target keys ``measured``,
``spread`` and ``calibration`` (None for a target that is not a time), per-epoch
and per-pass timings, and the kernel CPU seconds of each notebook. A time
target's ``value`` is now its calibrated value.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from course_lib.columns import ITEM, USER


def test_sparrow_has_the_stated_architecture(synthetic_features):
    import keras

    from benchmarks import sparrow

    feats, spec = synthetic_features
    model = sparrow.build_sparrow(spec)
    layers = {layer.name: layer for layer in model.layers}

    expected_inputs = {USER, ITEM, "hist_movie_1", *sparrow.GENRE_COLUMNS, *sparrow.NUMERIC.values()}
    assert {t.name for t in model.inputs} == expected_inputs
    assert len(sparrow.NUMERIC) == 7
    # One embedding table of dim 10 per genre feature, plus movie and user ids.
    embeddings = [l for l in model.layers if isinstance(l, keras.layers.Embedding)]
    assert sorted(l.name for l in embeddings) == sorted(
        [f"{c}_embedding" for c in sparrow.GENRE_COLUMNS] + ["movie_embedding", "user_embedding"])
    assert all(l.output_dim == 10 for l in embeddings)
    # Raw numeric features: nothing normalises them.
    assert not any(isinstance(l, keras.layers.Normalization) for l in model.layers)
    assert [layers[f"deep_dense_{i}"].units for i in range(2)] == [128, 128]
    assert all(layers[f"deep_dense_{i}"].activation.__name__ == "relu" for i in range(2))
    cross = layers["movie_x_rated_movie"]
    assert isinstance(cross, keras.layers.HashedCrossing)
    assert cross.num_bins == 10_000 and cross.output_mode == "one_hot"
    assert layers["wide_deep"].output.shape[-1] == 128 + 10_000
    out = layers["output"]
    assert out.units == 1 and out.activation.__name__ == "sigmoid"

    rows = feats.head(16)
    x = sparrow.sparrow_inputs(rows)
    # Sparrow feeds raw counts: the log1p of course_lib's features is undone.
    np.testing.assert_allclose(x["movie_rating_count"], np.expm1(rows["movie_rating_count"].to_numpy()), rtol=1e-5)
    probs = np.asarray(model.predict_on_batch(x))
    assert probs.shape == (16, 1) and np.all((probs >= 0) & (probs <= 1))


def test_targets_read_pass_and_miss():
    from benchmarks.run import evaluate_targets

    sections = {
        "course": {"status": "ok", "all_notebooks": True, "complete": True, "total_seconds": 360.0},
        "quality": {"status": "ok", "summary": {
            "wide": {"roc_auc": {"mean": 0.75}}, "deep": {"roc_auc": {"mean": 0.80}},
            "wide_deep": {"roc_auc": {"mean": 0.81}}}},
        "latency": {"status": "ok", "p50_ms": 12.0},
        "branches": {"status": "ok", "comparisons": {"wd_minus_deep_embeddings": {
            "verdict": "not distinguishable", "text": "+0.0030 (+1.5 SD): not distinguishable"}}},
        "ranking": {"status": "ok", "popularity": {"hr@10": 0.3, "ndcg@10": 0.1},
                    "summary": {"wide_deep": {"hr@10": {"mean": 0.45}, "ndcg@10": {"mean": 0.12}}},
                    "best_two_stage": {"hr@10": {"mean": 0.42}, "ndcg@10": {"mean": 0.14}},
                    "verdicts": {"wide_deep_vs_deep_hr@10_seeds": {"verdict": "better",
                                                                   "text": "+0.0200 (+2.5 SD): better"},
                                 "best_vs_retrieval_alone": {"verdict": "not distinguishable", "text": "hr@10 ..."}}},
    }
    targets = {t["key"]: t for t in evaluate_targets({"sections": sections})}
    assert targets["course_total_s"]["status"] == "MISS" and targets["course_total_s"]["margin"] == -60.0
    # Verdict targets quote course_lib.compare's word, and its figure as the note.
    assert targets["wd_vs_embedding_deep"]["status"] == "MISS"
    assert targets["wd_vs_embedding_deep"]["note"] == "+0.0030 (+1.5 SD): not distinguishable"
    assert targets["implicit_wide_gain"]["status"] == "PASS" and targets["implicit_wide_gain"]["value"] == "better"
    # The ratios read the best two-stage system (chosen on validation), not the implicit W&D.
    assert targets["two_stage_hr_ratio"]["value"] == 1.4 and targets["two_stage_ndcg_ratio"]["value"] == 1.4
    assert targets["best_two_stage_vs_retrieval"]["status"] == "MISS"
    assert targets["wd_auc"]["status"] == "PASS"
    assert targets["top10_p50_ms"]["status"] == "PASS"
    assert targets["examples_per_s"]["status"] == "n/a"
    assert targets["course_total_s"]["remedy"].startswith("Cut epochs")  # no notebook rows: no slowest one
    assert targets["examples_per_s"]["remedy"] is None and targets["examples_per_s"]["margin"] is None


@pytest.mark.slow
def test_harness_writes_results_with_the_schema(tmp_path):
    from benchmarks import run

    rc = run.main(["--quick", "--dataset", "synthetic", "--only", "latency", "sparrow", "scale",
                   "--scale-users", "40", "--output-dir", str(tmp_path)])
    assert rc == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["schema"] == run.SCHEMA_VERSION
    for key in ("cpu", "cores", "ram_gb", "os", "python", "tensorflow", "keras", "date", "load_start", "load_end"):
        assert key in results["machine"], key
    assert results["config"]["mode"] == "quick"
    assert set(results["sections"]) == {"latency", "sparrow", "scale"}
    for name, sec in results["sections"].items():
        assert sec["status"] == "ok", (name, sec.get("error"))
        assert sec["seconds"] >= 0
    lat = results["sections"]["latency"]
    assert {"p50_ms", "p95_ms", "catalogue", "score_pairs_per_s_batched"} <= set(lat)
    sp = results["sections"]["sparrow"]
    assert {"roc_auc", "pr_auc", "log_loss"} <= set(sp["test"]) and sp["batch_size"] == 12
    sc = results["sections"]["scale"]
    assert sc["rows"] > 0 and sc["train_rows"] > 0 and sc["replicas"] == 1
    assert {"read_featurize_rows_per_s", "train_examples_per_s"} <= set(sc)
    assert [t["key"] for t in results["targets"]] == [t.key for t in run.TARGETS]
    assert all(t["status"] in {"PASS", "MISS", "n/a"} for t in results["targets"])
    md = (tmp_path / "RESULTS.md").read_text()
    assert "## Targets" in md and "## 5. Sparrow RecSys baseline" in md and "Load average" in md


BENCH_DIR = Path(__file__).resolve().parent.parent / "benchmarks"


def test_render_only_reproduces_the_committed_report(tmp_path):
    from benchmarks import run

    shutil.copy(BENCH_DIR / "results.json", tmp_path / "results.json")
    assert run.main(["--render-only", "--output-dir", str(tmp_path)]) == 0
    assert (tmp_path / "RESULTS.md").read_text() == (BENCH_DIR / "RESULTS.md").read_text(), (
        "benchmarks/RESULTS.md is not what benchmarks/results.json renders to: after changing a target or a "
        "renderer, run `python -m benchmarks.run --render-only` and commit both files")


def test_render_only_needs_a_results_file(tmp_path):
    from benchmarks import run

    with pytest.raises(SystemExit, match="does not exist: run `python -m benchmarks.run` first"):
        run.main(["--render-only", "--output-dir", str(tmp_path)])
    (tmp_path / "results.json").write_text('{"schema": 0}')
    with pytest.raises(SystemExit, match="has schema 0"):
        run.main(["--render-only", "--output-dir", str(tmp_path)])


def test_a_target_reads_formats_and_judges_its_value():
    from benchmarks.run import MILLISECONDS, RATE, Reading, Target

    latency = Target("p50", "p50 latency", "<=", 20, MILLISECONDS, lambda r: r["v"], "cache it")
    assert latency.goal == "<= 20 ms"
    at_goal = latency.evaluate({"v": 20.0})
    assert at_goal["status"] == "PASS" and at_goal["margin"] == 0 and at_goal["remedy"] is None
    over = latency.evaluate({"v": 30.62})
    assert over["status"] == "MISS" and over["remedy"] == "cache it"
    assert (latency.format_value(over["value"]), latency.format_margin(over)) == ("30.6 ms", "10.6 ms over")
    assert latency.evaluate({"v": None})["status"] == "n/a"

    rate = Target("eps", "examples/s", ">=", 150_000, RATE, lambda r: Reading(128447.6, "noisy"), "faster",
                  remedy_detail=lambda r: "Step-bound: ")
    entry = rate.evaluate({})
    assert rate.goal == ">= 150,000" and entry["note"] == "noisy" and entry["remedy"] == "Step-bound: faster"
    assert rate.format_margin(entry) == "21,552/s short (0.86x of target)"
    with pytest.raises(ValueError, match="direction"):
        Target("x", "x", ">", 1, RATE, lambda r: 1, "")


def test_sections_and_targets_are_each_defined_once():
    from benchmarks import run

    assert len({s.name for s in run.SECTIONS}) == len(run.SECTIONS)
    assert sorted(s.number for s in run.SECTIONS) == list(range(1, len(run.SECTIONS) + 1))
    assert len({t.key for t in run.TARGETS}) == len(run.TARGETS)
    assert run.parse_args(["--only", *run.SECTION_NAMES]).only == list(run.SECTION_NAMES)


def test_report_renders_failed_skipped_and_missing_sections_and_new_entries(monkeypatch):
    from benchmarks import run

    results = json.loads((BENCH_DIR / "results.json").read_text())
    results["sections"]["quality"] = {"status": "error", "error": "ValueError: boom"}
    results["sections"]["latency"] = {"status": "skipped", "reason": "no model"}
    del results["sections"]["training"]
    results["sections"]["course"]["total_seconds"] = 360.0
    results["sections"]["extra"] = {"status": "ok", "answer": 42}
    results.pop("calibration", None)  # judged on the measured values (a run that predates the calibration)
    # What another agent adds: one Section and one Target, nothing else.
    extra = max(sec.number for sec in run.SECTIONS) + 1
    monkeypatch.setattr(run, "SECTIONS", run.SECTIONS + (run.Section(
        "extra", extra, "Extra", lambda ctx: {}, lambda body, res: [f"The answer is {body['answer']}."]),))
    monkeypatch.setattr(run, "TARGETS", run.TARGETS + (run.Target(
        "answer", "the answer", ">=", 50, run.SCORE, run.section_value("extra", "answer"), "Ask again."),))
    results["targets"] = run.evaluate_targets(results)
    md = run.render_markdown(results)

    headings = [line for line in md.splitlines() if line.startswith("## ")]
    numbered = sorted((sec.number, sec.title) for sec in run.SECTIONS)
    notes = ["## Notes"] if results.get("notes") else []
    assert headings == ["## Machine", "## Targets", "## Calibration", *(f"## {n}. {t}" for n, t in numbered), *notes]
    assert numbered[:6] == [(1, "Course runtime"), (2, "Training speed"), (3, "Recommendation latency"),
                            (4, "Quality"), (5, "Sparrow RecSys baseline"), (6, "Scale path (streaming)")]
    assert "## 4. Quality\n\nSection failed: `ValueError: boom`\n" in md
    assert "## 3. Recommendation latency\n\nSkipped (no model).\n" in md
    assert "## 2. Training speed\n\nNot run.\n" in md
    assert f"## {extra}. Extra\n\nThe answer is 42.\n" in md
    # A time target: the judged value, then the value measured here (the same without a calibration).
    assert "| whole course (all notebooks, cold kernels) | 360.0 s | 360.0 s | <= 300 s | **MISS** | 60.0 s over" in md
    assert "| W&D test ROC AUC (mean over seeds) | — |  | >= 0.79 | **n/a** |  — not measured in this run |" in md
    assert "| the answer | 42.0000 |  | >= 50 | **MISS** | 8.0000 short |" in md
    assert "- *the answer*: Ask again." in md
    slow = max(results["sections"]["course"]["notebooks"], key=lambda r: r["seconds"])
    share = slow["seconds"] / results["sections"]["course"]["total_seconds"]
    assert (f"The slowest notebook is {slow['notebook']} ({slow['seconds']:.0f} s, {share:.0%} of the total): "
            "Cut epochs") in md


def test_branch_comparisons_are_the_rules_verdicts():
    """make bench's 2 x 2 comparisons come from course_lib.compare, the helper the lessons use."""
    from benchmarks.run import branch_comparisons, verdict_record

    rows = [{"model": m, "deep_inputs": d, "seed": s, "roc_auc": base + 0.001 * s}
            for (m, d, base) in (("deep", "embeddings", 0.70), ("wide_deep", "embeddings", 0.75),
                                 ("deep", "statistics", 0.80), ("wide_deep", "statistics", 0.8005))
            for s in (1, 2, 3)]
    rows += [{"model": "ensemble", "deep_inputs": d, "seed": s, "roc_auc": base + 0.001 * s}
             for d, base in (("embeddings", 0.76), ("statistics", 0.80)) for s in (1, 2, 3)]
    c = {k: verdict_record(v) for k, v in branch_comparisons(pd.DataFrame(rows)).items()}
    assert c["wd_minus_ensemble_embeddings"]["verdict"] == "worse"
    assert c["wd_minus_ensemble_statistics"]["verdict"] == "not distinguishable"
    assert c["wd_minus_deep_embeddings"]["verdict"] == "better"
    assert c["wd_minus_deep_statistics"]["verdict"] == "not distinguishable"
    assert c["statistics_gain_deep"]["in_sd"] == 100.0 and c["statistics_gain_deep"]["method"] == "seeds"


# ------------------------------------------------ calibration (issue 22) ---

def _passes(sections, train, score):
    """Calibration passes: one before the first section, one after each (kernel times in seconds)."""
    return [{"after": after, "train": t, "score": s, "seconds": 2.0}
            for after, t, s in zip([None, *sections], train, score)]


def test_calibration_arithmetic():
    from benchmarks import calibration as C

    # A machine twice as slow as the reference: factor 0.5; its 20 ms is the reference's 10 ms,
    # its 100,000 examples/s the reference's 200,000.
    assert C.factor({"train": 0.1}, {"train": 0.2}, "train") == 0.5
    assert C.calibrate(20.0, 0.5) == 10.0 and C.calibrate(100_000, 0.5, rate=True) == 200_000
    assert C.calibrate(20.0, None) == 20.0  # no reference: the measured value
    assert C.factor(None, {"train": 0.2}, "train") is None and C.factor({"train": 0.1}, None, "train") is None
    assert C.in_kernel_units(20.0, 0.5) == 40.0 and C.in_kernel_units(100.0, 0.5, rate=True) == 50.0
    # The run's kernel time: the median over every repetition of every pass (one slow pass moves it little).
    passes = [{"after": None, "train": 0.2, "train_samples": [0.1, 0.2, 0.3], "score": 1.0, "score_samples": [1.0]},
              {"after": "course", "train": 9.0, "train_samples": [9.0, 9.0, 9.0], "score": 3.0, "score_samples": [3.0]},
              {"after": "training", "train": 0.25, "train_samples": [0.2, 0.25, 0.3], "score": 2.0}]
    run = C.run_level(passes)
    assert run["train"]["median"] == 0.3 and (run["train"]["min"], run["train"]["max"]) == (0.2, 9.0)
    assert run["score"]["median"] == 2.0 and run["score"]["passes"] == 3  # a pass without samples: its median
    assert (run["train"]["q1"], run["train"]["q3"]) == (0.2, 9.0)
    s = C.spread([1, 2, 3, 4, 100])
    assert (s["median"], s["min"], s["max"], s["n"], s["q1"], s["q3"]) == (3, 1, 100, 5, 2, 4)


def test_time_targets_are_judged_on_the_calibrated_value():
    from benchmarks.run import MILLISECONDS, RATE, Reading, Target, Timing

    latency = Target("p50", "p50", "<=", 20, MILLISECONDS, lambda r: Reading(30.0, spread={"n": 3}), "cache it",
                     timing=Timing("score", unit_s=0.001))
    rate = Target("eps", "examples/s", ">=", 150_000, RATE, lambda r: 100_000.0, "faster",
                  timing=Timing("train", rate=True))
    sections = ["training", "latency"]
    # This machine runs the yardstick twice as slowly as the reference machine.
    slow = {"config": {"sections": sections},
            "calibration": {"reference": {"train": 0.1, "score": 0.01},
                            "passes": _passes(sections, [0.2, 0.2, 0.2], [0.02, 0.02, 0.02])}}
    e = latency.evaluate(slow)
    assert (e["status"], e["value"], e["measured"], e["margin"]) == ("PASS", 15.0, 30.0, 5.0)
    assert e["calibration"] == {"kernel": "score", "passes_from": "run", "passes": 3, "kernel_s": 0.02,
                                "reference_s": 0.01, "factor": 0.5, "in_kernel_units": 1.5, "calibrated": 15.0}
    assert e["spread"] == {"n": 3} and e["remedy"] is None
    e = rate.evaluate(slow)
    assert (e["status"], e["value"], e["measured"]) == ("PASS", 200_000.0, 100_000.0)
    # The same figures on a machine as fast as the reference: both miss.
    same = {**slow, "calibration": {**slow["calibration"],
                                    "passes": _passes(sections, [0.1, 0.1, 0.1], [0.01, 0.01, 0.01])}}
    assert [t.evaluate(same)["status"] for t in (latency, rate)] == ["MISS", "MISS"]
    assert latency.evaluate(same)["remedy"] == "cache it"
    # No reference (or a run without calibration): judged on the measured value.
    for results in ({**slow, "calibration": {**slow["calibration"], "reference": None}}, {"sections": {}}):
        e = latency.evaluate(results)
        assert (e["status"], e["value"], e["measured"], e["calibration"]["factor"]) == ("MISS", 30.0, 30.0, None)
    # A figure that is not a time has no calibration.
    assert Target("x", "x", ">=", 1, RATE, lambda r: 2.0, "").evaluate(slow)["calibration"] is None


def test_course_budgets_are_time_targets_of_the_course_section():
    from benchmarks import run

    by_key = {t.key: t for t in run.TARGETS}
    timed = {k: (t.timing.kernel, t.timing.rate, t.timing.unit_s, t.timing.section) for k, t in by_key.items()
             if t.timing}
    assert timed == {"course_total_s": ("train", False, 1, "course"), "slowest_lesson_s": ("train", False, 1, "course"),
                     "examples_per_s": ("train", True, 1, None), "top10_p50_ms": ("score", False, 0.001, None),
                     "two_stage_p50_ms": ("score", False, 0.001, None)}
    assert by_key["slowest_lesson_s"].threshold == 120 and by_key["slowest_lesson_s"].direction == "<="
    notebooks = [{"notebook": "00_a.ipynb", "seconds": 50.0, "ok": True},
                 {"notebook": "04_b.ipynb", "seconds": 130.0, "ok": True}]
    sections = {"course": {"status": "ok", "all_notebooks": True, "complete": True, "total_seconds": 180.0,
                           "notebooks": notebooks}}
    results = {"sections": sections, "config": {"sections": ["course"]},
               "calibration": {"reference": {"train": 0.09, "score": 0.01},
                               "passes": _passes(["course"], [0.1, 0.1], [0.01, 0.01])}}
    entries = {e["key"]: e for e in run.evaluate_targets(results)}
    assert entries["slowest_lesson_s"]["status"] == "PASS" and entries["slowest_lesson_s"]["value"] == 117.0
    assert entries["slowest_lesson_s"]["note"] == "04_b.ipynb" and entries["slowest_lesson_s"]["measured"] == 130.0
    assert entries["course_total_s"]["value"] == 162.0
    # With passes timed inside the course (the machine in a slow spell while the lessons ran: 0.18 s
    # against the run's 0.1 s), those calibrate the course, and only the course.
    sections["course"]["calibration_passes"] = [{"after": a, "train": 0.18, "score": 0.05}
                                                for a in ("start", "00_a.ipynb", "04_b.ipynb")]
    entries = {e["key"]: e for e in run.evaluate_targets(results)}
    assert entries["course_total_s"]["value"] == 90.0 and entries["slowest_lesson_s"]["value"] == 65.0
    assert (entries["course_total_s"]["calibration"]["passes_from"], entries["course_total_s"]["calibration"]["passes"],
            entries["course_total_s"]["calibration"]["kernel_s"]) == ("course", 3, 0.18)
    latency = next(t for t in run.TARGETS if t.key == "top10_p50_ms")
    assert latency.evaluate({**results, "sections": {**sections, "latency": {"status": "ok", "p50_ms": 10.0}}}
                            )["calibration"]["passes_from"] == "run"
    assert "passes: before the first notebook and after each" in "\n".join(run._course_passes(sections["course"]))


def test_stability_compares_the_calibrated_time_targets_of_two_runs(tmp_path, capsys):
    from benchmarks import calibration

    def entry(key, measured, calibrated):
        return {"key": key, "measured": measured, "value": calibrated, "calibration": {"factor": calibrated / measured}}

    old = {"targets": [entry("course_total_s", 450.0, 440.0), entry("top10_p50_ms", 12.0, 11.0),
                       {"key": "wd_auc", "value": 0.8, "calibration": None}]}
    new = {"targets": [entry("course_total_s", 500.0, 490.0), entry("top10_p50_ms", 11.0, 10.0),
                       {"key": "wd_auc", "value": 0.8, "calibration": None}]}
    rows = {r["key"]: r for r in calibration.stability(old, new)}
    assert set(rows) == {"course_total_s", "top10_p50_ms"}  # not a time target: left out
    assert rows["course_total_s"]["change"] == pytest.approx(490 / 440 - 1, abs=1e-4) and not rows["course_total_s"]["ok"]
    assert rows["top10_p50_ms"]["ok"] and rows["top10_p50_ms"]["measured"] == (12.0, 11.0)
    assert [r["ok"] for r in calibration.stability(old, new, tolerance=0.2)] == [True, True]
    paths = []
    for name, results in (("old.json", old), ("new.json", new)):
        paths.append(tmp_path / name)
        paths[-1].write_text(json.dumps(results))
    assert calibration.main([str(p) for p in paths]) == 1
    assert "moved: ['course_total_s']" in capsys.readouterr().out
    assert calibration.main([str(p) for p in paths] + ["--tolerance", "0.2"]) == 0


def test_repeated_timings_feed_the_targets():
    from benchmarks import run

    rows = [{"model": "wide_deep", "prefetch": True, "examples_per_s": 1.0, "epoch_examples_per_s": [10, 30]},
            {"model": "wide_deep", "prefetch": True, "examples_per_s": 1.0, "epoch_examples_per_s": [20, 40, 50]},
            {"model": "wide_deep", "prefetch": False, "examples_per_s": 7.0},  # a run without per-epoch figures
            {"model": "deep", "prefetch": True, "examples_per_s": 99.0, "epoch_examples_per_s": [99]}]
    assert run.wd_epochs(rows, True) == [10, 30, 20, 40, 50] and run.wd_epochs(rows, False) == [7.0]
    reading = run._wd_examples_per_s({"sections": {"training": {"status": "ok", "rows": rows}}})
    assert reading.value == 30 and reading.spread["n"] == 5

    built = []

    class FakeRecommender:
        def __init__(self):
            self.calls = []
            built.append(self)

        def recommend(self, user, k):
            self.calls.append(user)

    passes = run.request_times(FakeRecommender, [3, 1, 2], passes=3)
    assert len(passes) == 3 and all(len(p) == 3 for p in passes)
    # Each pass on a fresh recommender, warmed up by one untimed call.
    assert len(built) == 3 and all(r.calls == [3, 3, 1, 2] for r in built)
    summary = run.latency_summary([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]], "x_")
    assert summary["x_p50_ms"] == 6.5 and summary["x_p50_ms_passes"] == [2.0, 20.0] and summary["x_max_ms"] == 30


def test_the_yardstick_runs_without_course_code():
    import ast
    import inspect

    from benchmarks import calibration

    tree = ast.parse(inspect.getsource(calibration))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(m.split(".")[0] in ("course_lib", "benchmarks") for m in imported), imported
    p = calibration.measure_pass()
    assert p["train"] > 0 and p["score"] > 0
    assert len(p["train_samples"]) == calibration.TRAIN_REPEATS and len(p["score_samples"]) == calibration.SCORE_REPEATS
    assert p["train"] == pytest.approx(float(np.median(p["train_samples"])), rel=1e-3)


def test_set_reference_makes_a_run_the_reference(tmp_path, monkeypatch):
    from benchmarks import calibration, run

    monkeypatch.setattr(calibration, "REFERENCE", tmp_path / "calibration_reference.json")
    results = json.loads((BENCH_DIR / "results.json").read_text())
    names = ["course", "training", "latency"]
    results["sections"] = {k: v for k, v in results["sections"].items() if k in names}
    results["config"]["sections"] = names
    results["calibration"] = {"workload_version": calibration.WORKLOAD_VERSION, "kernels": calibration.KERNEL_TEXT,
                              "reference": None, "passes": _passes(names, [0.1, 0.3, 0.1, 0.1],
                                                                    [0.01, 0.01, 0.01, 0.01])}
    results.pop("targets", None)
    (tmp_path / "results.json").write_text(json.dumps(results))
    assert run.main(["--render-only", "--output-dir", str(tmp_path)]) == 0
    before = {e["key"]: e for e in json.loads((tmp_path / "results.json").read_text())["targets"]}
    assert before["course_total_s"]["value"] == before["course_total_s"]["measured"]  # no reference yet
    assert run.main(["--render-only", "--set-reference", "--output-dir", str(tmp_path)]) == 0
    reference = json.loads(calibration.REFERENCE.read_text())
    assert calibration.load_reference() == reference
    assert (reference["train"], reference["score"], reference["passes"]) == (0.1, 0.01, 4)
    after = {e["key"]: e for e in json.loads((tmp_path / "results.json").read_text())["targets"]}
    # The reference is this run itself: factor 1, judged on the measured value, in kernel units too.
    course = after["course_total_s"]
    assert course["calibration"]["factor"] == 1.0 and course["value"] == course["measured"]
    assert course["calibration"]["passes_from"] == "course"  # the course's own passes, here and in the reference
    assert course["calibration"]["in_kernel_units"] == pytest.approx(course["measured"] / course["calibration"]["kernel_s"],
                                                                     abs=1e-3)
    latency = after["top10_p50_ms"]
    assert latency["calibration"]["passes_from"] == "run" and latency["calibration"]["factor"] == 1.0
    # A later run on a machine whose yardstick is twice as slow: its times are halved before judging.
    results = json.loads((tmp_path / "results.json").read_text())
    for p in results["calibration"]["passes"] + results["sections"]["course"]["calibration_passes"]:
        p["train"] *= 2
        if "train_samples" in p:
            p["train_samples"] = [2 * t for t in p["train_samples"]]
    results["calibration"]["reference"] = calibration.load_reference()
    assert reference["sections"]["course"]["passes"] == len(results["sections"]["course"]["calibration_passes"])
    slower = {e["key"]: e for e in run.evaluate_targets(results)}["course_total_s"]
    assert slower["calibration"]["factor"] == 0.5 and slower["value"] == pytest.approx(course["measured"] / 2)
    md = (tmp_path / "RESULTS.md").read_text()
    assert "## Calibration" in md and "Reference machine:" in md and "| Time target | Measured here |" in md
    # Another workload version: the reference no longer applies.
    calibration.REFERENCE.write_text(json.dumps({**reference, "workload_version": -1}))
    assert calibration.load_reference() is None


def test_a_full_run_shares_one_empty_model_cache_and_leaves_the_users_alone(tmp_path, monkeypatch):
    """The course section starts from an empty cache and later sections reuse it; without the
    course section (``--only``) the user's cache is used; either way the setting is restored."""
    import os

    from benchmarks import run
    from course_lib.train import MODEL_CACHE_ENV, model_cache_dir

    monkeypatch.setenv(MODEL_CACHE_ENV, str(tmp_path / "users-cache"))
    with run.run_model_cache(fresh=True):
        folder = model_cache_dir()
        assert folder != tmp_path / "users-cache" and folder.is_dir() and not any(folder.iterdir())
        (folder / "a-model").mkdir()  # what the lessons leave for the later sections
        with pytest.raises(RuntimeError, match="needs an empty model cache"):
            run.bench_course(None)
    assert not folder.exists() and os.environ[MODEL_CACHE_ENV] == str(tmp_path / "users-cache")
    with run.run_model_cache(fresh=False):
        assert model_cache_dir() == tmp_path / "users-cache"
    monkeypatch.delenv(MODEL_CACHE_ENV)
    with run.run_model_cache(fresh=True):
        assert MODEL_CACHE_ENV in os.environ
    assert MODEL_CACHE_ENV not in os.environ


# ------------------------------------------------------------- cell times ---

def test_cell_seconds_reads_each_executed_cells_timestamps():
    import nbformat

    from benchmarks.cell_times import cell_seconds

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# title"),
                                         nbformat.v4.new_code_cell("train()\nmore()"),
                                         nbformat.v4.new_code_cell("not run")])
    nb.cells[1].metadata["execution"] = {"iopub.execute_input": "2026-12-07T09:00:00.250Z",
                                         "shell.execute_reply": "2026-12-07T09:00:03.750Z"}
    assert cell_seconds(nb) == [(1, 3.5, "train()")]  # the markdown and the unexecuted cell have no time


@pytest.mark.slow
def test_cell_times_runs_a_notebook_and_ranks_its_cells(tmp_path, capsys):
    import nbformat

    from benchmarks import cell_times

    path = tmp_path / "nb.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                                   nbformat.v4.new_code_cell("import time\ntime.sleep(0.6)")]), path)
    total, cells = cell_times.time_cells(path)
    assert [c[0] for c in cells] == [0, 1] and cells[1][1] >= 0.6 > cells[0][1] and total >= 0.6
    assert cell_times.main([str(path), "--top", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("nb.ipynb: ") and len(out) == 2 and "import time" in out[1]
    assert nbformat.read(path, as_version=4).cells[1].get("outputs") == []  # nothing written back


def test_lesson_times_quote_the_calibrated_run(tmp_path):
    """A bench run on a machine twice as slow as the reference quotes half its wall times."""
    import json

    from benchmarks.lesson_times import measured_seconds

    course = {"notebooks": [{"notebook": "04_x.ipynb", "seconds": 120.0, "ok": True},
                            {"notebook": "05_x.ipynb", "seconds": 9.0, "ok": False}]}
    body = {"sections": {"course": course},
            "targets": [{"key": "course_total_s", "calibration": {"factor": 0.5}}]}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(body))
    assert measured_seconds(path) == {"04_x.ipynb": 60.0}
    body["targets"] = []  # no calibration: as measured
    path.write_text(json.dumps(body))
    assert measured_seconds(path) == {"04_x.ipynb": 120.0}
