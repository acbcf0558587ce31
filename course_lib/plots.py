"""Plots the lessons show. Each returns its matplotlib Axes (tests check the data).

Introduced in lessons 01-05 (each function names its lesson).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns


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


def auc_bars(table: pd.DataFrame, ax=None, title="Test ROC AUC", ylim=None):
    """Lessons 01-02, 05: grouped bars of AUC per model (columns) and segment (rows)."""
    ax = _axes(ax)
    table.plot.bar(ax=ax, rot=0)
    ax.set_ylabel("ROC AUC")
    ax.set_title(title)
    if ylim:
        ax.set_ylim(*ylim)
    ax.legend(loc="lower right")
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


def contribution_bars(top: pd.DataFrame, ax=None):
    """Lessons 04/05: wide vs deep logit of each recommended movie (columns wide, deep, title)."""
    ax = _axes(ax, (8, 4.5))
    labels = [t if len(t) <= 32 else t[:30] + "…" for t in top["title"]]
    y = np.arange(len(top))
    ax.barh(y - 0.2, top["wide"], height=0.4, label="wide logit")
    ax.barh(y + 0.2, top["deep"], height=0.4, label="deep logit")
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("contribution to the logit")
    ax.legend()
    return ax


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
