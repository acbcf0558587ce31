"""Smoke tests of the benchmark harness (issue #6) on tiny synthetic data.

They check the harness's shape — the JSON schema, Sparrow's architecture, the
streaming reader against the in-memory path, the report rendered from recorded
results — never a speed.

results.json schema 1, as changed by issue #9 (one ``Target`` table): every
entry of ``targets`` has the same keys (key, description, target, value,
status, margin, note, remedy), so an ``n/a`` target now carries
``"remedy": null``; ``our_wd_train_seconds`` is rounded to 4 decimals instead
of 2. Nothing was removed or renamed.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from course_lib.columns import ITEM, LABEL, RATING, SPLIT, TIMESTAMP, USER
from course_lib.features import HIST_COLUMNS, MOVIE_GENRE_COLUMNS, USER_GENRE_COLUMNS, USER_NUMERIC


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


@pytest.fixture()
def small_csv(tmp_path):
    from benchmarks import scale

    info = scale.write_synthetic_csv(tmp_path, n_users=40, n_movies=80, ratings_per_user=(5, 30), seed=2,
                                     users_per_call=15)
    return tmp_path, info


def _in_memory(folder):
    from benchmarks import scale
    from course_lib.features import build_features
    from course_lib.split import make_task

    raw = pd.read_csv(folder / "ratings.csv").rename(columns=scale.CSV_COLUMNS)
    raw = raw.astype({USER: "int64", ITEM: "int64", RATING: "float32", TIMESTAMP: "int64"})
    movies = scale.load_movies_csv(folder)
    task = make_task(raw)
    return task, build_features(task, movies), movies


def test_streaming_yields_the_in_memory_rows_and_user_features(small_csv):
    from benchmarks import scale

    folder, info = small_csv
    task, expected, movies = _in_memory(folder)
    assert info["rows"] == len(task)
    # A chunk far smaller than a user's history forces the carry-over of partial users.
    chunks = list(scale.stream_ratings(folder / "ratings.csv", chunk_rows=37))
    assert len(chunks) > 3
    assert all(not set(a[USER]) & set(b[USER]) for a, b in zip(chunks, chunks[1:]))
    streamed = pd.concat(chunks, ignore_index=True)
    pd.testing.assert_frame_equal(streamed, task[[USER, ITEM, RATING, TIMESTAMP]].reset_index(drop=True))

    feats = pd.concat(list(scale.stream_features(folder, movies, chunk_rows=37)), ignore_index=True)
    same = [USER, ITEM, TIMESTAMP, RATING, LABEL, *MOVIE_GENRE_COLUMNS, *USER_GENRE_COLUMNS, *HIST_COLUMNS,
            *USER_NUMERIC, "movie_year"]
    pd.testing.assert_frame_equal(feats[same], expected[same].reset_index(drop=True), check_dtype=False)
    assert (feats[SPLIT].astype(str).to_numpy() == expected[SPLIT].astype(str).to_numpy()).all()
    # Movie statistics are time-correct and equal too: tests/test_scale.py checks every column.


def test_streaming_rejects_a_file_not_grouped_by_user(tmp_path):
    from benchmarks import scale

    pd.DataFrame({"userId": [1, 2, 1], "movieId": [1, 2, 3], "rating": [4.0, 3.0, 5.0],
                  "timestamp": [1, 2, 3]}).to_csv(tmp_path / "ratings.csv", index=False)
    with pytest.raises(ValueError, match="not ordered by userId"):
        list(scale.stream_ratings(tmp_path, chunk_rows=2))


def test_targets_read_pass_and_miss():
    from benchmarks.run import evaluate_targets

    sections = {
        "course": {"status": "ok", "all_notebooks": True, "complete": True, "total_seconds": 300.0},
        "quality": {"status": "ok", "summary": {
            "wide": {"roc_auc": {"mean": 0.75}}, "deep": {"roc_auc": {"mean": 0.80}},
            "wide_deep": {"roc_auc": {"mean": 0.81}}}},
        "latency": {"status": "ok", "p50_ms": 12.0},
        "branches": {"status": "ok", "comparisons": {"wd_minus_deep_embeddings": {
            "verdict": "not distinguishable", "text": "+0.0030 (+1.5 SD): not distinguishable"}}},
        "ranking": {"status": "ok", "popularity": {"hr@10": 0.3, "ndcg@10": 0.1},
                    "summary": {"wide_deep": {"hr@10": {"mean": 0.45}, "ndcg@10": {"mean": 0.12}}}, "verdicts": {"wide_deep_vs_deep_hr@10_seeds": {
            "verdict": "better", "text": "+0.0200 (+2.5 SD): better"}}},
    }
    targets = {t["key"]: t for t in evaluate_targets({"sections": sections})}
    assert targets["course_total_s"]["status"] == "MISS" and targets["course_total_s"]["margin"] == -60.0
    # Verdict targets quote course_lib.compare's word, and its figure as the note.
    assert targets["wd_vs_embedding_deep"]["status"] == "MISS"
    assert targets["wd_vs_embedding_deep"]["note"] == "+0.0030 (+1.5 SD): not distinguishable"
    assert targets["implicit_wide_gain"]["status"] == "PASS" and targets["implicit_wide_gain"]["value"] == "better"
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
    results["sections"]["course"]["total_seconds"] = 300.0
    results["sections"]["extra"] = {"status": "ok", "answer": 42}
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
    assert headings == ["## Machine", "## Targets", *(f"## {n}. {t}" for n, t in numbered)]
    assert numbered[:6] == [(1, "Course runtime"), (2, "Training speed"), (3, "Recommendation latency"),
                            (4, "Quality"), (5, "Sparrow RecSys baseline"), (6, "Scale path (streaming)")]
    assert "## 4. Quality\n\nSection failed: `ValueError: boom`\n" in md
    assert "## 3. Recommendation latency\n\nSkipped (no model).\n" in md
    assert "## 2. Training speed\n\nNot run.\n" in md
    assert f"## {extra}. Extra\n\nThe answer is 42.\n" in md
    assert "| whole course (all notebooks, cold kernels) | 300.0 s | <= 240 s | **MISS** | 60.0 s over |" in md
    assert "| W&D test ROC AUC (mean over seeds) | — | >= 0.79 | **n/a** |  — not measured in this run |" in md
    assert "| the answer | 42.0000 | >= 50 | **MISS** | 8.0000 short |" in md
    assert "- *the answer*: Ask again." in md
    slow = max(results["sections"]["course"]["notebooks"], key=lambda r: r["seconds"])
    share = slow["seconds"] / results["sections"]["course"]["total_seconds"]
    assert (f"The slowest notebook is {slow['notebook']} ({slow['seconds']:.0f} s, {share:.0%} of the total): "
            "Cut epochs") in md


def test_branch_comparisons_are_the_rules_verdicts():
    """make bench's 2 x 2 comparisons come from course_lib.compare, the helper the lessons use."""
    import pandas as pd

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
