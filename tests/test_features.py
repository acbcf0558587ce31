"""Features are leak-free, deterministic and consistent between training and serving."""

import numpy as np
import pandas as pd
import pytest

from course_lib.columns import ITEM, LABEL, RATING, SPLIT, TIMESTAMP, USER
from course_lib.features import (
    HIST_COLUMNS, NUMERIC_COLUMNS, USER_GENRE_COLUMNS, build_features, genre_vocabulary,
)
from course_lib.split import make_task

FEATURE_COLUMNS = None  # every column except the rating itself and its label


def _feature_cols(frame):
    return [c for c in frame.columns if c not in (RATING, LABEL)]


@pytest.mark.parametrize("row", [5, 400, 1234, 2500, 4000])
def test_no_feature_uses_the_rows_own_or_any_later_rating(synthetic_task, row):
    """Perturb row ``row``'s rating and every rating at or after its time (any user):
    the features of that row and of every strictly earlier row must not move."""
    task, movies = synthetic_task
    t = task[TIMESTAMP].iloc[row]
    later = task[TIMESTAMP] >= t
    changed = task.copy()
    rng = np.random.default_rng(row)
    changed.loc[later, RATING] = rng.choice(np.arange(0.5, 5.01, 0.5), size=int(later.sum())).astype("float32")
    changed[LABEL] = (changed[RATING] >= 3.5).astype("int8")
    before, after = build_features(task, movies), build_features(changed, movies)
    keep = (task[TIMESTAMP] < t).to_numpy().copy()
    keep[row] = True
    cols = _feature_cols(before)
    pd.testing.assert_frame_equal(before.loc[keep, cols], after.loc[keep, cols])
    # And the perturbation did matter somewhere later (the test can fail).
    assert not before.loc[~keep, cols].equals(after.loc[~keep, cols])


def test_movie_statistics_ignore_validation_and_test_ratings(synthetic_task):
    task, movies = synthetic_task
    changed = task.copy()
    held_out = changed[SPLIT] != "train"
    changed.loc[held_out, RATING] = np.float32(0.5)
    a, b = build_features(task, movies), build_features(changed, movies)
    for col in ["movie_rating_count", "movie_rating_mean", "movie_rating_std"]:
        np.testing.assert_array_equal(a[col].to_numpy(), b[col].to_numpy())


def test_history_is_strictly_earlier_and_ties_do_not_count():
    ratings = pd.DataFrame({
        USER: [1, 1, 1, 1], ITEM: [10, 11, 12, 13],
        RATING: np.array([5.0, 4.0, 1.0, 5.0], dtype="float32"),
        TIMESTAMP: [100, 200, 200, 300],
    })
    movies = pd.DataFrame({ITEM: [10, 11, 12, 13], "title": ["A (1990)", "B (1991)", "C (1992)", "D (1993)"],
                           "genres": ["Drama", "Comedy", "Drama|Comedy", "Action"],
                           "year": pd.array([1990, 1991, 1992, 1993], dtype="Int16")})
    task = make_task(ratings)
    f = build_features(task, movies)
    # Rows 1 and 2 share a timestamp: neither sees the other.
    assert f[HIST_COLUMNS[0]].tolist() == [0, 10, 10, 11]
    assert f[HIST_COLUMNS[1]].tolist() == [0, 0, 0, 10]
    assert np.expm1(f["user_rating_count"]).round().tolist() == [0, 1, 1, 3]
    assert f[USER_GENRE_COLUMNS[0]].tolist()[:3] == ["", "Drama", "Drama"]


def test_query_features_equal_row_features(synthetic_task):
    """Serving (queries) and training (rows) compute the same numbers."""
    task, movies = synthetic_task
    rows = build_features(task, movies)
    sample = rows[rows[USER].isin([3, 17, 42])]
    queried = build_features(task, movies, queries=sample[[USER, ITEM, TIMESTAMP]])
    for col in [c for c in _feature_cols(rows) if c != SPLIT]:
        left, right = sample[col].to_numpy(), queried[col].to_numpy()
        if left.dtype.kind in "fi":
            np.testing.assert_allclose(left.astype(float), right.astype(float), rtol=1e-6, err_msg=col)
        else:
            assert (left.astype(str) == right.astype(str)).all(), col


def _assert_same_rows(left: pd.DataFrame, right: pd.DataFrame, columns) -> None:
    for col in columns:
        a, b = left[col].to_numpy(), right[col].to_numpy()
        if a.dtype.kind in "fiu":
            np.testing.assert_array_equal(a.astype(np.float64), b.astype(np.float64), err_msg=col)
        else:
            assert (a.astype(str) == b.astype(str)).all(), col


def test_skew_training_rows_queries_and_recommender_agree(synthetic_task):
    """The skew test: random (user, movie, time) triples get identical features whether
    they are training rows, serving queries, or the recommender's "now"."""
    from course_lib.features import MOVIE_COLUMNS, USER_COLUMNS
    from course_lib.recommend import Recommender

    task, movies = synthetic_task
    rng = np.random.default_rng(11)
    users = rng.choice(task[USER].unique(), size=60, replace=False)  # one triple per user
    lo, hi = int(task[TIMESTAMP].min()), int(task[TIMESTAMP].max())
    triples = pd.DataFrame({USER: users, ITEM: rng.choice(movies[ITEM].to_numpy(), size=len(users)),
                            TIMESTAMP: rng.integers(lo, hi, size=len(users))})
    # Half of them at the exact time of one of the user's ratings (a tie).
    tie = task.groupby(USER)[TIMESTAMP].median().astype(np.int64)
    triples.loc[::2, TIMESTAMP] = tie.reindex(triples[USER][::2]).to_numpy()
    # Training path: each triple becomes a (held-out) rating row of the table.
    rows = triples.assign(**{RATING: np.float32(4.0), LABEL: np.int8(1), SPLIT: "val"})
    augmented = pd.concat([task, rows], ignore_index=True).sort_values(
        [USER, TIMESTAMP, ITEM], kind="stable").reset_index(drop=True)
    augmented[SPLIT] = augmented[SPLIT].astype(str)
    trained = build_features(augmented, movies)
    marker = augmented.merge(triples.assign(_t=1), on=[USER, ITEM, TIMESTAMP], how="left")["_t"].eq(1)
    as_rows = trained[marker.to_numpy()].set_index([USER, ITEM, TIMESTAMP]).loc[
        pd.MultiIndex.from_frame(triples)].reset_index()
    served = build_features(task, movies, queries=triples)
    features = USER_COLUMNS + MOVIE_COLUMNS
    _assert_same_rows(as_rows, served, features)
    assert served["user_rating_count"].nunique() > 10  # the triples are not all alike
    # The recommender's "now" (after every rating) for a few users, whole catalogue.
    rec = Recommender(None, None, task, movies)
    for user in users[:3]:
        now = pd.DataFrame({USER: user, ITEM: rec.catalogue, TIMESTAMP: rec.now})
        _assert_same_rows(rec.features(user), build_features(task, movies, queries=now), features)


def test_features_are_deterministic_and_complete(synthetic_task):
    task, movies = synthetic_task
    a, b = build_features(task, movies), build_features(task, movies)
    pd.testing.assert_frame_equal(a, b)
    assert not a[NUMERIC_COLUMNS].isna().any().any()
    assert len(a) == len(task)


def test_unsorted_input_is_refused(synthetic_task):
    task, movies = synthetic_task
    with pytest.raises(ValueError, match="sorted"):
        build_features(task.sample(frac=1.0, random_state=0), movies)


def test_text_timestamps_are_refused(synthetic_task):
    from course_lib.split import chronological_split

    task, _ = synthetic_task
    with pytest.raises(ValueError, match="text"):
        chronological_split(task.assign(**{TIMESTAMP: task[TIMESTAMP].astype(str)}))


def test_genre_vocabulary_skips_placeholder(synthetic):
    _, movies = synthetic
    vocab = genre_vocabulary(movies.assign(genres=movies.genres.where(movies.index > 0, "(no genres listed)")))
    assert "(no genres listed)" not in vocab and vocab == sorted(vocab)


def test_leaks_module_inflates_on_purpose(synthetic_task):
    from course_lib.leaks import leaky_movie_statistics

    task, movies = synthetic_task
    honest = build_features(task, movies)
    leaky = leaky_movie_statistics(honest)
    # The leaky mean uses the row's own rating: it correlates more with the label.
    corr = lambda f: np.corrcoef(f["movie_rating_mean"], f[LABEL])[0, 1]
    assert corr(leaky) > corr(honest)


def test_spec_to_dict_equals_asdict_and_is_a_copy(synthetic_features):
    """``FeatureSpec.to_dict`` copies each flat field (fast) and must equal ``dataclasses.asdict``
    (what saved models and the model cache's keys were built from), share no list with the spec,
    and round-trip through ``from_dict``."""
    import dataclasses

    from course_lib.features import FeatureSpec

    _, spec = synthetic_features
    spec = spec.with_crosses("movie_x_history", "user_x_genre")  # a tuple field, not the default
    config = spec.to_dict()
    assert config == dataclasses.asdict(spec) and len(spec.movie_pairs) > 0
    assert FeatureSpec.from_dict(config) == spec
    for name, value in config.items():
        if isinstance(value, list):
            value.append(None)  # a caller may edit the dict: the spec must not change
    assert FeatureSpec.from_dict(spec.to_dict()) == spec and None not in spec.movie_pairs
