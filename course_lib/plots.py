"""Plots the lessons show. Each returns its matplotlib Axes (tests check the data).

Introduced in lessons 01-05 (each function names its lesson).
"""

from __future__ import annotations

import base64
import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from course_lib.columns import TITLE


def _axes(ax=None, figsize=(7, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def genre_heatmap(matrix: pd.DataFrame, ax=None, title="Genre x genre cross weights"):
    """Lesson 01: a diverging heatmap of cross weights (red = pushes towards liked)."""
    ax = _axes(ax, (9, 7))
    lim = float(np.abs(matrix.to_numpy()).max()) or 1.0
    sns.heatmap(matrix, cmap="RdBu_r", center=0, vmin=-lim, vmax=lim, ax=ax, square=True,
                cbar_kws={"label": "weight (logit)"})
    ax.set_title(title)
    return ax


def embedding_scatter(coords: pd.DataFrame, highlight: dict[str, int] | None = None, ax=None,
                      top_genres: int = 8):
    """Lesson 02: movies on the 2-D embedding map, coloured by first genre."""
    ax = _axes(ax, (8, 6))
    common = coords["genre"].value_counts().index[:top_genres]
    shown = coords[coords["genre"].isin(common)]
    sns.scatterplot(data=shown, x="x", y="y", hue="genre", hue_order=list(common), s=10, alpha=0.6,
                    linewidth=0, ax=ax)
    for label, movie_id in (highlight or {}).items():
        row = coords[coords["movie_id"] == movie_id]
        if len(row):
            ax.annotate(label, (row["x"].iloc[0], row["y"].iloc[0]), fontsize=9, weight="bold")
    ax.set_title("Movie embeddings (PCA to 2-D)")
    ax.legend(loc="upper right", fontsize=8, markerscale=2)
    return ax


def learning_curves(histories: dict[str, pd.DataFrame], metric: str = "val_auc", ax=None):
    """Lesson 04: a validation metric per epoch for several models."""
    ax = _axes(ax)
    for name, hist in histories.items():
        ax.plot(hist.index, hist[metric], marker="o", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"Learning curves ({metric})")
    ax.legend()
    return ax


def roc_pr_curves(y_true, scores: dict[str, np.ndarray]):
    """Lesson 05: ROC and precision-recall curves side by side."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, s in scores.items():
        fpr, tpr, _ = roc_curve(y_true, s)
        ax1.plot(fpr, tpr, label=name)
        prec, rec, _ = precision_recall_curve(y_true, s)
        ax2.plot(rec, prec, label=name)
    ax1.plot([0, 1], [0, 1], "k:", lw=1)
    ax1.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax2.set(xlabel="recall", ylabel="precision", title="Precision-recall")
    ax1.legend()
    ax2.legend()
    return ax1, ax2


def calibration_plot(tables: dict[str, pd.DataFrame], ax=None):
    """Lesson 05: observed liked rate against mean predicted probability."""
    ax = _axes(ax, (5, 5))
    ax.plot([0, 1], [0, 1], "k:", lw=1, label="perfect")
    for name, t in tables.items():
        ax.plot(t["predicted"], t["observed"], marker="o", label=name)
    ax.set(xlabel="predicted probability", ylabel="observed liked rate", title="Calibration")
    ax.legend()
    return ax


def contribution_bars(top: pd.DataFrame, ax=None, fontsize: float | None = None,
                      names: tuple[str, str] = ("wide", "deep")):
    """Lessons 04/05/07: wide vs deep logit of each recommended movie (columns wide, deep, title).

    Args:
        top: One row per movie, best first.
        ax: Axes to draw on (default: a new figure).
        fontsize: Size of the titles and legend (default: matplotlib's).
        names: The two logits' columns (lesson 08: ``("fm", "deep")``, ``("cross", "deep")``).
    """
    ax = _axes(ax, (8, 4.5))
    labels = [t if len(t) <= 32 else t[:31] + "…" for t in top[TITLE]]
    y = np.arange(len(top))
    ax.barh(y - 0.2, top[names[0]], height=0.4, label=f"{names[0]} logit", color="#1f77b4")
    ax.barh(y + 0.2, top[names[1]], height=0.4, label=f"{names[1]} logit", color="#ff7f0e")
    ax.set_yticks(y, labels, fontsize=fontsize)
    ax.invert_yaxis()
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("contribution to the logit")
    ax.legend(fontsize=fontsize, loc="lower right")
    return ax


def png_base64(fig, dpi: int = 80) -> str:
    """A figure as a base64 PNG (for self-contained HTML); closes the figure."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


#: Colours of the architecture diagram: (box face, band background) per branch.
BRANCH_COLOURS = {"wide": ("#cfe2f3", "#eef5fb"), "deep": ("#fde0c5", "#fff5ec")}
OTHER_COLOURS = ("#e6e6e6", "#f7f7f7")


def _columns(graph) -> dict[str, tuple[int, int]]:
    """(stage, sub-column) of each box: a chain inside one stage (Dense -> Dense) spreads right."""
    from course_lib.explain import STAGES

    parents: dict[str, list[str]] = {k: [] for k in graph.boxes}
    for a, b in graph.edges:
        parents[b].append(a)
    col: dict[str, tuple[int, int]] = {}

    def place(key):
        if key not in col:
            box = graph.boxes[key]
            same = [place(p)[1] + 1 for p in parents[key] if graph.boxes[p].stage == box.stage]
            col[key] = (STAGES.index(box.stage), max(same, default=0))
        return col[key]

    for key in graph.boxes:
        place(key)
    return col


def architecture(model, ax=None):
    """Lesson 04: the model's architecture, drawn from its layers (``explain.model_graph``).

    Raw inputs on the left, then per branch its lookups, weight tables and
    embeddings, pooling, dense layers and sum; the branch logits are added
    and squashed by a sigmoid. Built from the model itself, so it stays true
    when the model changes; matplotlib only (no graphviz).

    Args:
        model: A course model, or a ``ModelGraph`` already built from one.
        ax: Axes to draw on (default: a new figure sized to the graph).

    Returns:
        The matplotlib Figure.
    """
    from matplotlib.patches import FancyBboxPatch, Rectangle

    from course_lib.explain import ModelGraph, model_graph

    graph = model if isinstance(model, ModelGraph) else model_graph(model)
    col = _columns(graph)
    xs = {c: i for i, c in enumerate(sorted(set(col.values())))}
    parents: dict[str, list[str]] = {k: [] for k in graph.boxes}
    for a, b in graph.edges:
        parents[b].append(a)
    # Boxes of a branch share its horizontal band; inputs and the output span all bands.
    bands = [b for b in graph.branches if any(x.branch == b for x in graph.boxes.values())]
    rows = {b: max([sum(1 for k, x in graph.boxes.items() if x.branch == b and col[k] == c)
                    for c in xs]) for b in bands}
    gap = 0.8
    top, band_span = 0.0, {}
    for b in bands:
        band_span[b] = (top, top + rows[b])
        top += rows[b] + gap
    height = top - gap
    y: dict[str, float] = {}
    for c in sorted(xs):  # left to right; order each column by where its parents sit
        for b in [*bands, ""]:
            keys = [k for k, x in graph.boxes.items() if col[k] == c and x.branch == b]
            if not keys:
                continue
            keys.sort(key=lambda k: np.mean([y[p] for p in parents[k] if p in y]) if any(
                p in y for p in parents[k]) else 0.0)
            lo, hi = band_span.get(b, (0.0, height))
            step = (hi - lo) / len(keys)
            for i, k in enumerate(keys):
                y[k] = lo + step * (i + 0.5)
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.3 * len(xs) + 0.4, 0.6 * height + 1.2))
    fig = ax.figure
    w, h = 0.9, 0.78
    for b in bands:
        lo, hi = band_span[b]
        cols = [xs[col[k]] for k, x in graph.boxes.items() if x.branch == b]
        face = BRANCH_COLOURS.get(b, OTHER_COLOURS)[1]
        ax.add_patch(Rectangle((min(cols) - 0.5, lo - 0.3), max(cols) - min(cols) + 1.0, hi - lo + 0.6,
                               color=face, zorder=0))
        ax.text(min(cols) - 0.45, lo - 0.22, f"{b} branch", fontsize=8, weight="bold", va="top", color="#444")
    for a, b in graph.edges:
        ax.annotate("", xy=(xs[col[b]] - w / 2, y[b]), xytext=(xs[col[a]] + w / 2, y[a]),
                    arrowprops=dict(arrowstyle="-|>", lw=0.5, color="#888", shrinkA=0, shrinkB=0), zorder=1)
    for k, box in graph.boxes.items():
        face = BRANCH_COLOURS.get(box.branch, OTHER_COLOURS)[0]
        x0, hk = xs[col[k]], max(h, 0.2 * box.text.count("\n") + 0.4)  # tall enough for its lines
        ax.add_patch(FancyBboxPatch((x0 - w / 2, y[k] - hk / 2), w, hk, boxstyle="round,pad=0.02,rounding_size=0.08",
                                    facecolor=face, edgecolor="#555", lw=0.6, zorder=2))
        ax.text(x0, y[k], box.text, ha="center", va="center", fontsize=6.8, zorder=3)
    ax.set_xlim(-0.6, len(xs) - 0.4)
    ax.set_ylim(height + 0.4, -0.9)
    ax.axis("off")
    ax.set_title(f"Architecture of {graph.name!r}, drawn from its layers", fontsize=10)
    return fig


# ---------------------------------------------------------------------------
# Lessons 01, 02 and 05: comparisons over seeds (one dot per seed, a bar at the mean)
# ---------------------------------------------------------------------------


def seed_comparison(results: pd.DataFrame, x: str, metric: str = "roc_auc", hue: str | None = None, ax=None,
                    title: str | None = None, baselines: dict[str, float] | None = None):
    """Lessons 01, 02, 05: each seed's score as a dot and the mean over seeds as a bar.

    The dots show the spread the lesson's margins are computed from; a
    difference between two bars means something only when it is large
    against that spread.

    Args:
        results: One row per run, with columns ``x``, ``metric`` (and ``hue``).
        x: Column naming the compared models (or segments).
        metric: Column with the score.
        hue: Optional second grouping (e.g. the model, when ``x`` is a segment).
        ax: Axes to draw on (default: a new figure).
        title: Title (default: the metric).
        baselines: Name -> value, drawn as horizontal dashed lines.

    Raises:
        KeyError: If a named column is missing.
    """
    missing = [c for c in (x, metric, hue) if c is not None and c not in results.columns]
    if missing:
        raise KeyError(f"results lack column(s) {missing}; pass one row per (model, seed) run.")
    ax = _axes(ax, (7, 4))
    sns.barplot(data=results, x=x, y=metric, hue=hue, errorbar=None, alpha=0.45, ax=ax)
    sns.stripplot(data=results, x=x, y=metric, hue=hue, dodge=hue is not None, color="k" if hue is None else None,
                  size=5, jitter=False, ax=ax, legend=False)
    for k, (name, value) in enumerate((baselines or {}).items()):
        ax.axhline(value, ls=["--", ":", "-."][k % 3], color="grey", lw=1.2, label=name)
    values = list(results[metric]) + list((baselines or {}).values())
    span = max(values) - min(values)
    ax.set_ylim(min(values) - max(0.3 * span, 0.002), max(values) + max(0.3 * span, 0.002))
    ax.set(xlabel="", ylabel=metric.replace("_", " "), title=title or metric.replace("_", " "))
    if hue is not None or baselines:
        ax.legend(fontsize=8, loc="best")
    return ax
