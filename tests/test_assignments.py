"""Tests of the graded assignments (nbgrader) and of course_lib.checks.

The fast tests check ``course_lib.checks`` and scan ``assignments/release``
for leaked solutions. The slow tests (marked ``slow``, run by default) work
in a temporary copy of ``assignments/`` and drive the nbgrader command line
exactly as docs/instructors.md tells an instructor to: regenerate the
releases (they must equal the committed ones), autograde the instructor
solution, the blank release and broken submissions, export the grades to
CSV and generate feedback.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course_lib import checks

REPO = Path(__file__).resolve().parent.parent
COURSE = REPO / "assignments"
ASSIGNMENTS = ["a01_crosses", "a02_embeddings", "a03_wide_and_deep"]
BIN = Path(sys.executable).parent
#: What a course copy leaves out: git-ignored grading state of a local run.
LOCAL_STATE = ("gradebook.db", "submitted", "autograded", "feedback", "exchange", ".ipynb_checkpoints",
               "__pycache__")
#: Per-cell limit for the infinite-loop submission (the course default is 300 s).
LOOP_TIMEOUT = 30

SOLUTION_MARK = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
HIDDEN_MARK = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


def notebook_path(root: Path, folder: str, name: str) -> Path:
    return root / folder / name / f"{name}.ipynb"


def read(path: Path):
    return nbformat.read(path, as_version=4)


# ------------------------------------------------------------- checks.py ---

class TestChecks:
    def test_placeholder(self):
        for value in (None, ...):
            with pytest.raises(AssertionError, match=r"(?s)still .*Hint: replace the placeholder"):
                checks.check_not_placeholder(value, "answer")
        assert checks.check_not_placeholder(0, "answer") == 0

    def test_callable(self):
        assert checks.check_callable(len, "f") is len
        with pytest.raises(AssertionError, match="f should be a function, but it is a int: 3"):
            checks.check_callable(3, "f")

    def test_number(self):
        assert checks.check_number(np.float32(0.5), "x") == 0.5
        with pytest.raises(AssertionError, match="single number"):
            checks.check_number([1, 2], "x")
        with pytest.raises(AssertionError, match="finite"):
            checks.check_number(float("nan"), "x")

    def test_shape(self):
        out = checks.check_shape([[1, 2, 3]], (1, None), "m")
        assert isinstance(out, np.ndarray) and out.shape == (1, 3)
        with pytest.raises(AssertionError, match=r"m should have shape \(5,\), but it has shape \(5, 1\)\.\nHint"):
            checks.check_shape(np.zeros((5, 1)), (5,), "m")

    def test_range_and_probabilities(self):
        checks.check_probabilities([0.0, 0.5, 1.0], "p")
        with pytest.raises(AssertionError, match=r"p should lie in \[0.0, 1.0\], but 1 of 2 values do not"):
            checks.check_probabilities([0.5, 1.5], "p")
        with pytest.raises(AssertionError, match="NaN or inf"):
            checks.check_range([np.inf], 0, 1, "p")
        with pytest.raises(AssertionError, match="empty"):
            checks.check_range([], 0, 1, "p")

    def test_close(self):
        checks.check_close([1.0, 2.00001], [1, 2], "v")
        with pytest.raises(AssertionError, match=r"v should equal \[1.0, 2.0\].*but it is \[1.0, 3.0\]"):
            checks.check_close([1.0, 3.0], [1, 2], "v")
        with pytest.raises(AssertionError, match="shape"):
            checks.check_close([1.0], [1, 2], "v")

    def test_auc_above(self):
        assert checks.check_auc_above(0.71, 0.70, "auc") == pytest.approx(0.71)
        with pytest.raises(AssertionError, match="beat the baseline validation AUC 0.7000, but it is 0.6900"):
            checks.check_auc_above(0.69, 0.70, "auc")
        with pytest.raises(AssertionError, match="between 0 and 1"):
            checks.check_auc_above(1.2, 0.7, "auc")
        with pytest.raises(AssertionError, match="still None"):
            checks.check_auc_above(None, 0.7, "auc")


# ------------------------------------------------ static release checks ---

def test_release_hides_solutions_and_hidden_tests():
    for name in ASSIGNMENTS:
        source_nb = read(notebook_path(COURSE, "source", name))
        release_text = notebook_path(COURSE, "release", name).read_text(encoding="utf-8")
        # Lines that only a solution or hidden-test region contains (given code
        # such as `my_crosses = None` also appears outside them, legitimately).
        outside, secret = set(), set()
        for cell in source_nb.cells:
            regions = SOLUTION_MARK.findall(cell.source) + HIDDEN_MARK.findall(cell.source)
            for region in regions:
                secret.update(line.strip() for line in region.splitlines())
            rest = HIDDEN_MARK.sub("", SOLUTION_MARK.sub("", cell.source))
            outside.update(line.strip() for line in rest.splitlines())
            if (cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "markdown"):
                secret.update(line.strip() for line in cell.source.splitlines())
        secret = {line for line in secret - outside if len(line) >= 8 and not line.startswith("#")}
        assert secret, f"{name}: no solution lines found in the source notebook"
        release_lines = {json.loads(f'"{line}"').strip() for line in re.findall(r'"((?:[^"\\]|\\.)*)"', release_text)}
        leaked = sorted(line for line in secret if any(line in rl for rl in release_lines))
        assert not leaked, f"{name}: release/ leaks solution or hidden-test lines: {leaked[:5]}"
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
                       "BEGIN MARK SCHEME", "END MARK SCHEME"):
            assert marker not in release_text, f"{name}: release/ still contains {marker!r}"


def test_sources_are_executed_and_start_with_setup():
    for name in ASSIGNMENTS:
        nb = read(notebook_path(COURSE, "source", name))
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code[0].source == "import course_lib\ncourse_lib.setup_notebook(seed=42)"
        assert "nbval-ignore-output" in code[0].metadata.get("tags", [])
        assert all(c.execution_count for c in code), f"{name}: commit the source notebook executed"
        errors = [o for c in code for o in c.outputs if o.output_type == "error"]
        assert not errors, f"{name}: the instructor solution raises {errors[0].ename}"


# ---------------------------------------------------------- nbgrader run ---

def nbgrader(course: Path, *args: str, timeout: int = 1500) -> subprocess.CompletedProcess:
    """Run the nbgrader CLI of this venv in ``course`` (as an instructor would)."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run([str(BIN / "nbgrader"), *args], cwd=course, env=env, text=True,
                          capture_output=True, timeout=timeout)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def copy_course(dest: Path) -> Path:
    shutil.copytree(COURSE, dest, ignore=shutil.ignore_patterns(*LOCAL_STATE))
    return dest


def comparable(nb) -> list[tuple]:
    """What a release must reproduce: cell type, source and nbgrader metadata."""
    return [(c.cell_type, c.source, json.dumps(c.metadata.get("nbgrader", {}), sort_keys=True),
             tuple(c.metadata.get("tags", []))) for c in nb.cells]


def set_source(nb, grade_id: str, source: str) -> None:
    cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    assert len(cells) == 1, grade_id
    cells[0].source = source


def drop_cells(nb, grade_ids: set[str]) -> None:
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in grade_ids]


def broken_a01(course: Path) -> dict[str, object]:
    """Broken a01 submissions (student id -> notebook) built from the release and the solution."""
    solution = read(notebook_path(course, "source", "a01_crosses"))
    blank = read(notebook_path(course, "release", "a01_crosses"))
    subs = {}

    nb = nbformat.from_dict(json.loads(json.dumps(solution)))
    set_source(nb, "a01_cross_id", "def cross_id(a, b, num_bins)\n    return (a * 1_000_003 + b) %")
    subs["syntax"] = nb

    nb = nbformat.from_dict(json.loads(json.dumps(blank)))
    set_source(nb, "a01_cross_id", "def cross_id(a, b, num_bins):\n    return a\n\nwhile True:\n    pass")
    subs["loop"] = nb

    nb = nbformat.from_dict(json.loads(json.dumps(solution)))
    drop_cells(nb, {"a01_test_seen_share", "a01_my_crosses", "a01_howto"})
    subs["deleted"] = nb

    nb = nbformat.from_dict(json.loads(json.dumps(blank)))
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = "# the tests were in my way\npass"
    subs["tampered"] = nb

    nb = nbformat.from_dict(json.loads(json.dumps(solution)))
    nb.cells.insert(5, nbformat.v4.new_code_cell('for i in range(100_000):\n    print("spam " * 10, i)'))
    subs["noisy"] = nb
    return subs


def submit(course: Path, student: str, name: str, nb) -> None:
    path = course / "submitted" / student / name / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A temporary course: releases regenerated, every submission autograded."""
    course = copy_course(tmp_path_factory.mktemp("course") / "assignments")
    shutil.rmtree(course / "release")
    timings = {}
    for name in ASSIGNMENTS:
        nbgrader(course, "db", "assignment", "add", name)
        nbgrader(course, "generate_assignment", name, "--force")
    broken = broken_a01(course)
    for student in ["solution", "blank", *broken]:
        nbgrader(course, "db", "student", "add", student)
    for name in ASSIGNMENTS:
        submit(course, "solution", name, read(notebook_path(COURSE, "source", name)))
        submit(course, "blank", name, read(notebook_path(course, "release", name)))
    for student, nb in broken.items():
        submit(course, student, "a01_crosses", nb)

    for name in ASSIGNMENTS:
        start = time.perf_counter()
        nbgrader(course, "autograde", name, "--student", "solution", "--force")
        timings[name] = time.perf_counter() - start
    # The rest; the solutions above are already graded and are skipped.
    nbgrader(course, "autograde", "a01_crosses", "--student", "loop", "--force",
             f"--Execute.timeout={LOOP_TIMEOUT}", f"--ExecutePreprocessor.timeout={LOOP_TIMEOUT}")
    for name in ASSIGNMENTS:
        nbgrader(course, "autograde", name)
    nbgrader(course, "export", "--to=grades.csv")
    nbgrader(course, "generate_feedback", "a01_crosses")
    print("autograde time of the solution (s):", {k: round(v, 1) for k, v in timings.items()})
    return {"course": course, "broken": sorted(broken), "timings": timings}


def code_scores(course: Path, name: str) -> dict[str, tuple[float, float]]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {}
        for submission in gb.assignment_submissions(name):
            notebook = gb.find_submission_notebook(name, name, submission.student.id)
            scores[submission.student.id] = (notebook.code_score, notebook.max_code_score)
        return scores


@pytest.mark.slow
def test_committed_release_is_up_to_date(graded):
    for name in ASSIGNMENTS:
        fresh = read(notebook_path(graded["course"], "release", name))
        committed = read(notebook_path(COURSE, "release", name))
        assert comparable(committed) == comparable(fresh), (
            f"assignments/release/{name} is stale: run `nbgrader generate_assignment {name} --force` "
            "in assignments/ and commit the result.")
        assert all(not c.get("outputs") for c in committed.cells if c.cell_type == "code")


@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_solution_full_marks_blank_zero(graded, name):
    scores = code_scores(graded["course"], name)
    score, total = scores["solution"]
    assert total > 0 and score == total, f"{name}: the instructor solution got {score}/{total}"
    assert scores["blank"] == (0, total), f"{name}: the blank release got {scores['blank']}"


@pytest.mark.slow
def test_broken_submissions_are_graded(graded):
    course = graded["course"]
    scores = code_scores(course, "a01_crosses")
    # The gradebook still opens and lists every submission.
    assert sorted(scores) == sorted(["solution", "blank", *graded["broken"]])
    total = scores["solution"][1]
    assert scores["loop"][0] == 0 and scores["tampered"][0] == 0
    assert scores["syntax"][0] < total          # cross_id does not compile
    assert scores["noisy"] == (total, total)   # noise costs nothing, but is cut
    assert 0 < scores["deleted"][0] < total    # deleted tests score zero, the rest counts

    loop = read(course / "autograded" / "loop" / "a01_crosses" / "a01_crosses.ipynb")
    enames = {o.get("ename") for c in loop.cells if c.cell_type == "code" for o in c.outputs}
    assert enames & {"CellTimeoutError", "KeyboardInterrupt"}, enames

    # Tampered tests are restored from the gradebook before grading.
    # (The instructor's version, hidden tests included, is what gets graded.)
    original = {c.metadata["nbgrader"]["grade_id"]: c.source
                for c in read(notebook_path(COURSE, "source", "a01_crosses")).cells
                if c.metadata.get("nbgrader", {}).get("grade")}
    tampered = read(course / "autograded" / "tampered" / "a01_crosses" / "a01_crosses.ipynb")
    restored = {c.metadata["nbgrader"]["grade_id"]: c.source for c in tampered.cells
                if c.metadata.get("nbgrader", {}).get("grade")}
    assert restored == original

    noisy = read(course / "autograded" / "noisy" / "a01_crosses" / "a01_crosses.ipynb")
    lines = sum(o.get("text", "").count("\n") for c in noisy.cells if c.cell_type == "code" for o in c.outputs)
    assert lines < 5000, f"the noisy output was not cut ({lines} lines)"


@pytest.mark.slow
def test_export_and_feedback(graded):
    course = graded["course"]
    with open(course / "grades.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_key = {(r["assignment"], r["student_id"]): r for r in rows}
    for name in ASSIGNMENTS:
        row = by_key[(name, "solution")]
        assert float(row["raw_score"]) > 0
    assert (course / "feedback" / "solution" / "a01_crosses" / "a01_crosses.html").exists()
    html = (course / "feedback" / "tampered" / "a01_crosses" / "a01_crosses.html").read_text(encoding="utf-8")
    assert "NotImplementedError" in html  # the blank's first failing test, shown to the student
