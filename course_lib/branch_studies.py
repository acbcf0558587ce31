"""Lesson 04's studies of the wide branch: when does it pay, and why?

Introduced in lesson 04. Three studies, each one function that the lesson
and ``make bench`` share (the lesson with fewer seeds):

- ``branch_grid``: the 2 x 2 of (deep inputs: embeddings only / + rating
  statistics) x (deep alone / Wide&Deep), plus the wide model, over seeds;
  ``course_lib.compare`` summarizes it (mean +- sample std) and gives each
  difference the course's verdict. ``ensemble_runs`` is its baseline: the
  wide and the deep model trained apart, their logits blended;
  ``seen_unseen_runs`` splits the test rows by whether their movie x history
  cross was seen in training. ``numeric_baseline`` is the bar any model must
  clear (``leaks.numeric_scores``, with which lesson 03 scores its leaky tables).
- ``cross_ablation``: which of the wide branch's crosses carries the gain,
  with ``pair_support`` (how often each movie x history pair repeats).
- ``planted_rules_experiment``: the mechanism on synthetic data.

Planted rules. On MovieLens the two branches overlap, so the
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
from course_lib.compare import score_on_test, summarize
from course_lib.features import HIST_COLUMNS
from course_lib.train import PREDICT_BATCH

#: The 2 x 2: the deep branch's inputs (keys of ``features.DEEP_INPUTS``) x the model.
GRID_INPUTS = ("embeddings", "statistics")
GRID_MODELS = ("deep", "wide_deep")
#: The wide-branch variants of the cross ablation (ids only, each cross alone, all).
ABLATION = {"ids only": (), "+ movie x history": ("movie_x_history",), "+ genre x genre": ("genre_x_genre",),
            "+ user x genre": ("user_x_genre",), "all three": ("movie_x_history", "genre_x_genre", "user_x_genre")}


def branch_grid(data, seeds=(1, 2, 3), inputs=GRID_INPUTS, models=GRID_MODELS, wide_seeds=None,
                keep: int | None = None, logits: dict | None = None) -> tuple[pd.DataFrame, dict]:
    """Train the 2 x 2 (deep inputs x deep / Wide&Deep) and the wide model over seeds.

    Every model is ``course_lib.train.course_model`` with the course's one
    training budget; the wide model ignores ``deep_inputs`` and is trained once
    per seed.

    Args:
        data: ``course_lib.prepare.course_data()``.
        seeds: Model seeds.
        inputs: Deep-input settings (rows of the 2 x 2).
        models: "deep" and/or "wide_deep" (columns).
        wide_seeds: Seeds of the wide model (default: ``seeds``; ``()``: none).
            It ignores ``deep_inputs`` and starts from zeros, so its seeds
            differ only in the shuffling.
        keep: Keep the ``TrainResult`` of this seed (for curves and explorers).
        logits: A dict to fill, if given, with every run's branch logits on
            the validation and test rows (``run_logits``), keyed like the
            table: ``(model, deep_inputs, seed)``. ``ensemble_runs`` and
            ``seen_unseen_runs`` read it instead of loading each model again.
            The table is the same with or without it.

    Returns:
        ``(runs, kept)``: one row per run (``model``, ``deep_inputs``, ``seed``,
        ``best_epoch``, ``epochs_run``, the best ``val_auc``, test metrics) and ``{(model, deep_inputs): TrainResult}``
        of the kept seed.
    """
    from course_lib.train import course_training, train_all

    wide_seeds = seeds if wide_seeds is None else wide_seeds
    cells = [(m, i, seeds) for i in inputs for m in models] + ([("wide", "-", wide_seeds)] if wide_seeds else [])
    runs = [(model, deep_inputs, seed) for model, deep_inputs, cell_seeds in cells for seed in cell_seeds]
    trained = train_all(course_training, [{"data": data, "branches": model, "seed": seed,
                                           **({} if model == "wide" else {"deep_inputs": deep_inputs})}
                                          for model, deep_inputs, seed in runs])
    rows, kept = [], {}
    for (model, deep_inputs, seed), res in zip(runs, trained):
        rows.append({"model": model, "deep_inputs": deep_inputs, "seed": seed, "best_epoch": res.best_epoch,
                     "epochs_run": len(res.history), "val_auc": res.val_auc, **score_on_test(res, data)})
        if seed == keep:
            kept[(model, deep_inputs)] = res
        if logits is not None:
            logits[(model, deep_inputs, seed)] = run_logits(res, data)
    return pd.DataFrame(rows), kept


def run_logits(result, data, splits=("val", "test")) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A trained model's ``(wide_logit, deep_logit)`` on the rows of each split
    (zeros for an absent branch: ``branch_logits``)."""
    return {split: branch_logits(result.model, getattr(data, split), result.spec) for split in splits}


def _grid_logits(data, logits: dict | None, model: str, deep_inputs: str, seed: int) -> dict:
    """One run's logits from ``logits`` (``branch_grid(..., logits=...)``), else from the model cache."""
    key = (model, deep_inputs, seed)
    if logits is None or key not in logits:
        from course_lib.train import course_model

        kwargs = {} if model == "wide" else {"deep_inputs": deep_inputs}
        found = run_logits(course_model(data, model, seed=seed, **kwargs), data)
        if logits is None:
            return found
        logits[key] = found
    return logits[key]


#: Blend weights of the ensemble baseline (weight of the wide model's logit).
BLENDS = tuple(np.round(np.linspace(0.0, 1.0, 21), 2))


def ensemble_runs(data, seeds=(1, 2, 3), inputs=GRID_INPUTS, blends=BLENDS, logits: dict | None = None
                  ) -> pd.DataFrame:
    """The ensemble baseline: the wide model and a deep model trained apart, their logits blended.

    For each deep-input setting and seed ``s``, the wide model of seed ``s``
    and the deep model of seed ``s`` (``course_model``: cached, nothing is
    trained when the 2 x 2 has run) give a logit per row; the ensemble's logit
    is ``widgets.combine_logits(wide, deep, True, True, blend)`` (the branch
    explorer's *Separately trained* mode), at the ``blend`` in ``blends``
    with the highest validation ROC AUC (the first, on a tie). That blend is
    then scored once on the test rows. Joint Wide&Deep is the same two kinds
    of branch trained together, on one loss.

    Only ROC AUC is reported: the blended logit is not calibrated (at 0.5 it
    adds two logits that each already fit the labels alone).

    Args:
        data: ``course_lib.prepare.course_data()``.
        seeds: Seeds; ensemble ``s`` pairs the wide and the deep model of seed ``s``.
        inputs: What the deep model sees (keys of ``features.DEEP_INPUTS``).
        blends: Candidate weights of the wide logit, in [0, 1] (0: deep alone, 1: wide alone).
        logits: ``branch_grid(..., logits=...)`` output, to predict nothing twice.

    Returns:
        One row per (deep_inputs, seed): ``model`` ("ensemble"), ``deep_inputs``,
        ``seed``, the chosen ``blend``, its ``val_auc`` and the test ``roc_auc``
        (rounded to 4 digits, as ``score_on_test``), shaped like ``branch_grid``'s runs.
    """
    from course_lib.metrics import auc
    from course_lib.widgets import combine_logits

    y_val, y_test = data.val[LABEL].to_numpy(), data.test[LABEL].to_numpy()
    rows = []
    for deep_inputs in inputs:
        for seed in seeds:
            wide = _grid_logits(data, logits, "wide", "-", seed)
            deep = _grid_logits(data, logits, "deep", deep_inputs, seed)
            blend_logit = lambda split, b: combine_logits(wide[split][0], deep[split][1], True, True, b)  # noqa: E731
            val = [auc(y_val, blend_logit("val", b)) for b in blends]
            best = int(np.argmax(val))
            rows.append({"model": "ensemble", "deep_inputs": deep_inputs, "seed": seed,
                         "blend": float(blends[best]), "val_auc": round(val[best], 4),
                         "roc_auc": round(auc(y_test, blend_logit("test", blends[best])), 4)})
    return pd.DataFrame(rows)


def seen_unseen_runs(data, seeds=(1, 2, 3), deep_inputs: str = "embeddings", models=("wide", "deep", "wide_deep"),
                     logits: dict | None = None) -> pd.DataFrame:
    """Test ROC AUC of each model and seed on the rows whose movie x history cross was seen
    in training, and on the rest (``explain.seen_cross``).

    Args:
        data: ``course_data()``.
        seeds: Seeds.
        deep_inputs: What the deep branch sees (the wide model has no deep branch).
        models: Which models (``course_model`` branches).
        logits: ``branch_grid(..., logits=...)`` output, to predict nothing twice.

    Returns:
        One row per (model, seed, rows): ``rows`` is "seen" or "unseen", ``n``
        the number of test rows, ``roc_auc`` rounded to 4 digits.
    """
    from course_lib.explain import seen_cross
    from course_lib.metrics import auc

    test = data.test
    seen = seen_cross(test, data.train)
    y = test[LABEL].to_numpy()
    rows = []
    for model in models:
        for seed in seeds:
            wide, deep = _grid_logits(data, logits, model, "-" if model == "wide" else deep_inputs, seed)["test"]
            score = wide + deep
            for name, mask in (("seen", seen), ("unseen", ~seen)):
                rows.append({"model": model, "seed": seed, "rows": name, "n": int(mask.sum()),
                             "roc_auc": round(auc(y[mask], score[mask]), 4)})
    return pd.DataFrame(rows)


def grid_table(runs: pd.DataFrame, metric: str = "roc_auc", digits: int = 4) -> pd.DataFrame:
    """The 2 x 2 as text cells "mean ± std" (rows: deep inputs; columns: models)."""
    stats = summarize(runs[runs["model"].isin(GRID_MODELS)], ["deep_inputs", "model"], metric)
    text = stats.apply(lambda r: f"{r['mean']:.{digits}f} ± {r['std']:.{digits}f}", axis=1)
    return text.unstack("model")


def cross_ablation(data, seeds=(1,), variants: dict | None = None, deep_inputs: str = "embeddings",
                   grid_runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Wide&Deep with only some of the wide crosses (the deep branch fixed).

    Args:
        data: ``course_data()``.
        seeds: Model seeds.
        variants: Name -> crosses (default ``ABLATION``).
        deep_inputs: What the deep branch sees (default: embeddings only,
            where the wide branch has something to add).
        grid_runs: ``branch_grid`` runs: the variant with every cross is the
            grid's Wide&Deep model, so its rows are taken from there instead
            of training it again.

    Returns:
        One row per (variant, seed) with the test metrics.
    """
    from course_lib.features import ALL_CROSSES
    from course_lib.train import course_model

    rows = []
    for name, crosses in (variants or ABLATION).items():
        for seed in seeds:
            if grid_runs is not None and set(crosses) == set(ALL_CROSSES):
                same = grid_runs[(grid_runs["model"] == "wide_deep") & (grid_runs["deep_inputs"] == deep_inputs)
                                 & (grid_runs["seed"] == seed)]
                if len(same) == 1:
                    rows.append({"wide crosses": name, **same.iloc[0].drop(["model", "deep_inputs"]).to_dict()})
                    continue
            res = course_model(data, "wide_deep", seed=seed, deep_inputs=deep_inputs, crosses=tuple(crosses))
            rows.append({"wide crosses": name, "seed": seed, "best_epoch": res.best_epoch,
                         "epochs_run": len(res.history), "val_auc": res.val_auc, **score_on_test(res, data)})
    return pd.DataFrame(rows)


def numeric_baseline(data, columns: list[str] | None = None) -> dict[str, float]:
    """A logistic regression on the numeric features alone: the bar any model must clear."""
    from course_lib.leaks import numeric_scores
    from course_lib.metrics import classification_report

    scored = numeric_scores(data.features, columns)
    return classification_report(scored[LABEL], scored["score"])


def plot_grid(runs: pd.DataFrame, baselines: dict[str, float] | None = None, ax=None, metric: str = "roc_auc"):
    """Bars of the 2 x 2 (mean, error bar = sample std over seeds), with baselines as lines."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4))
    stats = summarize(runs[runs["model"] != "wide"], ["deep_inputs", "model"], metric).reset_index()
    inputs = list(dict.fromkeys(stats["deep_inputs"]))
    models = list(dict.fromkeys(stats["model"]))
    x = np.arange(len(inputs))
    width = 0.8 / len(models)
    for j, model in enumerate(models):
        part = stats[stats["model"] == model].set_index("deep_inputs").loc[inputs]
        ax.bar(x + (j - (len(models) - 1) / 2) * width, part["mean"], width, yerr=part["std"], capsize=4,
               label=model)
    for k, (name, value) in enumerate((baselines or {}).items()):
        ax.axhline(value, ls=["--", ":", "-."][k % 3], color="grey", lw=1.2, label=name)
    labels = {"embeddings": "embeddings only", "statistics": "+ rating statistics"}
    ax.set_xticks(x, [f"deep sees {labels.get(i, i)}" for i in inputs])
    values = stats["mean"].tolist() + list((baselines or {}).values())
    ax.set_ylim(min(values) - 0.01, max(values) + 0.008)
    ax.set_ylabel(f"test {metric.replace('_', ' ').upper()}")
    ax.set_title("Deep alone vs Wide&Deep, by what the deep branch sees")
    ax.legend(loc="upper left", fontsize=8)
    return ax


def pair_support(features: pd.DataFrame) -> pd.DataFrame:
    """How often each (candidate, recently liked movie) pair of the wide cross occurs in training.

    A pair's weight in the ``movie_x_history`` cross learns only from the
    training rows that contain it; this counts them.

    Args:
        features: Feature rows with ``split``.

    Returns:
        One row per pair seen in training: ``movie_id``, ``liked_movie``,
        ``train_rows`` and ``liked_rate`` (of the candidate in those rows).
    """
    train = features[features[SPLIT] == "train"]
    movie = np.repeat(train[ITEM].to_numpy(np.int64), len(HIST_COLUMNS))
    liked_movie = train[HIST_COLUMNS].to_numpy(np.int64).reshape(-1)
    label = np.repeat(train[LABEL].to_numpy(np.float64), len(HIST_COLUMNS))
    keep = liked_movie > 0
    pairs = pd.DataFrame({ITEM: movie[keep], "liked_movie": liked_movie[keep], "liked": label[keep]})
    out = pairs.groupby([ITEM, "liked_movie"], sort=True)["liked"].agg(train_rows="size", liked_rate="mean")
    return out.reset_index()


#: The planted world of lesson 04 (fast: 600 users x 300 movies, about 100 repetitions per rule).
RULES_WORLD = {"n_users": 600, "n_movies": 300, "latent_rank": 8, "latent_scale": 0.45,
               "n_rules": 20, "rule_strength": 2.0, "rule_follow": 0.8}


def planted_rules_data(seed: int = 0, **world):
    """Generate, split and featurise a planted-rules world.

    Args:
        seed: Data seed (the same seed gives the same world).
        **world: Overrides of ``RULES_WORLD`` (any ``synthetic_world`` option).

    Returns:
        ``(data, rules)``: a ``course_lib.prepare.CourseData`` (train it with
        ``deep_inputs="embeddings"``) and the rules (``antecedent``, ``consequent``).
    """
    from course_lib.features import build_features, make_feature_spec
    from course_lib.prepare import CourseData
    from course_lib.split import make_task
    from course_lib.synthetic import synthetic_world

    options = {**RULES_WORLD, **world}
    n_users, n_movies = options.pop("n_users"), options.pop("n_movies")
    made = synthetic_world(n_users, n_movies, seed=seed, **options)
    task = make_task(made.ratings)
    features = build_features(task, made.movies)
    return CourseData(made.ratings, made.movies, task, features, make_feature_spec(features)), made.rules


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


def branch_logits(model, frame: pd.DataFrame, spec, batch_size: int = PREDICT_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """The wide and the deep logit of each row (zeros for an absent branch)."""
    from course_lib.train import make_dataset

    frame = frame.assign(**{LABEL: 0}) if LABEL not in frame else frame
    wide, deep = [], []
    for x, _ in make_dataset(frame, spec, batch_size, prefetch=False, encoder=getattr(model, "encoder", None)):
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


def _rule_logits(result, data, rules: pd.DataFrame):
    """Test rows' masks and logits, and the fired rows' counterfactual logits (A removed)."""
    test = data.test
    target, fired = rule_rows(test, rules)
    wide, deep = branch_logits(result.model, test, result.spec)
    wide_cf, deep_cf = branch_logits(result.model, without_antecedent(test[fired], rules), result.spec)
    return test, target, fired, wide, deep, wide_cf, deep_cf


def rule_report(result, data, rules: pd.DataFrame) -> dict[str, float]:
    """Score a trained model (a ``TrainResult``) on the planted rules (test rows).

    Returns:
        ``other_auc`` (liked, rows that are no rule's target), ``rule_auc``
        (fired vs not, among the rule targets), ``all_auc`` (every row), and
        the mean *rule effect* on fired rows, in logits: the drop in the wide,
        deep and total logit when A is removed from the history.
    """
    from course_lib.metrics import auc

    test, target, fired, wide, deep, wide_cf, deep_cf = _rule_logits(result, data, rules)
    score = wide + deep
    y = test[LABEL].to_numpy()
    return {
        "other_auc": round(auc(y[~target], score[~target]), 4),
        "rule_auc": round(auc(fired[target], score[target]), 4),
        "all_auc": round(auc(y, score), 4),
        "effect_wide": round(float(np.mean(wide[fired] - wide_cf)), 3),
        "effect_deep": round(float(np.mean(deep[fired] - deep_cf)), 3),
        "effect": round(float(np.mean(score[fired] - wide_cf - deep_cf)), 3),
    }


def rule_effects(result, data, rules: pd.DataFrame) -> pd.DataFrame:
    """The learned effect of each rule (mean over its fired test rows), beside its training support.

    Returns:
        ``rule_support`` columns plus ``test_fired``, ``effect_wide``,
        ``effect_deep`` and ``effect`` (logits; NaN for a rule that never
        fired in test).
    """
    test, _, fired, wide, deep, wide_cf, deep_cf = _rule_logits(result, data, rules)
    per_row = pd.DataFrame({"consequent": test.loc[fired, ITEM].to_numpy(np.int64),
                            "effect_wide": wide[fired] - wide_cf, "effect_deep": deep[fired] - deep_cf})
    per_row["effect"] = per_row["effect_wide"] + per_row["effect_deep"]
    per_rule = per_row.groupby("consequent").agg(test_fired=("effect", "size"), effect_wide=("effect_wide", "mean"),
                                                 effect_deep=("effect_deep", "mean"), effect=("effect", "mean"))
    return rule_support(data, rules).merge(per_rule, on="consequent", how="left")


def plot_rule_effects(per_model: dict[str, pd.DataFrame], ax=None):
    """Learned rule effect against the rule's training repetitions, one colour per model.

    Args:
        per_model: Model name -> ``rule_effects`` output.
        ax: Axes, or None for a new figure.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.2))
    first = next(iter(per_model.values()))
    ax.scatter(first["train_fired"], first["logit_gap"], marker="_", s=120, color="k",
               label="in the data (liked rate gap)")
    for name, frame in per_model.items():
        ax.scatter(frame["train_fired"], frame["effect"], s=22, label=name)
    ax.set_xscale("log")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(xlabel="training rows where the rule fired (log scale)", ylabel="rule effect (logit)",
           title="What each model learned of each planted rule")
    ax.legend(fontsize=8, loc="upper left")
    return ax


def train_rules_model(data, branches: str, seed: int, epochs: int | None = None, patience: int | None = None,
                      wide_learning_rate: float | None = None, wide_l1: float | None = None):
    """Train one model on a planted-rules world, deep branch on embeddings only.

    Without options this is exactly ``course_model(data, branches, seed=seed,
    deep_inputs="embeddings")``; the options change one thing at a time to
    find out what limits memorization.

    Args:
        data: From ``planted_rules_data``.
        branches: "wide", "deep" or "wide_deep".
        seed: Model seed (initial weights, shuffling, dropout).
        epochs: Maximum epochs (default: ``TRAINING.max_epochs``).
        patience: Early-stopping patience (default: ``TRAINING.patience``).
        wide_learning_rate: FTRL step of the wide part (default: the course's, ``models.wide_ftrl``).
        wide_l1: FTRL L1 strength of the wide part (default: the course's).

    Returns:
        A ``TrainResult``.
    """
    from course_lib import models
    from course_lib.features import DEEP_INPUTS
    from course_lib.train import course_model, train_model

    if epochs is None and patience is None and wide_learning_rate is None and wide_l1 is None:
        return course_model(data, branches, seed=seed, deep_inputs="embeddings")
    spec = data.spec.with_numeric(DEEP_INPUTS["embeddings"], data.features)
    ftrl = None
    if branches != "deep" and (wide_learning_rate is not None or wide_l1 is not None):
        ftrl = models.wide_ftrl(joint=branches == "wide_deep", learning_rate=wide_learning_rate, l1=wide_l1)
    model = models.build_wide_deep(spec, branches, seed=seed, wide_optimizer=ftrl)
    return train_model(model, data.features, spec, epochs=epochs, patience=patience, seed=seed)


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
                             **rule_report(res, data, rules)})
    return pd.DataFrame(rows)
