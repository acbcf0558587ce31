"""Train the streaming Wide&Deep on several workers: ``tf.distribute.MultiWorkerMirroredStrategy``.

Each worker is one process (on one machine or many) with a full copy of
the model. Per step every worker trains on its own slice of a *global*
batch (``global_batch / workers`` rows), the gradients are summed across
workers (an all-reduce over gRPC) and every worker applies the same update,
so all copies stay identical. Workers featurize disjoint chunks of the file
(chunk ``i`` goes to worker ``i % n``, ``benchmarks.scale.stream_features``)
and run the same number of steps (the smallest share, from the first pass).

Keras 3's ``fit`` under this strategy is reported broken
(keras-team/keras#20585: TensorFlow's multi-worker tutorial fails since TF
2.16). Here, ``fit`` on the workers' distributed dataset fails too
(``ValueError: Attempt to convert a value ({'user_id': PerReplica:...})``),
so the loop is ours: ``strategy.run(model.train_step, ...)`` per step, the
very ``WideDeep.train_step`` ``fit`` calls (FTRL for the wide part, Adam for
the deep part; Keras all-reduces the gradients inside ``optimizer.apply``).

One trap, handled by ``benchmarks.scale.compile_for_strategy``: the course's models
output shape ``(batch,)``, for which ``keras.losses.BinaryCrossentropy``
averages inside the loss function and returns a scalar, and Keras then skips
dividing the loss by the number of replicas. Summed over ``n`` workers the
gradient would be ``n`` times the global batch mean (wrong for FTRL, whose
step is not scale-free).

Run on this machine (two processes, loopback ports)::

    python -m benchmarks.multiworker local --workers 2 --synthetic-users 3000 --out /tmp/mw

On real machines: see ``benchmarks/README.md`` (one ``worker`` per machine,
each with its own ``TF_CONFIG``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: Model size of the test and the 1-vs-2 benchmark (tiny: the CPU is shared).
TINY_MODEL = {"embedding_dim": 4, "hidden": [16], "dropout": 0.0}
#: Collective ops give up after this long (a dead peer would otherwise hang the others).
COLLECTIVE_TIMEOUT_S = 600


@dataclass
class Job:
    """What every worker of a run must agree on (written to ``job.json``).

    Attributes:
        data: Release folder holding ``ratings.csv`` and ``movies.csv``.
        out: Folder for the chief's model and each worker's report.
        global_batch: Rows per step over all workers (divisible by the worker count).
        chunk_rows, max_rows: How the file is read (``benchmarks.scale.stream_ratings``).
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
        _atomic_write(path, json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path) -> "Job":
        return cls(**json.loads(Path(path).read_text()))


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# ----------------------------------------------------------------- training ---

def build_model(spec, job: Job):
    """The W&D of the run, compiled like ``course_lib.train.compile_model`` but replica-safe.

    Call under ``strategy.scope()``: variables, and both optimizers' slots, are created here.
    """
    from benchmarks.scale import compile_for_strategy
    from course_lib.models import build_wide_deep

    return compile_for_strategy(build_wide_deep(spec, "wide_deep", seed=job.seed, **job.model))


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
    from benchmarks import scale

    if job.global_batch % num_workers:
        raise ValueError(f"global_batch {job.global_batch} must divide evenly over {num_workers} workers.")
    movies = scale.load_movies_csv(job.data)
    plan = scale.plan_stream(job.data, job.chunk_rows, job.max_rows)
    first = next(scale.stream_features(job.data, movies, plan=plan))
    spec = scale.streaming_spec(first, plan.users, plan.movies)
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
    from benchmarks import scale

    return scale.make_streaming_dataset(job.data, movies, spec, job.global_batch // num_workers, plan=plan,
                                        shard=(index, num_workers), steps=steps)


def run_worker(job: Job) -> dict:
    """One worker of a multi-worker run (``TF_CONFIG`` in the environment says which).

    Returns (and writes to ``<out>/worker-<index>.json``) what it did; the
    chief (index 0) also saves ``<out>/model.keras``.
    """
    from course_lib.runtime import configure_environment, configure_tensorflow

    configure_environment()
    import tensorflow as tf

    configure_tensorflow()
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    if "cluster" not in config or "task" not in config:
        raise ValueError("TF_CONFIG must name the cluster and this worker's task, e.g. "
                         '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                         '"task": {"type": "worker", "index": 0}}')
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
    _atomic_write(out / f"worker-{index}.json", json.dumps(report))
    return report


def train_reference(job: Job, num_workers: int):
    """The same training in one process on the same global batches (worker slices concatenated).

    The oracle of ``tests/test_scale.py``: a correct multi-worker run gives
    this model up to float32 summation order.
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
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    procs, logs = [], []
    start = time.perf_counter()
    try:
        for i in range(num_workers):
            log = open(out / f"worker-{i}.log", "w")
            logs.append(log)
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "benchmarks.multiworker", "worker", "--job", str(out / "job.json")],
                cwd=root, env={**env, "TF_CONFIG": tf_config(hosts, i)}, stdout=log, stderr=subprocess.STDOUT))
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


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB.

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
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(peak / (1024 ** 2 if sys.platform == "darwin" else 1024), 1)


def _tail(path: Path, chars: int = 3000) -> str:
    text = path.read_text(errors="replace") if path.exists() else "(no log)"
    return text[-chars:]


def compare_workers(folder, counts=(1, 2), global_batch: int = 2048, chunk_rows: int = 100_000,
                    max_rows: int | None = None, max_steps: int | None = None, model: dict | None = None,
                    timeout: float = 600) -> dict:
    """Train the same job with 1, 2, ... local workers; throughput and memory of each.

    Returns:
        ``{str(n): {"wall_seconds", "steps", "global_examples_per_s",
        "peak_rss_mib_per_worker", "prepare_seconds"}}`` (per-worker figures: the slowest worker).
    """
    out = {}
    for n in counts:
        with tempfile.TemporaryDirectory(prefix=f"wd-mw{n}-") as tmp:
            job = Job(data=str(folder), out=tmp, global_batch=global_batch, chunk_rows=chunk_rows,
                      max_rows=max_rows, max_steps=max_steps, model=dict(model or TINY_MODEL))
            res = launch_local(job, n, timeout=timeout)
        w = res["workers"]
        out[str(n)] = {"wall_seconds": res["wall_seconds"], "steps": w[0]["steps"],
                       "global_batch": global_batch,
                       "global_examples_per_s": min(r["global_examples_per_s"] for r in w),
                       "train_seconds": max(r["train_seconds"] for r in w),
                       "prepare_seconds": max(r["prepare_seconds"] for r in w),
                       "peak_rss_mib_per_worker": max(r["peak_rss_mib"] for r in w)}
    return out


# ----------------------------------------------------------------------- CLI ---

def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.multiworker", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    w = sub.add_parser("worker", help="run one worker (TF_CONFIG in the environment)")
    w.add_argument("--job", help="job.json written by `local` (or by you)")
    loc = sub.add_parser("local", help="run N workers on this machine and compare with 1")
    loc.add_argument("--workers", type=int, default=2)
    loc.add_argument("--synthetic-users", type=int, default=None, help="write a synthetic csv of N users")
    loc.add_argument("--compare", action="store_true", help="also run 1 worker and print both")
    for q in (w, loc):
        q.add_argument("--data", help="release folder (ratings.csv, movies.csv)")
        q.add_argument("--out", help="output folder (model.keras, worker-*.json)")
        q.add_argument("--global-batch", type=int, default=2048)
        q.add_argument("--chunk-rows", type=int, default=100_000)
        q.add_argument("--max-rows", type=int, default=None)
        q.add_argument("--max-steps", type=int, default=None)
        q.add_argument("--tiny", action="store_true", help="the tiny model of the tests")
    args = p.parse_args(argv)
    if args.command == "worker":
        job = Job.load(args.job) if args.job else _job_from_args(args)
        print(json.dumps(run_worker(job)), flush=True)
        return 0
    made = None
    if args.synthetic_users:
        from benchmarks.scale import write_synthetic_csv

        made = None if args.data else tempfile.mkdtemp(prefix="wd-mw-data-")
        args.data = args.data or made
        info = write_synthetic_csv(args.data, n_users=args.synthetic_users, n_movies=3_000, users_per_call=10_000)
        print(f"wrote {info['rows']:,} rows to {args.data}", flush=True)
    try:
        if args.compare:
            res = compare_workers(args.data, (1, args.workers), args.global_batch, args.chunk_rows, args.max_rows,
                                  args.max_steps, TINY_MODEL if args.tiny else {})
        else:
            res = launch_local(_job_from_args(args), args.workers)
    finally:
        if made:
            import shutil

            shutil.rmtree(made, ignore_errors=True)
    print(json.dumps(res, indent=1))
    return 0


def _job_from_args(args) -> Job:
    if not args.data or not args.out:
        raise SystemExit("--data and --out are required (or --job).")
    return Job(data=args.data, out=args.out, global_batch=args.global_batch, chunk_rows=args.chunk_rows,
               max_rows=args.max_rows, max_steps=args.max_steps, model=dict(TINY_MODEL) if args.tiny else {})


if __name__ == "__main__":
    sys.exit(main())
