"""Smoke tests of the benchmark harness (issue #6) on tiny synthetic data.

They check the harness's shape — the JSON schema, Sparrow's architecture, the
streaming reader against the in-memory path — never a speed.
"""

import json

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
    }
    targets = {t["key"]: t for t in evaluate_targets(sections)}
    assert targets["course_total_s"]["status"] == "MISS" and targets["course_total_s"]["margin"] == -60.0
    assert targets["wd_minus_best_branch"]["status"] == "PASS"
    assert targets["wd_auc"]["status"] == "PASS"
    assert targets["top10_p50_ms"]["status"] == "PASS"
    assert targets["examples_per_s"]["status"] == "n/a"
    assert targets["course_total_s"]["remedy"]


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
    assert [t["key"] for t in results["targets"]] == [k for k, _, _ in run.TARGETS]
    assert all(t["status"] in {"PASS", "MISS", "n/a"} for t in results["targets"])
    md = (tmp_path / "RESULTS.md").read_text()
    assert "## Targets" in md and "## 5. Sparrow RecSys baseline" in md and "Load average" in md
