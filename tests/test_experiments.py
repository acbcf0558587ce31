"""The planted-rules experiment of lesson 04 (course_lib.experiments)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib.columns import ITEM
from course_lib.features import HIST_COLUMNS


@pytest.fixture(scope="module")
def world():
    from course_lib.experiments import planted_rules_data

    return planted_rules_data(seed=3, n_users=300, n_movies=120, n_rules=6, rule_follow=1.0,
                              rule_ranks=(3, 30), latent_rank=4)


def test_planted_data_is_course_data(world):
    data, rules = world
    assert len(rules) == 6 and set(data.features["split"]) == {"train", "val", "test"}
    assert len(data.train) + len(data.val) + len(data.test) == len(data.features)


def test_rule_rows_match_the_history(world):
    from course_lib.experiments import rule_rows

    data, rules = world
    target, fired = rule_rows(data.features, rules)
    assert fired.sum() > 0 and not (fired & ~target).any()
    row = data.features[fired].iloc[0]
    antecedents = rules.loc[rules.consequent == row[ITEM], "antecedent"]
    assert set(antecedents) & set(row[HIST_COLUMNS])


def test_rule_support_counts_training_repetitions(world):
    from course_lib.experiments import rule_rows, rule_support

    data, rules = world
    support = rule_support(data, rules)
    assert list(support.columns) == ["antecedent", "consequent", "train_fired", "liked_fired",
                                     "liked_not_fired", "logit_gap"]
    assert support["train_fired"].sum() == rule_rows(data.train, rules)[1].sum()
    # Strong rules: liked far more often when they fire.
    assert (support["logit_gap"] > 1.0).all()


def test_without_antecedent_removes_only_the_rule_movie(world):
    from course_lib.experiments import rule_rows, without_antecedent

    data, rules = world
    rows = data.test[rule_rows(data.test, rules)[1]]
    cf = without_antecedent(rows, rules)
    assert not rule_rows(cf, rules)[1].any(), "the counterfactual rows no longer fire"
    changed = (cf[HIST_COLUMNS].to_numpy() != rows[HIST_COLUMNS].to_numpy())
    assert (changed.sum(axis=1) >= 1).all() and (cf[HIST_COLUMNS].to_numpy()[changed] == 0).all()
    pd.testing.assert_frame_equal(cf.drop(columns=HIST_COLUMNS), rows.drop(columns=HIST_COLUMNS))


@pytest.mark.slow
def test_wide_memorizes_the_rules_deep_does_not(world):
    """The experiment's core, on a small world: wide learns the rule, deep (embeddings) cannot."""
    from course_lib.experiments import rule_report, train_rules_model

    data, rules = world
    wide = rule_report(train_rules_model(data, "wide", seed=1, epochs=4), data, rules)
    deep = rule_report(train_rules_model(data, "deep", seed=1, epochs=4), data, rules)
    assert wide["effect"] > 0.3 and abs(deep["effect"]) < 0.15
    assert wide["rule_auc"] > deep["rule_auc"] + 0.05
    assert deep["effect_wide"] == 0.0 and wide["effect_deep"] == 0.0
    assert np.isfinite([wide["other_auc"], deep["other_auc"]]).all()
