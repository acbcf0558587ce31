"""The architecture diagram is read from the model itself (explain.model_graph, plots.architecture)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="module")
def spec(synthetic_features):
    return synthetic_features[1]


def _labels(graph, branch=None):
    return [b.text for b in graph.boxes.values() if branch is None or b.branch == branch]


def test_wide_deep_graph_follows_the_layers(spec):
    from course_lib.explain import model_graph
    from course_lib.models import build_wide_deep

    model = build_wide_deep(spec, "wide_deep", seed=0, embedding_dim=12, hidden=(32, 8))
    graph = model_graph(model)
    assert graph.branches == ["wide", "deep"]
    wide = _labels(graph, "wide")
    for cross in spec.crosses:
        a, b = cross.split("_x_")
        assert any(f"{a} × {b} cross" in t for t in wide), f"no box for the {cross} cross in {wide}"
    deep = _labels(graph, "deep")
    assert any(t.startswith("movie embedding") and f"{len(spec.movies) + 2} × 12" in t for t in deep), deep
    mlp = [t for t in deep if t.startswith("Dense")]  # the chain of dense layers is one box
    assert len(mlp) == 1 and mlp[0].split("\n")[:3] == ["Dense 32 relu", "→ Dense 8 relu", "→ Dense 1 logit"], mlp
    # Every raw input group the model reads is drawn, and feeds the shared encoder,
    # whose lookups (with their sizes) feed both branches.
    inputs = {k for k, b in graph.boxes.items() if b.stage == "input"}
    assert {"input:user_id", "input:movie_id", "input:hist_movie", "input:numeric"} <= inputs
    assert all((k, "encoder:encoder") in graph.edges for k in inputs)
    encoder = graph.boxes["encoder:encoder"].text
    assert f"movie: {len(spec.movies) + 2:,}" in encoder and f"user: {len(spec.users) + 2:,}" in encoder
    history = {b for a, b in graph.edges if a == "encoded:history_index"}
    assert {graph.boxes[b].branch for b in history} == {"deep"}  # the deep branch averages the history
    movie = {graph.boxes[b].branch for a, b in graph.edges if a == "encoded:movie_index"}
    assert movie == {"wide", "deep"}
    # Both branch logits are added, then the sigmoid.
    into_sum = {a for a, b in graph.edges if b == "output:sum"}
    assert {graph.boxes[k].branch for k in into_sum} == {"wide", "deep"}
    assert ("output:sum", "output:sigmoid") in graph.edges
    # Every arrow joins two drawn boxes and points right (a later column).
    from course_lib.plots import _columns

    col = _columns(graph)
    assert all(a in graph.boxes and b in graph.boxes and col[b] > col[a] for a, b in graph.edges)


def test_graph_changes_with_the_model(spec):
    from course_lib.explain import model_graph
    from course_lib.models import build_wide_deep

    wide = model_graph(build_wide_deep(spec.with_crosses("genre_x_genre"), "wide", seed=0))
    assert wide.branches == ["wide"]
    labels = _labels(wide)
    assert any("genre × genre cross" in t for t in labels)
    assert not any("movie × history" in t or "user × genre" in t for t in labels)
    assert "output:sum" not in wide.boxes and "output:sigmoid" in wide.boxes
    # Only what the branch reads is drawn: no numeric features, no pairs without their cross.
    assert "encoded:numeric" not in wide.boxes and "encoded:movie_pair_index" not in wide.boxes
    assert "encoded:user_genres_index" in wide.boxes
    deep = model_graph(build_wide_deep(spec, "deep", seed=0, use_user_embedding=False))
    assert not any(t.startswith("user embedding") for t in _labels(deep))


def test_architecture_figure_draws_every_box(spec):
    from course_lib.explain import model_graph
    from course_lib.models import build_wide_deep
    from course_lib.plots import architecture

    model = build_wide_deep(spec, "wide_deep", seed=0)
    fig = architecture(model)
    try:
        texts = [t.get_text() for t in fig.axes[0].texts]
        graph = model_graph(model)
        for box in graph.boxes.values():
            assert box.text in texts, f"box {box.text!r} not drawn"
        assert "wide branch" in texts and "deep branch" in texts
        arrows = [p for p in fig.axes[0].patches if type(p).__name__ == "FancyArrowPatch"]
        arrows += [c.arrow_patch for c in fig.axes[0].texts if getattr(c, "arrow_patch", None)]
        assert len(arrows) == len(graph.edges)
    finally:
        plt.close(fig)


def test_a_plain_keras_model_is_refused():
    import keras

    from course_lib.explain import model_graph

    class Bare(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="no functional branches"):
        model_graph(Bare(name="bare"))


# ------------------------------------------------------------ the code's layout ---
# The library stands alone (benchmarks/ measures it, never the other way round), and
# the measuring scripts import each other in one direction only.

import ast  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def _imported_modules(source: str, package: str) -> set[str]:
    """The modules of ``package`` that ``source`` imports, anywhere (function-local imports too)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith(package + ".")}
        elif isinstance(node, ast.ImportFrom):
            if (node.level == 0 and node.module == package) or (node.level == 1 and node.module is None):
                found |= {a.name for a in node.names}  # from package import module
            elif node.level == 0 and (node.module or "").startswith(package + "."):
                found.add(node.module.split(".")[1])
            elif node.level == 1:
                found.add(node.module.split(".")[0])
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle of ``graph`` (module -> modules it imports), each from its smallest name."""
    cycles = set()

    def walk(path):
        for nxt in sorted(graph.get(path[-1], ())):
            if nxt in path:
                loop = path[path.index(nxt):]
                i = loop.index(min(loop))
                cycles.add(tuple(loop[i:] + loop[:i]))
            elif nxt in graph:
                walk(path + [nxt])

    for start in graph:
        walk([start])
    return sorted(list(c) for c in cycles)


def test_the_cycle_check_sees_every_form_of_import():
    sources = {"a": "import os\n\ndef f():\n    from benchmarks.b import x\n",  # function-local
               "b": "from benchmarks import c, a as other\n",
               "c": "from .d import y\n", "d": "import benchmarks.e\nfrom . import report\n",
               "e": "", "report": "from course_lib import streaming\n"}
    graph = {name: _imported_modules(src, "benchmarks") for name, src in sources.items()}
    assert graph == {"a": {"b"}, "b": {"a", "c"}, "c": {"d"}, "d": {"e", "report"}, "e": set(), "report": set()}
    assert _cycles(graph) == [["a", "b"]]
    assert _cycles({**graph, "e": {"c"}}) == [["a", "b"], ["c", "d", "e"]]


def test_benchmarks_import_each_other_without_a_cycle():
    graph = {p.stem: _imported_modules(p.read_text(), "benchmarks") for p in (REPO / "benchmarks").glob("*.py")}
    assert "scale" in graph["run"]  # not vacuous: the harness imports its sections
    assert _cycles(graph) == [], "benchmarks/ import cycle(s); move what both sides need into benchmarks/report.py"


def test_the_library_never_mentions_benchmarks():
    hits = [f"{p.relative_to(REPO)}:{i}: {line.strip()}" for p in sorted((REPO / "course_lib").rglob("*.py"))
            for i, line in enumerate(p.read_text().splitlines(), 1) if "benchmarks" in line]
    assert not hits, "course_lib must stand alone (say `make bench` instead):\n" + "\n".join(hits)


def test_the_package_docstring_lists_every_module_once():
    """``course_lib/__init__.py`` is the one module list (the README points to it)."""
    import re
    from pathlib import Path

    import course_lib

    root = Path(course_lib.__file__).parent
    modules = sorted(p.stem for p in root.glob("*.py") if not p.stem.startswith("_"))
    listed = re.findall(r"^- ``(\w+)``", course_lib.__doc__, flags=re.M)
    assert sorted(listed) == modules, f"missing: {sorted(set(modules) - set(listed))}, stale: {sorted(set(listed) - set(modules))}"
