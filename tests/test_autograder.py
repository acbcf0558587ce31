"""The wrong-answer suite and the tamper family, each graded by the trusted evaluator ``make grade`` uses.

Every graded decision comes from the assignment's grader
(``assignments/graders/<assignment>.py``) through
``course_lib.autograde.evaluate``: the checks run in this process and ask
the submission only for data.

- **Wrong answers** (``tests/wrong_answers/a0*.py``). Each assignment's
  instructor notebook is executed once in a namespace of this process,
  without its test cells. For every wrong submission the solution cells are
  re-run with the wrong cell swapped in, and every task is decided through
  ``NamespaceStudent`` (the same requests, answers and checks as a kernel
  gets). Checked: the solution gets full marks, each wrong submission fails
  the task it targets with a plain-language message, and there are at least
  9 per assignment and 3 per task.
- **Tamper family** (``tests/wrong_answers/tamper.py``). Each case runs
  through ``TrustedExecute`` — the preprocessor ``nbgrader autograde``
  runs — in a fresh ``python3`` kernel, and nbgrader's own
  ``determine_grade`` scores the test cells: every task must score 0.
  (Not sandboxed here; tests/test_assignments.py sends some cases through
  ``nbgrader autograde`` in the ``course-sandbox`` kernel.)
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import nbformat
import pytest

from course_lib import autograde
from tests.wrong_answers import a01, a02, a03
from tests.wrong_answers.tamper import JUNK, TAMPER, tampered

#: Every test here grades whole assignments (TensorFlow models): not in ``make test-fast``.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
GRADERS = REPO / "assignments" / "graders"
WRONG = {"a01_crosses": a01.WRONG, "a02_embeddings": a02.WRONG, "a03_wide_and_deep": a03.WRONG}


def notebook_json(folder: str, name: str) -> dict:
    return json.loads((REPO / "assignments" / folder / name / f"{name}.ipynb").read_text(encoding="utf-8"))


def grade_meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def code_of(cell: dict) -> str:
    return "".join(cell["source"])


class Notebook:
    """An assignment's source notebook, executed in-process without its test cells."""

    def __init__(self, name: str):
        self.name = name
        self.cells = [c for c in notebook_json("source", name)["cells"] if c["cell_type"] == "code"]
        self.solutions = [c for c in self.cells if grade_meta(c).get("solution")]
        self.points = {grade_meta(c)["grade_id"]: grade_meta(c)["points"] for c in self.cells
                       if grade_meta(c).get("grade")}
        self.tasks = autograde.load_tasks(GRADERS, name)
        self.base: dict = {"__name__": "__main__"}
        with redirect_stdout(io.StringIO()):
            for cell in self.cells:
                if not grade_meta(cell).get("grade"):
                    exec(compile(code_of(cell), f"<{self.name} cell>", "exec"), self.base)

    def grade(self, replace: dict[str, str] | None = None, student: str = "solution") -> dict[str, str | None]:
        """Decide every task after re-running the solution cells (with ``replace`` swapped in).

        Returns:
            Test grade id -> None (passed) or the message it failed with.
        """
        replace = replace or {}
        namespace = dict(self.base)
        cells = [dict(c, source=replace.get(grade_meta(c).get("grade_id"), code_of(c))) for c in self.cells]
        with redirect_stdout(io.StringIO()):
            for cell in cells:
                if grade_meta(cell).get("solution"):
                    exec(compile(cell["source"], "<submission>", "exec"), namespace)
        return autograde.evaluate(self.tasks, autograde.NamespaceStudent(namespace),
                                  autograde.submission_seed(self.name, student), autograde.code_sources(cells))

    def score(self, results: dict) -> int:
        return sum(self.points[gid] for gid, failure in results.items() if failure is None)


_NOTEBOOKS: dict[str, Notebook] = {}


def notebook(name: str) -> Notebook:
    if name not in _NOTEBOOKS:
        _NOTEBOOKS[name] = Notebook(name)
    return _NOTEBOOKS[name]


def test_suite_covers_every_task():
    for name, wrongs in WRONG.items():
        cells = notebook_json("source", name)["cells"]
        tasks = {grade_meta(c)["grade_id"] for c in cells if grade_meta(c).get("grade") and c["cell_type"] == "code"}
        assert tasks == {t.grade_id for t in autograde.load_tasks(GRADERS, name)}, f"{name}: grader != test cells"
        assert len(wrongs) >= 9, f"{name}: only {len(wrongs)} wrong submissions"
        for task in tasks:
            n = sum(w.fails == task for w in wrongs)
            assert n >= 3, f"{name}: {task} has only {n} wrong submissions (need 3)"
        assert len({w.name for w in wrongs}) == len(wrongs)
        solution_ids = {grade_meta(c)["grade_id"] for c in cells if grade_meta(c).get("solution")}
        assert {w.cell for w in wrongs} <= solution_ids


@pytest.mark.parametrize("name", list(WRONG))
def test_solution_passes_every_task(name):
    nb = notebook(name)
    for student in ("solution", "another-student"):  # two submissions, two sets of hidden inputs
        results = nb.grade(student=student)
        failed = {gid: failure for gid, failure in results.items() if failure is not None}
        assert not failed, f"{name}: the solution fails {failed}"
        assert nb.score(results) == sum(nb.points.values())


CASES = [(name, wrong) for name, wrongs in WRONG.items() for wrong in wrongs]


@pytest.mark.parametrize("name, wrong", CASES, ids=[f"{n}-{w.name}" for n, w in CASES])
def test_wrong_submission_loses_its_points(name, wrong):
    nb = notebook(name)
    results = nb.grade({wrong.cell: wrong.source}, student=wrong.name)
    failure = results[wrong.fails]
    assert failure is not None, f"{name}: wrong submission {wrong.name!r} passes {wrong.fails}"
    # A plain-language message; a crash names the error the submission raised.
    assert " should " in failure, f"{wrong.name}: the failure message is not plain language: {failure!r}"
    if wrong.error != "AssertionError":
        assert f"raised {wrong.error}" in failure, f"{wrong.name}: expected {wrong.error}, got {failure!r}"
    total = sum(nb.points.values())
    score = nb.score(results)
    assert score <= total - nb.points[wrong.fails]
    print(f"{name} {wrong.name}: {score}/{total} (fails {wrong.fails})\n  {failure.splitlines()[0]}")


def test_a_hard_coded_answer_to_the_visible_examples_earns_nothing():
    """The hidden inputs are fresh per submission: an answer that only knows the visible ones fails."""
    nb = notebook("a01_crosses")
    memorised = '''
def cross_id(a, b, num_bins):
    known = {(1, 10, 1000): 13, (2, 20, 1000): 26, (1, 2, 1 << 20): 1, (2, 1, 1 << 20): 2,
             (3, 30, 1000): 59}
    return np.array([known.get((int(x), int(y), int(num_bins)), 0) for x, y in zip(a, b)])
'''
    results = nb.grade({"a01_cross_id": memorised}, student="memoriser")
    assert results["a01_test_cross_id"] is not None and "500 pairs" in results["a01_test_cross_id"]


def test_hidden_inputs_differ_per_submission():
    seeds = {autograde.submission_seed("a01_crosses", s) for s in ("ann", "bob", "cleo")}
    assert len(seeds) == 3 and autograde.submission_seed("a01_crosses", "ann") == autograde.submission_seed(
        "a01_crosses", "ann")


# ------------------------------------------------------------- tamper family ---

def grade_with_trusted_execute(nb: dict, name: str, student: str, workdir: Path) -> dict[str, float]:
    """Run ``TrustedExecute`` (what ``make grade`` runs) on ``nb`` in a python3 kernel; points per test cell."""
    from nbgrader.utils import determine_grade

    node = nbformat.reads(json.dumps(nb), as_version=4)
    executor = autograde.TrustedExecute(graders_dir=str(GRADERS), timeout=30, kernel_name="python3")
    resources = {"nbgrader": {"assignment": name, "student": student}, "metadata": {"path": str(workdir)}}
    executor.preprocess(node, resources)
    return {c.metadata.nbgrader.grade_id: determine_grade(c)[0] for c in node.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}


def test_junk_answers_are_wrong_everywhere():
    """The base of every tamper case solves no task (so any point it gets is forged)."""
    for name, junk in JUNK.items():
        results = notebook(name).grade(junk, student="junk")
        assert all(failure is not None for failure in results.values()), (name, results)


#: Each case on one assignment, in turn (every assignment gets four); each case costs a kernel
#: (~6 s). The sandboxed end-to-end runs add more pairs (tests/test_assignments.py).
TAMPER_CASES = [(list(JUNK)[i % len(JUNK)], case) for i, case in enumerate(TAMPER)]


@pytest.mark.slow
@pytest.mark.parametrize("name, case", TAMPER_CASES, ids=[f"{n}-{c.name}" for n, c in TAMPER_CASES])
def test_tampering_scores_zero(name, case, tmp_path):
    nb = tampered(notebook_json("release", name), name, case)
    points = grade_with_trusted_execute(nb, name, case.name, tmp_path)
    print(f"{name} {case.name}: {points}")
    assert points and all(p == 0 for p in points.values()), f"{case.name} forged points on {name}: {points}"
