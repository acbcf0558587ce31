"""Command line: ``python -m course_lib fetch|license|execute|stream|multiworker``.

The Makefile calls the first three, and Windows users (no make) run them
directly. ``stream`` and ``multiworker`` are the path beyond a laptop:
MovieLens 25M/32M streamed through tf.data (``course_lib.streaming``), on one
process or several workers (``course_lib.multiworker``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

STREAM_HELP = """\
Train the course's Wide & Deep in one pass over a big ratings.csv (MovieLens
25M/32M), read in chunks of complete users and fed through tf.data, with
features equal to build_features on the whole file. Memory: one chunk plus
24 bytes per train rating (about 400 MiB for ml-25m), not the whole table."""

MULTIWORKER_HELP = """\
Train the streaming Wide & Deep data-parallel over worker processes with
tf.distribute.MultiWorkerMirroredStrategy. `local` starts N workers on this
machine; on real machines run one `worker` per machine, each with its own
TF_CONFIG, e.g.
  TF_CONFIG='{"cluster": {"worker": ["10.0.0.1:23456", "10.0.0.2:23456"]},
             "task": {"type": "worker", "index": 0}}' \\
      python -m course_lib multiworker worker --job job.json"""


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_lib")
    sub = parser.add_subparsers(dest="command", required=True)
    p_fetch = sub.add_parser("fetch", help="download (or copy from the mirror) and verify MovieLens")
    p_fetch.add_argument("variant", nargs="?", default="ml-latest-small")
    p_lic = sub.add_parser("license", help="show the GroupLens licence and citation")
    p_lic.add_argument("variant", nargs="?", default="ml-latest-small")
    p_exec = sub.add_parser("execute", help="re-execute notebooks in place (refresh stored outputs)")
    p_exec.add_argument("notebooks", nargs="+")
    p_exec.add_argument("--timeout", type=int, default=900)

    p_stream = sub.add_parser("stream", help="train W&D on MovieLens 25M/32M, streamed (one process)",
                              description=STREAM_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p_stream.add_argument("data", nargs="?", help="a folder holding ratings.csv and movies.csv, or a csv "
                          "release name (ml-25m, ml-32m: fetched if missing)")
    p_stream.add_argument("--train-rows", type=_positive, default=None,
                          help="train on the first N train rows (default: all of them)")
    p_stream.add_argument("--batch-size", type=_positive, default=None, help="rows per step (default 2048)")
    p_stream.add_argument("--strategy", default="default", choices=("default", "mirrored"),
                          help="mirrored: every local GPU (or the CPU) through tf.distribute.MirroredStrategy")
    p_stream.add_argument("--out", help="save the trained model as OUT/model.keras")

    p_mw = sub.add_parser("multiworker", help="train the streaming W&D on several workers",
                          description=MULTIWORKER_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    mw_sub = p_mw.add_subparsers(dest="role", required=True)
    p_worker = mw_sub.add_parser("worker", help="run one worker (TF_CONFIG in the environment says which)")
    p_worker.add_argument("--job", help="a job.json (as `local` writes it); else give --data and --out")
    p_local = mw_sub.add_parser("local", help="run N workers on this machine (loopback ports)")
    p_local.add_argument("--workers", type=_positive, default=2, help="worker processes (default 2)")
    for p in (p_worker, p_local):
        p.add_argument("--data", help="the release folder (ratings.csv, movies.csv) every worker reads")
        p.add_argument("--out", help="output folder: model.keras (the chief's), worker-*.json, worker-*.log")
        p.add_argument("--global-batch", type=_positive, default=2048,
                       help="rows per step over all workers, divisible by their number (default %(default)s)")
        p.add_argument("--max-steps", type=_positive, default=None, help="stop after N steps")
    for p in (p_stream, p_local):
        p.add_argument("--synthetic-users", type=_positive, default=None,
                       help="write a synthetic MovieLens-shaped csv of N users (into DATA if given, "
                            "else a temporary folder) and use it")
    for p in (p_stream, p_worker, p_local):
        p.add_argument("--chunk-rows", type=_positive, help="rows per read (default %(default)s)")
        p.add_argument("--max-rows", type=_positive, default=None, help="stream at most about N rows")
        p.add_argument("--seed", type=int, default=1, help="initial weights")
        p.add_argument("--tiny", action="store_true", help="a tiny deep branch (quick checks on a shared CPU)")
    # Smaller chunks for several workers: each featurizes every n-th chunk and needs a few.
    p_stream.set_defaults(chunk_rows=500_000, subparser=p_stream)
    p_worker.set_defaults(chunk_rows=100_000, subparser=p_worker)
    p_local.set_defaults(chunk_rows=100_000, subparser=p_local)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)

    if args.command == "fetch":
        from course_lib.data import DataError, fetch

        try:
            path = fetch(args.variant)
        except (DataError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"{args.variant}: ready in {path}")
    elif args.command == "license":
        from course_lib.data import show_license

        show_license(args.variant)
    elif args.command == "execute":
        from course_lib.notebooks import execute_in_place

        for nb in args.notebooks:
            seconds = execute_in_place(nb, timeout=args.timeout)
            print(f"{nb}: executed in {seconds:.1f} s")
    elif args.command in ("stream", "multiworker"):
        from course_lib.data import DataError

        _check_arguments(args)
        made = None
        try:
            if getattr(args, "synthetic_users", None):
                made = _write_synthetic(args)
            return _stream(args) if args.command == "stream" else _multiworker(args)
        except (DataError, ValueError, RuntimeError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        finally:
            if made:
                shutil.rmtree(made, ignore_errors=True)
    return 0


def _check_arguments(args) -> None:
    """Argument combinations argparse cannot express; exits 2 with the usage and what to do."""
    if getattr(args, "job", None):
        return
    error, option = args.subparser.error, "DATA" if args.command == "stream" else "--data"
    if not args.data and not getattr(args, "synthetic_users", None):
        alternative = ", or --synthetic-users N" if hasattr(args, "synthetic_users") else ""
        error(f"say which ratings to read: {option} (a folder with ratings.csv and movies.csv, "
              f"or ml-25m / ml-32m){alternative}")
    if args.command == "multiworker" and not args.out:
        error("--out is required: the folder for the chief's model and the workers' reports")
    workers = getattr(args, "workers", None)
    if workers and args.global_batch % workers:
        error(f"--global-batch {args.global_batch} must divide evenly over {workers} workers")


def _write_synthetic(args) -> str | None:
    """Write the synthetic csv into ``args.data`` (or a temporary folder, returned for removal)."""
    from course_lib.streaming import write_synthetic_csv

    made = None if args.data else tempfile.mkdtemp(prefix="wd-synthetic-")
    args.data = args.data or made
    info = write_synthetic_csv(args.data, n_users=args.synthetic_users, n_movies=3_000, users_per_call=10_000)
    print(f"wrote {info['rows']:,} synthetic ratings to {args.data}", flush=True)
    return made


def _model_kwargs(args) -> dict:
    from course_lib.multiworker import TINY_MODEL

    return dict(TINY_MODEL) if args.tiny else {}


def _stream(args) -> int:
    from course_lib.runtime import configure_tensorflow
    from course_lib.streaming import release_folder, train_streaming

    folder = release_folder(args.data)
    configure_tensorflow()
    run = train_streaming(folder, train_rows=args.train_rows, batch_size=args.batch_size, strategy=args.strategy,
                          chunk_rows=args.chunk_rows, max_rows=args.max_rows,
                          seed=args.seed, model_kwargs=_model_kwargs(args))
    plan = run.plan
    print(f"first pass: {plan.rows:,} rows in {len(plan.chunk_sizes)} chunks, {plan.seconds:.1f} s; "
          f"movie index of {sum(plan.chunk_train_rows):,} train ratings, {plan.history.nbytes / 1024 ** 2:.1f} MiB")
    print(f"trained on {run.train_rows:,} rows in {run.seconds:.1f} s "
          f"({run.train_rows / run.seconds:,.0f} examples/s, {run.replicas} replica(s))")
    report = run.test_report()
    if report:
        print(f"test ROC AUC {report['roc_auc']:.4f} on the first {len(run.test):,} streamed test rows")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        run.model.save(out / "model.keras")
        print(f"saved {out / 'model.keras'}")
    return 0


def _multiworker(args) -> int:
    from course_lib import multiworker as mw
    from course_lib.streaming import release_folder

    if args.role == "worker" and args.job:
        job = mw.Job.load(args.job)
    else:
        job = mw.Job(data=str(release_folder(args.data)), out=args.out, global_batch=args.global_batch,
                     chunk_rows=args.chunk_rows, max_rows=args.max_rows, max_steps=args.max_steps,
                     seed=args.seed, model=_model_kwargs(args))
    if args.role == "worker":
        print(json.dumps(mw.run_worker(job)), flush=True)
    else:
        print(json.dumps(mw.launch_local(job, args.workers), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
