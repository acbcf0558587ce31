"""Comparing models: scores over seeds, and the course's one rule for "better"
(stated in lesson 01, used everywhere: the lessons and ``make bench``).

Seed statistics, the figures the rule reads:

- ``score_on_test``: one trained run's test ROC AUC, PR AUC and log loss;
- ``summarize``: mean, sample SD (ddof=1) and number of seeds per group of a
  table with one row per run; ``mean_sd`` the same for one list of values;
- ``pooled_sd``: the seed spread of two (or more) arms, sqrt of the mean of
  their sample variances: what ``compare_seeds`` measures a gap in.

Two models differ by chance for two reasons, and each is measured where it is
the noise:

- **training noise** (the seed: random start, batch order). Each model is
  trained with seeds 1, 2, 3 and the rule compares the gap between the two
  means with the seeds' spread: ``compare_seeds`` / ``compare_runs``;
- **which test users we happened to have** (HR@10 over 594 users: one user
  more or less moves it by 0.0017). A paired bootstrap over users resamples
  them: ``compare_users``.

The rule:

- *seeds*: A is **better** than B when mean(A) - mean(B) is more than
  ``THRESHOLD_SD`` (2) times the seed spread, **worse** when it is less than
  -2 times it, and otherwise **not distinguishable**. The spread is the pooled
  sample standard deviation sqrt((s_A^2 + s_B^2) / 2). An arm without
  training noise (one deterministic fit: a baseline, a random draw with a
  fixed seed) brings no spread of its own: the spread is then the other arm's
  SD, never a pool with a zero. If neither arm has a spread the seeds cannot
  judge, and the helper says so;
- *users*: A is **better** when the central 95 % interval of the paired
  bootstrap of mean(A - B) over users lies above 0, **worse** when below, and
  otherwise **not distinguishable**.

Every comparative claim of the course quotes a ``Verdict`` from here, and
each claim cell asserts it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from course_lib.columns import LABEL

#: A gap larger than this many seed SDs is more than a change of seed does.
THRESHOLD_SD = 2.0
#: Bootstrap resamples and the share of the interval (95 %).
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_LEVEL = 0.95

BETTER, WORSE, SAME = "better", "worse", "not distinguishable"

RULE = (f"A is better than B when mean(A) - mean(B) > {THRESHOLD_SD:g} x the seed spread (pooled sample SD "
        "over seeds 1-3; an arm without training noise adds no spread), or, where the test users are the "
        f"noise, when the {BOOTSTRAP_LEVEL:.0%} paired bootstrap interval over users lies above 0; "
        "worse when the same holds the other way; otherwise not distinguishable.")


@dataclass(frozen=True)
class Verdict:
    """The outcome of one comparison ``a`` vs ``b``.

    Attributes:
        diff: mean(a) - mean(b).
        verdict: "better", "worse" or "not distinguishable" (a against b).
        method: "seeds" or "users".
        spread: The seed SD the gap is measured in (``method="seeds"``).
        low, high: The bootstrap interval of ``diff`` (``method="users"``).
    """

    diff: float
    verdict: str
    method: str
    spread: float = float("nan")
    low: float = float("nan")
    high: float = float("nan")

    @property
    def in_sd(self) -> float:
        """The gap in seed SDs (seeds only)."""
        return self.diff / self.spread if self.method == "seeds" else float("nan")

    def __str__(self) -> str:
        if self.method == "seeds":
            return f"{self.diff:+.4f} ({self.in_sd:+.1f} SD): {self.verdict}"
        return f"{self.diff:+.4f} (95% interval {self.low:+.4f} to {self.high:+.4f}): {self.verdict}"


# --------------------------------------------------------- seed statistics ---

def score_on_test(result, data) -> dict[str, float]:
    """Test ROC AUC, PR AUC and log loss of a ``TrainResult`` (``metrics.classification_report``)."""
    from course_lib.metrics import classification_report

    test = data.test
    return classification_report(test[LABEL], result.predict_test(test))


def summarize(results: pd.DataFrame, by, metric: str = "roc_auc") -> pd.DataFrame:
    """Mean, sample std (ddof=1) and number of seeds of ``metric`` per group.

    Missing values (NaN) are skipped; the std of a group with one value is NaN.
    """
    return results.groupby(by, sort=False)[metric].agg(mean="mean", std=lambda s: s.std(ddof=1), seeds="count")


def mean_sd(values) -> tuple[float, float]:
    """``(mean, sample SD)`` of one list of per-seed values, as ``summarize`` computes them.

    None and NaN are skipped; the SD of one value is NaN, and both are NaN
    when nothing is left.
    """
    kept = np.asarray([v for v in values if v is not None], dtype=float)
    kept = kept[~np.isnan(kept)]
    if kept.size == 0:
        return float("nan"), float("nan")
    return float(kept.mean()), float(kept.std(ddof=1)) if kept.size > 1 else float("nan")


def pooled_sd(*arms) -> float:
    """The seed spread of several arms: sqrt of the mean of their sample variances.

    For two arms with sample SDs s_A and s_B: sqrt((s_A^2 + s_B^2) / 2). Each
    arm holds one value per seed (at least 2).
    """
    spreads = [float(_values(arm, "arm").std(ddof=1)) for arm in arms]
    return float(np.sqrt(np.mean(np.square(spreads))))


# ------------------------------------------------------------ the rule ---

def _values(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).reshape(-1)
    if arr.size == 0 or not np.isfinite(arr).all():
        raise ValueError(f"{name} needs finite values, one per seed; got {values!r}.")
    return arr


def compare_seeds(a, b, a_noise: bool = True, b_noise: bool = True) -> Verdict:
    """The rule over seeds: ``a`` and ``b`` hold one value per seed.

    Args:
        a, b: Scores per seed (higher is better; negate a loss first).
        a_noise, b_noise: False for an arm without training noise (a
            deterministic fit): it may be one value, and adds no spread.

    Raises:
        ValueError: an arm with noise has fewer than 2 seeds, or neither arm
            has a spread (then compare over users, ``compare_users``).
    """
    a, b = _values(a, "a"), _values(b, "b")
    noisy = []
    for arr, has_noise, name in ((a, a_noise, "a"), (b, b_noise, "b")):
        if has_noise:
            if arr.size < 2:
                raise ValueError(f"{name} has {arr.size} seed(s): a seed spread needs at least 2 "
                                 "(train it with seeds 1, 2, 3), or pass {name}_noise=False for a deterministic fit.")
            noisy.append(arr)
    spread = pooled_sd(*noisy) if noisy else 0.0
    if spread == 0:
        raise ValueError("neither arm has a seed spread, so seeds cannot decide: compare over users "
                         "(course_lib.compare.compare_users) or train more seeds.")
    diff = float(a.mean() - b.mean())
    verdict = BETTER if diff > THRESHOLD_SD * spread else WORSE if diff < -THRESHOLD_SD * spread else SAME
    return Verdict(diff=diff, verdict=verdict, method="seeds", spread=spread)


def compare_runs(runs: pd.DataFrame, a: dict, b: dict, metric: str = "roc_auc") -> Verdict:
    """``compare_seeds`` on two cells of a table with one row per run.

    Args:
        runs: One row per (model, seed), e.g. ``branch_studies.branch_grid``.
        a, b: Column -> value filters selecting the cells, e.g.
            ``{"model": "wide_deep", "deep_inputs": "embeddings"}``.
        metric: The column compared (higher is better).
    """
    def cell(sel):
        mask = np.logical_and.reduce([runs[k] == v for k, v in sel.items()])
        values = runs.loc[mask, metric]
        if len(values) == 0:
            raise ValueError(f"no run matches {sel}; the table has columns {list(runs.columns)}.")
        return values.to_numpy()
    return compare_seeds(cell(a), cell(b))


def compare_users(a, b, seed: int = 0, samples: int = BOOTSTRAP_SAMPLES) -> Verdict:
    """The rule over users: a paired bootstrap of mean(a - b).

    Args:
        a, b: One value per user, aligned (e.g. each user's hit@10, averaged
            over seeds when a system has several).
        seed: The bootstrap's own seed (the verdict must not change with a rerun).
        samples: Number of resamples.
    """
    a, b = _values(a, "a"), _values(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must hold the same users in the same order; got {a.size} and {b.size} values.")
    delta = a - b
    rng = np.random.default_rng(seed)
    means = delta[rng.integers(0, delta.size, size=(samples, delta.size))].mean(axis=1)
    return bootstrap_verdict(float(delta.mean()), means)


def bootstrap_verdict(diff: float, draws) -> Verdict:
    """The rule over users, from a difference and its bootstrap draws (resampled users).

    ``compare_users`` draws mean per-user differences; a metric that is not a
    mean over users (ROC AUC over rows) draws its own gaps and comes here.
    """
    draws = _values(draws, "draws")
    tail = (1 - BOOTSTRAP_LEVEL) / 2
    low, high = (float(q) for q in np.quantile(draws, [tail, 1 - tail]))
    verdict = BETTER if low > 0 else WORSE if high < 0 else SAME
    return Verdict(diff=float(diff), verdict=verdict, method="users", low=low, high=high)
