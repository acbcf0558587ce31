"""Where a lesson's time goes: the wall time of each cell, slowest first.

    COURSE_MODEL_CACHE=$(mktemp -d) python -m benchmarks.cell_times notebooks/0*.ipynb --top 8

``make bench`` times whole notebooks; this says which cells to cut. Each notebook
runs headless in a fresh kernel of this environment, as the course section runs
it, and nothing is written back. Run the lessons in order with an empty model
cache (as above) to see what ``make bench`` sees: a lesson then reuses what an
earlier one trained. With your usual cache, cached models load instead of training.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from pathlib import Path


def cell_seconds(nb) -> list[tuple[int, float, str]]:
    """``(cell index, seconds, first line)`` of every executed cell of ``nb``, in notebook order,
    from the per-cell timestamps ``nbclient`` records with ``record_timing=True``."""
    out = []
    for index, cell in enumerate(nb.cells):
        stamps = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in stamps and "shell.execute_reply" in stamps:
            start, end = (datetime.fromisoformat(stamps[k].replace("Z", "+00:00"))
                          for k in ("iopub.execute_input", "shell.execute_reply"))
            first = cell.source.splitlines()[0] if cell.source.strip() else ""
            out.append((index, (end - start).total_seconds(), first))
    return out


def time_cells(path: str | Path, timeout: int = 900) -> tuple[float, list[tuple[int, float, str]]]:
    """Execute ``path`` (its folder as working directory) and return its wall time and ``cell_seconds``."""
    import nbclient
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    # As course_lib.notebooks.execute runs it, but with the per-cell timestamps it leaves out.
    nbclient.execute(nb, cwd=str(path.parent), timeout=timeout, kernel_name="python3", record_timing=True)
    return time.perf_counter() - start, cell_seconds(nb)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("notebooks", nargs="+", type=Path, help="notebooks, run in the order given")
    p.add_argument("--top", type=int, default=10, help="cells to print per notebook (default %(default)s)")
    args = p.parse_args(argv)
    for path in args.notebooks:
        total, cells = time_cells(path)
        print(f"{path.name}: {total:.1f} s ({sum(s for _, s, _ in cells):.1f} s in {len(cells)} cells)", flush=True)
        for index, seconds, first in sorted(cells, key=lambda c: -c[1])[: args.top]:
            print(f"  cell {index:>3}  {seconds:7.1f} s  {first[:90]}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
