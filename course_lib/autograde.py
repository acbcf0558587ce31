"""Trusted grading: every graded decision is made outside the process that ran the student's code.

Introduced with issue 21. nbgrader grades a test cell by looking at its
outputs, and the outputs come from the student's kernel — which runs the
student's code first and can rewrite, skip or fake the test cells (an input
transformer, a patched ``numpy``, a ``__eq__`` that always holds...). Here:

- ``TrustedExecute`` replaces nbgrader's ``Execute`` preprocessor in
  ``nbgrader autograde`` (``make grade``; wired in
  ``assignments/nbgrader_config.py``). It runs the submission's own cells in
  the (sandboxed) kernel, but **not** the test cells.
- Each graded test cell is decided by a ``Task`` of the assignment's grader
  (``assignments/graders/<assignment>.py``, instructor-only). Its check runs
  in the grading process; it asks the kernel only for data — "call
  ``cross_id`` on these arrays", "train your model on these rows and score
  these" — over the wire format of ``course_lib.answers``, and judges the
  values itself. A missing, malformed or late answer fails the check.
- Hidden checks draw fresh inputs from a generator seeded per submission
  (``submission_seed``), so a hard-coded answer to the visible inputs earns
  nothing, and the expected values never leave the grading process.
- The grader then writes each test cell's outputs itself: the check's
  "passed" line, or an ``AssertionError`` with its plain-language message.
  nbgrader's ``SaveAutoGrades`` scores those outputs as usual.
- "Own work" is checked on the submitted source (``reference_uses``), and
  the sandbox cannot import the library's reference models at all
  (``course_lib.grading.SANDBOX_MODULES``).

``NamespaceStudent`` answers the same requests from a namespace in this
process: the in-process wrong-answer suite grades with the same checks.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.util
import io
import os
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from nbgrader.preprocessors import Execute
from traitlets import Unicode

from course_lib import answers
from course_lib.grading import SANDBOX_MODULES
from course_lib.runtime import configure_environment

#: Seconds a kernel may take to answer one request (a probe that trains a small model takes a few).
ANSWER_TIMEOUT_S = int(os.environ.get("COURSE_GRADING_ANSWER_S", "120"))
#: Mixed into every submission's seed; set it to keep the hidden inputs unpredictable.
SALT_ENV = "COURSE_GRADING_SALT"


class Student:
    """The grader's view of a submission: it can only ask for data."""

    def ask(self, probe: str, what: str, **inputs: Any) -> dict[str, Any]:
        """Run ``probe`` (source defining ``probe(inputs)``) on the student's code; return its answer.

        Args:
            probe: The grader's function, run where the student's names are defined.
            what: How a message names the request (e.g. ``"cross_id(a, b, 1000)"``).
            **inputs: Arrays (or lists of arrays) the probe receives.

        Raises:
            AssertionError: The probe raised (the student's code failed), or no readable answer came.
        """
        raise NotImplementedError

    def call(self, function: str, *args: Any, what: str | None = None) -> np.ndarray:
        """``function(*args)`` in the student's namespace, its result as an array."""
        if not function.isidentifier():
            raise ValueError(f"not a function name: {function!r}")
        probe = (f"def probe(inputs):\n"
                 f"    return {{'value': {function}(*[inputs[f'arg{{i}}'] for i in range({len(args)})])}}\n")
        label = what or f"{function}(...)"
        return self.ask(probe, label, **{f"arg{i}": np.asarray(a) for i, a in enumerate(args)})["value"]


def _raised(what: str, ename: str, evalue: str) -> AssertionError:
    evalue = evalue if len(evalue) <= 300 else evalue[:297] + "..."
    return AssertionError(f"{what} should run, but it raised {ename}: {evalue}")


def _no_answer(what: str, why: str) -> AssertionError:
    return answers.NoAnswer(f"{what} should answer the grader, but {why}.")


class NamespaceStudent(Student):
    """A submission executed in a namespace of this process (the in-process test suite)."""

    def __init__(self, namespace: dict):
        self.namespace = namespace

    def ask(self, probe: str, what: str, **inputs: Any) -> dict[str, Any]:
        nonce = secrets.token_hex(8)
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                exec(answers.request_code(probe, inputs, nonce), self.namespace)  # noqa: S102
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001  (the student's code failed, or exited: the check fails)
            raise _raised(what, type(exc).__name__, str(exc)) from None
        try:
            return answers.read(out.getvalue(), nonce)
        except answers.NoAnswer as exc:
            raise _no_answer(what, str(exc)) from None


class KernelStudent(Student):
    """A submission running in a kernel that ``TrustedExecute`` started: each request is one execution."""

    def __init__(self, client: Any, stopped: str | None = None):
        self.client = client
        self.stopped = stopped   # why the kernel can no longer answer, once it cannot

    def ask(self, probe: str, what: str, **inputs: Any) -> dict[str, Any]:
        from nbclient.exceptions import CellTimeoutError, DeadKernelError
        from nbformat.v4 import new_code_cell

        if self.stopped:
            raise _no_answer(what, self.stopped)
        nonce = secrets.token_hex(8)
        cell = new_code_cell(answers.request_code(probe, inputs, nonce))
        timeout, cells = self.client.timeout, self.client.nb.cells
        self.client.timeout = ANSWER_TIMEOUT_S
        cells.append(cell)  # nbclient stores the executed cell back at its index; removed below
        try:
            self.client.execute_cell(cell, len(cells) - 1, store_history=False)
        except DeadKernelError:
            self.stopped = "the kernel died while the grader was asking (the submission ended it)"
            raise _no_answer(what, self.stopped) from None
        except CellTimeoutError:
            self.stopped = "the kernel stopped responding"
            raise _no_answer(what, self.stopped) from None
        finally:
            self.client.timeout = timeout
            cells.remove(cell)
        for output in cell.outputs:
            if output.output_type == "error":
                if output.ename == "CellTimeoutError":
                    self.stopped = f"the kernel did not answer within {ANSWER_TIMEOUT_S} s"
                    raise _no_answer(what, self.stopped)
                raise _raised(what, output.ename, str(output.evalue))
        text = "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")
        try:
            return answers.read(text, nonce)
        except answers.NoAnswer as exc:
            raise _no_answer(what, str(exc)) from None


@dataclass(frozen=True)
class Task:
    """One graded test cell and the trusted check that decides it.

    Attributes:
        grade_id: The nbgrader grade id of the test cell whose points it decides.
        passes: The name in its "passed" line (``"cross_id: all checks passed"``).
        check: ``check(student, rng)``: raises ``AssertionError`` (a plain message) to fail.
        own_work: Solution cells (grade ids) that must not use the library's reference
            versions; the submission's other non-solution cells are checked too.
    """

    grade_id: str
    passes: str
    check: Callable[[Student, np.random.Generator], None]
    own_work: tuple[str, ...] = ()


def load_tasks(folder: str | os.PathLike, assignment: str) -> list[Task]:
    """The ``TASKS`` of ``<folder>/<assignment>.py`` (an assignment's grader).

    Raises:
        FileNotFoundError: The assignment has no grader; say where it belongs.
    """
    path = Path(folder) / f"{assignment}.py"
    if not path.is_file():
        raise FileNotFoundError(f"no trusted grader for {assignment!r}: write {path} with a TASKS list "
                                "(see assignments/graders/ and docs/instructors.md).")
    spec = importlib.util.spec_from_file_location(f"course_graders.{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.TASKS)


def submission_seed(assignment: str, student: str) -> int:
    """The seed of a submission's hidden inputs: fixed per (assignment, student), salted by ``COURSE_GRADING_SALT``."""
    text = f"{os.environ.get(SALT_ENV, '')}/{assignment}/{student}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


_REFERENCE_TEXT = re.compile(r"course_lib[./](\w+)")


def _is_reference(module: str) -> bool:
    return module not in SANDBOX_MODULES


def reference_uses(source: str) -> list[str]:
    """The library reference modules a cell's source names (imports, ``course_lib.x``, strings).

    Everything of ``course_lib`` except ``SANDBOX_MODULES`` (data, checks,
    metrics: what the assignments give) is a reference version. A cell that
    does not parse names nothing (it cannot have run).
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found, aliases = set(), {"course_lib"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "course_lib" and len(parts) > 1 and _is_reference(parts[1]):
                    found.add(f"course_lib.{parts[1]}")
                elif alias.name == "course_lib":
                    aliases.add(alias.asname or "course_lib")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "course_lib":
            parts = node.module.split(".")
            if len(parts) > 1 and _is_reference(parts[1]):
                found.add(f"course_lib.{parts[1]}")
            elif len(parts) == 1:
                found.update(f"course_lib.{a.name}" for a in node.names if _is_reference(a.name))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and _is_reference(node.attr) and not node.attr.startswith("__")):
            found.add(f"course_lib.{node.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.update(f"course_lib.{m}" for m in _REFERENCE_TEXT.findall(node.value) if _is_reference(m))
    found.discard("course_lib.setup_notebook")
    return sorted(found)


def own_work_failure(task: Task, sources: dict[str, str], solution_ids: set[str]) -> str | None:
    """The message failing ``task`` when its cells (or added and given ones) use a reference version."""
    if not task.own_work:
        return None
    looked_at = [k for k in sources if k in task.own_work or k not in solution_ids]
    used = {(k, m) for k in looked_at for m in reference_uses(sources[k])}
    if not used:
        return None
    where = "; ".join(f"{m} in {k}" for k, m in sorted(used))
    return (f"{task.passes} should be your own code, but the submission uses the library's reference "
            f"version ({where}).\nHint: course_lib gives you data and checks (course_lib.checks, .metrics, "
            ".columns); write the piece yourself with keras, keras.ops and numpy. The grading kernel "
            "cannot import the other modules.")


def evaluate(tasks: list[Task], student: Student, seed: int, sources: dict[str, str]) -> dict[str, str | None]:
    """Decide every task: grade id -> None (passed) or the message it failed with.

    Args:
        tasks: The assignment's grader.
        student: Where the submission answers requests.
        seed: ``submission_seed``; task ``i`` draws from ``default_rng([seed, i])``.
        sources: The submission's code cells except the test cells: solution
            cells by grade id, other cells by any other label.
    """
    configure_environment()  # the grader's own TensorFlow steps run as the kernel's do (no oneDNN)
    solution_ids = {k for k in sources if not k.startswith("cell ")}
    results: dict[str, str | None] = {}
    for index, task in enumerate(tasks):
        failure = own_work_failure(task, sources, solution_ids)
        if failure is None:
            try:
                task.check(student, np.random.default_rng([seed, index]))
            except AssertionError as exc:
                failure = str(exc) or f"{task.passes} failed a check"
            except Exception as exc:  # noqa: BLE001  (a grader bug or an answer it cannot handle: fail, loudly)
                failure = (f"{task.passes} could not be checked: the grader raised {type(exc).__name__}: {exc}. "
                           "Tell your instructor.")
                print(f"trusted grader error in {task.grade_id}: {exc!r}", file=sys.stderr)
        results[task.grade_id] = failure
    return results


def code_sources(cells: list[dict]) -> dict[str, str]:
    """A notebook's code cells other than test cells: solution cells by grade id, others as ``cell N``."""
    out = {}
    for index, cell in enumerate(cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") != "code" or meta.get("grade"):
            continue
        source = cell.get("source", "")
        out[meta["grade_id"] if meta.get("solution") else f"cell {index}"] = (
            "".join(source) if isinstance(source, list) else source)
    return out


def verdict_outputs(task: Task, failure: str | None) -> list[dict]:
    """The outputs the grader writes into a test cell: the passed line, or the failure."""
    from nbformat.v4 import new_output

    if failure is None:
        return [new_output("stream", name="stdout", text=f"{task.passes}: all checks passed\n")]
    lines = failure.splitlines() or [failure]
    return [new_output("error", ename="AssertionError", evalue=failure,
                       traceback=[f"AssertionError: {lines[0]}", *lines[1:]])]


def _is_test_cell(cell: Any) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


class TrustedExecute(Execute):
    """nbgrader's ``Execute``, with every test cell decided by the trusted grader.

    Runs the submission's cells in the kernel (skipping the test cells),
    then each ``Task`` of ``<graders_dir>/<assignment>.py`` asks the still
    running kernel for data, and the verdicts become the test cells' outputs.
    A kernel that dies (``exit()``, ``os._exit``, a kill) stops the run:
    the cell gets an error and every check still to come fails.
    """

    graders_dir = Unicode("", help="Folder of the trusted graders, <assignment>.py each.").tag(config=True)

    def preprocess(self, nb, resources, retries=None):  # noqa: ARG002  (nbgrader's signature)
        from nbclient import NotebookClient
        from nbclient.exceptions import CellTimeoutError, DeadKernelError
        from nbformat.v4 import new_output

        info = resources.get("nbgrader", {})
        assignment, student_id = info.get("assignment"), info.get("student")
        tasks = load_tasks(self.graders_dir, assignment)
        test_cells = {c.metadata.nbgrader.grade_id: c for c in nb.cells if _is_test_cell(c)}
        unknown = set(test_cells) - {t.grade_id for t in tasks}
        if unknown:
            raise ValueError(f"{assignment}: test cells without a task in {self.graders_dir}: {sorted(unknown)}")
        # A test cell the submission deleted scores 0 in nbgrader, as before: nothing to decide.
        tasks = [t for t in tasks if t.grade_id in test_cells]
        NotebookClient.__init__(self, nb, None)   # as ExecutePreprocessor.preprocess does
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        stopped = None
        with self.setup_kernel():
            reply = self.wait_for_reply(self.kc.kernel_info())
            self.nb.metadata["language_info"] = reply["content"]["language_info"]
            for index, cell in enumerate(self.nb.cells):
                if cell.cell_type != "code" or _is_test_cell(cell):
                    continue
                if stopped:
                    cell.outputs = []
                    continue
                try:
                    self.preprocess_cell(cell, resources, index)
                except (DeadKernelError, CellTimeoutError) as exc:
                    stopped = (f"the kernel died in cell {index} or before it (exit(), os._exit or a kill)"
                               if isinstance(exc, DeadKernelError) else
                               f"the kernel stopped responding in cell {index}")
                    cell.outputs.append(new_output("error", ename=type(exc).__name__, evalue=stopped,
                                                   traceback=[f"{type(exc).__name__}: {stopped}"]))
            student = KernelStudent(self, stopped)
            failures = evaluate(tasks, student, submission_seed(assignment, student_id), code_sources(self.nb.cells))
        for task in tasks:
            cell = test_cells[task.grade_id]
            cell.outputs = verdict_outputs(task, failures[task.grade_id])
            cell.execution_count = None
        self.log.info("trusted grading of %s/%s: %s", student_id, assignment,
                      {k: "passed" if v is None else "failed" for k, v in failures.items()})
        return self.nb, self.resources
