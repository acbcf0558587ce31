"""Tests of the graded assignments (nbgrader), course_lib.checks and course_lib.grading.

The fast tests check ``course_lib.checks``, scan ``assignments/release``
and the learner copy (``make student``) for leaked solutions, hidden tests
and mark scheme, and check that the figures the a03 mark scheme quotes are
the ones lessons 04/06 print. The slow tests (marked ``slow``, run by
default) work in a temporary copy of ``assignments/`` and drive the nbgrader
command line exactly as docs/instructors.md tells an instructor to:
regenerate the releases (they must equal the committed ones), autograde —
one ``nbgrader autograde`` call per assignment, inside the bubblewrap
grading sandbox — the instructor solution, the blank release, wrong
submissions of tests/wrong_answers, broken submissions and a snooping one,
export the grades to CSV and generate feedback. The in-process wrong-answer
suite is tests/test_autograder.py.
"""

from __future__ import annotations

import csv
import json
import socket
import threading
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

from course_lib import answers, autograde, checks, grading
from tests.wrong_answers import a01 as wrong_a01
from tests.wrong_answers import a02 as wrong_a02
from tests.wrong_answers import a03 as wrong_a03
from tests.wrong_answers.tamper import TAMPER, TAMPER_BY_NAME, tampered

REPO = Path(__file__).resolve().parent.parent
COURSE = REPO / "assignments"
ASSIGNMENTS = ["a01_crosses", "a02_embeddings", "a03_wide_and_deep"]
BIN = Path(sys.executable).parent
#: What a course copy leaves out: git-ignored grading state of a local run.
LOCAL_STATE = ("gradebook.db", "submitted", "autograded", "feedback", "exchange", ".ipynb_checkpoints",
               "__pycache__")
#: Per-cell limit of the end-to-end autograde runs (the course default is 300 s);
#: it also bounds the infinite-loop submission. The slowest solution cell takes ~10 s.
CELL_TIMEOUT = 30

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
        with pytest.raises(AssertionError, match="be above 0.7000, but it is 0.6900"):
            checks.check_auc_above(0.69, 0.70, "auc")
        with pytest.raises(AssertionError, match="between 0 and 1"):
            checks.check_auc_above(1.2, 0.7, "auc")
        with pytest.raises(AssertionError, match="still None"):
            checks.check_auc_above(None, 0.7, "auc")

    def test_changed_and_passed(self, capsys):
        checks.check_changed([np.zeros(2)], [np.ones(2)], True, "w", "hint")
        with pytest.raises(AssertionError, match="w should stay unchanged, but they changed"):
            checks.check_changed([np.zeros(2)], [np.ones(2)], False, "w", "hint")
        checks.passed("task")
        assert capsys.readouterr().out == "task: all checks passed\n"

    def test_data_is_seeded(self):
        x1, y1 = checks.ordered_pairs(seed=1)
        x2, y2 = checks.ordered_pairs(seed=1)
        assert np.array_equal(x1["a"], x2["a"]) and np.array_equal(y1, y2)
        frame, clusters = checks.taste_clusters(seed=1)
        assert frame.equals(checks.taste_clusters(seed=1)[0]) and len(clusters) == 96
        assert not frame.duplicated(["user_id", "movie_id"]).any()

    def test_liked_histories(self):
        import pandas as pd

        likes = pd.DataFrame({"user_id": [1, 1, 1, 2, 2], "movie_id": [10, 20, 30, 10, 40],
                              "liked": [1.0, 1.0, 0.0, 1.0, 1.0]})
        rows = pd.DataFrame({"user_id": [1, 1, 2, 3], "movie_id": [10, 99, 40, 10]})
        out = checks.liked_histories(rows, likes, length=3)
        # Own movie left out, the user's liked movies in order, 0-padded; an unknown user gets zeros.
        assert out.dtype == np.int64 and out.tolist() == [[20, 0, 0], [10, 20, 0], [10, 0, 0], [0, 0, 0]]
        assert checks.liked_histories(rows.head(2), likes, length=1).tolist() == [[20], [10]]

    def test_lookup_probe_rows_follow_the_lessons(self):
        table = np.arange(10, dtype=np.float32).reshape(5, 2)
        probe = checks.lookup_probe([42, 7, 1000], table)
        # Row 0 padding (id 0), row 1 OOV, then the ids in order (course_lib.models.InputEncoder's layout).
        rows = np.asarray(probe.get_layer("movie_lookup")(np.array([0, 5, 42, 7, 1000])))
        assert rows.tolist() == [0, 1, 2, 3, 4]
        with pytest.raises(ValueError, match=r"len\(movie_ids\) \+ 2"):
            checks.lookup_probe([42, 7, 1000], table[:4])


# ------------------------------------------------------ trusted grading ---

class TestTrustedGrading:
    """course_lib.answers (the wire format) and course_lib.autograde's decisions, in process."""

    def test_answers_round_trip(self):
        values = {"value": np.arange(3), "weights": [np.ones((2, 2), np.float32), np.zeros(1)], "kind": "Model"}
        back = answers.unpack(answers.pack(values))
        assert back["value"].tolist() == [0, 1, 2] and str(back["kind"]) == "Model"
        assert [w.shape for w in back["weights"]] == [(2, 2), (1,)] and back["weights"][0].dtype == np.float32
        with pytest.raises(ValueError, match="numbers or strings"):
            answers.pack({"model": object()})

    def test_a_forged_answer_cannot_run_code_or_be_doubled(self):
        import base64
        import io
        import pickle

        payload = base64.b64encode(pickle.dumps({"x": 1})).decode()
        with pytest.raises(answers.NoAnswer, match="could not be read"):
            answers.unpack(payload)
        buffer = io.BytesIO()
        np.save(buffer, np.array([{"x": 1}], dtype=object), allow_pickle=True)
        with pytest.raises(answers.NoAnswer):
            answers.unpack(base64.b64encode(buffer.getvalue()).decode())
        good = answers.pack({"value": np.ones(2)})
        line = f"<<answer abc>>{good}<<answer abc>>"
        assert answers.read("noise\n" + line + "\n", "abc")["value"].tolist() == [1.0, 1.0]
        with pytest.raises(answers.NoAnswer, match="2 answers"):
            answers.read(line + line, "abc")
        with pytest.raises(answers.NoAnswer, match="no answer"):
            answers.read(line, "other-nonce")

    def test_namespace_student_reports_failures_in_plain_words(self):
        student = autograde.NamespaceStudent({"double": lambda x: 2 * x, "broken": lambda x: 1 / 0})
        assert student.call("double", np.array([1, 2])).tolist() == [2, 4]
        with pytest.raises(AssertionError, match=r"broken\(\.\.\.\) should run, but it raised ZeroDivisionError"):
            student.call("broken", np.array([1]))
        with pytest.raises(AssertionError, match="raised NameError"):
            student.call("missing", 1)
        silent = autograde.NamespaceStudent({})
        with pytest.raises(answers.NoAnswer, match="should answer the grader, but no answer came back"):
            silent.ask("def probe(inputs):\n    import io, sys\n    sys.stdout = io.StringIO()\n"
                       "    return {'value': 1}\n", "probe")
        with pytest.raises(AssertionError, match="raised SystemExit"):
            silent.ask("def probe(inputs):\n    raise SystemExit\n", "probe")

    def test_reference_uses_finds_the_library_models(self):
        uses = autograde.reference_uses
        assert uses("from course_lib.models import WideDeep") == ["course_lib.models"]
        assert uses("from course_lib import explain, checks") == ["course_lib.explain"]
        assert uses("import course_lib.train as t") == ["course_lib.train"]
        assert uses("import course_lib as cl\nx = cl.features.FeatureSpec") == ["course_lib.features"]
        assert uses("m = __import__('importlib').import_module('course_lib.recommend')") == ["course_lib.recommend"]
        # What the assignments give is allowed; a cell that does not parse names nothing.
        assert uses("import course_lib\ncourse_lib.setup_notebook(seed=42)\n"
                    "from course_lib.checks import passed\nfrom course_lib.metrics import auc") == []
        assert uses("def f(:") == []

    def test_own_work_looks_at_the_task_and_the_cells_around_it(self):
        task = autograde.Task("t", "build", lambda student, rng: None, own_work=("mine",))
        sources = {"mine": "x = 1", "other_task": "from course_lib.models import build_deep", "cell 3": "pass"}
        assert autograde.own_work_failure(task, sources, {"mine", "other_task"}) is None
        sources["cell 3"] = "from course_lib import models"
        message = autograde.own_work_failure(task, sources, {"mine", "other_task"})
        assert "build should be your own code" in message and "course_lib.models in cell 3" in message

    def test_evaluate_fails_a_task_whose_check_raises(self, capsys):
        def passes(student, rng):
            return None

        def fails(student, rng):
            raise AssertionError("x should be 1, but it is 2.")

        def buggy(student, rng):
            raise KeyError("oops")

        tasks = [autograde.Task(name, name, check) for name, check in
                 (("a", passes), ("b", fails), ("c", buggy))]
        results = autograde.evaluate(tasks, autograde.NamespaceStudent({}), 0, {})
        assert results["a"] is None and results["b"] == "x should be 1, but it is 2."
        assert "could not be checked" in results["c"] and "trusted grader error" in capsys.readouterr().err

    def test_sandbox_hides_the_reference_modules(self, tmp_path):
        cmd = grading.sandbox_command(["python"], tmp_path, tmp_path)
        library = Path(grading.__file__).resolve().parent
        stubbed = {Path(cmd[i + 2]).stem for i, part in enumerate(cmd)
                   if part == "--ro-bind" and cmd[i + 1].endswith("reference_module_stub.py")}
        modules = {p.stem for p in library.glob("*.py")}
        assert stubbed == modules - set(grading.SANDBOX_MODULES) and {"models", "explain", "train"} <= stubbed
        assert ["--tmpfs", str(library / "__pycache__")] == cmd[cmd.index(str(library / "__pycache__")) - 1:][:2]
        assert "ImportError" in (tmp_path / "reference_module_stub.py").read_text()

    def test_config_swaps_only_nbgrader_execute(self, monkeypatch):
        from nbgrader.converters import Autograde
        from traitlets.config import Config

        config = Config()
        namespace = {"get_config": lambda: config, "__file__": str(COURSE / "nbgrader_config.py")}
        monkeypatch.setenv("COURSE_GRADING_SANDBOX", "0")
        monkeypatch.setenv("PATH", os.environ["PATH"])  # restored after: the config prepends the venv's bin/
        with pytest.warns(RuntimeWarning, match="NOT SANDBOXED"):
            exec((COURSE / "nbgrader_config.py").read_text(), namespace)
        default = Autograde.class_traits()["autograde_preprocessors"].default()
        assert config.Autograde.autograde_preprocessors == [autograde.TrustedExecute, *default[1:]]
        assert config.TrustedExecute.graders_dir == str(COURSE / "graders")


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
        # No noise: a graded test cell prints its verdict line and nothing else.
        for cell in code:
            if cell.metadata.get("nbgrader", {}).get("grade"):
                texts = [(o.output_type, o.get("name"), o.get("text", "")) for o in cell.outputs]
                assert texts == [("stream", "stdout", texts[0][2])] and texts[0][2].endswith(
                    ": all checks passed\n") and texts[0][2].count("\n") == 1, (name, texts)
        stderr = [c.metadata.get("nbgrader", {}).get("grade_id") for c in code[1:]
                  for o in c.outputs if o.get("name") == "stderr"]
        assert not stderr, f"{name}: cells write to stderr: {stderr}"


# ------------------------------------------------------ mark scheme figures ---

def memorization_cell() -> str:
    nb = read(notebook_path(COURSE, "source", "a03_wide_and_deep"))
    cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "a03_memorization"]
    assert len(cells) == 1
    return cells[0].source


def test_mark_scheme_figures_match_the_lessons():
    """Every figure and verdict the model answer and rubric quote is keyed to a lesson's stored output, and matches it."""
    text = memorization_cell()
    rows = grading.rubric_figures(text)
    assert len(rows) >= 3, "the a03 mark scheme lost its figure table"
    for row in rows:
        printed = grading.stored_figure(REPO / row["notebook"], row["key"])
        assert printed == row["value"], (
            f"the a03 mark scheme quotes {row['key']!r} = {row['value']}, but {row['notebook']} now prints "
            f"{printed}: update the figure table and the model answer in "
            "assignments/source/a03_wide_and_deep (then regenerate the release).")
    # Comparative claims quote the verdict of course_lib.compare that the lesson prints (issue 20).
    verdicts = grading.rubric_verdicts(text)
    assert {v["value"] for v in verdicts} >= {"better", "not distinguishable"}, verdicts
    for row in verdicts:
        printed = grading.stored_verdict(REPO / row["notebook"], row["key"])
        assert printed == row["value"], (
            f"the a03 mark scheme says {row['key']!r} is {row['value']!r}, but {row['notebook']} now prints "
            f"{printed!r}: update the verdict table, the model answer and the rubric.")
    # The prose quotes only figures of the table (so none can drift unnoticed).
    table = {row["value"].lstrip("+") for row in rows}
    prose = grading.VERDICT_ROW.sub("", grading.FIGURE_ROW.sub("", text))
    quoted = {n.lstrip("+") for n in grading.FIGURE.findall(prose)}
    assert quoted <= table, f"the a03 model answer quotes figures not in its table: {sorted(quoted - table)}"
    # Claims the course's numbers contradict (issues 12 and 20) stay out of the model answer.
    answer = text.split("=== BEGIN MARK SCHEME ===")[0].lower()
    assert "l1 keeps" not in answer and "out-of-vocabulary" in answer
    assert "measurable" not in answer and "not distinguishable" in answer and "pooled" not in answer


def test_stored_figure_reads_keys(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("", outputs=[nbformat.v4.new_output(
        "stream", name="stdout", text="W&D - deep (embeddings only): +0.0050\nheavy  17695  0.600  0.7650\n"
                                      "a vs b, hr@10\n    over seeds: +0.0073 (+1.1 SD): not distinguishable\n"
                                      "c vs d, hr@10\n    over seeds: +0.0200 (+3.0 SD): better\n")])]
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    assert grading.stored_figure(path, "W&D - deep (embeddings only)") == "+0.0050"
    assert grading.stored_figure(path, "heavy #3") == "0.7650"
    assert grading.stored_figure(path, "c vs d >> over seeds: #2") == "+3.0"
    assert grading.stored_verdict(path, "a vs b >> over seeds:") == "not distinguishable"
    assert grading.stored_verdict(path, "c vs d >> over seeds: #2") == "better"
    with pytest.raises(KeyError, match="update the key"):
        grading.stored_figure(path, "light")
    with pytest.raises(KeyError, match="prints a verdict"):
        grading.stored_verdict(path, "heavy")
    with pytest.raises(KeyError):
        grading.stored_figure(path, "e vs f >> over seeds:")


# ------------------------------------------------------------ learner copy ---

#: Lines of a solution region that are generic Keras/NumPy and legitimately
#: appear elsewhere in the course (library code, given code of the lessons;
#: the library's WideDeep.train_step is the lesson's reference, graded
#: against by behaviour, see tests/test_autograder.py).
GENERIC_LINES = {
    "with tf.GradientTape() as tape:",
    "y_pred = self(x, training=True)",
    'a = keras.Input(shape=(), dtype="int64", name="a")',
    'b = keras.Input(shape=(), dtype="int64", name="b")',
}
#: Generic line shapes (a seeded generator) that any test file may contain.
GENERIC_PATTERN = re.compile(r"^\w+ = np\.random\.default_rng\(\d+\)$")


def secret_texts() -> dict[str, set[str]]:
    """Per assignment: solution-region, hidden-test and mark-scheme lines of the source notebook."""
    out = {}
    for name in ASSIGNMENTS:
        nb = read(notebook_path(COURSE, "source", name))
        outside, secret = set(), set()
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "markdown" and meta.get("solution"):
                secret.update(line.strip() for line in cell.source.splitlines())
                continue
            for region in SOLUTION_MARK.findall(cell.source) + HIDDEN_MARK.findall(cell.source):
                secret.update(line.strip() for line in region.splitlines())
            rest = HIDDEN_MARK.sub("", SOLUTION_MARK.sub("", cell.source))
            outside.update(line.strip() for line in rest.splitlines())
        out[name] = {line for line in secret - outside - GENERIC_LINES
                     if len(line) >= 12 and not line.startswith(("#", "|", "===")) and not GENERIC_PATTERN.match(line)}
        shown = "\n".join(cell.source for cell in nb.cells)  # the visible examples repeat in the grader
        out[name] |= {line for line in grader_lines(name) if line not in shown}
    return out


def grader_lines(name: str) -> set[str]:
    """Distinctive lines of an assignment's trusted grader (its hidden inputs and messages)."""
    text = (COURSE / "graders" / f"{name}.py").read_text(encoding="utf-8")
    return {line.strip() for line in text.splitlines()
            if len(line.strip()) >= 40 and ('"' in line or "'" in line) and not line.strip().startswith("#")}


def test_student_copy_has_no_solutions(tmp_path):
    dest = tmp_path / "course"
    files = grading.write_student_copy(dest)
    assert "assignments/release/a01_crosses/a01_crosses.ipynb" in files and "course_lib/checks.py" in files
    assert not (dest / "assignments" / "source").exists() and not (dest / "assignments" / "gradebook.db").exists()
    assert not any(f.startswith(("tests/wrong_answers", "tests/test_autograder")) for f in files)
    secrets = {line: name for name, lines in secret_texts().items() for line in lines}
    assert len(secrets) > 60
    leaks = []
    for rel in files:
        text = (dest / rel).read_text(encoding="utf-8", errors="ignore")
        if rel.endswith(".ipynb"):  # compare JSON strings unescaped, as in the release test
            text = "\n".join(json.loads(f'"{s}"') for s in re.findall(r'"((?:[^"\\]|\\.)*)"', text))
        leaks += [(rel, line) for line in secrets if line in text]
        for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "BEGIN MARK SCHEME"):
            if marker in text and rel != "course_lib/grading.py":
                leaks.append((rel, marker))
    assert not leaks, f"the learner copy leaks instructor text: {leaks[:8]}"
    with pytest.raises(FileExistsError):
        grading.write_student_copy(dest)


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


def clone(nb):
    return nbformat.from_dict(json.loads(json.dumps(nb)))


SNOOP = '''
import os, pathlib, socket
found = {{}}
root = pathlib.Path.cwd().parents[2]
for label, path in [("hidden tests", root / "source" / "a01_crosses" / "a01_crosses.ipynb"),
                    ("gradebook", root / "gradebook.db")]:
    try:
        with open(path, "rb") as fh:
            found[label] = "READ " + fh.read(80).decode("latin-1")
    except OSError as exc:
        found[label] = f"blocked ({{type(exc).__name__}})"
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=5).sendall(b"leak")
    found["socket"] = "CONNECTED"
except OSError as exc:
    found["socket"] = f"blocked ({{type(exc).__name__}})"
found["sandboxed"] = os.environ.get("COURSE_SANDBOXED")
import importlib
try:
    importlib.import_module("course_lib." + "mod" + "els")
    found["reference import"] = "IMPORTED"
except ImportError as exc:
    found["reference import"] = f"blocked ({{type(exc).__name__}})"
import course_lib.checks
library = pathlib.Path(course_lib.checks.__file__).parent
found["reference source"] = "READ" if "class WideDeep" in (library / ("mod" + "els.py")).read_text() else "stub"
found["reference bytecode"] = "READ" if any(b"WideDeep" in p.read_bytes()
                                            for p in (library / "__pycache__").glob("mod*")) else "none"
print(found)
'''

#: Wrong submissions sent through nbgrader end to end (one or two per assignment;
#: the rest are graded in-process by tests/test_autograder.py).
E2E_WRONG = [("a01_crosses", "cross_int32_overflow"), ("a02_embeddings", "vectors_ignore_oov_slot"),
             ("a02_embeddings", "pooled_uses_user_id"), ("a03_wide_and_deep", "joint_exp_ratio_overflows"),
             ("a03_wide_and_deep", "norms_swapped")]
WRONG_BY_NAME = {w.name: w for module in (wrong_a01, wrong_a02, wrong_a03) for w in module.WRONG}
#: Tamper cases sent through nbgrader end to end: every case that exits or kills the kernel,
#: the unsandboxed-kernel request, and one more per assignment (tests/test_autograder.py
#: grades every case in process with the same TrustedExecute).
E2E_TAMPER = [("a01_crosses", "exit_sys"), ("a01_crosses", "exit_ipython"), ("a02_embeddings", "exit_os"),
              ("a02_embeddings", "kill_kernel"), ("a02_embeddings", "input_transformer"),
              ("a03_wide_and_deep", "kill_at_grading"), ("a03_wide_and_deep", "python3_kernel"),
              ("a03_wide_and_deep", "ast_transformer")]
assert {case for _, case in E2E_TAMPER} >= {t.name for t in TAMPER if t.kills or t.kernel}


def submissions(course: Path, port: int) -> dict[str, dict[str, object]]:
    """Assignment -> {student id: notebook}, built from the solution and the blank release."""
    subs = {name: {"solution": read(notebook_path(COURSE, "source", name)),
                   "blank": read(notebook_path(course, "release", name))} for name in ASSIGNMENTS}
    for name, wrong_name in E2E_WRONG:
        wrong = WRONG_BY_NAME[wrong_name]
        nb = clone(subs[name]["solution"])
        set_source(nb, wrong.cell, wrong.source)
        subs[name][wrong_name] = nb
    for name, case in E2E_TAMPER:
        release = json.loads(notebook_path(course, "release", name).read_text(encoding="utf-8"))
        subs[name][f"tamper_{case}"] = nbformat.reads(json.dumps(tampered(release, name, TAMPER_BY_NAME[case])),
                                                      as_version=4)
    a01 = subs["a01_crosses"]
    solution, blank = a01["solution"], a01["blank"]

    # One broken notebook: a syntax error (cross_id), deleted cells (Task 2's
    # solution and test), an edited test (Task 3's, restored by nbgrader) and
    # 20,000 lines of output (cut). Only Task 3's points remain.
    nb = clone(solution)
    set_source(nb, "a01_cross_id", "def cross_id(a, b, num_bins)\n    return (a * 1_000_003 + b) %")
    drop_cells(nb, {"a01_test_seen_share", "a01_seen_share", "a01_howto"})
    set_source(nb, "a01_test_cross_wide", "# the test was in my way\npass")
    nb.cells.insert(4, nbformat.v4.new_code_cell('for i in range(20_000):\n    print("spam " * 10, i)'))
    a01["broken"] = nb

    nb = clone(blank)
    set_source(nb, "a01_cross_id", "def cross_id(a, b, num_bins):\n    return a\n\nwhile True:\n    pass")
    a01["loop"] = nb

    nb = clone(solution)
    nb.cells.insert(4, nbformat.v4.new_code_cell(SNOOP.format(port=port).strip()))
    a01["snoop"] = nb
    return subs


def submit(course: Path, student: str, name: str, nb) -> None:
    path = course / "submitted" / student / name / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


class Listener:
    """A TCP server on the host's loopback that records whether anyone connected."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self):
        self.server.close()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A temporary course: releases regenerated, every submission autograded (one call per assignment)."""
    if not grading.sandbox_available():
        if os.environ.get("CI"):
            pytest.fail("bubblewrap does not work on this CI machine: the grading sandbox is untested")
        pytest.skip("bubblewrap is not available: the sandboxed nbgrader runs need Linux + bwrap")
    course = copy_course(tmp_path_factory.mktemp("course") / "assignments")
    shutil.rmtree(course / "release")
    for name in ASSIGNMENTS:
        nbgrader(course, "db", "assignment", "add", name)
        nbgrader(course, "generate_assignment", name, "--force")
    listener = Listener()
    subs = submissions(course, listener.port)
    roster = course / "students.csv"
    roster.write_text("id\n" + "".join(f"{s}\n" for s in sorted({s for per in subs.values() for s in per})))
    nbgrader(course, "db", "student", "import", str(roster))
    for name, per in subs.items():
        for student, nb in per.items():
            submit(course, student, name, nb)

    # One copy of the course per assignment, so the three autograde calls run at once
    # (each with its own gradebook: SQLite takes one writer at a time).
    courses = {name: Path(shutil.copytree(course, tmp_path_factory.mktemp(name) / "assignments"))
               for name in ASSIGNMENTS}
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    start = time.time()
    procs = {name: subprocess.Popen([str(BIN / "nbgrader"), "autograde", name, f"--Execute.timeout={CELL_TIMEOUT}",
                                     f"--ExecutePreprocessor.timeout={CELL_TIMEOUT}"], cwd=courses[name], env=env,
                                    text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name in ASSIGNMENTS}
    timings, logs = {}, {}
    for name, proc in procs.items():
        out, logs[name] = proc.communicate(timeout=1500)
        assert proc.returncode == 0, f"nbgrader autograde {name} failed:\n{out[-3000:]}\n{logs[name][-5000:]}"
        done = sorted((p.stat().st_mtime, p.parent.parent.name)
                      for p in (courses[name] / "autograded").glob(f"*/{name}/{name}.ipynb"))
        previous, per_student = start, {}
        for mtime, student in done:
            per_student[student] = round(mtime - previous, 1)
            previous = mtime
        timings[name] = {"call": round(done[-1][0] - start, 1), "students": per_student}
    listener.close()
    for name in ASSIGNMENTS:
        nbgrader(courses[name], "export", "--to=grades.csv")
    nbgrader(courses["a01_crosses"], "generate_feedback", "a01_crosses")
    print("autograde timings (s; the three calls ran at once):", json.dumps(timings, indent=1))
    return {"course": course, "courses": courses, "subs": subs, "timings": timings, "listener": listener,
            "logs": logs}


def page_text(path: Path) -> str:
    """The text of an HTML feedback page (tags dropped, entities decoded)."""
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))


def code_scores(course: Path, name: str) -> dict[str, tuple[float, float]]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {}
        for submission in gb.assignment_submissions(name):
            notebook = gb.find_submission_notebook(name, name, submission.student.id)
            scores[submission.student.id] = (notebook.code_score, notebook.max_code_score)
        return scores


def cell_scores(course: Path, name: str, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        notebook = gb.find_submission_notebook(name, name, student)
        return {grade.name: grade.score for grade in notebook.grades if grade.cell_type == "code"}


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
    scores = code_scores(graded["courses"][name], name)
    score, total = scores["solution"]
    assert total > 0 and score == total, f"{name}: the instructor solution got {score}/{total}"
    assert scores["blank"] == (0, total), f"{name}: the blank release got {scores['blank']}"
    # Within budget: the solution autogrades in about a minute at most on a laptop CPU.
    assert graded["timings"][name]["students"]["solution"] < 120, graded["timings"][name]


@pytest.mark.slow
@pytest.mark.parametrize("name, wrong_name", E2E_WRONG)
def test_wrong_submissions_lose_their_points(graded, name, wrong_name):
    wrong = WRONG_BY_NAME[wrong_name]
    cells = cell_scores(graded["courses"][name], name, wrong_name)
    assert cells[wrong.fails] == 0, f"{wrong_name} keeps points on {wrong.fails}: {cells}"
    score, total = code_scores(graded["courses"][name], name)[wrong_name]
    print(f"nbgrader autograde: {name} {wrong_name}: {score}/{total}")


@pytest.mark.slow
@pytest.mark.parametrize("name, case", E2E_TAMPER)
def test_tampering_scores_zero_end_to_end(graded, name, case):
    course, student = graded["courses"][name], f"tamper_{case}"
    cells = cell_scores(course, name, student)
    assert cells and all(points == 0 for points in cells.values()), f"{case} forged points on {name}: {cells}"
    # Graded, not "failed to autograde": the notebook is there, each test cell holds the grader's verdict.
    nb = read(course / "autograded" / student / name / f"{name}.ipynb")
    verdicts = [o for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
                for o in c.outputs]
    assert verdicts and all(o.output_type == "error" and " should " in o.evalue for o in verdicts), verdicts
    # Every exit but sys.exit (IPython turns it into a SystemExit error) ends the kernel, in its
    # cell or when the grader asks: the notebook is still graded, each verdict says why.
    if TAMPER_BY_NAME[case].kills and case != "exit_sys":
        assert all("kernel died" in o.evalue for o in verdicts), verdicts
    if TAMPER_BY_NAME[case].kernel:  # it asked for the unsandboxed kernel and still ran in the sandbox
        printed = "".join(o.get("text", "") for c in nb.cells if "sandboxed:" in c.source for o in c.outputs)
        assert "sandboxed: 1" in printed and "READ" not in printed, printed
    print(f"nbgrader autograde: {name} {case}: {code_scores(course, name)[student]}")


@pytest.mark.slow
def test_broken_submissions_are_graded(graded):
    course = graded["courses"]["a01_crosses"]
    scores = code_scores(course, "a01_crosses")
    # The gradebook still opens and lists every submission.
    assert sorted(scores) == sorted(graded["subs"]["a01_crosses"])
    assert scores["loop"][0] == 0
    cells = cell_scores(course, "a01_crosses", "broken")
    # Syntax error and deleted cells score zero; the edited test was restored and counts.
    assert cells == {"a01_test_cross_id": 0, "a01_test_seen_share": 0, "a01_test_cross_wide": 3}, cells

    loop = read(course / "autograded" / "loop" / "a01_crosses" / "a01_crosses.ipynb")
    enames = {o.get("ename") for c in loop.cells if c.cell_type == "code" for o in c.outputs}
    assert enames & {"CellTimeoutError", "KeyboardInterrupt"}, enames

    # Edited tests are restored from the gradebook before grading.
    # (The instructor's version, hidden tests included, is what gets graded.)
    original = {c.metadata["nbgrader"]["grade_id"]: c.source
                for c in read(notebook_path(COURSE, "source", "a01_crosses")).cells
                if c.metadata.get("nbgrader", {}).get("grade")}
    broken = read(course / "autograded" / "broken" / "a01_crosses" / "a01_crosses.ipynb")
    restored = {c.metadata["nbgrader"]["grade_id"]: c.source for c in broken.cells
                if c.metadata.get("nbgrader", {}).get("grade")}
    assert "a01_test_cross_wide" in restored and restored == {k: original[k] for k in restored}

    lines = sum(o.get("text", "").count("\n") for c in broken.cells if c.cell_type == "code" for o in c.outputs)
    assert lines < 5000, f"the noisy output was not cut ({lines} lines)"


@pytest.mark.slow
def test_snooping_submission_is_contained(graded):
    course = graded["courses"]["a01_crosses"]
    assert graded["listener"].connections == 0, "a graded notebook reached a socket on the host"
    snoop = read(course / "autograded" / "snoop" / "a01_crosses" / "a01_crosses.ipynb")
    printed = "".join(o.get("text", "") for c in snoop.cells if "found = {}" in c.source for o in c.outputs)
    assert "'sandboxed': '1'" in printed, printed
    for label in ("hidden tests", "gradebook", "socket", "reference import"):
        assert f"'{label}': 'blocked (" in printed, printed
    assert "'reference source': 'stub'" in printed and "'reference bytecode': 'none'" in printed, printed
    # Honest code under the sandbox still gets full marks.
    score, total = code_scores(course, "a01_crosses")["snoop"]
    assert score == total
    html = page_text(course / "feedback" / "snoop" / "a01_crosses" / "a01_crosses.html")
    for label in ("hidden tests", "gradebook", "socket"):
        assert f"'{label}': 'blocked (" in html
    assert "READ {" not in html and "SQLite format" not in html


@pytest.mark.slow
def test_export_and_feedback(graded):
    for name in ASSIGNMENTS:
        with open(graded["courses"][name] / "grades.csv", newline="") as fh:
            by_key = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(fh)}
        assert float(by_key[(name, "solution")]["raw_score"]) > 0
        assert float(by_key[(name, "blank")]["raw_score"]) == 0
    course = graded["courses"]["a01_crosses"]
    assert (course / "feedback" / "solution" / "a01_crosses" / "a01_crosses.html").exists()
    html = (course / "feedback" / "blank" / "a01_crosses" / "a01_crosses.html").read_text(encoding="utf-8")
    assert "NotImplementedError" in html  # the blank's first failing test, shown to the student
    # Feedback shows the trusted verdicts, never the grader's code (its hidden inputs).
    hidden = secret_texts()["a01_crosses"] & grader_lines("a01_crosses")
    for student in ("solution", "blank"):
        text = page_text(course / "feedback" / student / "a01_crosses" / "a01_crosses.html")
        assert hidden and not [line for line in hidden if line in text]
    assert "cross_id(a, b, 1000) should run, but it raised NotImplementedError" in page_text(
        course / "feedback" / "blank" / "a01_crosses" / "a01_crosses.html")
