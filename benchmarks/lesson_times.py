"""Write each lesson's measured run time (``make bench``) into its "Time to run" header.

``python -m benchmarks.lesson_times`` after ``make bench``: the header of every
notebook in ``notebooks/`` then quotes the wall time of the last bench run
(``benchmarks/results.json``, section ``course``), calibrated to the reference
machine. Only markdown changes, so the notebooks' stored outputs stay valid;
``tests/test_notebooks.py`` checks that each header stays within 20 % of the
recorded figure.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results.json"
#: "**Time to run:** about 55 s" / "about 2 minutes": the figure this module writes and the test reads.
HEADER = re.compile(r"(\*\*Time to run:\*\* about )(\d+(?:\.\d+)?) (s|seconds|minutes?)\b")
TOLERANCE = 0.20


def measured_seconds(results: Path = RESULTS) -> dict[str, float]:
    """Notebook file name -> wall seconds of the last bench run, calibrated.

    Each lesson's time is scaled by the calibration factor of the course
    total (``benchmarks.calibration``: the reference machine's yardstick over
    this run's), so a run on a busy or slower machine does not move the
    promise; a run without a calibration is taken as measured.
    """
    body = json.loads(results.read_text())
    course = body["sections"]["course"]
    total = next((t for t in body.get("targets", []) if t.get("key") == "course_total_s"), {})
    factor = float((total.get("calibration") or {}).get("factor") or 1.0)
    return {row["notebook"]: float(row["seconds"]) * factor for row in course["notebooks"] if row["ok"]}


def header_seconds(text: str) -> float | None:
    """The run time a header quotes, in seconds (None if it has none)."""
    m = HEADER.search(text)
    if not m:
        return None
    value = float(m.group(2))
    return value * 60 if m.group(3).startswith("minute") else value


def rounded(seconds: float) -> str:
    """5-second steps above 20 s: a header is a promise, not a measurement to the tenth."""
    return f"{round(seconds)} s" if seconds < 20 else f"{5 * round(seconds / 5)} s"


def update(results: Path = RESULTS) -> list[str]:
    """Rewrite the headers; returns the notebooks changed."""
    changed = []
    for name, seconds in measured_seconds(results).items():
        path = ROOT / "notebooks" / name
        nb = json.loads(path.read_text(encoding="utf-8"))
        cell = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
        text = "".join(cell["source"])
        new = HEADER.sub(lambda m: m.group(1) + rounded(seconds), text, count=1)
        if new != text:
            cell["source"] = new.splitlines(keepends=True)
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            changed.append(name)
    return changed


if __name__ == "__main__":
    print("updated:", ", ".join(update()) or "nothing")
    sys.exit(0)
