"""The two classic leaks, reproduced on purpose so lesson 03 can measure them.

Introduced in lesson 03. Never use these for real work: each function
exists to show how much a mistake inflates the reported AUC.

1. Timestamps sorted as text (Sparrow RecSys did this): "999999999" sorts
   after "1000000000", so ratings from before September 2001 count as *later*
   than ratings after it; the split and the history features mix future
   ratings into the past.
2. Movie statistics over all ratings, test ratings included (and the row's own
   rating): the feature partly *is* the label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from course_lib.columns import ITEM, LABEL, RATING, SPLIT, TIMESTAMP, USER
from course_lib.features import SHRINKAGE, PRIOR_RATING, build_features
from course_lib.split import make_task


def text_order_task(ratings: pd.DataFrame) -> pd.DataFrame:
    """``make_task`` as if timestamps had been sorted as strings.

    The returned ``timestamp`` column holds each rating's rank in that
    (wrong) text order, so every downstream function believes it.
    """
    wrong = ratings.assign(_text=ratings[TIMESTAMP].astype(str))
    wrong = wrong.sort_values([USER, "_text", ITEM], kind="stable")
    wrong[TIMESTAMP] = np.arange(len(wrong), dtype=np.int64)
    return make_task(wrong.drop(columns="_text"))


def leaky_movie_statistics(features: pd.DataFrame) -> pd.DataFrame:
    """Replace the movie statistics by ones computed over *every* rating.

    Same column names and shrinkage as the honest ones; only the rows they
    are computed from differ (all splits, the row itself included).
    """
    out = features.copy()
    grp = features.groupby(ITEM)[RATING]
    count, total, std = grp.transform("size"), grp.transform("sum"), grp.transform("std").fillna(0.0)
    out["movie_rating_count"] = np.log1p(count).astype(np.float32)
    out["movie_rating_mean"] = ((total + SHRINKAGE * PRIOR_RATING) / (count + SHRINKAGE)).astype(np.float32)
    out["movie_rating_std"] = std.astype(np.float32)
    return out


def leaky_features_text_order(ratings: pd.DataFrame, movies: pd.DataFrame) -> pd.DataFrame:
    """Features built on the text-sorted timeline (leak 1)."""
    return build_features(text_order_task(ratings), movies)


def bootstrap_auc_gap(honest: pd.DataFrame, leaky: pd.DataFrame, score: str = "score", n_boot: int = 200,
                      seed: int = 0) -> np.ndarray:
    """How much a leaky pipeline's test ROC AUC exceeds the honest one's, resampling users.

    The two pipelines may have different test rows (a text sort moves
    ratings between splits), so rows cannot be paired; users can. Each
    bootstrap draw picks users with replacement, the same users for both
    pipelines, and scores each pipeline on its own test rows of those users
    (a user drawn twice counts twice). The spread of the returned gaps is
    what the choice of users alone does to the difference.

    Args:
        honest: Test rows of the honest pipeline with ``USER``, ``liked`` and ``score``.
        leaky: The same for the leaky pipeline.
        score: Column holding each row's model score.
        n_boot: Number of bootstrap draws.
        seed: Seed of the draws.

    Returns:
        ``n_boot`` gaps, leaky AUC minus honest AUC.

    Raises:
        KeyError: If a frame lacks a needed column.
    """
    from sklearn.metrics import roc_auc_score

    for name, frame in (("honest", honest), ("leaky", leaky)):
        missing = [c for c in (USER, "liked", score) if c not in frame.columns]
        if missing:
            raise KeyError(f"{name} rows lack {missing}; pass test rows with a '{score}' column.")
    users = np.union1d(honest[USER].unique(), leaky[USER].unique())
    rng = np.random.default_rng(seed)
    parts = [(f[USER].to_numpy(), f["liked"].to_numpy(), f[score].to_numpy()) for f in (honest, leaky)]
    gaps = np.empty(n_boot)
    for b in range(n_boot):
        times = np.bincount(np.searchsorted(users, rng.choice(users, len(users))), minlength=len(users))
        a_h, a_l = (roc_auc_score(y, s, sample_weight=times[np.searchsorted(users, u)]) for u, y, s in parts)
        gaps[b] = a_l - a_h
    return gaps


def leak_verdict(honest: pd.DataFrame, leaky: pd.DataFrame, score: str = "score", n_boot: int = 200,
                 seed: int = 0):
    """The course's rule over users (``course_lib.compare``) for a leaky pipeline's reported AUC.

    Each pipeline is one deterministic fit (no seed spread), so the users are
    the noise: the verdict is "better" when the central 95 % of the paired
    bootstrap gaps (``bootstrap_auc_gap``) lies above 0 -- the leak *reports*
    a higher AUC than the choice of users explains --, "worse" when below,
    else "not distinguishable". A draw recomputes two AUCs over every test
    row, so the default is 200 draws, not ``compare.BOOTSTRAP_SAMPLES``.

    Returns:
        A ``compare.Verdict``: leaky AUC minus honest AUC, and the interval.
    """
    from sklearn.metrics import roc_auc_score

    from course_lib.compare import bootstrap_verdict

    gaps = bootstrap_auc_gap(honest, leaky, score=score, n_boot=n_boot, seed=seed)
    diff = float(roc_auc_score(leaky["liked"], leaky[score]) - roc_auc_score(honest["liked"], honest[score]))
    return bootstrap_verdict(diff, gaps)


def numeric_scores(table: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """The test rows of a feature table, with a ``score`` from a logistic regression on its
    numeric features, fitted on the table's own train rows: how much a leak inflates a simple model
    (lesson 03); lesson 04's ``numeric_baseline`` is the same on the honest table.

    Standardised features, scikit-learn's ``LogisticRegression`` (no seed: the fit is convex).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from course_lib.features import NUMERIC_COLUMNS

    columns = list(columns or NUMERIC_COLUMNS)
    train, test = table[table[SPLIT] == "train"], table[table[SPLIT] == "test"]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(train[columns], train[LABEL])
    return test.assign(score=model.predict_proba(test[columns])[:, 1])
