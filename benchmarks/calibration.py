"""The bench's yardstick: a fixed workload timed in the same run, so a time target can be
judged on the machine's speed rather than on which machine ran it.

Two machines "of the same kind" ran the course at 1.7-2.4x different speeds
with no code change, and not by one factor (the input pipeline was faster on
the slower one). So each time target is judged against the kernel of its own
kind, timed beside it:

- ``train``: the steady steps of one epoch of a fixed Keras model (ids
  through embeddings, numeric features, two dense layers; Adam, binary
  cross-entropy) over a fixed random table, fed by ``tf.data``, the way the
  course trains (per-step overhead included): about 7 ms a step, as the
  course's W&D takes 11-15. The clock starts when the epoch's first step
  ends: that step carried a 30-40 ms stall in about half of the epochs
  (the epoch's new iterator; 8 ms otherwise), so whole-epoch times fell in
  two clusters, about 105 and 143 ms, and their median jumped between them
  from run to run with no change in the machine (workload version 1);
- ``score``: one ``predict_on_batch`` of that model on a fixed 10,000-row
  batch, the size of a whole-catalogue request (about 5-10 ms, as the W&D's
  call in ``recommend``).

A kernel of about the workload's duration is preempted about as often when
other jobs share the cores; a 2-3 ms kernel was not (measured: the top-10
p50 moved 20 % with the load while a 2 ms kernel did not move).

Neither uses ``course_lib``: a slower course cannot slow the yardstick down
and hide itself. A pass (``measure_pass``, about 2 s) times each kernel
several times; the harness runs a pass before the first section and after
every section, and the run's kernel time is the median over every repetition
of every pass (``run_level``): a pair of passes alone moved by up to 10 % on a
shared machine. A section of several minutes (the course) times its own
passes, one before its first notebook and one after each, and its targets are
calibrated by those: the machine has slow and fast spells of minutes, and only
passes taken during the section see the ones it ran in.

Whether the calibrated figures hold still is checked across two runs:
``python -m benchmarks.calibration OLD/results.json NEW/results.json`` prints
each time target's measured and calibrated value in both and fails if a
calibrated one moved more than ``TOLERANCE``.

The arithmetic: with ``factor = reference kernel time / this run's kernel
time`` (below 1 on a slower machine), a time scales to the reference machine
as ``time x factor`` and a rate (examples/s) as ``rate / factor``
(``calibrate``). The reference is the kernel times of the machine whose
figures are committed, kept in ``calibration_reference.json`` beside this
file (``python -m benchmarks.run --render-only --set-reference`` takes them
from ``results.json``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

#: Bump when the workload below changes: a reference of another version no longer applies.
WORKLOAD_VERSION = 2
KERNELS = ("train", "score")
KERNEL_TEXT = {
    "train": "the 15 steady steps of a training epoch of a fixed Keras model (16 steps of 2,048 rows, tf.data, "
             "Adam, BCE; timed from the end of the first step)",
    "score": "one predict_on_batch of that model on 10,000 rows",
}
#: The fixed workload (every number here is part of it).
N_USERS, N_MOVIES, N_NUMERIC, EMBEDDING_DIM, HIDDEN = 600, 10_000, 10, 32, (256, 128)
BATCH, STEPS, SCORE_ROWS = 2048, 16, 10_000
TRAIN_REPEATS, SCORE_REPEATS = 6, 40
REFERENCE = Path(__file__).resolve().parent / "calibration_reference.json"
#: How far a time target's calibrated value may move between two runs of the same code (issue 22).
TOLERANCE = 0.10


def _data(rows: int, seed: int) -> tuple[dict, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = {"user": rng.integers(0, N_USERS, rows).astype("int32"),
         "movie": rng.integers(0, N_MOVIES, rows).astype("int32"),
         "numeric": rng.standard_normal((rows, N_NUMERIC)).astype("float32")}
    y = (rng.random(rows) < 0.5).astype("float32")
    return x, y


def _model():
    """The fixed model; every initializer seeded, the process's global seeds left alone (the
    course's own runs in this process must not see a calibration pass)."""
    import keras

    init = lambda k: keras.initializers.GlorotUniform(seed=k)  # noqa: E731
    user = keras.Input((), dtype="int32", name="user")
    movie = keras.Input((), dtype="int32", name="movie")
    numeric = keras.Input((N_NUMERIC,), name="numeric")
    parts = [keras.layers.Embedding(N_USERS, EMBEDDING_DIM, embeddings_initializer=init(1))(user),
             keras.layers.Embedding(N_MOVIES, EMBEDDING_DIM, embeddings_initializer=init(2))(movie), numeric]
    h = keras.layers.Dense(HIDDEN[0], activation="relu", kernel_initializer=init(3))(keras.layers.Concatenate()(parts))
    h = keras.layers.Dense(HIDDEN[1], activation="relu", kernel_initializer=init(4))(h)
    out = keras.layers.Dense(1, activation="sigmoid", kernel_initializer=init(5))(h)
    model = keras.Model([user, movie, numeric], out)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.BinaryCrossentropy())
    return model


def measure_pass() -> dict:
    """Time both kernels once: ``{"train": s, "score": s, "train_samples": [...], "score_samples": [...]}``.

    A fresh model each pass (built, then two untimed epochs and three calls to
    trace and settle); each kernel's time is the median of its repetitions.
    """
    import keras
    import tensorflow as tf

    class SteadyEpochs(keras.callbacks.Callback):
        """Each epoch's time from the end of its first step (which carries the epoch's start) to its end."""

        def __init__(self):
            super().__init__()
            self.times, self.start = [], None

        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.start)

    model = _model()
    x, y = _data(BATCH * STEPS, seed=0)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH).cache()
    model.fit(ds, epochs=2, verbose=0, shuffle=False)  # traces the step, fills the cache, settles
    steady = SteadyEpochs()
    model.fit(ds, epochs=TRAIN_REPEATS, verbose=0, shuffle=False, callbacks=[steady])
    train = steady.times
    batch, _ = _data(SCORE_ROWS, seed=1)
    for _ in range(3):  # traces the call, settles
        model.predict_on_batch(batch)
    score = []
    for _ in range(SCORE_REPEATS):
        start = time.perf_counter()
        model.predict_on_batch(batch)
        score.append(time.perf_counter() - start)
    del model
    return {"train": float(np.median(train)), "score": float(np.median(score)),
            "train_samples": [round(t, 5) for t in train], "score_samples": [round(t, 5) for t in score]}


def run_level(passes: list[dict]) -> dict[str, dict]:
    """Each kernel over a run: ``median`` (the kernel time: over every repetition of every pass),
    ``q1`` / ``q3`` of those repetitions, the ``min`` and ``max`` of the passes' medians, ``passes``."""
    out = {}
    for k in KERNELS:
        samples = np.concatenate([p.get(f"{k}_samples") or [p[k]] for p in passes]).astype(float)
        medians = np.array([p[k] for p in passes], dtype=float)
        q1, med, q3 = np.percentile(samples, [25, 50, 75])
        out[k] = {"median": float(med), "q1": float(q1), "q3": float(q3), "min": float(medians.min()),
                  "max": float(medians.max()), "passes": len(passes)}
    return out


def factor(reference: dict | None, here: dict | None, kernel: str) -> float | None:
    """``reference time / this run's time`` of ``kernel`` (None when either is missing)."""
    if not reference or not here or kernel not in reference or kernel not in here or not here[kernel]:
        return None
    return float(reference[kernel]) / float(here[kernel])


def calibrate(value: float, factor: float | None, rate: bool = False) -> float:
    """``value`` as the reference machine would have measured it: a time x factor, a rate / factor."""
    if factor is None:
        return value
    return value / factor if rate else value * factor


def in_kernel_units(value: float, kernel_s: float, rate: bool = False) -> float:
    """A time as a multiple of the kernel's time (a rate: per kernel time), machine-independent
    as far as the kernel tracks the workload."""
    return value * kernel_s if rate else value / kernel_s


def spread(values) -> dict:
    """Median, quartiles, min and max of repeated measurements."""
    v = np.asarray(list(values), dtype=float)
    q1, med, q3 = (float(x) for x in np.percentile(v, [25, 50, 75]))
    return {"median": med, "q1": q1, "q3": q3, "min": float(v.min()), "max": float(v.max()), "n": int(v.size)}


def load_reference(path: Path | None = None) -> dict | None:
    """The committed machine's kernel times (``REFERENCE``), or None (no file, or another workload version)."""
    try:
        ref = json.loads(Path(path or REFERENCE).read_text())
    except FileNotFoundError:
        return None
    return ref if ref.get("workload_version") == WORKLOAD_VERSION else None


def reference_from(results: dict) -> dict:
    """A reference record from a run's results: its run-level kernel medians and its machine."""
    cal = results.get("calibration") or {}
    if not cal.get("passes"):
        raise SystemExit("this results.json has no calibration passes: run `python -m benchmarks.run` first")
    run = run_level(cal["passes"])
    m = results.get("machine", {})
    own = {name: run_level(body["calibration_passes"]) for name, body in (results.get("sections") or {}).items()
           if isinstance(body, dict) and body.get("calibration_passes")}
    return {"workload_version": WORKLOAD_VERSION, **{k: round(run[k]["median"], 6) for k in KERNELS},
            "machine": {k: m.get(k) for k in ("cpu", "cores", "usable_cores", "tensorflow", "keras", "date")},
            "passes": run["train"]["passes"],
            # a section that timed its own passes (the course) is calibrated against the same section here
            "sections": {name: {**{k: round(lv[k]["median"], 6) for k in KERNELS}, "passes": lv["train"]["passes"]}
                         for name, lv in own.items()}}


def warm_up() -> None:
    """One untimed pass: the first pass of a process ran its scoring call up to 40 % slower."""
    measure_pass()


def stability(old: dict, new: dict, tolerance: float = TOLERANCE) -> list[dict]:
    """Each time target of two runs' results (``results["targets"]``, those with a calibration):
    ``key``, ``measured`` and ``calibrated`` of both, the calibrated value's relative ``change``
    (new / old - 1) and ``ok`` (within ``tolerance``). A target missing from either run is left out."""
    before = {e["key"]: e for e in old.get("targets", []) if e.get("calibration") and e.get("value")}
    rows = []
    for e in new.get("targets", []):
        a = before.get(e["key"])
        if not a or not e.get("calibration") or e.get("value") is None:
            continue
        change = e["value"] / a["value"] - 1
        rows.append({"key": e["key"], "measured": (a["measured"], e["measured"]), "calibrated": (a["value"], e["value"]),
                     "change": round(change, 4), "ok": abs(change) <= tolerance})
    return rows


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.calibration OLD NEW``: the stability of the time targets across two runs."""
    import argparse

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("old", type=Path, help="results.json of the earlier run")
    p.add_argument("new", type=Path, help="results.json of the later run")
    p.add_argument("--tolerance", type=float, default=TOLERANCE, help="largest relative move (default %(default)s)")
    args = p.parse_args(argv)
    rows = stability(*(json.loads(path.read_text()) for path in (args.old, args.new)), tolerance=args.tolerance)
    if not rows:
        print("no time target with a calibration in both runs")
        return 1
    for r in rows:
        (m0, m1), (c0, c1) = r["measured"], r["calibrated"]
        print(f"{r['key']:<18} measured {m0:>12,.4g} -> {m1:>12,.4g} | calibrated {c0:>12,.4g} -> {c1:>12,.4g} "
              f"{r['change']:+7.1%}  {'ok' if r['ok'] else 'MOVED'}")
    moved = [r["key"] for r in rows if not r["ok"]]
    print(f"{len(rows) - len(moved)} of {len(rows)} within ±{args.tolerance:.0%}" + (f"; moved: {moved}" if moved else ""))
    return 1 if moved else 0


if __name__ == "__main__":
    raise SystemExit(main())
