"""Input pipelines and training loops shared by every lesson.

Introduced in lesson 03 (``make_dataset``) and 04 (``train_model``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from course_lib.columns import LABEL, SPLIT
from course_lib.runtime import seed_everything

BATCH_SIZE = 2048


def model_inputs(frame: pd.DataFrame, spec) -> dict[str, np.ndarray]:
    """The raw input dict a course model expects, from a feature table.

    Args:
        frame: Rows of ``build_features`` output (or any frame with the spec's columns).
        spec: The ``FeatureSpec``.

    Raises:
        KeyError: naming the missing columns.
    """
    missing = [c for c in spec.input_names if c not in frame.columns]
    if missing:
        raise KeyError(f"feature table lacks {missing}; build it with course_lib.features.build_features.")
    out = {}
    for col in spec.input_names:
        values = frame[col].to_numpy()
        if col in spec.numeric:
            out[col] = values.astype(np.float32)
        elif values.dtype.kind in "iu":
            out[col] = values.astype(np.int64)
        else:
            out[col] = values.astype(str).astype(object)
    return out


def make_dataset(frame: pd.DataFrame, spec, batch_size: int = BATCH_SIZE, shuffle: bool = False,
                 seed: int = 0, prefetch: bool = True):
    """A ``tf.data.Dataset`` of ``(inputs, liked)`` batches.

    The columns are held as whole tensors and each batch *gathers* its rows:
    one op per feature per batch instead of one per row, which is what makes
    the input pipeline several times faster than slicing rows
    (``benchmarks/RESULTS.md`` measures both).

    Args:
        frame: Feature rows (with a ``liked`` column).
        spec: The ``FeatureSpec``.
        batch_size: Rows per batch.
        shuffle: Reshuffle every epoch (seeded, so runs repeat exactly).
        seed: Shuffle seed.
        prefetch: Overlap input preparation with training.
    """
    import tensorflow as tf

    columns = {k: tf.constant(v) for k, v in model_inputs(frame, spec).items()}
    labels = tf.constant(frame[LABEL].to_numpy(np.float32))
    ds = tf.data.Dataset.range(len(frame))
    if shuffle:
        ds = ds.shuffle(len(frame), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(
        lambda idx: ({k: tf.gather(t, idx) for k, t in columns.items()}, tf.gather(labels, idx)))
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds


@dataclass
class TrainResult:
    """A trained model with its history (per-epoch metrics) and best epoch."""

    model: object
    history: pd.DataFrame
    best_epoch: int
    val_auc: float
    extras: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"TrainResult({self.model.name}: best epoch {self.best_epoch}, "
                f"val AUC {self.val_auc:.4f})")


DEEP_LEARNING_RATE = 2e-3


def compile_model(model, learning_rate: float = DEEP_LEARNING_RATE, metrics: bool = True):
    """Compile a course model the way ``train_model`` does (and the benchmarks measure).

    Adam for the deep part (the wide part has its own FTRL in ``WideDeep``),
    binary cross-entropy, and an AUC metric for early stopping on validation.
    """
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=keras.losses.BinaryCrossentropy(),
                  metrics=[keras.metrics.AUC(name="auc", num_thresholds=2000)] if metrics else [])
    return model


def train_model(model, features: pd.DataFrame, spec, epochs: int = 10, batch_size: int = BATCH_SIZE,
                learning_rate: float = DEEP_LEARNING_RATE, patience: int = 2, seed: int = 42,
                verbose: bool = False) -> TrainResult:
    """Train on ``train`` rows with early stopping on validation AUC.

    The best epoch's weights are restored. Prints nothing unless
    ``verbose`` (then one rounded line per epoch), so notebook outputs stay
    comparable run to run.

    Args:
        model: A compiled-or-not course model (``WideDeep`` or plain Keras).
        features: Feature table with ``split``.
        spec: The ``FeatureSpec``.
        epochs: Maximum epochs.
        batch_size: Rows per batch.
        learning_rate: Adam learning rate of the deep part.
        patience: Epochs without validation improvement before stopping.
        seed: Seeds the shuffling and dropout. The initial weights are drawn
            when the model is built: pass the same seed to
            ``build_wide_deep(..., seed=...)`` to fix them too.
    """
    import keras

    seed_everything(seed)
    train = features[features[SPLIT] == "train"]
    val = features[features[SPLIT] == "val"]
    if train.empty or val.empty:
        raise ValueError("train_model needs 'train' and 'val' rows; build features from make_task output.")
    if not getattr(model, "compiled", False) and not getattr(model, "optimizer", None):
        compile_model(model, learning_rate)
    early = keras.callbacks.EarlyStopping(monitor="val_auc", mode="max", patience=patience,
                                          restore_best_weights=True)
    hist = model.fit(
        make_dataset(train, spec, batch_size, shuffle=True, seed=seed),
        validation_data=make_dataset(val, spec, 4096),
        # The dataset shuffles itself (seeded); Keras' own shuffle does not apply to tf.data.
        epochs=epochs, callbacks=[early], verbose=0, shuffle=False,
    )
    history = pd.DataFrame(hist.history)
    history.index = pd.RangeIndex(1, len(history) + 1, name="epoch")
    best = int(history["val_auc"].idxmax())
    result = TrainResult(model, history.round(4), best, round(float(history["val_auc"].max()), 4))
    if verbose:
        for epoch, row in history.iterrows():
            print(f"epoch {epoch:2d}  loss {row['loss']:.4f}  val_auc {row['val_auc']:.4f}")
    return result


def predict(model, frame: pd.DataFrame, spec, batch_size: int = 8192) -> np.ndarray:
    """Predicted probabilities of ``liked`` for the rows of ``frame``."""
    ds = make_dataset(frame.assign(**{LABEL: 0}) if LABEL not in frame else frame, spec, batch_size)
    return np.asarray(model.predict(ds.map(lambda x, y: x), verbose=0), dtype=np.float64).reshape(-1)
