"""course_lib.leaks: the user bootstrap behind lesson 03's leak intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib.columns import USER
from course_lib.leaks import bootstrap_auc_gap


def _rows(n_users: int, noise: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), 20)
    liked = rng.integers(0, 2, len(users))
    return pd.DataFrame({USER: users, "liked": liked, "score": liked + noise * rng.normal(size=len(users))})


def test_identical_pipelines_have_zero_gap():
    rows = _rows(30, 1.0, 0)
    gaps = bootstrap_auc_gap(rows, rows.copy(), n_boot=20)
    assert gaps.shape == (20,)
    np.testing.assert_allclose(gaps, 0.0, atol=1e-12)


def test_a_better_score_shows_a_positive_gap_and_repeats_with_the_seed():
    honest, leaky = _rows(40, 2.0, 1), _rows(40, 0.3, 1)
    gaps = bootstrap_auc_gap(honest, leaky, n_boot=50, seed=3)
    assert np.percentile(gaps, 2.5) > 0
    np.testing.assert_array_equal(gaps, bootstrap_auc_gap(honest, leaky, n_boot=50, seed=3))


def test_missing_score_column_says_what_to_pass():
    rows = _rows(5, 1.0, 0)
    with pytest.raises(KeyError, match="score"):
        bootstrap_auc_gap(rows.drop(columns="score"), rows)
