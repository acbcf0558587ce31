"""course_model's cache: reused only for the same data, recipe and code, and it changes no number."""

import numpy as np
import pytest

from course_lib.prepare import CourseData
from course_lib.train import TrainingConfig, _library_hash, course_model, model_cache_dir, predict


@pytest.fixture
def small_data(synthetic, synthetic_task, synthetic_features):
    ratings, _ = synthetic
    task, movies = synthetic_task
    feats, spec = synthetic_features
    return CourseData(ratings, movies, task, feats, spec)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_MODEL_CACHE", str(tmp_path / "models"))
    monkeypatch.setattr("course_lib.train.TRAINING", TrainingConfig(max_epochs=2, batch_size=256))
    return tmp_path / "models"


def _entries(root):
    return sorted(p.name for p in (root / _library_hash()).iterdir() if not p.name.startswith("."))


def test_second_call_reuses_the_model_and_gives_identical_numbers(small_data, cache):
    test = small_data.test
    first = course_model(small_data, "wide_deep", seed=3)
    assert len(_entries(cache)) == 1
    again = course_model(small_data, "wide_deep", seed=3)
    assert again.model is not first.model  # loaded, not retrained ...
    np.testing.assert_array_equal(predict(first.model, test, first.spec), predict(again.model, test, again.spec))
    assert again.history.equals(first.history) and again.best_epoch == first.best_epoch
    assert again.val_auc == first.val_auc
    # ... and a different recipe is another entry.
    course_model(small_data, "wide_deep", seed=4)
    course_model(small_data, "wide_deep", seed=3, deep_inputs="embeddings")
    assert len(_entries(cache)) == 3


def test_broken_entry_is_retrained_and_replaced(small_data, cache):
    first = course_model(small_data, "deep", seed=1)
    (entry,) = _entries(cache)
    (cache / _library_hash() / entry / "model.keras").write_bytes(b"not a model")
    again = course_model(small_data, "deep", seed=1)
    np.testing.assert_array_equal(predict(first.model, small_data.test, first.spec),
                                  predict(again.model, small_data.test, again.spec))
    assert (cache / _library_hash() / entry / "model.keras").stat().st_size > 1000


def test_other_code_versions_are_dropped_and_off_means_off(small_data, cache, monkeypatch):
    stale = cache / "0123456789abcdef" / "wide-seed1-old"
    stale.mkdir(parents=True)
    course_model(small_data, "wide", seed=1)
    assert not stale.parent.exists()
    monkeypatch.setenv("COURSE_MODEL_CACHE", "off")
    assert model_cache_dir() is None
    course_model(small_data, "wide", seed=2)
    assert len(_entries(cache)) == 1  # nothing stored while off


def test_a_model_trained_outside_the_course_runtime_is_not_cached(small_data, cache, monkeypatch):
    """A script that skipped setup_notebook trains with other TensorFlow settings: its model
    must not become the lessons' cached model (it would change their last digits)."""
    from course_lib.runtime import is_deterministic

    assert is_deterministic()  # the test session runs with the course's settings (conftest)
    monkeypatch.setattr("course_lib.train.is_deterministic", lambda: False)
    course_model(small_data, "wide", seed=1)
    assert not (cache / _library_hash()).exists() or _entries(cache) == []


def test_rankers_are_cached_by_their_rows(synthetic_task, cache, monkeypatch):
    """train_ranker goes through the same cache: the same implicit rows give the stored ranker
    (identical scores); other rows (another negative draw) are another entry."""
    from course_lib.features import make_feature_spec
    from course_lib.ranking import implicit_features, train_ranker

    monkeypatch.setattr("course_lib.ranking.RANKER_TRAINING", {"epochs": 1, "batch_size": 512, "learning_rate": 4e-3,
                                                               "patience": 1, "train_auc_rows": 0})
    task, movies = synthetic_task
    rows = implicit_features(task, movies, negatives=1, seed=0)
    spec = make_feature_spec(rows)
    first = train_ranker(rows, spec, "wide_deep", seed=1)
    again = train_ranker(rows, spec, "wide_deep", seed=1)
    assert again.model is not first.model and len(_entries(cache)) == 1
    val = rows[rows["split"] == "val"]
    np.testing.assert_array_equal(predict(first.model, val, spec), predict(again.model, val, spec))
    train_ranker(implicit_features(task, movies, negatives=1, seed=1), spec, "wide_deep", seed=1)
    assert len(_entries(cache)) == 2


@pytest.mark.slow
def test_train_all_shares_the_work_with_a_helper_and_changes_no_number(small_data, tmp_path, monkeypatch):
    """train_all: a helper process trains some of the models (here: it must claim one before this
    process trains anything), and every result equals training one by one in this process."""
    import os
    import time

    import course_lib.train as train

    calls = [{"data": small_data, "branches": b, "seed": 1} for b in ("deep", "wide_deep")]
    monkeypatch.setenv("COURSE_MODEL_CACHE", str(tmp_path / "alone"))
    monkeypatch.setenv(train.HELPER_ENV, "off")
    alone = train.train_all(train.course_training, calls)

    monkeypatch.setenv("COURSE_MODEL_CACHE", str(tmp_path / "shared"))
    monkeypatch.delenv(train.HELPER_ENV)
    claimed, trained_here, real_claim, real_train = [], [], train._claim, train.train_model

    def claim(claims, key):
        won = real_claim(claims, key)
        claimed.append((claims, won))
        return won

    def train_after_the_helper_claims(model, features, spec, **kwargs):
        claims = claimed[-1][0]
        deadline = time.monotonic() + 120
        # The helper claims from the end: wait until it holds a claim this process did not make.
        while sum(1 for p in os.listdir(claims) if "seed" in p) <= sum(won for _, won in claimed):
            assert time.monotonic() < deadline, "the helper never claimed a model"
            time.sleep(0.1)
        trained_here.append(1)
        return real_train(model, features, spec, **kwargs)

    monkeypatch.setattr(train, "_claim", claim)
    monkeypatch.setattr(train, "train_model", train_after_the_helper_claims)
    shared = train.train_all(train.course_training, calls)
    assert 1 <= len(trained_here) < len(calls)  # the helper trained the rest
    assert len(_entries(tmp_path / "shared")) == len(calls)
    for a, b in zip(alone, shared):
        assert a.val_auc == b.val_auc and a.history.equals(b.history)
        np.testing.assert_array_equal(predict(a.model, small_data.test, a.spec), predict(b.model, small_data.test, b.spec))


def test_a_failed_helper_is_reported_and_its_models_trained_here(small_data, cache, monkeypatch):
    import course_lib.train as train

    monkeypatch.setattr(train.sys, "executable", "/nonexistent/python")
    calls = [{"data": small_data, "branches": "deep", "seed": s} for s in (1, 2)]
    with pytest.warns(RuntimeWarning, match="(?s)training helper failed.*could not start"):
        results = train.train_all(train.course_training, calls)
    assert [r.val_auc for r in results] == [course_model(small_data, "deep", seed=s).val_auc for s in (1, 2)]
    assert len(_entries(cache)) == 2


def test_a_cached_run_is_scored_without_loading_its_model(small_data, cache):
    """score_on_test on a cached run reads the test predictions stored at training time (no model
    load); they equal the reloaded model's, and other rows are predicted by the model."""
    from course_lib.compare import score_on_test

    first = course_model(small_data, "wide_deep", seed=5)
    again = course_model(small_data, "wide_deep", seed=5)
    assert score_on_test(again, small_data) == score_on_test(first, small_data)
    assert again._model is None  # scored, never loaded
    np.testing.assert_array_equal(again.test_scores, predict(again.model, small_data.test, again.spec))
    assert again._model is not None
    changed = small_data.test.assign(user_rating_mean=small_data.test["user_rating_mean"] + 1.0)
    np.testing.assert_array_equal(again.predict_test(changed), predict(again.model, changed, again.spec))
    assert not np.array_equal(again.predict_test(changed), again.test_scores)
