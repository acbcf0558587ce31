"""Planted rules: when does the wide branch memorize what the deep branch cannot?

Introduced in lesson 04. On MovieLens the two branches overlap, so the
mechanism is hidden in noise. Here ``course_lib.synthetic`` plants it: a
low-rank latent taste (which embeddings learn and genre crosses cannot
express) plus a few sparse, strong "liked A -> likes B" rules (which a
movie x history cross can memorize and an averaged history embedding
blurs). Each model is then scored on two kinds of test rows:

- *other rows* (the candidate is no rule's B): ROC AUC of ``liked``;
- *rule targets* (the candidate is some rule's B): does the model rank the
  rows where the rule fired (A among the last liked movies) above those where
  it did not? ROC AUC of ``fired`` against the score — and, cleaner, the
  *rule effect*: how much the model's logit drops when A is removed from the
  history, with everything else fixed, split into the wide and deep branch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from course_lib.columns import ITEM, LABEL, SPLIT
from course_lib.features import HIST_COLUMNS

#: The planted world of lesson 04 (fast: about 1,000 users x 300 movies).
RULES_WORLD = {"n_users": 1000, "n_movies": 300, "latent_rank": 8, "latent_scale": 0.45,
               "n_rules": 20, "rule_strength": 2.0, "rule_follow": 0.5}
#: The deep branch sees embeddings only (plus the release year), as in the paper.
EMBEDDING_ONLY = ["movie_year"]


def planted_rules_data(seed: int = 0, **world):
    """Generate, split and featurise a planted-rules world.

    Args:
        seed: Data seed (the same seed gives the same world).
        **world: Overrides of ``RULES_WORLD`` (any ``synthetic_world`` option).

    Returns:
        ``(data, rules)``: a ``course_lib.prepare.CourseData`` whose spec feeds
        the deep branch embeddings only, and the rules (``antecedent``,
        ``consequent``).
    """
    from course_lib.features import build_features
    from course_lib.models import make_feature_spec
    from course_lib.prepare import CourseData
    from course_lib.split import make_task
    from course_lib.synthetic import synthetic_world

    options = {**RULES_WORLD, **world}
    n_users, n_movies = options.pop("n_users"), options.pop("n_movies")
    made = synthetic_world(n_users, n_movies, seed=seed, **options)
    task = make_task(made.ratings)
    features = build_features(task, made.movies)
    spec = make_feature_spec(features, numeric=EMBEDDING_ONLY)
    return CourseData(made.ratings, made.movies, task, features, spec), made.rules


def rule_rows(frame: pd.DataFrame, rules: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Which rows are rule targets, and in which of them the rule fired.

    Returns:
        ``(target, fired)`` boolean arrays: the candidate is some rule's B;
        and, in addition, that rule's A is among the row's last liked movies
        (the ``hist_movie_*`` features), so the rule is visible to a model.
    """
    movie = frame[ITEM].to_numpy(np.int64)
    hist = frame[HIST_COLUMNS].to_numpy(np.int64)
    target = np.isin(movie, rules["consequent"].to_numpy())
    fired = np.zeros(len(frame), dtype=bool)
    for a, b in rules[["antecedent", "consequent"]].itertuples(index=False):
        fired |= (movie == b) & (hist == a).any(axis=1)
    return target, fired


def rule_support(data, rules: pd.DataFrame) -> pd.DataFrame:
    """Per rule: how often it fired in training, and the liked rates it produced.

    Returns:
        One row per rule: ``train_fired`` (repetitions a model can learn from),
        ``liked_fired`` and ``liked_not_fired`` (B's liked rate in training
        rows with and without A in the history) and ``logit_gap``, the rule's
        size on the scale a model learns it: logit(liked_fired) -
        logit(liked_not_fired).
    """
    train = data.train
    rows = []
    movie = train[ITEM].to_numpy(np.int64)
    hist = train[HIST_COLUMNS].to_numpy(np.int64)
    liked = train[LABEL].to_numpy()
    for a, b in rules[["antecedent", "consequent"]].itertuples(index=False):
        is_b = movie == b
        fired = is_b & (hist == a).any(axis=1)
        rows.append({"antecedent": a, "consequent": b, "train_fired": int(fired.sum()),
                     "liked_fired": float(liked[fired].mean()) if fired.any() else np.nan,
                     "liked_not_fired": float(liked[is_b & ~fired].mean()) if (is_b & ~fired).any() else np.nan})
    out = pd.DataFrame(rows)
    # Rates clipped to [0.01, 0.99] so a rule liked 100 % of the time has a finite size.
    logit = lambda p: np.log(np.clip(p, 0.01, 0.99) / (1 - np.clip(p, 0.01, 0.99)))  # noqa: E731
    out["logit_gap"] = logit(out["liked_fired"]) - logit(out["liked_not_fired"])
    return out


def branch_logits(model, frame: pd.DataFrame, spec, batch_size: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """The wide and the deep logit of each row (zeros for an absent branch)."""
    from course_lib.train import make_dataset

    wide, deep = [], []
    ds = make_dataset(frame.assign(**{LABEL: 0}) if LABEL not in frame else frame, spec, batch_size,
                      prefetch=False)
    for x, _ in ds:
        w, d = model.branch_logits(x)
        wide.append(np.asarray(w, dtype=np.float64).reshape(-1))
        deep.append(np.asarray(d, dtype=np.float64).reshape(-1))
    return np.concatenate(wide), np.concatenate(deep)


def without_antecedent(frame: pd.DataFrame, rules: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` where each row's rule antecedent (for its candidate) is
    removed from the history (set to padding, 0): the counterfactual "A not liked"."""
    out = frame.copy()
    movie = out[ITEM].to_numpy(np.int64)
    for a, b in rules[["antecedent", "consequent"]].itertuples(index=False):
        is_b = movie == b
        for col in HIST_COLUMNS:
            hit = is_b & (out[col].to_numpy(np.int64) == a)
            out.loc[hit, col] = 0
    return out


def rule_report(model, data, rules: pd.DataFrame) -> dict[str, float]:
    """Score a trained model on the planted rules (test rows).

    Returns:
        ``other_auc`` (liked, rows that are no rule's target), ``rule_auc``
        (fired vs not, among the rule targets), ``all_auc`` (every row), and
        the mean *rule effect* on fired rows, in logits: the drop in the wide,
        deep and total logit when A is removed from the history.
    """
    from course_lib.metrics import auc

    test = data.test
    target, fired = rule_rows(test, rules)
    wide, deep = branch_logits(model, test, data.spec)
    score = wide + deep
    rows = test[fired]
    wide_cf, deep_cf = branch_logits(model, without_antecedent(rows, rules), data.spec)
    y = test[LABEL].to_numpy()
    return {
        "other_auc": round(auc(y[~target], score[~target]), 4),
        "rule_auc": round(auc(fired[target], score[target]), 4),
        "all_auc": round(auc(y, score), 4),
        "effect_wide": round(float(np.mean(wide[fired] - wide_cf)), 3),
        "effect_deep": round(float(np.mean(deep[fired] - deep_cf)), 3),
        "effect": round(float(np.mean(score[fired] - wide_cf - deep_cf)), 3),
    }


def train_rules_model(data, branches: str, seed: int, epochs: int = 8, patience: int = 2,
                      wide_learning_rate: float | None = None, wide_l1: float | None = None):
    """Train one course model on a planted-rules world.

    Args:
        data: From ``planted_rules_data``.
        branches: "wide", "deep" or "wide_deep".
        seed: Model seed (initial weights, shuffling, dropout).
        epochs: Maximum epochs (early stopping on validation AUC).
        patience: Early-stopping patience (``epochs`` switches it off).
        wide_learning_rate: FTRL learning rate of the wide part (default: the course's).
        wide_l1: FTRL L1 strength of the wide part (default: the course's).

    Returns:
        A ``TrainResult``.
    """
    import keras

    from course_lib import models
    from course_lib.train import train_model

    model = models.build_wide_deep(data.spec, branches, seed=seed)
    if model.wide is not None and (wide_learning_rate is not None or wide_l1 is not None):
        model.wide_optimizer = keras.optimizers.Ftrl(
            learning_rate=models.WIDE_LEARNING_RATE if wide_learning_rate is None else wide_learning_rate,
            l1_regularization_strength=models.WIDE_L1 if wide_l1 is None else wide_l1,
            initial_accumulator_value=models.WIDE_INITIAL_ACCUMULATOR)
    return train_model(model, data.features, data.spec, epochs=epochs, patience=patience, seed=seed)


def planted_rules_experiment(seeds=(1,), branches=("wide", "deep", "wide_deep"), data_seed: int = 0,
                             sweep: dict | None = None, **train_options) -> pd.DataFrame:
    """Train each model on a planted world and score it on the rules.

    Args:
        seeds: Model seeds.
        branches: Which models.
        data_seed: Seed of the generated world.
        sweep: Optional ``{world option: [values]}`` (one option), e.g.
            ``{"rule_follow": [0.1, 0.5]}``: a world per value.
        **train_options: Passed to ``train_rules_model`` (epochs, patience,
            wide_learning_rate, wide_l1).

    Returns:
        One row per (world, model, seed): the ``rule_report`` figures, the best
        epoch and the mean training repetitions per rule.
    """
    (option, values), = (sweep or {"rule_follow": [RULES_WORLD["rule_follow"]]}).items()
    rows = []
    for value in values:
        data, rules = planted_rules_data(data_seed, **{option: value})
        support = rule_support(data, rules)
        reps, gap = float(support["train_fired"].mean()), float(support["logit_gap"].mean())
        for name in branches:
            for seed in seeds:
                res = train_rules_model(data, name, seed, **train_options)
                rows.append({option: value, "model": name, "seed": seed, "best_epoch": res.best_epoch,
                             "repetitions": round(reps, 1), "data_effect": round(gap, 2),
                             **rule_report(res.model, data, rules)})
    return pd.DataFrame(rows)


def plot_rules(results: pd.DataFrame, x: str = "repetitions", axes=None):
    """Two panels: the learned rule effect (logits) and the rule-target AUC, per model, against ``x``.

    Args:
        results: ``planted_rules_experiment`` output (several seeds are averaged).
        x: The swept column (e.g. ``repetitions``).
        axes: Two matplotlib Axes, or None for a new figure.

    Returns:
        The two Axes.
    """
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4))
    mean = results.groupby(["model", x], sort=True)[["effect", "rule_auc"]].mean().reset_index()
    for name, part in mean.groupby("model", sort=False):
        axes[0].plot(part[x], part["effect"], marker="o", label=name)
        axes[1].plot(part[x], part["rule_auc"], marker="o", label=name)
    if "data_effect" in results:
        gap = results.groupby(x)["data_effect"].mean()
        axes[0].plot(gap.index, gap.to_numpy(), "k:", label="in the data")
    axes[0].set(xlabel=f"{x} per rule (training rows where it fired)", ylabel="rule effect (logit)",
                title="How much of the rule each model learned")
    axes[1].axhline(0.5, color="grey", lw=0.8)
    axes[1].set(xlabel=f"{x} per rule", ylabel="ROC AUC, fired vs not (rule targets)",
                title="Does the model spot the fired rows?")
    for ax in axes:
        ax.legend()
    return axes
