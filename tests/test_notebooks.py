"""Static checks on the committed notebooks (no kernel needed; nbval runs them).

Lessons (``notebooks/NN_name.ipynb``) and assignment sources
(``assignments/source/**``) are committed executed, start with the seeding
cell, use explicit imports and the Keras 3 API, and prove their claim with an
``assert``. Lessons also end with exercises (assignments *are* exercises).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LESSONS = sorted((REPO / "notebooks").glob("*.ipynb"))
ASSIGNMENTS = sorted(
    p for p in (REPO / "assignments" / "source").glob("**/*.ipynb") if ".ipynb_checkpoints" not in p.parts
)
ALL = LESSONS + ASSIGNMENTS
IDS = [str(p.relative_to(REPO)) for p in ALL]

SETUP_CALL = "course_lib.setup_notebook("
STAR_IMPORT = re.compile(r"^\s*from\s+\S+\s+import\s+\*", re.M)
#: Removed from TF 2.16+/Keras 3 (feature columns) or the legacy Keras 2 package.
FORBIDDEN = ("tf.feature_column", "tf_keras")


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


@pytest.fixture(params=ALL, ids=IDS)
def notebook(request) -> tuple[Path, dict]:
    return request.param, _read(request.param)


def test_there_are_lessons():
    assert LESSONS, "no notebooks/*.ipynb found"


def test_committed_executed_in_order(notebook):
    path, nb = notebook
    counts = [c.get("execution_count") for c in _code_cells(nb)]
    missing = [i for i, n in enumerate(counts) if n is None]
    assert not missing, (
        f"{path.name}: code cells {missing} were never executed; run `python -m course_lib execute {path.name}`"
    )
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts} are not 1, 2, 3...; re-execute top to bottom in a fresh kernel"
    )


def test_no_error_outputs(notebook):
    path, nb = notebook
    for i, cell in enumerate(_code_cells(nb)):
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", (
                f"{path.name}: code cell {i} stored an error: {out.get('ename')}: {out.get('evalue')}"
            )


#: Text that means a framework talked to the learner: a Python warning
#: ("UserWarning: ..."), or TensorFlow's C++ start-up chatter.
NOISE = re.compile(r"\b[A-Z]\w*Warning\b:|warnings\.warn|absl::|cudart_stub|cpu_feature_guard|"
                   r"oneDNN custom operations|Skipping variable loading")


def _output_texts(out: dict) -> list[str]:
    texts = [out.get("text", "")]
    texts += [v for k, v in out.get("data", {}).items() if k.startswith("text/")]
    return ["".join(t) if isinstance(t, list) else str(t) for t in texts]


def test_no_stderr_or_warning_outputs(notebook):
    """A learner sees no red stderr box and no framework warning (silenced at the source)."""
    path, nb = notebook
    for i, cell in enumerate(_code_cells(nb)):
        for out in cell.get("outputs", []):
            assert not (out.get("output_type") == "stream" and out.get("name") == "stderr"), (
                f"{path.name}: code cell {i} stored stderr: {''.join(out.get('text', ''))[:300]!r}; "
                "silence it at its source (course_lib.runtime, the library call), then re-execute"
            )
            for text in _output_texts(out):
                m = NOISE.search(text)
                assert not m, (
                    f"{path.name}: code cell {i} shows framework noise {m.group(0)!r}: "
                    f"{text[max(0, m.start() - 100):m.end() + 150]!r}"
                )


def test_first_code_cell_sets_up_the_notebook(notebook):
    path, nb = notebook
    code = _code_cells(nb)
    assert code, f"{path.name} has no code cell"
    first = code[0]
    assert SETUP_CALL in _source(first), f"{path.name}: the first code cell must call {SETUP_CALL}...)"
    assert "nbval-ignore-output" in first.get("metadata", {}).get("tags", []), (
        f"{path.name}: the setup cell prints machine-specific versions; tag it nbval-ignore-output"
    )


def test_explicit_imports_and_keras3_only(notebook):
    path, nb = notebook
    for i, cell in enumerate(_code_cells(nb)):
        src = _source(cell)
        assert not STAR_IMPORT.search(src), f"{path.name}: code cell {i} uses `import *`; import names explicitly"
        for word in FORBIDDEN:
            assert word not in src, f"{path.name}: code cell {i} uses {word}; use Keras 3 preprocessing instead"


def test_states_and_checks_a_claim(notebook):
    path, nb = notebook
    assert any(re.search(r"\bassert\b", _source(c)) for c in _code_cells(nb)), (
        f"{path.name}: no code cell asserts the lesson's claim"
    )


@pytest.mark.parametrize("path", LESSONS, ids=[p.name for p in LESSONS])
def test_lesson_name_and_exercises(path):
    assert re.fullmatch(r"\d{2}_[a-z0-9_]+\.ipynb", path.name), (
        f"{path.name}: lesson notebooks are named NN_name.ipynb (two digits, lowercase, underscores)"
    )
    nb = _read(path)
    assert any(
        c["cell_type"] == "markdown" and re.search(r"\bexercise", _source(c), re.I) for c in nb["cells"]
    ), f"{path.name}: no markdown cell with exercises"


def test_lesson_numbers_are_unique():
    numbers = [p.name[:2] for p in LESSONS]
    assert len(numbers) == len(set(numbers)), f"duplicate lesson numbers: {numbers}"


def test_course_lib_uses_keras3_only():
    for py in sorted((REPO / "course_lib").glob("**/*.py")):
        text = py.read_text(encoding="utf-8")
        assert not STAR_IMPORT.search(text), f"{py.name} uses `import *`"
        for word in FORBIDDEN:
            assert word not in text, f"{py.name} mentions {word}; course_lib targets Keras 3 only"


def test_no_dataset_files_tracked():
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    bad = [f for f in files.splitlines()
           if Path(f).name in ("ratings.csv", "u.data", "ratings.dat") or f.endswith(".zip")]
    assert not bad, f"dataset files are tracked by git (the licence forbids redistribution): {bad}"


GLOSSARY = REPO / "docs" / "glossary.md"
#: Words the lessons use before (or without) defining them at length (issue 13).
GLOSSARY_TERMS = ("ROC AUC", "Logit and sigmoid", "Log loss", "PR AUC", "HR@10 and NDCG@10", "FTRL and L1",
                  "Out-of-vocabulary ids", "PCA", "Embedding", "Cross feature",
                  "Memorization and generalization", "Leakage",
                  # issue 20: words the lessons used without defining them
                  "Seed", "Pooled SD and the rule for better", "Bootstrap", "Early stopping", "Latent factors",
                  "Over-generalization", "Ensemble", "Calibration", "Cold start", "Implicit feedback",
                  "Negative sampling", "Retrieval and recall@N", "Sparrow RecSys",
                  # issue 24: the successors of Wide&Deep (lesson 08)
                  "FM and factorization", "DeepFM", "DCN-v2 and the cross network")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_glossary_defines_the_course_words():
    headings = re.findall(r"^## (.+)$", GLOSSARY.read_text(encoding="utf-8"), re.M)
    missing = [t for t in GLOSSARY_TERMS if t not in headings]
    assert not missing, f"docs/glossary.md lacks the headings {missing}"


def test_glossary_links_resolve():
    anchors = {_slug(h) for h in re.findall(r"^## (.+)$", GLOSSARY.read_text(encoding="utf-8"), re.M)}
    for path in ALL + [REPO / "README.md"]:
        text = path.read_text(encoding="utf-8")
        for anchor in re.findall(r"glossary\.md#([\w\-]+)", text):
            assert anchor in anchors, (
                f"{path.name} links to glossary.md#{anchor}, which is no heading; use one of {sorted(anchors)}"
            )


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_time_to_run_matches_the_last_bench(path):
    """The header's "Time to run" stays within 20 % of the last `make bench` (run
    `python -m benchmarks.lesson_times` after a bench to refresh it)."""
    from benchmarks.lesson_times import TOLERANCE, header_seconds, measured_seconds

    first = next(c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown")
    quoted = header_seconds("".join(first["source"]))
    assert quoted is not None, f"{path.name}: the first cell lacks '**Time to run:** about N s'"
    measured = measured_seconds().get(path.name)
    assert measured is not None, f"{path.name} is missing from benchmarks/results.json: run make bench"
    assert abs(quoted - measured) <= TOLERANCE * measured, (
        f"{path.name} says about {quoted:.0f} s but the last bench took {measured:.0f} s: "
        "run python -m benchmarks.lesson_times")


def test_core_path_fits_a_learners_time():
    """Each lesson's markdown before its "Optional" part is <= 1,800 words, and <= 1,300 on average (issue 20)."""
    from course_lib.notebooks import CORE_WORDS_PER_LESSON, core_words, core_words_course

    words = {p.name: core_words(p) for p in LESSONS}
    over = {name: n for name, n in words.items() if n > CORE_WORDS_PER_LESSON}
    assert not over, f"core paths over {CORE_WORDS_PER_LESSON} words: {over}; move side experiments to '## Optional'"
    assert sum(words.values()) <= core_words_course(len(words)), f"the core paths total {sum(words.values())} words: {words}"


def test_core_words_stop_at_the_optional_heading(tmp_path):
    from course_lib.notebooks import core_words

    cells = [{"cell_type": "markdown", "source": "# Title\n\nfour words of prose", "metadata": {}},
             {"cell_type": "code", "source": "x = 1 + 2  # not counted", "metadata": {}, "outputs": [],
              "execution_count": None},
             {"cell_type": "markdown", "source": "## Optional: more\n\nmany many words here", "metadata": {}},
             {"cell_type": "markdown", "source": "also not counted", "metadata": {}}]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert core_words(path) == 6  # "#", "Title", "four", "words", "of", "prose"


@pytest.mark.parametrize("path", [p for p in LESSONS if p.name[:2] in ("01", "02", "04", "05", "06")],
                         ids=lambda p: p.name)
def test_model_lessons_ask_to_predict_before_running(path):
    nb = _read(path)
    assert any(c["cell_type"] == "markdown" and "Predict, then run" in _source(c) for c in nb["cells"]), (
        f"{path.name}: ask one 'Predict, then run:' question before a decisive cell")


#: Lessons that write a model in visible Keras code before using the library's (issue 20).
VISIBLE_MODELS = {"01": "wide", "02": "deep", "04": "train_step", "07": "deepfm"}


@pytest.mark.parametrize("number", sorted(VISIBLE_MODELS))
def test_models_are_shown_before_they_are_reused(number):
    """Lessons 01/02/07 define their model from keras layers, 04 its joint model's train_step, and each
    checks it against the library version (largest |dp| asserted)."""
    path = next(p for p in LESSONS if p.name.startswith(number))
    code = [_source(c) for c in _code_cells(_read(path))]
    defining = [i for i, src in enumerate(code) if "layers.Embedding(" in src or "def train_step" in src]
    assert defining, f"{path.name}: no notebook cell defines the model in Keras code"
    assert not any("build_wide_deep(" in src for src in code[:defining[0]]), (
        f"{path.name}: the library builder is used before the model is shown")
    if VISIBLE_MODELS[number] == "train_step":
        assert any("def train_step" in src and "GradientTape" in src for src in code)
    assert any("1e-5" in src and "assert" in src for src in code[defining[0]:]), (
        f"{path.name}: the visible model is not checked against the library version (|dp| <= 1e-5)")
