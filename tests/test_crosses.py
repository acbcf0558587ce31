"""Lesson 08's learned crosses: the FM pair term, the DCN-v2 cross layer, the two models,
their .keras round trip, the course's training path and the branch explorer's switches."""

from itertools import combinations

import numpy as np
import pytest

from course_lib.columns import SPLIT


def test_fm_pair_term_is_the_sum_over_pairs_of_fields():
    from course_lib.crosses import FMInteraction

    rng = np.random.default_rng(0)
    fields = rng.normal(size=(6, 5, 4)).astype("float32")  # 6 rows, 5 fields, 4 factors
    explicit = np.array([sum(float(row[i] @ row[j]) for i, j in combinations(range(5), 2)) for row in fields])
    np.testing.assert_allclose(np.asarray(FMInteraction()(fields)), explicit, rtol=1e-5, atol=1e-5)


def test_cross_layer_matches_numpy_on_the_same_weights():
    from course_lib.crosses import CrossLayer

    rng = np.random.default_rng(1)
    x0 = rng.normal(size=(7, 6)).astype("float32")
    first, second = CrossLayer(), CrossLayer()
    second(x0, first(x0, x0))  # builds the weights
    for layer in (first, second):
        layer.bias.assign(rng.normal(size=6).astype("float32"))  # non-zero bias: the check covers it
    x2 = np.asarray(second(x0, first(x0, x0)))
    expected = x0
    for layer in (first, second):
        kernel, bias = (np.asarray(v, dtype=np.float64) for v in (layer.kernel, layer.bias))
        expected = x0 * (expected @ kernel + bias) + expected  # x_{l+1} = x0 * (W x_l + b) + x_l
    np.testing.assert_allclose(x2, expected, rtol=1e-5, atol=1e-5)


def test_a_cross_layer_with_zero_weights_is_the_identity():
    from course_lib.crosses import CrossLayer

    x0 = np.arange(12, dtype="float32").reshape(3, 4)
    layer = CrossLayer()
    layer(x0, x0)
    layer.kernel.assign(np.zeros((4, 4), "float32"))
    np.testing.assert_array_equal(np.asarray(layer(x0, x0)), x0)


@pytest.fixture(scope="module")
def trained(synthetic_features):
    """DeepFM and DCN-v2 trained 2 epochs on the synthetic world (deep on its statistics)."""
    from course_lib.models import build_wide_deep
    from course_lib.train import train_model

    feats, spec = synthetic_features
    return {name: train_model(build_wide_deep(spec, name, seed=1), feats, spec, epochs=2, batch_size=256,
                              seed=1).model for name in ("deepfm", "dcn")}


@pytest.mark.parametrize("name", ["deepfm", "dcn"])
def test_branch_logits_add_up_and_the_model_round_trips(trained, synthetic_features, tmp_path, name):
    import keras

    from course_lib.train import model_inputs, predict

    feats, spec = synthetic_features
    model = trained[name]
    test = feats[feats[SPLIT] == "test"]
    p = predict(model, test, spec)
    a, b = (np.asarray(v, np.float64) for v in model.branch_logits(model_inputs(test, spec)))
    np.testing.assert_allclose(1 / (1 + np.exp(-(a + b))), p, rtol=1e-5, atol=1e-6)
    assert np.std(a) > 0 and np.std(b) > 0  # both branches learned something
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert type(again).__name__ == "CrossDeep" and again.branch_names == model.branch_names
    np.testing.assert_array_equal(predict(again, test, spec), p)


def test_the_same_seed_builds_the_same_model_and_existing_models_are_unchanged(synthetic_features):
    from course_lib.models import build_wide_deep

    _, spec = synthetic_features
    for name in ("deepfm", "dcn", "deep"):
        first, second = (build_wide_deep(spec, name, seed=5) for _ in range(2))
        for u, v in zip(first.get_weights(), second.get_weights()):
            np.testing.assert_array_equal(u, v)
    # DCN-v2's deep part is lesson 04's deep branch, drawn from the same seed.
    deep, dcn = build_wide_deep(spec, "deep", seed=5), build_wide_deep(spec, "dcn", seed=5)
    np.testing.assert_array_equal(deep.deep.get_layer("deep_dense_0").kernel, dcn.net.get_layer("deep_dense_0").kernel)
    with pytest.raises(ValueError, match="deepfm"):
        build_wide_deep(spec, "fm")


def test_deepfm_fm_cross_is_a_dot_product_of_shared_vectors(trained):
    from course_lib.crosses import fm_pair_scores

    model = trained["deepfm"]
    movies = np.asarray(model.encoder.movie.get_vocabulary()[2:6], dtype=np.int64)
    scores = fm_pair_scores(model, movies[:2], movies[2:4])
    table = np.asarray(model.net.get_layer("deepfm_movie_embedding").embeddings, np.float64)
    idx = np.asarray(model.encoder.movie(movies))
    np.testing.assert_allclose(scores, [table[idx[0]] @ table[idx[2]], table[idx[1]] @ table[idx[3]]])
    # The deep branch reads the same movie table (one variable, not a copy).
    assert sum("movie_embedding" in v.path for v in model.net.trainable_variables) == 1


def test_course_model_caches_the_new_models(synthetic, synthetic_task, synthetic_features, tmp_path, monkeypatch):
    from course_lib.prepare import CourseData
    from course_lib.train import TrainingConfig, course_model, predict

    monkeypatch.setenv("COURSE_MODEL_CACHE", str(tmp_path / "models"))
    monkeypatch.setattr("course_lib.train.TRAINING", TrainingConfig(max_epochs=1, batch_size=256))
    ratings, _ = synthetic
    task, movies = synthetic_task
    feats, spec = synthetic_features
    data = CourseData(ratings, movies, task, feats, spec)
    first = course_model(data, "dcn", seed=2, deep_inputs="embeddings")
    again = course_model(data, "dcn", seed=2, deep_inputs="embeddings")
    assert again.model is not first.model
    np.testing.assert_array_equal(predict(first.model, data.test, first.spec),
                                  predict(again.model, data.test, again.spec))


@pytest.mark.parametrize("name, names", [("deepfm", ("fm", "deep")), ("dcn", ("cross", "deep"))])
def test_branch_explorer_switches_the_two_logits(trained, synthetic_task, synthetic_features, name, names):
    from course_lib.recommend import Recommender
    from course_lib.train import model_inputs
    from course_lib.widgets import BranchExplorer

    task, movies = synthetic_task
    feats, spec = synthetic_features
    model = trained[name]
    test = feats[feats[SPLIT] == "test"]
    rec = Recommender(model, spec, task, movies)
    ex = BranchExplorer(model, spec, test, rec, users=sorted(rec.rated)[:3])
    assert ex.names == names and ex.wide_box.description == ("FM" if name == "deepfm" else "Cross")
    a, b = (np.asarray(v, np.float64) for v in model.branch_logits(model_inputs(test, spec)))
    ex.deep_box.value = False  # the FM (cross) logit alone
    np.testing.assert_allclose(ex.test_logits(), a, rtol=1e-6)
    assert ex.label().endswith(f"{names[0]} only")
    ex.deep_box.value, ex.wide_box.value = True, False
    np.testing.assert_allclose(ex.test_logits(), b, rtol=1e-6)
    ex.wide_box.value = True
    np.testing.assert_allclose(ex.test_logits(), a + b, rtol=1e-6)
    assert list(ex.summary().index) == [f"{names[0]} only", f"{names[1]} only", "both"]
    assert set(names) <= set(ex.contributions.columns)
    assert "explorer-snapshot" in ex.snapshot_html()
