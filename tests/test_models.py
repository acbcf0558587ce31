"""The Keras 3 models: shapes, two optimizers, OOV handling, save/load."""

import keras
import numpy as np
import pytest

from course_lib.columns import ITEM, USER
from course_lib.metrics import auc
from course_lib.features import DEEP_INPUTS, FeatureSpec
from course_lib.models import (
    OOV, InputEncoder, SparseFtrl, WideDeep, build_deep, build_wide, build_wide_deep, wide_ftrl,
)
from course_lib.train import encoded_inputs, make_dataset, model_inputs, predict


def test_wide_deep_learns_the_synthetic_structure(synthetic_features, trained_wide_deep):
    feats, spec = synthetic_features
    model, result = trained_wide_deep
    test = feats[feats.split == "test"]
    assert auc(test.liked, predict(model, test, spec)) > 0.65
    assert 1 <= result.best_epoch <= len(result.history)


def test_probability_is_sigmoid_of_branch_sum(synthetic_features, trained_wide_deep):
    feats, spec = synthetic_features
    model, _ = trained_wide_deep
    x = model_inputs(feats.iloc[:64], spec)
    w, d = (np.asarray(t) for t in model.branch_logits(x))
    p = np.asarray(model(x)).reshape(-1)
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-(w + d))), rtol=1e-5)
    assert np.abs(w).sum() > 0 and np.abs(d).sum() > 0


def test_each_branch_gets_its_own_optimizer(synthetic_features):
    feats, spec = synthetic_features
    model = build_wide_deep(spec, "wide_deep")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    wide_before = [v.numpy().copy() for v in model.wide.trainable_variables]
    model.fit(make_dataset(feats.iloc[:512], spec, 256), epochs=1, verbose=0, shuffle=False)
    assert isinstance(model.wide_optimizer, keras.optimizers.Ftrl)
    assert int(model.wide_optimizer.iterations.numpy()) == 2
    assert int(model.optimizer.iterations.numpy()) == 2
    assert any(not np.array_equal(a, v.numpy()) for a, v in zip(wide_before, model.wide.trainable_variables))


def test_wide_gradient_is_sparse(synthetic_features):
    """The wide tables' gradients name only the touched rows (what makes SparseFtrl cheap)."""
    import tensorflow as tf

    feats, spec = synthetic_features
    model = build_wide_deep(spec, "wide")
    x, y = next(iter(make_dataset(feats.iloc[:256], spec, 256, encoder=model.encoder)))
    with tf.GradientTape() as tape:
        loss = keras.losses.BinaryCrossentropy()(y, model(x, training=True))
    tables = [v for v in model.wide.trainable_variables if len(v.shape) == 1]
    grads = tape.gradient(loss, tables)
    assert tables and all(isinstance(g, tf.IndexedSlices) for g in grads)


def _ftrl_steps(optimizer, grads, size=50):
    table = keras.Variable(np.zeros(size, np.float32))
    optimizer.build([table])
    for g in grads:
        optimizer.apply([g], [table])
    return table.numpy(), optimizer._accumulators[0].numpy(), optimizer._linears[0].numpy()


@pytest.mark.parametrize("shrinkage", [0.0, 0.01])
def test_sparse_ftrl_matches_keras_ftrl(shrinkage):
    """Same weights, accumulators and linear terms as Keras' dense FTRL, to float rounding;
    rows never touched stay exactly at their start (or the dense path runs, with L2 shrinkage)."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    grads = []
    for _ in range(20):
        rows = rng.integers(0, 30, 16)  # rows 30-49 are never touched; duplicates are summed
        grads.append(tf.IndexedSlices(tf.constant(rng.normal(0, 0.1, 16).astype(np.float32)),
                                      tf.constant(rows, tf.int64), tf.constant([50], tf.int64)))
    kwargs = dict(learning_rate=0.5, l1_regularization_strength=1e-3, initial_accumulator_value=1e-3,
                  l2_shrinkage_regularization_strength=shrinkage)
    sparse = _ftrl_steps(SparseFtrl(**kwargs), grads)
    dense = _ftrl_steps(keras.optimizers.Ftrl(**kwargs),
                        [tf.convert_to_tensor(tf.IndexedSlices(g.values, g.indices, g.dense_shape)) for g in grads])
    for a, b in zip(sparse, dense):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert np.any(sparse[0] == 0) and np.any(sparse[0] != 0)  # L1 zeroes some weights, not all
    if not shrinkage:
        np.testing.assert_array_equal(sparse[1][30:], np.float32(1e-3))


def test_wide_optimizer_is_sparse_ftrl(synthetic_features):
    _, spec = synthetic_features
    assert isinstance(build_wide_deep(spec, "wide_deep").wide_optimizer, SparseFtrl)
    assert isinstance(wide_ftrl(joint=False), keras.optimizers.Ftrl)


def test_training_function_is_traced_once(synthetic_features):
    """compile builds the deep optimizer up front: a first trace that creates its
    variables would be thrown away and traced again (about 0.5 s per model)."""
    feats, spec = synthetic_features
    model = build_wide_deep(spec, "wide_deep")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    assert model.optimizer.built
    traces = []
    original = model.train_step
    model.train_step = lambda data: (traces.append(1), original(data))[1]
    model.fit(make_dataset(feats.iloc[:600], spec, 256, encoder=model.encoder), epochs=2, verbose=0, shuffle=False)
    assert len(traces) == 1


def test_other_wide_optimizers_get_the_dense_gradient(synthetic_features):
    """Only SparseFtrl reads row slices; Keras' optimizers would treat them differently."""
    import tensorflow as tf

    feats, spec = synthetic_features
    seen = []

    class Recording(keras.optimizers.Adagrad):
        def update_step(self, gradient, variable, learning_rate):
            seen.append(isinstance(gradient, tf.IndexedSlices))
            return super().update_step(gradient, variable, learning_rate)

    model = build_wide_deep(spec, "wide", wide_optimizer=Recording(0.1))
    model.compile(loss="binary_crossentropy")
    model.fit(make_dataset(feats.iloc[:256], spec, 256, encoder=model.encoder), epochs=1, verbose=0, shuffle=False)
    assert seen and not any(seen)


def test_single_branch_models_and_empty_model(synthetic_features):
    _, spec = synthetic_features
    assert build_wide_deep(spec, "wide").deep is None
    assert build_wide_deep(spec, "deep").wide is None
    with pytest.raises(ValueError, match="at least one branch"):
        WideDeep()
    with pytest.raises(ValueError, match="branches"):
        build_wide_deep(spec, "both")
    with pytest.raises(ValueError, match="unknown cross"):
        spec.with_crosses("movie_x_moon")


def test_unknown_ids_and_genres_use_the_oov_slot(synthetic_features, trained_wide_deep):
    feats, spec = synthetic_features
    model, _ = trained_wide_deep
    rows = feats.iloc[:3].copy()
    rows[USER] = [10**9, 10**9 + 1, 10**9 + 2]
    rows[ITEM] = [10**9, 10**9, 10**9]
    rows["movie_genre_1"] = ["Space Opera"] * 3
    p = predict(model, rows, spec)
    assert p.shape == (3,) and np.isfinite(p).all() and ((p > 0) & (p < 1)).all()
    assert int(np.asarray(model.encoder.movie(np.array([10**9])))[0]) == OOV
    assert int(np.asarray(model.encoder.genre(np.array(["Space Opera"])))[0]) == OOV


def test_save_and_reload_gives_identical_scores(tmp_path, synthetic_features, trained_wide_deep):
    feats, spec = synthetic_features
    model, _ = trained_wide_deep
    path = tmp_path / "model.keras"
    model.save(path)
    again = keras.saving.load_model(path, compile=False)
    rows = feats[feats.split == "test"]
    np.testing.assert_array_equal(predict(model, rows, spec), predict(again, rows, spec))


def test_builders_follow_the_spec(synthetic_features):
    _, spec = synthetic_features
    narrow = spec.with_crosses("genre_x_genre")
    names = [layer.name for layer in build_wide(narrow).layers]
    assert "wide_genre_x_genre" in names and "wide_movie_x_history" not in names
    deep = build_deep(spec, embedding_dim=4, hidden=(8,))
    assert deep.get_layer("deep_movie_embedding").output_dim == 4
    assert set(deep.input) if isinstance(deep.input, dict) else True


def test_missing_columns_are_named(synthetic_features):
    feats, spec = synthetic_features
    with pytest.raises(KeyError, match="hist_movie_1"):
        model_inputs(feats.drop(columns=["hist_movie_1"]), spec)


def test_same_seed_same_initial_weights(synthetic_features):
    _, spec = synthetic_features
    a = build_wide_deep(spec, "deep", seed=7)
    build_wide_deep(spec, "deep")  # draws from the global RNG in between
    b = build_wide_deep(spec, "deep", seed=7)
    for va, vb in zip(a.deep.weights, b.deep.weights):
        np.testing.assert_array_equal(va.numpy(), vb.numpy())


def test_dataset_batches_cover_every_row_once(synthetic_features):
    feats, spec = synthetic_features
    rows = feats.iloc[:1000]
    seen = []
    for x, y in make_dataset(rows, spec, batch_size=128, shuffle=True, seed=3):
        seen.extend(x["movie_id"].numpy().tolist())
        assert x["movie_genre_1"].dtype.name == "string" and y.shape[0] == x["movie_id"].shape[0]
    assert sorted(seen) == sorted(rows["movie_id"].tolist())


def test_one_encoder_serves_both_branches_and_raw_equals_encoded(synthetic_features, trained_wide_deep):
    feats, spec = synthetic_features
    model, _ = trained_wide_deep
    # The lookups live in the shared encoder only: the branches hold none.
    for branch in (model.wide, model.deep):
        assert not [l.name for l in branch.layers if "lookup" in l.name], branch.name
    rows = feats.iloc[:200]
    raw = model_inputs(rows, spec)
    encoded = encoded_inputs(rows, spec, model.encoder)
    np.testing.assert_array_equal(np.asarray(model(raw)), np.asarray(model(encoded)))
    # What the training pipeline feeds is the encoded form.
    x, _ = next(iter(make_dataset(rows, spec, 64, encoder=model.encoder)))
    assert "movie_index" in x and "movie_genre_1" not in x and x["movie_genres_index"].dtype.name == "int64"


def test_deep_branch_inputs_follow_the_spec(synthetic_features):
    feats, spec = synthetic_features
    for numeric in (DEEP_INPUTS["embeddings"], []):
        narrow = spec.with_numeric(numeric, feats)
        assert narrow.numeric == numeric and narrow.movie_pairs == spec.movie_pairs
        model = build_wide_deep(narrow, "wide_deep", seed=1)
        p = predict(model, feats.iloc[:50], narrow)
        assert p.shape == (50,) and np.isfinite(p).all()
    names = [l.name for l in build_deep(spec.with_numeric(["movie_year"], feats)).layers]
    assert "deep_year_embedding" in names
    assert "deep_year_embedding" not in [l.name for l in build_deep(spec.with_numeric([], feats)).layers]
    with pytest.raises(ValueError, match="unknown numeric"):
        spec.with_numeric(["user_shoe_size"], feats)


def test_wide_deep_needs_an_encoder_for_foreign_branches(synthetic_features):
    _, spec = synthetic_features
    wide = build_wide(spec)
    assert WideDeep(wide=wide).encoder.spec == spec  # built from the branch's spec
    foreign = keras.Model(wide.inputs, wide.outputs)
    with pytest.raises(ValueError, match="encoder=InputEncoder"):
        WideDeep(wide=foreign)
    assert WideDeep(wide=foreign, encoder=InputEncoder(spec)).spec == spec
    assert isinstance(spec, FeatureSpec)


def test_training_rows_auc_can_be_skipped(synthetic_features):
    """train_auc_rows=0 (the rankers' setting) logs no training-rows AUC, and changes no weight."""
    from course_lib.train import train_model

    feats, spec = synthetic_features
    weights = {}
    for rows in (0, 500):
        model = build_wide_deep(spec, "wide_deep", seed=2)
        result = train_model(model, feats, spec, epochs=2, batch_size=512, seed=2, train_auc_rows=rows)
        assert result.history["val_auc"].notna().all()
        assert result.history["auc"].isna().all() == (rows == 0)
        weights[rows] = [v.numpy() for v in model.variables]
    assert all(np.array_equal(a, b) for a, b in zip(weights[0], weights[500]))


def test_fit_hands_sparse_ftrl_row_slices(synthetic_features):
    """In a plain ``fit`` (one replica) SparseFtrl gets the row slices; under a
    distribution strategy WideDeep densifies them (course_lib.multiworker)."""
    import tensorflow as tf

    feats, spec = synthetic_features
    seen = []

    class Recording(SparseFtrl):
        def update_step(self, gradient, variable, learning_rate):
            seen.append(isinstance(gradient, tf.IndexedSlices))
            return super().update_step(gradient, variable, learning_rate)

    model = build_wide_deep(spec, "wide", wide_optimizer=Recording(learning_rate=0.5))
    model.compile(loss="binary_crossentropy")
    model.fit(make_dataset(feats.iloc[:256], spec, 256, encoder=model.encoder), epochs=1, verbose=0, shuffle=False)
    assert sum(seen) == len(seen) - 1  # every table; the bias is dense
