"""Input pipelines and training loops shared by every lesson.

Introduced in lesson 03 (``make_dataset``) and 04 (``train_model``,
``course_model``). Every lesson trains its models through ``course_model``
with the one budget in ``TRAINING``, so the same model and seed print the
same figure in every lesson.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from course_lib.columns import ITEM, LABEL, RATING, SPLIT, TIMESTAMP, USER
from course_lib.features import DEEP_INPUTS, FeatureSpec
from course_lib.runtime import is_deterministic, seed_everything

#: Rows per inference call (predict, AUC callbacks, branch logits): memory, not results, depends on it.
PREDICT_BATCH = 8192


@dataclass(frozen=True)
class TrainingConfig:
    """The course's one training budget.

    Attributes:
        max_epochs: Upper bound; early stopping ends most runs well before
            (the wide model, with FTRL, needs the most epochs to converge).
        patience: Epochs without a better validation AUC before stopping;
            the best epoch's weights are restored.
        batch_size: Rows per step.
        learning_rate: Adam's step for the deep part (FTRL's is in ``models``).
        train_auc_rows: Training rows (a fixed sample) whose AUC is logged
            per epoch for the learning curves.
    """

    max_epochs: int = 20
    patience: int = 2
    batch_size: int = 2048
    learning_rate: float = 2e-3
    train_auc_rows: int = 20_000


TRAINING = TrainingConfig()
BATCH_SIZE = TRAINING.batch_size
DEEP_LEARNING_RATE = TRAINING.learning_rate


def model_inputs(frame: pd.DataFrame, spec: FeatureSpec) -> dict[str, np.ndarray]:
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


def encoded_inputs(frame: pd.DataFrame, spec: FeatureSpec, encoder) -> dict:
    """The whole table through the model's ``InputEncoder`` once (every lookup done here)."""
    return dict(encoder(model_inputs(frame, spec)))


def make_dataset(frame: pd.DataFrame, spec: FeatureSpec, batch_size: int = BATCH_SIZE, shuffle: bool = False,
                 seed: int = 0, prefetch: bool = True, encoder=None):
    """A ``tf.data.Dataset`` of ``(inputs, liked)`` batches.

    The columns are held as whole tensors and each batch *gathers* its rows:
    one op per feature per batch instead of one per row, which is what makes
    the input pipeline several times faster than slicing rows
    (``make bench`` measures both).

    Args:
        frame: Feature rows (with a ``liked`` column).
        spec: The ``FeatureSpec``.
        batch_size: Rows per batch.
        shuffle: Reshuffle every epoch (seeded, so runs repeat exactly).
        seed: Shuffle seed.
        prefetch: Overlap input preparation with training.
        encoder: A model's ``InputEncoder``: if given, the batches hold its
            output, computed once for the whole table, so training does no
            id or string lookup per step (``make bench`` measures the gain).
    """
    import tensorflow as tf

    if encoder is not None:
        columns = encoded_inputs(frame, spec, encoder)
    else:
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


class TrainResult:
    """A trained model, its feature spec, per-epoch history and best epoch.

    ``history`` has one row per epoch: ``loss`` and the exact ROC AUC on a
    fixed sample of training rows (``auc``) and on the validation rows
    (``val_auc``), both with dropout off.

    ``test_scores`` are the model's predictions on the ``test`` rows of the
    table it was trained from, made once after training (nothing in training
    reads them), and ``test_rows`` those rows' fingerprint: ``predict_test``
    returns them for the same rows without running the model. A result from
    the model cache loads its model on first use of ``model``, so a lesson
    that only scores a cached run (``score_on_test``) never loads it.
    """

    def __init__(self, model, spec: FeatureSpec, history: pd.DataFrame, best_epoch: int, val_auc: float,
                 test_scores: np.ndarray | None = None, test_rows: str | None = None,
                 load: Callable[[], object] | None = None):
        if model is None and load is None:
            raise ValueError("TrainResult needs a model or a function that loads it.")
        self._model, self._load = model, load
        self.spec, self.history, self.best_epoch, self.val_auc = spec, history, best_epoch, val_auc
        self.test_scores, self.test_rows = test_scores, test_rows

    @property
    def model(self):
        if self._model is None:
            self._model = self._load()
        return self._model

    def predict_test(self, test: pd.DataFrame) -> np.ndarray:
        """Predictions on ``test``: the stored ``test_scores`` when these are the rows they were made on."""
        if self.test_scores is not None and self.test_rows == rows_fingerprint(test, self.spec):
            return self.test_scores
        return predict(self.model, test, self.spec)

    def __repr__(self) -> str:
        return (f"TrainResult({self.model.name}: best epoch {self.best_epoch}, "
                f"val AUC {self.val_auc:.4f})")


def rows_fingerprint(frame: pd.DataFrame, spec: FeatureSpec) -> str:
    """A hash of the rows a model would read from ``frame`` (its inputs and the label), in order."""
    columns = [c for c in (*spec.input_names, LABEL) if c in frame]
    return hashlib.sha256(pd.util.hash_pandas_object(frame[columns], index=False).to_numpy().tobytes()).hexdigest()[:20]


def compile_model(model, learning_rate: float = DEEP_LEARNING_RATE):
    """Compile a course model the way ``train_model`` does (and ``make bench`` measures).

    Adam for the deep part (the wide part has its own FTRL in ``WideDeep``)
    and binary cross-entropy. No in-graph AUC metric: it costs a third of
    each step; ``AUCLogger`` computes the exact AUC once per epoch instead.

    Inside a ``tf.distribute`` strategy's ``scope()`` (several devices or
    workers, ``course_lib.streaming``, ``course_lib.multiworker``) the loss is
    ``replica_safe_loss()`` and the wide part's FTRL is built here, like the
    deep part's Adam (``WideDeep.compile``): a variable first created inside
    ``strategy.run`` would be per replica. Outside one, the loss is the
    stock ``BinaryCrossentropy``: the lessons' models, figures and saved
    files stay exactly as they were.
    """
    import keras
    import tensorflow as tf

    distributed = tf.distribute.has_strategy()
    loss = replica_safe_loss() if distributed else keras.losses.BinaryCrossentropy()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    if distributed and getattr(model, "wide", None) is not None:
        model.wide_optimizer.build(model.wide.trainable_variables)
    return model


def replica_safe_loss():
    """The binary cross-entropy ``compile_model`` uses under a distribution strategy
    (``course_lib.models.ReplicaBinaryCrossentropy``, registered with Keras like
    the course's layers, so a saved model loads with its compile state)."""
    from course_lib.models import ReplicaBinaryCrossentropy

    return ReplicaBinaryCrossentropy()


def _auc_logger(model, train: pd.DataFrame, val: pd.DataFrame, spec: FeatureSpec, seed: int, train_rows: int):
    """A callback writing ``auc`` (a sample of ``train_rows`` training rows; NaN when 0)
    and ``val_auc`` into each epoch's logs."""
    import keras

    from course_lib.metrics import auc

    frames = {"val_auc": val}
    if train_rows:
        frames["auc"] = train.sample(min(len(train), train_rows), random_state=seed)
    encoder = getattr(model, "encoder", None)
    sets = {name: (make_dataset(frame, spec, PREDICT_BATCH, prefetch=False, encoder=encoder).map(lambda x, y: x),
                   frame[LABEL].to_numpy())
            for name, frame in frames.items()}

    class AUCLogger(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["auc"] = float("nan")
            for name, (ds, y) in sets.items():
                logs[name] = auc(y, np.asarray(self.model.predict(ds, verbose=0)).reshape(-1))

    return AUCLogger()


def train_model(model, features: pd.DataFrame, spec: FeatureSpec, epochs: int | None = None,
                batch_size: int | None = None, learning_rate: float | None = None,
                patience: int | None = None, seed: int = 42, verbose: bool = False,
                train_auc_rows: int | None = None) -> TrainResult:
    """Train on ``train`` rows with early stopping on validation AUC.

    The best epoch's weights are restored. Defaults come from ``TRAINING``.
    Prints nothing unless ``verbose`` (then one rounded line per epoch), so
    notebook outputs stay comparable run to run.

    Args:
        model: A compiled-or-not course model (``WideDeep`` or plain Keras).
        features: Feature table with ``split``.
        spec: The ``FeatureSpec`` the model was built from.
        epochs: Maximum epochs.
        batch_size: Rows per batch.
        learning_rate: Adam learning rate of the deep part.
        patience: Epochs without validation improvement before stopping.
        seed: Seeds the shuffling and dropout. The initial weights are drawn
            when the model is built: pass the same seed to
            ``build_wide_deep(..., seed=...)`` to fix them too.
        train_auc_rows: Training rows whose AUC is logged per epoch (default
            ``TRAINING.train_auc_rows``); 0 skips it (``auc`` is then NaN).
            Validation AUC, which early stopping reads, is always logged.
    """
    import keras

    cfg = TRAINING
    seed_everything(seed)
    train = features[features[SPLIT] == "train"]
    val = features[features[SPLIT] == "val"]
    if train.empty or val.empty:
        raise ValueError("train_model needs 'train' and 'val' rows; build features from make_task output.")
    if not getattr(model, "compiled", False) and not getattr(model, "optimizer", None):
        compile_model(model, learning_rate or cfg.learning_rate)
    early = keras.callbacks.EarlyStopping(monitor="val_auc", mode="max", patience=patience or cfg.patience,
                                          restore_best_weights=True)
    # The dataset shuffles itself (seeded); fit's own shuffle does not apply to tf.data.
    hist = model.fit(
        make_dataset(train, spec, batch_size or cfg.batch_size, shuffle=True, seed=seed,
                     encoder=getattr(model, "encoder", None)),
        epochs=epochs or cfg.max_epochs,
        callbacks=[_auc_logger(model, train, val, spec, seed,
                               cfg.train_auc_rows if train_auc_rows is None else train_auc_rows), early],
        verbose=0, shuffle=False,
    )
    history = pd.DataFrame(hist.history)[["loss", "auc", "val_auc"]]
    history.index = pd.RangeIndex(1, len(history) + 1, name="epoch")
    best = int(history["val_auc"].idxmax())
    test = features[features[SPLIT] == "test"]
    scores = predict(model, test, spec) if len(test) else None  # a memo for predict_test; training is over
    result = TrainResult(model, spec, history.round(4), best, round(float(history["val_auc"].max()), 4),
                         scores, rows_fingerprint(test, spec) if len(test) else None)
    if verbose:
        for epoch, row in history.iterrows():
            print(f"epoch {epoch:2d}  loss {row['loss']:.4f}  train auc {row['auc']:.4f}  "
                  f"val_auc {row['val_auc']:.4f}")
    return result


#: Where ``course_model`` keeps trained models (default: ``<data cache>/models``);
#: set it to "off" to always retrain.
MODEL_CACHE_ENV = "COURSE_MODEL_CACHE"


def model_cache_dir() -> Path | None:
    """The model cache folder, or None when switched off (``COURSE_MODEL_CACHE=off``)."""
    from course_lib.data import cache_dir

    value = os.environ.get(MODEL_CACHE_ENV, "")
    if value.lower() in ("off", "0", "no"):
        return None
    return Path(value).expanduser().resolve() if value else cache_dir() / "models"


def _library_hash() -> str:
    """Hash of the course_lib sources and framework versions: a cached model is only as
    valid as the code and the stack that trained it."""
    import keras
    import tensorflow as tf

    h = hashlib.sha256(f"{tf.__version__} {keras.__version__} {np.__version__}".encode())
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:16]


def model_key(rows: pd.DataFrame, spec: FeatureSpec, branches: str, seed: int, recipe: dict) -> str:
    """Everything that decides a trained model: the rows (who, what, when, label, split), the spec, the recipe."""
    columns = [c for c in (USER, ITEM, TIMESTAMP, RATING, LABEL, SPLIT, *spec.numeric) if c in rows]
    h = hashlib.sha256(pd.util.hash_pandas_object(rows[columns], index=False).to_numpy().tobytes())
    spec_config = spec.to_dict()
    h.update(np.asarray(spec_config.pop("movie_pairs"), np.int64).tobytes())  # ~10^6 ints: bytes, not JSON
    recipe = {"spec": spec_config, "branches": branches, "seed": seed,
              **{k: {n: list(v) if isinstance(v, tuple) else v for n, v in sorted(part.items())}
                 if isinstance(part, dict) else part for k, part in recipe.items()}}
    h.update(json.dumps(recipe, sort_keys=True).encode())
    return f"{branches}-seed{seed}-{h.hexdigest()[:20]}"


def cached_training(key: str, spec: FeatureSpec, train: Callable[[], TrainResult]) -> TrainResult:
    """``train()``'s result, from the model cache when an entry for ``key`` exists, else trained and stored.

    Every cached model of the course (``course_model``, ``ranking.train_ranker``)
    goes through here: training is deterministic and a reloaded model scores
    bit for bit like the trained one, so the cache changes no number.
    """
    root = model_cache_dir()
    if root and (root / _library_hash() / key).is_dir():
        cached = _load_cached(root / _library_hash() / key, spec, lambda: _train_and_store(root, key, train).model)
        if cached is not None:
            return cached
    return _train_and_store(root, key, train)


def _train_and_store(root: Path | None, key: str, train: Callable[[], TrainResult]) -> TrainResult:
    result = train()
    # A model trained outside the course's runtime settings (a script without
    # setup_notebook) may differ in the last digits: never cache it for the lessons.
    if root and is_deterministic():
        _store(root, key, result)
    return result


def _load_cached(folder: Path, spec: FeatureSpec, retrain: Callable[[], object]) -> TrainResult | None:
    """The entry's result, its model loaded on first use (a model file that fails to load is
    trained again, which gives the same model, and replaced); None if its record is unreadable."""
    try:
        meta = json.loads((folder / "result.json").read_text())
        history = pd.DataFrame(meta["history"],
                               index=pd.RangeIndex(1, len(meta["history"]["loss"]) + 1, name="epoch"))
        scores = np.load(folder / "test_scores.npy") if meta.get("test_rows") else None
    except Exception:  # noqa: BLE001  (a broken entry is retrained and replaced)
        return None

    def load():
        import keras

        try:
            return keras.saving.load_model(folder / "model.keras")
        except Exception:  # noqa: BLE001
            return retrain()

    return TrainResult(None, spec, history, meta["best_epoch"], meta["val_auc"], scores, meta.get("test_rows"),
                       load=load)


def _store(root: Path, key: str, result: TrainResult) -> None:
    """Write an entry atomically (temp folder, then rename) and drop other code versions' entries."""
    version = root / _library_hash()
    version.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        if old.is_dir() and old != version:
            shutil.rmtree(old, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=version))
    try:
        result.model.save(tmp / "model.keras")
        meta = {"history": result.history.to_dict(orient="list"), "best_epoch": result.best_epoch,
                "val_auc": result.val_auc, "test_rows": result.test_rows}
        if result.test_rows:
            np.save(tmp / "test_scores.npy", result.test_scores)
        (tmp / "result.json").write_text(json.dumps(meta))
        shutil.rmtree(version / key, ignore_errors=True)  # a broken entry being replaced
        os.replace(tmp, version / key)
    except OSError:
        pass  # read-only or full disk, or another kernel stored it first: the model is still returned
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass(frozen=True)
class Training:
    """One cached training, not yet run: ``run()`` loads the model from the cache, or trains and stores it.

    Made by ``course_training`` and ``ranking.ranker_training``; ``train_all`` runs several.
    """

    key: str
    spec: FeatureSpec
    train: Callable[[], TrainResult]

    def is_cached(self) -> bool:
        root = model_cache_dir()
        return bool(root) and (root / _library_hash() / self.key / "result.json").is_file()

    def run(self) -> TrainResult:
        return cached_training(self.key, self.spec, self.train)


#: Set to "off" and ``train_all`` trains every model in this process, one after another.
HELPER_ENV = "COURSE_TRAIN_HELPER"


def train_all(make: Callable[..., Training], calls: Sequence[dict]) -> list[TrainResult]:
    """``[make(**call).run() for call in calls]``, two trainings at a time where several are missing.

    One helper process (a fresh Python) trains missing models into the model
    cache while this process trains others; each claims a model before
    training it, so neither waits for a fixed share. This process then loads
    the helper's models from the cache. Training is deterministic and does not
    depend on what ran before it in a process, and a reloaded model scores
    bit for bit like the trained one, so the results are those of training
    here one by one (``tests/test_model_cache.py``). Without a writable model
    cache, on one core, or with ``COURSE_TRAIN_HELPER=off``, the models are
    trained here in turn. The helper costs a second process's memory
    (about 1.5 GB) while it runs.

    Args:
        make: A module-level function returning a ``Training`` (``course_training``,
            ``ranking.ranker_training``): the helper imports it by name.
        calls: ``make``'s keyword arguments, one dict per model.
    """
    jobs = [make(**call) for call in calls]
    missing = [i for i, job in enumerate(jobs) if not job.is_cached()]
    results = {}
    if len(missing) >= 2 and _helper_allowed():
        with tempfile.TemporaryDirectory(prefix="course-train-") as claims:
            helper = _start_helper(make, [calls[i] for i in missing], [jobs[i].key for i in missing], claims)
            for i in missing:  # in order; the helper takes them from the end
                if _claim(claims, jobs[i].key):
                    results[i] = jobs[i].run()
            if helper is None or helper.wait() != 0:
                log = Path(claims, "helper.log").read_text(errors="replace")[-2000:]
                warnings.warn(f"the training helper failed; its models are trained here instead:\n{log}",
                              RuntimeWarning, stacklevel=2)
    return [results[i] if i in results else job.run() for i, job in enumerate(jobs)]


def _helper_allowed() -> bool:
    root = model_cache_dir()
    if os.environ.get(HELPER_ENV, "").lower() in ("off", "0", "no") or (os.cpu_count() or 1) < 2 or not root:
        return False
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(root, os.W_OK)


def _claim(claims: str, key: str) -> bool:
    """Whether this process got ``key`` (an exclusive create: exactly one process wins)."""
    try:
        os.close(os.open(os.path.join(claims, key), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def _start_helper(make, calls: list[dict], keys: list[str], claims: str) -> subprocess.Popen | None:
    """The helper process (None if it could not start: the reason is in ``helper.log``)."""
    with open(os.path.join(claims, "payload.pickle"), "wb") as f:
        pickle.dump((make, calls, keys), f, protocol=pickle.HIGHEST_PROTOCOL)
    package_root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    with open(os.path.join(claims, "helper.log"), "wb") as log:
        try:
            return subprocess.Popen([sys.executable, "-c", "from course_lib.train import _helper_main; _helper_main()",
                                     claims], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        except OSError as exc:
            log.write(f"could not start {sys.executable}: {exc}".encode())
            return None


def _helper_main() -> None:
    """The helper process: train what it can claim, latest call first, into the model cache."""
    from course_lib.runtime import configure_environment, configure_tensorflow

    configure_environment()
    claims = sys.argv[1]
    with open(os.path.join(claims, "payload.pickle"), "rb") as f:
        make, calls, keys = pickle.load(f)
    configure_tensorflow()  # the course's deterministic settings: only then is a model cached
    for call, key in zip(reversed(calls), reversed(keys)):
        job = make(**call)
        # A key that differs here (settings changed in the caller's process only) is left to the caller.
        if job.key == key and _claim(claims, key):
            job.run()


def course_model(data, branches: str = "wide_deep", seed: int = 1, deep_inputs: str = "statistics",
                 crosses: tuple[str, ...] | None = None, **deep_kwargs) -> TrainResult:
    """Build and train one of the course's standard models (every lesson uses this).

    A trained model is cached on disk (``model_cache_dir()``), keyed by the
    data, the spec, the recipe, the library's code and the framework versions,
    so a later lesson reuses it instead of retraining: the same model and
    seed print the same figure in every lesson, and the course runs faster in
    order. Training is deterministic and a reloaded model scores bit for bit
    like the trained one, so the cache changes no number.

    Args:
        data: ``course_lib.prepare.course_data()``.
        branches: "wide", "deep" or "wide_deep"; or lesson 08's "deepfm" or "dcn"
            (``course_lib.crosses``).
        seed: Seeds the initial weights, shuffling and dropout.
        deep_inputs: What the deep branch sees besides embeddings: a key of
            ``course_lib.features.DEEP_INPUTS`` ("statistics": every numeric
            feature; "embeddings": only the release year).
        crosses: The wide branch's crosses (default: all of them).
        **deep_kwargs: Passed to ``build_deep`` (e.g. ``hidden=(64,)``).

    Returns:
        The ``TrainResult``; ``result.spec`` is the spec the model was built from.
    """
    return course_training(data, branches, seed, deep_inputs, crosses, **deep_kwargs).run()


def course_training(data, branches: str = "wide_deep", seed: int = 1, deep_inputs: str = "statistics",
                    crosses: tuple[str, ...] | None = None, **deep_kwargs) -> Training:
    """``course_model``'s training, not yet run (for ``train_all``)."""
    from course_lib.models import build_wide_deep

    if deep_inputs not in DEEP_INPUTS:
        raise ValueError(f"deep_inputs must be one of {sorted(DEEP_INPUTS)}, got {deep_inputs!r}")
    spec = data.spec
    if DEEP_INPUTS[deep_inputs] != spec.numeric:
        spec = spec.with_numeric(DEEP_INPUTS[deep_inputs], data.features)
    if crosses is not None:
        spec = spec.with_crosses(*crosses)
    key = model_key(data.features, spec, branches, seed, {"training": asdict(TRAINING), "deep": deep_kwargs})
    return Training(key, spec, lambda: train_model(build_wide_deep(spec, branches, seed=seed, **deep_kwargs),
                                                   data.features, spec, seed=seed))


def predict(model, frame: pd.DataFrame, spec: FeatureSpec, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Predicted probabilities of ``liked`` for the rows of ``frame``."""
    frame = frame.assign(**{LABEL: 0}) if LABEL not in frame else frame
    ds = make_dataset(frame, spec, batch_size, encoder=getattr(model, "encoder", None))
    return np.asarray(model.predict(ds.map(lambda x, y: x), verbose=0), dtype=np.float64).reshape(-1)
