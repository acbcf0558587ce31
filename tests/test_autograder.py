"""The wrong-answer suite: every wrong submission loses the points of its task.

Each assignment's instructor notebook (``assignments/source``) is executed
in-process once, without its test cells. For every wrong submission of
``tests/wrong_answers`` the solution cells are re-run with the wrong cell
swapped in, then every graded test cell (hidden tests included, exactly the
source nbgrader restores) runs against that namespace, as nbgrader would.
A test cell that raises loses its points. Checked:

- the solution passes every test cell (full marks);
- each wrong submission fails the test cell it targets, with the error it
  declares (an ``AssertionError`` from ``course_lib.checks`` — a message in
  plain language — unless the submission itself crashes);
- at least 9 wrong submissions per assignment, at least 3 per graded task.

The end-to-end runs through ``nbgrader autograde`` (one call per
assignment) are in tests/test_assignments.py.
"""

from __future__ import annotations

import io
import json
import time
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from tests.wrong_answers import a01, a02, a03

REPO = Path(__file__).resolve().parent.parent
WRONG = {"a01_crosses": a01.WRONG, "a02_embeddings": a02.WRONG, "a03_wide_and_deep": a03.WRONG}


def source_cells(name: str) -> list[dict]:
    path = REPO / "assignments" / "source" / name / f"{name}.ipynb"
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def grade_meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def code_of(cell: dict) -> str:
    return "".join(cell["source"])


class Notebook:
    """An assignment's source notebook, executed in-process without its tests."""

    def __init__(self, name: str):
        self.name = name
        self.cells = [c for c in source_cells(name) if c["cell_type"] == "code"]
        self.tests = [c for c in self.cells if grade_meta(c).get("grade")]
        self.solutions = [c for c in self.cells if grade_meta(c).get("solution")]
        self.points = {grade_meta(c)["grade_id"]: grade_meta(c)["points"] for c in self.tests}
        self.base: dict = {"__name__": "__main__"}
        with redirect_stdout(io.StringIO()):
            for cell in self.cells:
                if not grade_meta(cell).get("grade"):
                    exec(compile(code_of(cell), f"<{self.name} cell>", "exec"), self.base)

    def grade(self, replace: dict[str, str] | None = None) -> dict[str, BaseException | None]:
        """Run every test cell after re-running the solution cells (with ``replace`` swapped in).

        Returns:
            Test grade id -> the exception it raised, or None when it passed.
        """
        replace = replace or {}
        namespace = dict(self.base)
        with redirect_stdout(io.StringIO()) as out:
            for cell in self.solutions:
                source = replace.get(grade_meta(cell)["grade_id"], code_of(cell))
                exec(compile(source, "<submission>", "exec"), namespace)
            results = {}
            for cell in self.tests:
                try:
                    exec(compile(code_of(cell), f"<{grade_meta(cell)['grade_id']}>", "exec"), namespace)
                    results[grade_meta(cell)["grade_id"]] = None
                except Exception as exc:  # noqa: BLE001  (any failure loses the cell's points)
                    results[grade_meta(cell)["grade_id"]] = exc
        self.last_output = out.getvalue()
        return results

    def score(self, results: dict) -> int:
        return sum(self.points[gid] for gid, exc in results.items() if exc is None)


_NOTEBOOKS: dict[str, Notebook] = {}


def notebook(name: str) -> Notebook:
    if name not in _NOTEBOOKS:
        _NOTEBOOKS[name] = Notebook(name)
    return _NOTEBOOKS[name]


def test_suite_covers_every_task():
    for name, wrongs in WRONG.items():
        tasks = {grade_meta(c)["grade_id"] for c in source_cells(name) if grade_meta(c).get("grade")
                 and c["cell_type"] == "code"}
        assert len(wrongs) >= 9, f"{name}: only {len(wrongs)} wrong submissions"
        for task in tasks:
            n = sum(w.fails == task for w in wrongs)
            assert n >= 3, f"{name}: {task} has only {n} wrong submissions (need 3)"
        assert len({w.name for w in wrongs}) == len(wrongs)
        solution_ids = {grade_meta(c)["grade_id"] for c in source_cells(name) if grade_meta(c).get("solution")}
        assert {w.cell for w in wrongs} <= solution_ids


@pytest.mark.parametrize("name", list(WRONG))
def test_solution_passes_every_test_cell(name):
    nb = notebook(name)
    results = nb.grade()
    failed = {gid: repr(exc) for gid, exc in results.items() if exc is not None}
    assert not failed, f"{name}: the solution fails {failed}"
    assert nb.score(results) == sum(nb.points.values())
    # A passing test cell prints one verdict line and nothing else.
    lines = nb.last_output.strip().splitlines()
    assert len(lines) == len(nb.tests) and all(line.endswith(": all checks passed") for line in lines), lines


CASES = [(name, wrong) for name, wrongs in WRONG.items() for wrong in wrongs]


@pytest.mark.parametrize("name, wrong", CASES, ids=[f"{n}-{w.name}" for n, w in CASES])
def test_wrong_submission_loses_its_points(name, wrong):
    nb = notebook(name)
    start = time.perf_counter()
    results = nb.grade({wrong.cell: wrong.source})
    exc = results[wrong.fails]
    assert exc is not None, f"{name}: wrong submission {wrong.name!r} passes {wrong.fails}"
    assert type(exc).__name__ == wrong.error, f"{wrong.name}: expected {wrong.error}, got {exc!r}"
    if wrong.error == "AssertionError":
        message = str(exc)
        assert " should " in message, (
            f"{wrong.name}: the failure message is not plain language: {message!r}")
    total = sum(nb.points.values())
    score = nb.score(results)
    assert score <= total - nb.points[wrong.fails]
    print(f"{name} {wrong.name}: {score}/{total} (fails {wrong.fails}; {time.perf_counter() - start:.1f} s)\n"
          f"  {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
