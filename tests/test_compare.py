"""The course's one rule for "better" (course_lib.compare): each branch of the rule can fail."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib.compare import BETTER, RULE, SAME, THRESHOLD_SD, WORSE, compare_runs, compare_seeds, compare_users
from course_lib.metrics import hit_rate_and_ndcg, per_user_hits


def test_seed_rule_reads_the_gap_in_pooled_sd():
    v = compare_seeds([0.80, 0.81, 0.82], [0.70, 0.71, 0.72])
    assert v.verdict == BETTER and v.spread == pytest.approx(0.01) and v.in_sd == pytest.approx(10)
    assert compare_seeds([0.70, 0.71, 0.72], [0.80, 0.81, 0.82]).verdict == WORSE
    # 1.5 SD apart: not distinguishable, either way round.
    assert compare_seeds([0.815, 0.825, 0.835], [0.80, 0.81, 0.82]).verdict == SAME
    assert compare_seeds([0.80, 0.81, 0.82], [0.815, 0.825, 0.835]).verdict == SAME


def test_the_threshold_is_two_sd_exactly():
    base = np.array([0.0, 1.0, 2.0])  # sd 1
    assert compare_seeds(base + 2.01, base).verdict == BETTER
    assert compare_seeds(base + 1.99, base).verdict == SAME
    assert THRESHOLD_SD == 2 and "not distinguishable" in RULE


def test_an_arm_without_training_noise_adds_no_spread():
    # Pooling 0.01 with a deterministic arm's 0 would give 0.0071 and call a 1.5 SD gap "better".
    v = compare_seeds([0.80, 0.81, 0.82], [0.795], b_noise=False)
    assert v.spread == pytest.approx(0.01) and v.verdict == SAME
    assert compare_seeds([0.795], [0.80, 0.81, 0.82], a_noise=False).verdict == SAME


def test_the_seed_rule_refuses_what_it_cannot_judge():
    with pytest.raises(ValueError, match="at least 2"):
        compare_seeds([0.8], [0.7, 0.71])
    with pytest.raises(ValueError, match="compare over users"):
        compare_seeds([0.8, 0.8], [0.7, 0.7])
    with pytest.raises(ValueError, match="finite"):
        compare_seeds([0.8, float("nan")], [0.7, 0.71])


def test_compare_runs_selects_cells():
    runs = pd.DataFrame({"model": ["a"] * 3 + ["b"] * 3, "roc_auc": [0.80, 0.81, 0.82, 0.70, 0.71, 0.72]})
    assert compare_runs(runs, {"model": "a"}, {"model": "b"}).verdict == BETTER
    assert "+0.1000 (+10.0 SD): better" == str(compare_runs(runs, {"model": "a"}, {"model": "b"}))
    with pytest.raises(ValueError, match="no run matches"):
        compare_runs(runs, {"model": "c"}, {"model": "b"})


def test_user_bootstrap_is_paired_and_seeded():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2, 600).astype(float)
    better = base.copy()
    better[rng.choice(np.flatnonzero(base == 0), 60, replace=False)] = 1  # 60 more hits, 0 fewer
    v = compare_users(better, base)
    assert v.verdict == BETTER and v.low > 0 and v.diff == pytest.approx(0.1)
    assert compare_users(base, better).verdict == WORSE
    # Paired: a system that swaps hits with another (same count) is not distinguishable from it.
    swapped = np.roll(base, 1)
    assert compare_users(swapped, base).verdict == SAME
    assert str(compare_users(better, base)) == str(compare_users(better, base))  # the same interval each run
    with pytest.raises(ValueError, match="same users"):
        compare_users(base, base[:-1])


def test_per_user_hits_average_to_the_reported_metrics():
    ranked = {1: [10, 11, 12], 2: [20, 21], 3: [30]}
    relevant = {1: {12}, 2: {99}, 3: {30, 31}, 4: set()}
    per_user = per_user_hits(ranked, relevant, k=10)
    assert list(per_user.index) == [1, 2, 3]  # user 4 has nothing to find
    assert per_user["hr@10"].tolist() == [1.0, 0.0, 1.0]
    assert per_user.loc[1, "ndcg@10"] == pytest.approx(0.5)  # hit at rank 3: 1/log2(4)
    summary = hit_rate_and_ndcg(ranked, relevant, k=10)
    assert summary["hr@10"] == round(2 / 3, 4) and summary["users"] == 3


def test_seed_statistics_are_the_ones_the_rule_reads():
    """summarize (tables), mean_sd (one list) and pooled_sd share one convention: sample SD, ddof=1."""
    from course_lib.compare import mean_sd, pooled_sd, summarize

    assert mean_sd([0.80, 0.81, 0.82]) == pytest.approx((0.81, 0.01))
    assert mean_sd([0.80, None, float("nan"), 0.82]) == pytest.approx((0.81, np.sqrt(2e-4)))  # gaps skipped
    m, sd = mean_sd([0.8])
    assert m == 0.8 and np.isnan(sd)  # one seed has no spread, as in summarize
    assert all(np.isnan(mean_sd([])))
    runs = pd.DataFrame({"model": ["a"] * 3 + ["b"] * 3 + ["c"],
                         "roc_auc": [0.80, 0.81, 0.82, 0.70, 0.73, 0.76, 0.9]})
    table = summarize(runs, "model")
    for model, part in runs.groupby("model"):
        assert tuple(table.loc[model, ["mean", "std"]]) == pytest.approx(mean_sd(part["roc_auc"]), nan_ok=True)
    assert list(table["seeds"]) == [3, 3, 1]
    a, b = [0.80, 0.81, 0.82], [0.70, 0.73, 0.76]  # SDs 0.01 and 0.03
    assert pooled_sd(a, b) == pytest.approx(np.sqrt((0.01 ** 2 + 0.03 ** 2) / 2))
    assert compare_seeds(a, b).spread == pooled_sd(a, b)
    assert compare_seeds(a, [0.5], b_noise=False).spread == pooled_sd(a) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="finite"):
        pooled_sd([0.8, float("nan")])
