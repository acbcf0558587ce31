"""Train the streaming Wide&Deep on several workers: ``tf.distribute.MultiWorkerMirroredStrategy``.

Each worker is one process (on one machine or many) with a full copy of
the model. Per step every worker trains on its own slice of a *global*
batch (``global_batch / workers`` rows), the gradients are summed across
workers (an all-reduce over gRPC) and every worker applies the same update,
so all copies stay identical. Workers featurize disjoint chunks of the file
(chunk ``i`` goes to worker ``i % n``, ``course_lib.streaming.stream_features``)
and run the same number of steps (the smallest share, from the first pass).

Keras 3's ``fit`` under this strategy is reported broken
(keras-team/keras#20585: TensorFlow's multi-worker tutorial fails since TF
2.16). Here, ``fit`` on the workers' distributed dataset fails too
(``ValueError: Attempt to convert a value ({'user_id': PerReplica:...})``),
so the loop is ours: ``strategy.run(model.train_step, ...)`` per step, the
very ``WideDeep.train_step`` ``fit`` calls (FTRL for the wide part, Adam for
the deep part; Keras all-reduces the gradients inside ``optimizer.apply``).
The model is compiled by ``course_lib.train.compile_model`` under the
strategy, which makes the loss replica-safe (see ``replica_safe_loss``).

Run on this machine (two processes, loopback ports)::

    python -m course_lib multiworker local --workers 2 --synthetic-users 3000 --out /tmp/mw

On real machines: one ``python -m course_lib multiworker worker --job job.json``
per machine, each with its own ``TF_CONFIG`` (see the README).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: A tiny model (for tests and quick checks on a shared CPU).
TINY_MODEL = {"embedding_dim": 4, "hidden": [16], "dropout": 0.0}
#: Collective ops give up after this long (a dead peer would otherwise hang the others).
COLLECTIVE_TIMEOUT_S = 600
#: The command that runs one worker (``launch_local`` starts it per worker).
WORKER_COMMAND = ("-m", "course_lib", "multiworker", "worker")


@dataclass
class Job:
    """What every worker of a run must agree on (written to ``job.json``).

    Attributes:
        data: Release folder holding ``ratings.csv`` and ``movies.csv``.
        out: Folder for the chief's model and each worker's report.
        global_batch: Rows per step over all workers (divisible by the worker count).
        chunk_rows, max_rows: How the file is read (``course_lib.streaming.stream_ratings``).
        max_steps: Stop after this many steps (None: the smallest worker share).
        seed: Initial weights (the chief's are broadcast to every worker).
        model: Keyword arguments of ``build_wide_deep`` (deep branch size, dropout).
    """

    data: str
    out: str
    global_batch: int = 2048
    chunk_rows: int = 500_000
    max_rows: int | None = None
    max_steps: int | None = None
    seed: int = 1
    model: dict = field(default_factory=dict)

    def save(self, path: Path) -> None:
        _write_atomic(path, json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path) -> "Job":
        try:
            fields = json.loads(Path(path).read_text())
            return cls(**fields)
        except (OSError, ValueError, TypeError) as err:
            raise ValueError(f"cannot read the job {path}: {err}. A job is a JSON object with at least "
                             '"data" (the release folder) and "out" (the output folder).') from err


def _write_atomic(path: Path, text: str) -> None:
    # Another worker, or the launcher, may read it at any moment: never half a file.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# ----------------------------------------------------------------- training ---

def build_model(spec, job: Job):
    """The W&D of the run, compiled by ``compile_model`` (replica-safe under a strategy's scope).

    Call under ``strategy.scope()``: variables, and both optimizers' slots, are created there.
    """
    from course_lib.models import build_wide_deep
    from course_lib.train import compile_model

    return compile_model(build_wide_deep(spec, "wide_deep", seed=job.seed, **job.model))


def train_loop(model, batches, strategy) -> int:
    """One pass over ``batches`` (distributed or not) with ``model.train_step``; returns the steps run."""
    import tensorflow as tf

    @tf.function
    def step(batch):
        return strategy.run(model.train_step, args=(batch,))

    steps = 0
    for batch in batches:
        step(batch)
        steps += 1
    return steps


def prepare(job: Job, num_workers: int):
    """First pass, spec and steps: the same on every worker (deterministic in the file)."""
    from course_lib import streaming

    if job.global_batch % num_workers:
        raise ValueError(f"global_batch {job.global_batch} must divide evenly over {num_workers} workers.")
    movies = streaming.load_movies_csv(job.data)
    plan = streaming.plan_stream(job.data, job.chunk_rows, job.max_rows)
    spec = streaming.streaming_spec(plan, movies)
    local = job.global_batch // num_workers
    steps = min(plan.shard_train_rows(num_workers)) // local
    if job.max_steps is not None:
        steps = min(steps, job.max_steps)
    if steps < 1:
        raise ValueError(f"a worker's share holds fewer than {local} train rows: use smaller chunks "
                         "(chunk_rows) or a smaller global batch.")
    return movies, plan, spec, steps


def worker_dataset(job: Job, movies, plan, spec, steps: int, index: int, num_workers: int):
    """Worker ``index``'s local batches: its chunks, ``steps`` full batches of ``global_batch / n`` rows."""
    from course_lib.streaming import make_streaming_dataset

    return make_streaming_dataset(job.data, movies, spec, job.global_batch // num_workers, plan=plan,
                                  shard=(index, num_workers), steps=steps)


def run_worker(job: Job) -> dict:
    """One worker of a multi-worker run (``TF_CONFIG`` in the environment says which).

    Returns (and writes to ``<out>/worker-<index>.json``) what it did; the
    chief (index 0) also saves ``<out>/model.keras``.

    Raises:
        ValueError: If ``TF_CONFIG`` does not name the cluster and this worker's task.
    """
    from course_lib.runtime import configure_environment, configure_tensorflow

    configure_environment()
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    if "cluster" not in config or "task" not in config:
        raise ValueError("TF_CONFIG must name the cluster and this worker's task, e.g. "
                         '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                         '"task": {"type": "worker", "index": 0}}')
    import tensorflow as tf

    configure_tensorflow()
    index = int(config["task"]["index"])
    start = time.perf_counter()
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=COLLECTIVE_TIMEOUT_S)
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    n = strategy.num_replicas_in_sync
    movies, plan, spec, steps = prepare(job, n)
    prepared = time.perf_counter()
    with strategy.scope():
        model = build_model(spec, job)
    batches = strategy.distribute_datasets_from_function(
        lambda ctx: worker_dataset(job, movies, plan, spec, steps, ctx.input_pipeline_id,
                                   ctx.num_input_pipelines))
    t = time.perf_counter()
    done = train_loop(model, batches, strategy)
    train_s = time.perf_counter() - t
    out = Path(job.out)
    out.mkdir(parents=True, exist_ok=True)
    if index == 0:
        tmp = out / "model.tmp.keras"
        model.save(tmp)
        os.replace(tmp, out / "model.keras")
    report = {"index": index, "workers": n, "steps": done, "planned_steps": steps,
              "local_batch": job.global_batch // n, "global_batch": job.global_batch,
              "examples": done * job.global_batch // n, "prepare_seconds": round(prepared - start, 2),
              "train_seconds": round(train_s, 2),
              "global_examples_per_s": round(done * job.global_batch / train_s, 0),
              "peak_rss_mib": peak_rss_mib(),
              "history_mib": round(plan.history.nbytes / 1024 ** 2, 1), "finished": True}
    _write_atomic(out / f"worker-{index}.json", json.dumps(report))
    return report


def train_reference(job: Job, num_workers: int):
    """The same training in one process on the same global batches (worker slices concatenated).

    What a correct ``num_workers`` run must give, up to float32 summation
    order (``tests/test_scale.py`` checks it).
    """
    import tensorflow as tf

    movies, plan, spec, steps = prepare(job, num_workers)
    shards = [worker_dataset(job, movies, plan, spec, steps, i, num_workers) for i in range(num_workers)]
    glued = tf.data.Dataset.zip(tuple(shards)).map(
        lambda *parts: tf.nest.map_structure(lambda *t: tf.concat(t, axis=0), *parts))
    strategy = tf.distribute.get_strategy()
    model = build_model(spec, job)
    done = train_loop(model, glued, strategy)
    return model, spec, done


# ------------------------------------------------------------------ launcher ---

def free_ports(n: int) -> list[int]:
    """``n`` loopback ports free right now (bound together, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def tf_config(hosts: list[str], index: int) -> str:
    """The ``TF_CONFIG`` of worker ``index`` in a cluster of ``hosts`` ("host:port")."""
    return json.dumps({"cluster": {"worker": list(hosts)}, "task": {"type": "worker", "index": index}})


def launch_local(job: Job, num_workers: int, timeout: float = 600) -> dict:
    """Run ``num_workers`` worker processes on this machine (127.0.0.1) and wait for them.

    Returns:
        ``workers`` (each worker's report), ``wall_seconds`` and ``model`` (the chief's file).

    Raises:
        RuntimeError: A worker failed or the run exceeded ``timeout`` (all are stopped), with
            the end of each worker's log.
    """
    out = Path(job.out)
    out.mkdir(parents=True, exist_ok=True)
    job.save(out / "job.json")
    hosts = [f"127.0.0.1:{p}" for p in free_ports(num_workers)]
    # The workers import this very course_lib, wherever the launcher runs from.
    package_root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    procs, logs = [], []
    start = time.perf_counter()
    try:
        for i in range(num_workers):
            log = open(out / f"worker-{i}.log", "w")
            logs.append(log)
            procs.append(subprocess.Popen(
                [sys.executable, *WORKER_COMMAND, "--job", str(out / "job.json")],
                env={**env, "TF_CONFIG": tf_config(hosts, i)}, stdout=log, stderr=subprocess.STDOUT))
        deadline = start + timeout
        for p in procs:
            p.wait(timeout=max(deadline - time.perf_counter(), 1))
    except subprocess.TimeoutExpired:
        pass
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for log in logs:
            log.close()
    wall = time.perf_counter() - start
    codes = [p.returncode for p in procs]
    if any(codes):
        tails = "\n".join(f"--- worker {i} (exit {c}) ---\n" + _tail(out / f"worker-{i}.log")
                          for i, c in enumerate(codes))
        raise RuntimeError(f"multi-worker run failed or timed out after {wall:.0f} s:\n{tails}")
    reports = [json.loads((out / f"worker-{i}.json").read_text()) for i in range(num_workers)]
    return {"workers": reports, "wall_seconds": round(wall, 1), "model": str(out / "model.keras")}


def peak_rss_mib() -> float | None:
    """This process's peak resident memory in MiB (None where the OS does not say).

    Linux: ``VmHWM``, which starts afresh at ``exec``; ``ru_maxrss`` would
    carry over the launching process's peak (the worker is forked from it).
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(peak / (1024 ** 2 if sys.platform == "darwin" else 1024), 1)


def _tail(path: Path, chars: int = 3000) -> str:
    text = path.read_text(errors="replace") if path.exists() else "(no log)"
    return text[-chars:]
