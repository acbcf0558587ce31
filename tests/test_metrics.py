"""Metrics against hand-computed values."""

import numpy as np
import pandas as pd
import pytest

from course_lib.metrics import auc, calibration_table, classification_report, hit_rate_and_ndcg, segment_report


def test_classification_report_values():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    r = classification_report(y, p)
    assert r["roc_auc"] == 0.75
    assert r["log_loss"] == round(-np.mean(np.log([0.9, 0.6, 0.35, 0.8])), 4)


def test_one_class_is_a_clear_error():
    with pytest.raises(ValueError, match="one class"):
        classification_report([1, 1], [0.2, 0.9])


def test_hit_rate_and_ndcg_by_hand():
    ranked = {1: [5, 6, 7], 2: [8, 9, 10]}
    relevant = {1: {6}, 2: {11}}
    m = hit_rate_and_ndcg(ranked, relevant, k=3)
    assert m["hr@3"] == 0.5
    assert m["ndcg@3"] == round(0.5 * (1 / np.log2(3)), 4)
    with pytest.raises(ValueError):
        hit_rate_and_ndcg(ranked, {1: set()}, k=3)
    # Two runs (seeds): each user's values are the mean of the runs'.
    from course_lib.metrics import per_user_hits_over_runs

    other = {1: [9, 9, 6], 2: [11, 9, 10]}
    both = per_user_hits_over_runs([ranked, other], relevant, k=3)
    assert both.loc[1, "hr@3"] == 1.0 and both.loc[2, "hr@3"] == 0.5
    assert both.loc[1, "ndcg@3"] == pytest.approx((1 / np.log2(3) + 1 / np.log2(4)) / 2)
    with pytest.raises(ValueError, match="no runs"):
        per_user_hits_over_runs([], relevant)


def test_ndcg_agrees_with_scikit_learn():
    """An independent implementation: sklearn's ndcg_score on each user's list, graded 1/0 by relevance."""
    from sklearn.metrics import ndcg_score

    from course_lib.metrics import per_user_hits

    rng = np.random.default_rng(0)
    n_items = 40
    for k in (1, 5, 10):
        ranked = {u: rng.permutation(n_items)[:k + 3].tolist() for u in range(50)}
        relevant = {u: set(rng.choice(n_items, size=rng.integers(1, 8), replace=False).tolist()) for u in range(50)}
        ours = per_user_hits(ranked, relevant, k)
        for user, top in ranked.items():
            y_true = np.isin(np.arange(n_items), list(relevant[user])).astype(float)
            y_score = np.zeros(n_items)
            y_score[top] = np.arange(len(top), 0, -1)  # the list's order; the rest rank below it
            assert ours.loc[user, f"ndcg@{k}"] == pytest.approx(ndcg_score([y_true], [y_score], k=k), abs=1e-12)
        summary = hit_rate_and_ndcg(ranked, relevant, k)
        assert summary[f"ndcg@{k}"] == round(float(ours[f"ndcg@{k}"].mean()), 4)
        hits = np.mean([bool(set(top[:k]) & relevant[u]) for u, top in ranked.items()])
        assert summary[f"hr@{k}"] == round(float(hits), 4)


def test_segment_report_and_calibration():
    frame = pd.DataFrame({"liked": [0, 1, 0, 1, 0, 1], "seg": ["a", "a", "a", "b", "b", "b"]})
    scores = {"m": np.array([0.1, 0.9, 0.2, 0.7, 0.8, 0.6])}
    table = segment_report(frame, scores, "seg")
    assert table.loc["a", "m"] == 1.0 and table.loc["b", "m"] == auc([1, 0, 1], [0.7, 0.8, 0.6])
    cal = calibration_table(frame.liked, scores["m"], bins=2)
    assert cal["rows"].sum() == 6
