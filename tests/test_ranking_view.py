"""Lesson 02's ranking view: per-user AUC and the sameness of top-10 lists across users."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from course_lib.metrics import auc, per_user_auc
from course_lib.evaluation import list_sameness


def test_per_user_auc_matches_auc_per_user_with_ties():
    rng = np.random.default_rng(0)
    users, y = rng.integers(0, 30, 2000), rng.integers(0, 2, 2000)
    score = np.round(rng.random(2000), 1)  # many ties
    got = per_user_auc(users, y, score)
    expected = {u: auc(y[users == u], score[users == u]) for u in np.unique(users) if 0 < y[users == u].mean() < 1}
    assert set(got.index) == set(expected)
    assert max(abs(got[u] - v) for u, v in expected.items()) < 1e-12


def test_per_user_auc_drops_single_class_users_and_rejects_bad_labels():
    out = per_user_auc([1, 1, 2, 2], [1, 0, 1, 1], [0.9, 0.1, 0.5, 0.4])
    assert list(out.index) == [1] and out[1] == 1.0
    with pytest.raises(ValueError):
        per_user_auc([1, 1], [1, 1], [0.2, 0.3])
    with pytest.raises(ValueError):
        per_user_auc([1, 1], [2, 0], [0.2, 0.3])


def test_list_sameness_is_the_mean_pairwise_overlap():
    lists = {1: [1, 2, 3], 2: [1, 2, 4], 3: [5, 6, 7], 4: [1, 5, 9]}
    out = list_sameness(lists, catalogue_size=20)
    pairs = [len(set(a) & set(b)) for a, b in itertools.combinations(lists.values(), 2)]
    assert out["shared"] == pytest.approx(np.mean(pairs))
    assert out["top_title_share"] == 0.75 and out["distinct"] == 8 and out["coverage"] == 0.4
    assert list_sameness({1: [1, 2], 2: [1, 2]})["shared"] == 2.0
    with pytest.raises(ValueError):
        list_sameness({1: [1, 2]})
    with pytest.raises(ValueError):
        list_sameness({1: [1, 1], 2: [2, 3]})
