"""No framework warning that teaches nothing: training and .keras save/reload are silent.

Keras warned "`shuffle=True` was passed" on every ``fit`` over a ``tf.data``
dataset, and "Skipping variable loading for optimizer 'ftrl'" on reloading a
Wide&Deep (its optimizers were rebuilt on the wrong variables). Both are
fixed at the source; these tests keep them fixed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest


@pytest.fixture(scope="module")
def small(synthetic_features):
    feats, spec = synthetic_features
    return feats, spec


@pytest.mark.parametrize("branches", ["wide_deep", "wide", "deep"])
def test_train_save_reload_without_warnings(small, branches, tmp_path):
    import keras

    from course_lib.models import build_wide_deep
    from course_lib.train import predict, train_model

    feats, spec = small
    model = build_wide_deep(spec, branches, seed=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train_model(model, feats, spec, epochs=1, batch_size=512, seed=3)
        path = tmp_path / f"{branches}.keras"
        model.save(path)
        back = keras.saving.load_model(path)
        keras.saving.load_model(path, compile=False)  # as lesson 05 serves it
    messages = [f"{w.category.__name__}: {w.message}" for w in caught
                if not issubclass(w.category, DeprecationWarning)]
    assert not messages, f"training or save/reload warned: {messages}"
    # Both optimizers' state came back (FTRL accumulators of the wide weights, Adam's moments).
    for name in ("optimizer", "wide_optimizer"):
        saved, loaded = getattr(model, name), getattr(back, name)
        if saved is None:
            continue
        assert len(saved.variables) == len(loaded.variables), name
        for a, b in zip(saved.variables, loaded.variables):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f"{name}: {a.path}")
    rows = feats.head(64)
    np.testing.assert_allclose(predict(back, rows, spec), predict(model, rows, spec), rtol=1e-6)
