"""Every exercise solution in ``docs/solutions/`` runs to the end.

Each lesson's exercises have a starter cell in the notebook (run by strict
nbval) and a worked solution here, as a plain script named after its lesson
(``04_*.py``). A solution asserts what it finds, so "runs" means "holds".

The scripts are independent processes that mostly wait on one Python
thread, so they run two at a time (the CI machine has two cores): the whole
set once, on first use, and each test reads its script's result.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "docs" / "solutions").glob("*.py"))
WORKERS = 2


def _run(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def results():
    """Script -> its finished process; the slowest scripts start first."""
    order = sorted(SOLUTIONS, key=lambda p: p.stat().st_size, reverse=True)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {path: pool.submit(_run, path) for path in order}
        return {path: future.result() for path, future in futures.items()}


@pytest.mark.slow
@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_solution_runs(path, results):
    proc = results[path]
    assert proc.returncode == 0, (f"{path.name} exited {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}"
                                  f"\n--- stderr\n{proc.stderr[-5000:]}")
