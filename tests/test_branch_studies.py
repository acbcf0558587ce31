"""Lesson 04's studies of the wide branch (course_lib.branch_studies): the grid, the ablation, planted rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib.columns import ITEM
from course_lib.features import HIST_COLUMNS


@pytest.fixture(scope="module")
def world():
    from course_lib.branch_studies import planted_rules_data

    return planted_rules_data(seed=3, n_users=300, n_movies=120, n_rules=6, rule_follow=1.0,
                              rule_ranks=(3, 30), latent_rank=4)


def test_planted_data_is_course_data(world):
    data, rules = world
    assert len(rules) == 6 and set(data.features["split"]) == {"train", "val", "test"}
    assert len(data.train) + len(data.val) + len(data.test) == len(data.features)


def test_rule_rows_match_the_history(world):
    from course_lib.branch_studies import rule_rows

    data, rules = world
    target, fired = rule_rows(data.features, rules)
    assert fired.sum() > 0 and not (fired & ~target).any()
    row = data.features[fired].iloc[0]
    antecedents = rules.loc[rules.consequent == row[ITEM], "antecedent"]
    assert set(antecedents) & set(row[HIST_COLUMNS])


def test_rule_support_counts_training_repetitions(world):
    from course_lib.branch_studies import rule_rows, rule_support

    data, rules = world
    support = rule_support(data, rules)
    assert list(support.columns) == ["antecedent", "consequent", "train_fired", "liked_fired",
                                     "liked_not_fired", "logit_gap"]
    assert support["train_fired"].sum() == rule_rows(data.train, rules)[1].sum()
    # Strong rules: liked far more often when they fire.
    assert (support["logit_gap"] > 1.0).all()


def test_without_antecedent_removes_only_the_rule_movie(world):
    from course_lib.branch_studies import rule_rows, without_antecedent

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
    from course_lib.branch_studies import rule_report, train_rules_model

    data, rules = world
    wide = rule_report(train_rules_model(data, "wide", seed=1, epochs=4), data, rules)
    deep = rule_report(train_rules_model(data, "deep", seed=1, epochs=4), data, rules)
    assert wide["effect"] > 0.3 and abs(deep["effect"]) < 0.15
    assert wide["rule_auc"] > deep["rule_auc"] + 0.05
    assert deep["effect_wide"] == 0.0 and wide["effect_deep"] == 0.0
    assert np.isfinite([wide["other_auc"], deep["other_auc"]]).all()


# ------------------------------------------------- the 2 x 2 and ablation ---

def _fake_runs():
    rows = []
    for (model, inputs), values in {("deep", "embeddings"): [0.770, 0.772, 0.771],
                                    ("wide_deep", "embeddings"): [0.776, 0.777, 0.778],
                                    ("deep", "statistics"): [0.800, 0.802, 0.801],
                                    ("wide_deep", "statistics"): [0.801, 0.800, 0.802]}.items():
        rows += [{"model": model, "deep_inputs": inputs, "seed": s, "roc_auc": v} for s, v in enumerate(values, 1)]
    rows.append({"model": "wide", "deep_inputs": "-", "seed": 1, "roc_auc": 0.76})
    return pd.DataFrame(rows)


def test_grid_table_reads_mean_and_sample_std():
    from course_lib.branch_studies import grid_table
    from course_lib.compare import summarize

    table = grid_table(_fake_runs())
    assert list(table.columns) == ["deep", "wide_deep"] and list(table.index) == ["embeddings", "statistics"]
    assert table.loc["embeddings", "wide_deep"] == "0.7770 ± 0.0010"
    stats = summarize(_fake_runs(), "model")
    assert stats.loc["wide", "seeds"] == 1 and np.isnan(stats.loc["wide", "std"])


def test_pair_support_counts_rows_per_pair(synthetic_features):
    from course_lib.branch_studies import pair_support

    feats, _ = synthetic_features
    support = pair_support(feats)
    train = feats[feats["split"] == "train"]
    assert support["train_rows"].sum() == int((train[HIST_COLUMNS].to_numpy() > 0).sum())
    row = support.sort_values("train_rows").iloc[-1]
    hits = train[(train[ITEM] == row[ITEM]) & (train[HIST_COLUMNS] == row["liked_movie"]).any(axis=1)]
    assert len(hits) == row["train_rows"] and hits["liked"].mean() == pytest.approx(row["liked_rate"])


def test_numeric_baseline_scores_the_test_rows(synthetic_features):
    from course_lib.branch_studies import numeric_baseline
    from course_lib.prepare import CourseData

    feats, spec = synthetic_features
    report = numeric_baseline(CourseData(None, None, None, feats, spec))
    assert set(report) == {"roc_auc", "pr_auc", "log_loss"} and 0.5 < report["roc_auc"] <= 1.0


@pytest.mark.slow
def test_branch_grid_and_ablation_shapes(world):
    """One call trains every cell; the ablation reuses the grid's full model."""
    from course_lib.branch_studies import branch_grid, cross_ablation

    data, _ = world
    runs, kept = branch_grid(data, seeds=(1, 2), inputs=("embeddings",), wide_seeds=(1,), keep=1)
    assert sorted(map(tuple, runs[["model", "seed"]].to_numpy())) == [
        ("deep", 1), ("deep", 2), ("wide", 1), ("wide_deep", 1), ("wide_deep", 2)]
    assert set(kept) == {("deep", "embeddings"), ("wide_deep", "embeddings"), ("wide", "-")}
    abl = cross_ablation(data, seeds=(1,), variants={"ids only": (), "all three": (
        "movie_x_history", "genre_x_genre", "user_x_genre")}, grid_runs=runs)
    full = runs[(runs.model == "wide_deep") & (runs.seed == 1)]["roc_auc"].iloc[0]
    assert abl.set_index("wide crosses").loc["all three", "roc_auc"] == full


@pytest.mark.slow
def test_ensemble_and_seen_unseen_runs_reuse_the_grid_logits(world):
    """The ensemble blends the grid's own models (blend 0: deep alone, 1: wide alone); no model is loaded twice."""
    from course_lib.branch_studies import branch_grid, ensemble_runs, seen_unseen_runs

    data, _ = world
    logits = {}
    runs, _ = branch_grid(data, seeds=(1, 2), inputs=("embeddings",), logits=logits)
    assert set(logits) == {(m, i, s) for m, i in (("deep", "embeddings"), ("wide_deep", "embeddings"), ("wide", "-"))
                           for s in (1, 2)}
    assert all(len(logits[k]["test"][0]) == len(data.test) for k in logits)
    ens = ensemble_runs(data, seeds=(1, 2), inputs=("embeddings",), logits=logits)
    assert list(ens.columns) == ["model", "deep_inputs", "seed", "blend", "val_auc", "roc_auc"]
    assert set(ens.model) == {"ensemble"} and ens.blend.between(0, 1).all()
    for blend, model in ((0.0, "deep"), (1.0, "wide")):
        alone = ensemble_runs(data, seeds=(1,), inputs=("embeddings",), blends=(blend,), logits=logits)
        expected = runs[(runs.model == model) & (runs.seed == 1)].roc_auc.iloc[0]
        assert abs(alone.roc_auc.iloc[0] - expected) <= 1e-4  # logits vs probabilities: the same order
    # The grid's blend set includes both ends, so tuned on validation it is at least as good there.
    ends = [ensemble_runs(data, seeds=(2,), inputs=("embeddings",), blends=(b,), logits=logits).val_auc.iloc[0]
            for b in (0.0, 1.0)]
    assert ens[ens.seed == 2].val_auc.iloc[0] >= max(ends)
    # seen_unseen_runs needs both classes in each segment: this small world has a 1-row segment.
    with pytest.raises(ValueError, match="one class"):
        seen_unseen_runs(data, seeds=(1,), logits=logits)
