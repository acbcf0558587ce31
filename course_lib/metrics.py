"""Classification and ranking metrics, and per-segment tables.

Introduced in lesson 01 (AUC), extended in 04 and 05 (ranking, segments).
Exact metrics (scikit-learn), not Keras' binned approximations, so the
figures a lesson asserts are the true ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

from course_lib.columns import LABEL


def classification_report(y_true, y_prob) -> dict[str, float]:
    """ROC AUC, PR AUC (average precision) and log loss, rounded to 4 places.

    Args:
        y_true: 0/1 labels.
        y_prob: Predicted probabilities of 1.

    Raises:
        ValueError: If only one class is present (AUC is undefined).
    """
    y_true = np.asarray(y_true)
    y_prob = np.clip(np.asarray(y_prob, dtype=np.float64), 1e-7, 1 - 1e-7)
    if len(np.unique(y_true)) < 2:
        raise ValueError("AUC needs both liked and not-liked rows; this subset has one class only.")
    return {
        "roc_auc": round(float(roc_auc_score(y_true, y_prob)), 4),
        "pr_auc": round(float(average_precision_score(y_true, y_prob)), 4),
        "log_loss": round(float(log_loss(y_true, y_prob, labels=[0, 1])), 4),
    }


def auc(y_true, y_score) -> float:
    """ROC AUC (works on logits or probabilities: it only uses the order)."""
    return float(roc_auc_score(np.asarray(y_true), np.asarray(y_score, dtype=np.float64)))


def segment_report(frame: pd.DataFrame, scores: dict[str, np.ndarray], segment: str) -> pd.DataFrame:
    """ROC AUC of several models within each value of a segment column.

    Args:
        frame: Test rows with ``liked`` and the ``segment`` column.
        scores: Model name -> scores aligned with ``frame``.
        segment: Column whose values define the segments.

    Returns:
        One row per segment: its size, liked rate and each model's AUC
        (NaN where a segment holds one class only).
    """
    rows = []
    for value, part in frame.groupby(segment, observed=True, sort=True):
        idx = frame.index.get_indexer(part.index)
        row = {segment: value, "rows": len(part), "liked_rate": round(float(part[LABEL].mean()), 3)}
        for name, s in scores.items():
            y = part[LABEL].to_numpy()
            row[name] = round(auc(y, np.asarray(s)[idx]), 4) if len(np.unique(y)) == 2 else float("nan")
        rows.append(row)
    return pd.DataFrame(rows).set_index(segment)


def hit_rate_and_ndcg(ranked: dict[int, list[int]], relevant: dict[int, set[int]], k: int = 10) -> dict[str, float]:
    """HR@k and NDCG@k averaged over users with at least one relevant item.

    Args:
        ranked: User -> recommended movie ids, best first (already-rated
            movies excluded by the caller).
        relevant: User -> the movies they went on to like (the test set).
        k: Cut-off.
    """
    hits, ndcgs = [], []
    for user, rel in relevant.items():
        if not rel:
            continue
        top = list(ranked.get(user, []))[:k]
        gains = [1.0 if m in rel else 0.0 for m in top]
        hits.append(1.0 if any(gains) else 0.0)
        dcg = sum(g / np.log2(i + 2) for i, g in enumerate(gains))
        ideal = sum(1.0 / np.log2(i + 2) for i in range(min(len(rel), k)))
        ndcgs.append(dcg / ideal)
    if not hits:
        raise ValueError("no user has a relevant test item; nothing to rank.")
    return {f"hr@{k}": round(float(np.mean(hits)), 4), f"ndcg@{k}": round(float(np.mean(ndcgs)), 4),
            "users": len(hits)}


def calibration_table(y_true, y_prob, bins: int = 10) -> pd.DataFrame:
    """Mean predicted vs observed liked rate per probability bin."""
    y_true = np.asarray(y_true, dtype=float)
    y_prob = np.asarray(y_prob, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(y_prob, edges[1:-1]), 0, bins - 1)
    table = pd.DataFrame({"bin": which, "predicted": y_prob, "observed": y_true})
    out = table.groupby("bin").agg(rows=("observed", "size"), predicted=("predicted", "mean"),
                                   observed=("observed", "mean"))
    return out.round(3)
