"""The scale section of ``make bench``: time the streaming path (``course_lib.streaming``).

The path itself (two passes over ``ratings.csv``, time-correct features,
tf.data, distribution strategies) is the library's; this module only
measures it (rows/s, examples/s, peak memory per stage) and renders the
section of RESULTS.md. ``benchmarks/multiworker.py`` times 1 vs N workers.
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.multiworker import compare_workers
from benchmarks.report import PeakRSS, md_table, rss_mib, write_atomic
from course_lib.streaming import (
    DEFAULT_CHUNK_ROWS, RELEASES, STRATEGIES, load_movies_csv, local_release, plan_stream, stream_features,
    stream_ratings, streaming_spec, train_streaming, write_synthetic_csv,
)


def measure(source: str = "auto", n_users: int = 30_000, n_movies: int = 3_000,
            chunk_rows: int = DEFAULT_CHUNK_ROWS, train_rows: int = 1_000_000, max_rows: int | None = None,
            strategy: str = "default", batch_size: int | None = None, workers: tuple[int, ...] = (),
            multiworker_rows: int = 1_000_000, multiworker_chunk_rows: int = 100_000,
            log=print) -> dict:
    """The scale section of ``benchmarks/run.py``: stream a big ``ratings.csv``, return plain data.

    Args:
        source: "auto" (ml-32m or ml-25m if already on disk, else synthetic),
            "synthetic", or "ml-25m" / "ml-32m" (fetched if missing).
        n_users, n_movies: Size of the synthetic csv.
        chunk_rows: Rows per read.
        train_rows: Train examples of the one training pass (from the file's start).
        max_rows: Stream at most about this many rows (None: the whole file).
        strategy: "default" or "mirrored" (``course_lib.streaming.get_strategy``).
        batch_size: Rows per step (default: ``course_lib.train.BATCH_SIZE``).
        workers: Also train with 1 and each of these many local workers
            (``benchmarks/multiworker.py``) on the first ``multiworker_rows`` rows.
        log: Progress printer (None: silent).

    Returns:
        ``source``, ``real_data``, sizes, ``plan_*`` (first pass), ``read_*`` and
        ``read_featurize_*`` rows/s, ``train_*`` examples/s, ``peak_rss_mib_*``
        per stage, ``test`` (AUC on the streamed test rows) and, with ``workers``,
        ``multiworker`` (``benchmarks.multiworker.compare_workers``).
    """
    import shutil
    import tempfile

    from course_lib.train import BATCH_SIZE

    say = log or (lambda *a, **k: None)
    batch_size = batch_size or BATCH_SIZE
    out: dict = {"strategy": strategy, "chunk_rows": chunk_rows, "time_correct": True}
    tmp = None
    try:
        release = None
        if source in RELEASES:
            from course_lib.data import fetch

            release = (source, fetch(source))
        elif source == "auto":
            release = local_release()
        elif source != "synthetic":
            raise ValueError(f"source must be 'auto', 'synthetic' or one of {RELEASES}, got {source!r}")
        if release:
            out["source"], folder = release
            out["real_data"] = True
        else:
            tmp = tempfile.mkdtemp(prefix="wd-scale-")
            gen = write_synthetic_csv(tmp, n_users=n_users, n_movies=n_movies, users_per_call=10_000)
            folder = Path(tmp)
            out["source"] = (f"synthetic MovieLens-shaped csv ({n_users:,} users, {gen['rows']:,} rows): "
                             "no ml-25m/ml-32m in the cache or the mirror")
            out.update(real_data=False, generate_seconds=gen["seconds"])
            say(f"  wrote {gen['rows']:,} synthetic rows in {gen['seconds']:.1f} s", flush=True)
        path = folder / "ratings.csv"
        out["csv_mib"] = round(path.stat().st_size / 1024 ** 2, 1)
        movies = load_movies_csv(folder)
        out["rss_mib_before"] = rss_mib()

        with PeakRSS(children_only=False) as mem:
            plan = plan_stream(path, chunk_rows, max_rows)
        out.update(rows=plan.rows, chunks=len(plan.chunk_sizes), plan_seconds=round(plan.seconds, 1),
                   plan_rows_per_s=round(plan.rows / plan.seconds, 0),
                   history_train_ratings=int(sum(plan.chunk_train_rows)),
                   history_mib=round(plan.history.nbytes / 1024 ** 2, 1), peak_rss_mib_plan=mem.mib)
        t = time.perf_counter()
        rows = sum(len(c) for c in stream_ratings(path, chunk_rows, max_rows))
        out["read_rows_per_s"] = round(rows / (time.perf_counter() - t), 0)
        with PeakRSS(children_only=False) as mem:
            t = time.perf_counter()
            first, feat_rows = None, 0
            for feats in stream_features(path, movies, plan=plan):
                first = feats if first is None else first
                feat_rows += len(feats)
            feat_s = time.perf_counter() - t
        out.update(read_featurize_rows_per_s=round(feat_rows / feat_s, 0), read_featurize_seconds=round(feat_s, 1),
                   peak_rss_mib_featurize=mem.mib, rss_growth_mib_featurize=_growth(mem.mib, out["rss_mib_before"]))
        say(f"  first pass {out['plan_rows_per_s']:,.0f} rows/s (history {out['history_mib']} MiB); "
            f"read {out['read_rows_per_s']:,.0f} rows/s; read+featurize {out['read_featurize_rows_per_s']:,.0f} "
            "rows/s", flush=True)

        with PeakRSS(children_only=False) as mem:
            run = train_streaming(path, movies, plan=plan, spec=streaming_spec(plan, movies, first),
                                  train_rows=train_rows, batch_size=batch_size, strategy=strategy)
        out.update({"replicas": run.replicas, "train_rows": run.train_rows, "train_seconds": round(run.seconds, 1),
                    "train_examples_per_s": round(run.train_rows / run.seconds, 0),
                    "streamed_rows_train_pass": run.streamed_rows, "peak_rss_mib_train": mem.mib,
                    "rss_growth_mib_train": _growth(mem.mib, out["rss_mib_before"]),
                    "batch_size": batch_size, "epochs": 1, "test_rows_evaluated": len(run.test)})
        report = run.test_report()
        if report:
            out["test"] = report
        say(f"  trained {out['train_examples_per_s']:,.0f} examples/s (end to end, streaming)", flush=True)
        if workers:
            out["multiworker"] = compare_workers(folder, (1, *workers), global_batch=batch_size,
                                                 chunk_rows=multiworker_chunk_rows, max_rows=multiworker_rows)
            out["multiworker_rows"] = multiworker_rows
            for n, res in out["multiworker"].items():
                say(f"  {n} worker(s): {res['global_examples_per_s']:,.0f} examples/s, "
                    f"peak RSS {res['peak_rss_mib_per_worker']} MiB per worker", flush=True)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def render(sc: dict) -> list[str]:
    """Markdown lines of the section for RESULTS.md, from ``measure``'s dict."""
    rows = [["first pass: ids, split, train ratings by (movie, time)", f"{sc['plan_rows_per_s']:,.0f} rows/s",
             f"{sc['rows']:,} rows in {sc['chunks']} chunks, {sc['plan_seconds']:.1f} s; history of "
             f"{sc['history_train_ratings']:,} train ratings = {sc['history_mib']} MiB; "
             f"peak RSS {sc['peak_rss_mib_plan']} MiB"],
            ["read (pandas chunks, complete users)", f"{sc['read_rows_per_s']:,.0f} rows/s", ""],
            ["read + featurize (second pass)", f"{sc['read_featurize_rows_per_s']:,.0f} rows/s",
             f"{sc['read_featurize_seconds']:.1f} s; peak process RSS {sc['peak_rss_mib_featurize']} MiB "
             f"(+{sc['rss_growth_mib_featurize']} MiB over the {sc['rss_mib_before']} MiB before streaming)"],
            ["train W&D, one pass, streamed through tf.data", f"{sc['train_examples_per_s']:,.0f} examples/s",
             f"{sc['train_rows']:,} train rows of the first {sc['streamed_rows_train_pass']:,} streamed, "
             f"in {sc['train_seconds']:.1f} s (featurizing overlapped), "
             f"peak RSS {sc['peak_rss_mib_train']} MiB (+{sc['rss_growth_mib_train']} MiB)"]]
    real = "the real release" if sc.get("real_data") else "synthetic data"
    lines = [f"Source: {sc['source']} ({real}), {sc['csv_mib']} MiB csv, chunks of {sc['chunk_rows']:,} rows, "
             f"strategy `{sc['strategy']}` ({sc['replicas']} replica(s)). Movie statistics are time-correct "
             "(two passes; see `benchmarks/README.md`).", "",
             *md_table(["Stage", "Throughput", "Notes"], rows)]
    if "test" in sc:
        lines += ["", f"Sanity check: test ROC AUC {sc['test']['roc_auc']:.4f} on the first "
                  f"{sc['test_rows_evaluated']:,} streamed test rows after one pass."]
    if sc.get("multiworker"):
        mw = [[n, f"{r['global_examples_per_s']:,.0f}", f"{r['train_seconds']:.1f} s", f"{r['steps']:,}",
               f"{r['prepare_seconds']:.1f} s", f"{r['peak_rss_mib_per_worker']} MiB", f"{r['wall_seconds']:.1f} s"]
              for n, r in sc["multiworker"].items()]
        lines += ["", f"MultiWorkerMirroredStrategy on this machine (`benchmarks/multiworker.py`, worker processes "
                  f"on 127.0.0.1), the first {sc['multiworker_rows']:,} rows, global batch "
                  f"{next(iter(sc['multiworker'].values()))['global_batch']:,}; slowest worker:", "",
                  *md_table(["Workers", "Examples/s (global)", "Train", "Steps", "First pass + spec",
                             "Peak RSS per worker", "Wall (incl. start)"], mw)]
    return lines


def _growth(peak, before):
    return round(peak - before, 1) if peak and before else None


def main(argv=None) -> int:
    """``python -m benchmarks.scale``: the scale section alone; prints its table and writes no file."""
    import argparse
    import json

    p = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=main.__doc__)
    p.add_argument("--source", default="auto", choices=("auto", "synthetic", *RELEASES),
                   help="auto: ml-32m/ml-25m if already on disk, else a synthetic csv")
    p.add_argument("--users", type=int, default=30_000, help="users of the synthetic csv")
    p.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS)
    p.add_argument("--train-rows", type=int, default=1_000_000, help="train examples of the training pass")
    p.add_argument("--max-rows", type=int, default=None, help="stream at most about this many rows")
    p.add_argument("--strategy", default="default", choices=STRATEGIES)
    p.add_argument("--workers", type=int, nargs="*", default=[], help="also compare 1 and N local workers")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args(argv)
    from course_lib.runtime import configure_environment, configure_tensorflow

    configure_environment()
    configure_tensorflow()
    res = measure(args.source, n_users=args.users, chunk_rows=args.chunk_rows, train_rows=args.train_rows,
                  max_rows=args.max_rows, strategy=args.strategy, workers=tuple(args.workers))
    print("\n".join(render(res)))
    if args.json:
        write_atomic(Path(args.json), json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
