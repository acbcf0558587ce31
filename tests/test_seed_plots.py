"""course_lib.plots.seed_comparison: one dot per seed, a bar per mean (lessons 01, 02, 05)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: tests never open windows

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from course_lib.plots import seed_comparison  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


RUNS = pd.DataFrame({"model": ["wide"] * 3 + ["deep"] * 3, "seed": [1, 2, 3] * 2,
                     "roc_auc": [0.776, 0.777, 0.775, 0.805, 0.806, 0.804], "rows": ["seen", "unseen", "seen"] * 2})


def test_bars_sit_at_the_means_and_baselines_are_drawn():
    ax = seed_comparison(RUNS, "model", baselines={"baseline": 0.79})
    heights = sorted(round(p.get_height(), 4) for p in ax.patches)
    assert heights == [0.776, 0.805]
    assert any(line.get_ydata()[0] == 0.79 for line in ax.get_lines())
    low, high = ax.get_ylim()
    assert low < 0.775 and high > 0.806


def test_hue_and_missing_columns():
    ax = seed_comparison(RUNS, "rows", hue="model")
    assert len([p for p in ax.patches if p.get_height() > 0]) == 4
    with pytest.raises(KeyError, match="roc_auc"):
        seed_comparison(RUNS.drop(columns="roc_auc"), "model")
