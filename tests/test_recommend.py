"""Recommendations from raw ids, ranking metrics and the cold-start rule."""

import numpy as np
import pandas as pd
import pytest

from course_lib.columns import ITEM, TIMESTAMP, USER
from course_lib.features import build_features
from course_lib.recommend import Recommender


@pytest.fixture(scope="module")
def recommender(synthetic_task, synthetic_features, trained_wide_deep):
    task, movies = synthetic_task
    _, spec = synthetic_features
    model, _ = trained_wide_deep
    return Recommender(model, spec, task, movies)


def test_top_k_excludes_rated_and_is_titled(recommender):
    top = recommender.recommend(5, k=10)
    assert len(top) == 10 and top["rank"].tolist() == list(range(1, 11))
    assert not set(top[ITEM]) & recommender.rated[5]
    assert top["title"].str.len().gt(0).all()
    assert top["score"].is_monotonic_decreasing
    pd.testing.assert_frame_equal(top, recommender.recommend(5, k=10))


def test_fast_path_equals_feature_path(recommender, synthetic_task):
    task, movies = synthetic_task
    for user in (5, 77, 10**9):
        fast = recommender.features(user)
        q = pd.DataFrame({USER: np.int64(user), ITEM: recommender.catalogue, TIMESTAMP: np.int64(recommender.now)})
        slow = build_features(task, movies, queries=q)
        for col in recommender.spec.input_names:
            a, b = fast[col].to_numpy(), slow[col].to_numpy()
            if a.dtype.kind in "fi":
                np.testing.assert_allclose(a.astype(float), b.astype(float), rtol=1e-5, err_msg=col)
            else:
                assert (a.astype(str) == b.astype(str)).all(), col
        np.testing.assert_allclose(recommender.score(user),
                                   np.asarray(recommender.model.predict_on_batch(
                                       __import__("course_lib.train", fromlist=["x"]).model_inputs(slow, recommender.spec))).reshape(-1),
                                   rtol=1e-5)


def test_unknown_user_gets_cold_start_list(recommender):
    top = recommender.recommend(10**9, k=5)
    assert len(top) == 5 and not recommender.known_user(10**9)


def test_unknown_movie_can_be_scored(recommender):
    s = recommender.score(5, movie_ids=[1, 10**9])
    assert s.shape == (2,) and np.isfinite(s).all()


def test_bad_k(recommender):
    with pytest.raises(ValueError, match="k must be"):
        recommender.recommend(5, k=0)


def test_branch_logits_sum_to_score(recommender):
    w, d = recommender.branch_logits(5)
    np.testing.assert_allclose(1 / (1 + np.exp(-(w + d))), recommender.score(5), rtol=1e-5)


def test_recommend_is_the_best_unrated_movies_by_the_model(recommender):
    """Checked against the model itself: every catalogue movie scored through its raw inputs.

    The list holds k distinct movies the user has not rated, best first, and no
    unrated movie left out scores higher (1e-5: the fast path's float noise).
    """
    catalogue = recommender.catalogue
    many = recommender.recommend_many([5, 6, 10**9], k=7)
    for user, top in many.items():
        raw = np.asarray(recommender.model.predict_on_batch(recommender.inputs(user, catalogue)),
                         dtype=np.float64).reshape(-1)
        score_of = dict(zip(catalogue.tolist(), raw))
        open_ = [m for m in catalogue.tolist() if m not in recommender.rated.get(user, set())]
        listed = top[ITEM].tolist()
        assert len(listed) == len(set(listed)) == 7 and set(listed) <= set(open_)
        listed_scores = np.array([score_of[m] for m in listed])
        assert np.all(np.diff(listed_scores) <= 1e-5), listed_scores
        left_out = max(score_of[m] for m in open_ if m not in set(listed))
        assert listed_scores.min() >= left_out - 1e-5, (user, listed_scores.min(), left_out)
        np.testing.assert_allclose(top["score"], listed_scores, atol=1e-4)


def test_encoded_fast_path_scores_any_positions(recommender):
    """Scoring catalogue positions equals slicing the whole-catalogue scores, for
    known and unknown users (the traced call takes any number of candidates)."""
    pos = np.array([3, 0, 17, 150, 42])
    for user in (5, 10**9):
        np.testing.assert_allclose(recommender.score(user, positions=pos), recommender.score(user)[pos], rtol=1e-6)
        raw = recommender.model.predict_on_batch(recommender.inputs(user, recommender.catalogue[pos]))
        np.testing.assert_allclose(recommender.score(user, positions=pos), np.asarray(raw).reshape(-1), rtol=1e-5)


def test_several_users_at_once_score_like_each_alone(recommender, synthetic_task):
    """CatalogueScorer.score_users (the whole-catalogue evaluation's path) against score, user by user:
    the same feature columns exactly, the same probabilities to float32 rounding."""
    from course_lib.serving import CatalogueScorer

    task, _ = synthetic_task
    index = recommender.index
    users = [5, 77, 12, 5]
    times = [int(task[TIMESTAMP].quantile(q)) for q in (0.3, 0.6, 0.9, 0.95)]  # user 5 twice, at two moments
    keys, n = list(zip(users, times)), len(index.catalogue)
    states = index.user_states(users, times)
    stats = index.movie_statistics(np.tile(index.catalogue, len(users)), np.repeat(times, n))
    together = index.user_columns_over(states, slice(None))
    scorer = CatalogueScorer(recommender.model, recommender.spec, index, index.catalogue_features())
    many = scorer.score_users(keys, users, states, np.arange(n), stats)
    assert many.shape == (len(users), n)
    for i, key in enumerate(keys):
        alone_columns = index.user_columns_over(states.take([i]), slice(None))
        for col, value in alone_columns.items():
            np.testing.assert_array_equal(np.broadcast_to(value, (n,)), together[col][i * n:(i + 1) * n], err_msg=col)
        alone = CatalogueScorer(recommender.model, recommender.spec, index, index.catalogue_features()).score(
            key, users[i], states.take([i]), np.arange(n), stats.iloc[i * n:(i + 1) * n])
        np.testing.assert_allclose(many[i], alone, rtol=1e-6, atol=1e-7)
    # Not vacuous: each user (and user 5 at each moment) gets their own scores.
    assert not np.allclose(many[0], many[1]) and not np.allclose(many[0], many[3])


def test_two_stage_ranks_only_the_retrieved_candidates(synthetic_task, synthetic_features, trained_wide_deep,
                                                       recommender):
    from course_lib.ranking import CooccurrenceRetriever

    task, movies = synthetic_task
    _, spec = synthetic_features
    model, _ = trained_wide_deep
    retriever = CooccurrenceRetriever(task, movies[ITEM].to_numpy())
    two = Recommender(model, spec, task, movies, retriever=retriever, n_candidates=30)
    for user in (5, 77, 10**9):
        top = two.recommend(user, k=10)
        cands = retriever.candidates(user, 30)
        assert len(top) == 10 and set(top[ITEM]) <= set(cands.tolist())
        # The ranker's order among the candidates: the same scores as the one-stage recommender.
        full = recommender.score(user)
        best = cands[np.lexsort((cands, -full[np.searchsorted(two.catalogue, cands)]))][:10]
        assert top[ITEM].tolist() == best.tolist()
    with pytest.raises(ValueError, match="same movies"):
        Recommender(model, spec, task, movies, retriever=CooccurrenceRetriever(task, movies[ITEM].to_numpy()[:-1]))
