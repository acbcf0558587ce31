"""Every exercise solution in ``docs/solutions/`` runs to the end.

Each lesson's exercises have a starter cell in the notebook (run by strict
nbval) and a worked solution here, as a plain script named after its lesson
(``04_*.py``). A solution asserts what it finds, so "runs" means "holds".
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "docs" / "solutions").glob("*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_solution_runs(path):
    proc = subprocess.run([sys.executable, str(path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, (f"{path.name} exited {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}"
                                  f"\n--- stderr\n{proc.stderr[-5000:]}")
