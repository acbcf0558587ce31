"""The tamper family: submissions that try to forge their grade instead of solving the tasks.

Each case starts from the released notebook with every solution region
filled by a *wrong answer that runs* (``JUNK``: a plausible mistake per
task, so there is something for a forged check to wave through), then adds
one cell of tampering. Every case must score 0 on every task.
tests/test_autograder.py grades each case with the trusted evaluator
(``course_lib.autograde.TrustedExecute``, the preprocessor ``make grade``
runs); tests/test_assignments.py sends some of them through
``nbgrader autograde`` in the ``course-sandbox`` kernel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from tests.wrong_answers import a01, a02, a03

_BY_NAME = {w.name: w for module in (a01, a02, a03) for w in module.WRONG}

#: Per assignment, solution cell -> a wrong answer that runs without raising (every task unsolved).
JUNK = {
    "a01_crosses": {w.cell: w.source for w in map(_BY_NAME.get, (
        "cross_ignores_order", "share_swapped", "wide_ids_only"))},
    "a02_embeddings": {w.cell: w.source for w in map(_BY_NAME.get, (
        "pooled_no_hidden_layer", "vectors_old_layout"))} | {"a02_nearest": '''
def cosine_similarity(matrix, vector):
    return np.asarray(matrix, dtype=np.float64) @ np.asarray(vector, dtype=np.float64)


def nearest_movies(model, movie_id, k=5):
    return [int(v) for v in model.get_layer("movie_lookup").get_vocabulary()[1:k + 1]]
'''},
    "a03_wide_and_deep": {"a03_joint": _BY_NAME["joint_mean_of_sigmoids"].source,
                          # No update and no real norms: both model tasks unsolved.
                          "a03_joint_model": a03._model(step="pass", **a03._ZERO_NORMS)},
}

#: What each assignment's test cells print when they pass (the fake lines a forger prints).
PASS_LINES = {
    "a01_crosses": ("cross_id", "seen_cross_share", "build_cross_wide"),
    "a02_embeddings": ("build_pooled_model", "movie_vectors", "cosine_similarity", "nearest_movies"),
    "a03_wide_and_deep": ("joint_probability", "JointModel", "JointModel's gradient norms"),
}


@dataclass(frozen=True)
class Tamper:
    """One forging attempt.

    Attributes:
        name: Short id (also the nbgrader student id in end-to-end runs).
        source: The cell it adds (``{passes}`` becomes the assignment's fake "passed" lines).
        where: ``"start"``: a new cell right after the given import cell, before any task;
            ``"middle"``: a new cell after the first task's test cell; ``"each"``: appended
            to every solution cell.
        kills: It exits or kills the kernel (these run end to end).
        kernel: A kernelspec name written into the notebook's metadata, if any.
    """

    name: str
    source: str
    where: str = "start"
    kills: bool = False
    kernel: str | None = None


TAMPER = [
    # The cheat of the issue: every later cell (test cells included) becomes `pass`.
    Tamper("input_transformer", "get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])"),
    # Rewrites every later cell: asserts and check_* calls vanish, every statement is wrapped in try/except.
    Tamper("ast_transformer", '''
import ast


class Forgive(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()

    def visit_Call(self, node):
        self.generic_visit(node)
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        return ast.Constant(None) if name.startswith("check_") else node

    def visit_Module(self, node):
        self.generic_visit(node)
        handler = ast.ExceptHandler(type=ast.Name("BaseException", ast.Load()), name=None, body=[ast.Pass()])
        node.body = [ast.Try(body=[stmt], handlers=[handler], orelse=[], finalbody=[]) for stmt in node.body]
        return ast.fix_missing_locations(node)


get_ipython().ast_transformers.append(Forgive())
'''),
    # Every check helper becomes "return what you were given", in the module and in this namespace.
    Tamper("rebind_checks", '''
import course_lib.checks


def anything_goes(value=None, *args, **kwargs):
    return value


for helper in dir(course_lib.checks):
    if helper.startswith("check_"):
        setattr(course_lib.checks, helper, anything_goes)
        globals()[helper] = anything_goes
'''),
    # numpy's comparisons and a builtin always agree.
    Tamper("patch_numpy", '''
import builtins

import numpy

numpy.allclose = lambda *args, **kwargs: True
numpy.array_equal = lambda *args, **kwargs: True
numpy.all = lambda *args, **kwargs: True
numpy.any = lambda *args, **kwargs: False
numpy.isclose = lambda a, b, *args, **kwargs: numpy.ones_like(numpy.asarray(a), dtype=bool)
numpy.testing.assert_allclose = lambda *args, **kwargs: None
numpy.testing.assert_array_equal = lambda *args, **kwargs: None
builtins.abs = lambda value: 0
builtins.all = lambda iterable: True
'''),
    # Every answer becomes an object that claims to equal anything, as a number and as an array.
    Tamper("fake_eq", '''

class Anything(float):
    def __new__(cls):
        return super().__new__(cls, 0.5)

    def __eq__(self, other):
        return True

    __le__ = __ge__ = __eq__

    def __ne__(self, other):
        return False

    __lt__ = __gt__ = __ne__

    def __hash__(self):
        return 0

    def __len__(self):
        return 3

    def __array__(self, dtype=None, copy=None):
        return np.full(3, 0.5)


def claims_anything(function):
    def wrapper(*args, **kwargs):
        return Anything()
    wrapper.fakes = True
    return wrapper


for name, value in list(globals().items()):
    if type(value).__name__ == "function" and value.__module__ == "__main__" and not hasattr(value, "fakes") \\
            and name not in ("claims_anything",):
        globals()[name] = claims_anything(value)
''', where="each"),
    Tamper("fake_passed", '''
import sys

LINES = {passes}


def fake_traceback(*args, **kwargs):
    for line in LINES:
        print(line + ": all checks passed")


get_ipython().showtraceback = fake_traceback
get_ipython().set_custom_exc((BaseException,), lambda shell, etype, value, tb, tb_offset=None: fake_traceback())
for line in LINES:
    print(line + ": all checks passed")
'''),
    Tamper("exit_sys", "import sys\nsys.exit(0)", where="middle", kills=True),
    Tamper("exit_ipython", "exit()", where="middle", kills=True),
    Tamper("exit_os", "import os\nos._exit(0)", where="middle", kills=True),
    Tamper("kill_kernel", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", where="middle", kills=True),
    # Lets the notebook run, then dies as soon as anything looks like grading.
    Tamper("kill_at_grading", '''
import os


def die_when_graded(info):
    if any(word in (info.raw_cell or "") for word in ("Test", "course_lib", "passed", "check")):
        os._exit(0)


get_ipython().events.register("pre_run_cell", die_when_graded)
''', kills=True),
    # Asks for the unsandboxed kernel and reports what it can reach.
    Tamper("python3_kernel", '''
import os, pathlib
root = pathlib.Path.cwd().parents[2]
try:
    found = "READ" if list((root / "source").glob("*/*.ipynb")) else "not found"
except OSError as exc:
    found = f"blocked ({type(exc).__name__})"
print("source/:", found, "| sandboxed:", os.environ.get("COURSE_SANDBOXED"))
''', kernel="python3"),
]

TAMPER_BY_NAME = {t.name: t for t in TAMPER}


def _cell_index(cells: list[dict], grade_id: str) -> int:
    return next(i for i, c in enumerate(cells) if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


def tampered(release: dict, assignment: str, tamper: Tamper) -> dict:
    """A submission: the released notebook (a dict) with junk answers and the tamper cell.

    Args:
        release: The released notebook as JSON (``assignments/release``).
        assignment: Its name (selects the junk answers and fake lines).
        tamper: The case.

    Returns:
        A new notebook dict (the release is not changed).
    """
    nb = json.loads(json.dumps(release))
    cells = nb["cells"]
    for grade_id, source in JUNK[assignment].items():
        cells[_cell_index(cells, grade_id)]["source"] = source.strip("\n")
    source = tamper.source.strip("\n").replace("{passes}", repr(PASS_LINES[assignment]))
    if tamper.where == "each":
        for grade_id in JUNK[assignment]:
            cell = cells[_cell_index(cells, grade_id)]
            cell["source"] += "\n\n" + source
        return nb
    code = [i for i, c in enumerate(cells) if c["cell_type"] == "code"]
    if tamper.where == "start":
        at = code[1] + 1  # after the setup cell and the given imports
    else:
        tests = [i for i in code if cells[i].get("metadata", {}).get("nbgrader", {}).get("grade")]
        at = tests[0] + 1
    cells.insert(at, {"cell_type": "code", "execution_count": None, "id": f"tamper-{tamper.name}".replace("_", "-"),
                      "metadata": {}, "outputs": [], "source": source})
    if tamper.kernel:
        nb["metadata"]["kernelspec"] = {"name": tamper.kernel, "display_name": tamper.kernel, "language": "python"}
    return nb
