"""Classification and ranking metrics, and per-segment tables.

Introduced in lesson 01 (AUC), extended in 04 and 05 (ranking, segments).
Exact metrics (scikit-learn), not Keras' binned approximations, so the
figures a lesson asserts are the true ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from course_lib.columns import LABEL

#: Probabilities are clipped to [PROB_CLIP, 1 - PROB_CLIP] before the log (as
#: Keras' binary cross-entropy does): one confidently wrong row costs at most
#: -log(1e-7) ≈ 16, not infinity.
PROB_CLIP = 1e-7


def classification_report(y_true, y_prob) -> dict[str, float]:
    """ROC AUC, PR AUC (average precision) and log loss, rounded to 4 places.

    Args:
        y_true: 0/1 labels.
        y_prob: Predicted probabilities of 1.

    Raises:
        ValueError: If only one class is present (AUC is undefined).
    """
    y_prob = np.asarray(y_prob, dtype=np.float64)
    return {
        "roc_auc": round(auc(y_true, y_prob), 4),
        "pr_auc": round(float(average_precision_score(np.asarray(y_true), y_prob)), 4),
        "log_loss": round(log_loss(y_true, y_prob), 4),
    }


def log_loss(y_true, y_prob) -> float:
    """Mean binary cross-entropy of probabilities ``y_prob`` (the package's one log loss).

    ``-mean(y log p + (1 - y) log(1 - p))`` with ``p`` clipped to ``PROB_CLIP``.
    """
    y = np.asarray(y_true, dtype=np.float64)
    p = np.clip(np.asarray(y_prob, dtype=np.float64), PROB_CLIP, 1 - PROB_CLIP)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def auc(y_true, y_score) -> float:
    """ROC AUC (works on logits or probabilities: it only uses the order).

    Raises:
        ValueError: If only one class is present (AUC is undefined).
    """
    y_true = np.asarray(y_true)
    if len(np.unique(y_true)) < 2:
        raise ValueError("AUC needs both liked and not-liked rows; this subset has one class only.")
    return float(roc_auc_score(y_true, np.asarray(y_score, dtype=np.float64)))


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


def per_user_hits(ranked: dict[int, list[int]], relevant: dict[int, set[int]], k: int = 10) -> pd.DataFrame:
    """Each user's hit@k (0/1) and NDCG@k, for users with at least one relevant item.

    The per-user values are what ``compare.compare_users`` resamples;
    ``hit_rate_and_ndcg`` is their mean.

    Args:
        ranked: User -> recommended movie ids, best first (already-rated
            movies excluded by the caller).
        relevant: User -> the movies they went on to like (the test set).
        k: Cut-off.
    """
    rows = {}
    for user, rel in relevant.items():
        if not rel:
            continue
        top = list(ranked.get(user, []))[:k]
        gains = [1.0 if m in rel else 0.0 for m in top]
        dcg = sum(g / np.log2(i + 2) for i, g in enumerate(gains))
        ideal = sum(1.0 / np.log2(i + 2) for i in range(min(len(rel), k)))
        rows[user] = (1.0 if any(gains) else 0.0, dcg / ideal)
    if not rows:
        raise ValueError("no user has a relevant test item; nothing to rank.")
    return pd.DataFrame.from_dict(rows, orient="index", columns=[f"hr@{k}", f"ndcg@{k}"]).rename_axis("user_id")


def per_user_hits_over_runs(runs: list[dict[int, list[int]]], relevant: dict[int, set[int]],
                             k: int = 10) -> pd.DataFrame:
    """Each user's hit@k and NDCG@k averaged over several runs' lists (a system's seeds).

    What ``compare.compare_users`` resamples for a system trained with several seeds.
    """
    if not runs:
        raise ValueError("no runs to average.")
    return sum(per_user_hits(ranked, relevant, k) for ranked in runs) / len(runs)


def hit_rate_and_ndcg(ranked: dict[int, list[int]], relevant: dict[int, set[int]], k: int = 10) -> dict[str, float]:
    """HR@k and NDCG@k averaged over users with at least one relevant item (``per_user_hits``)."""
    per_user = per_user_hits(ranked, relevant, k)
    return {f"hr@{k}": round(float(per_user[f"hr@{k}"].mean()), 4),
            f"ndcg@{k}": round(float(per_user[f"ndcg@{k}"].mean()), 4), "users": len(per_user)}


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


def per_user_auc(users, y_true, y_score) -> pd.Series:
    """ROC AUC within each user's own rows: does the model order one user's movies? (lesson 02).

    Pooled ROC AUC also rewards knowing *which users* rate generously and
    which movies everyone likes; a recommender ranks movies for one user at a
    time. Computed for all users at once from ranks (Mann-Whitney; ties count
    one half, as in ``auc``).

    Args:
        users: The user id of each row.
        y_true: 0/1 labels.
        y_score: Scores (probabilities or logits: only the order counts).

    Returns:
        One AUC per user with both liked and not-liked rows (index: user id);
        users with a single class are left out.
    """
    frame = pd.DataFrame({"user": np.asarray(users), "y": np.asarray(y_true, dtype=np.float64),
                          "score": np.asarray(y_score, dtype=np.float64)})
    if not frame["y"].isin((0.0, 1.0)).all():
        raise ValueError("per_user_auc needs 0/1 labels.")
    rank = frame.groupby("user")["score"].rank(method="average")
    by_user = frame.assign(rank_of_liked=rank * frame["y"]).groupby("user")
    liked, rows = by_user["y"].sum(), by_user["y"].size()
    other = rows - liked
    keep = (liked > 0) & (other > 0)
    if not keep.any():
        raise ValueError("no user has both liked and not-liked rows; per-user AUC is undefined.")
    value = (by_user["rank_of_liked"].sum() - liked * (liked + 1) / 2) / (liked * other)
    return value[keep].rename("roc_auc").rename_axis("user_id")
