"""Time the multi-worker training (``course_lib.multiworker``) with 1 and N local workers.

``python -m benchmarks.multiworker --workers 2 --synthetic-users 30000 --max-rows 1000000``
runs the same job with one worker, then N, on this machine (processes on
127.0.0.1), and prints throughput and memory of each. ``benchmarks.scale``
calls ``compare_workers`` for the scale section of ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile

from course_lib.multiworker import TINY_MODEL, Job, launch_local
from course_lib.streaming import write_synthetic_csv


def compare_workers(folder, counts=(1, 2), global_batch: int = 2048, chunk_rows: int = 100_000,
                    max_rows: int | None = None, max_steps: int | None = None, model: dict | None = None,
                    timeout: float = 600) -> dict:
    """Train the same job with 1, 2, ... local workers; throughput and memory of each.

    Args:
        model: ``build_wide_deep`` arguments (None: ``TINY_MODEL``; ``{}``: the course's W&D).

    Returns:
        ``{str(n): {"wall_seconds", "steps", "global_examples_per_s",
        "peak_rss_mib_per_worker", "prepare_seconds"}}`` (per-worker figures: the slowest worker).
    """
    out = {}
    for n in counts:
        with tempfile.TemporaryDirectory(prefix=f"wd-mw{n}-") as tmp:
            job = Job(data=str(folder), out=tmp, global_batch=global_batch, chunk_rows=chunk_rows,
                      max_rows=max_rows, max_steps=max_steps,
                      model=dict(TINY_MODEL if model is None else model))
            res = launch_local(job, n, timeout=timeout)
        w = res["workers"]
        out[str(n)] = {"wall_seconds": res["wall_seconds"], "steps": w[0]["steps"],
                       "global_batch": global_batch,
                       "global_examples_per_s": min(r["global_examples_per_s"] for r in w),
                       "train_seconds": max(r["train_seconds"] for r in w),
                       "prepare_seconds": max(r["prepare_seconds"] for r in w),
                       "peak_rss_mib_per_worker": max(r["peak_rss_mib"] for r in w)}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.multiworker", description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=2, help="compare 1 worker with this many")
    p.add_argument("--data", help="release folder (ratings.csv, movies.csv)")
    p.add_argument("--synthetic-users", type=int, default=None, help="write a synthetic csv of N users instead")
    p.add_argument("--global-batch", type=int, default=2048)
    p.add_argument("--chunk-rows", type=int, default=100_000)
    p.add_argument("--max-rows", type=int, default=None)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--full", action="store_true", help="the course's full W&D (default: the tiny model)")
    args = p.parse_args(argv)
    if not args.data and not args.synthetic_users:
        p.error("give --data FOLDER or --synthetic-users N")
    with tempfile.TemporaryDirectory(prefix="wd-mw-data-") as tmp:
        folder = args.data or tmp
        if args.synthetic_users:
            info = write_synthetic_csv(folder, n_users=args.synthetic_users, n_movies=3_000, users_per_call=10_000)
            print(f"wrote {info['rows']:,} rows to {folder}", flush=True)
        res = compare_workers(folder, (1, args.workers), args.global_batch, args.chunk_rows, args.max_rows,
                              args.max_steps, {} if args.full else TINY_MODEL)
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
