"""The two-tower retriever: time-correct, never returns a rated movie, deterministic; its loss is the textbook one."""

import numpy as np
import pytest

from course_lib.columns import ITEM, LABEL, RATING, TIMESTAMP, USER
from course_lib.evaluation import liked_in_test, recommendation_times
from course_lib.ranking import CooccurrenceRetriever
from course_lib.two_tower import (
    TwoTowerConfig, TwoTowerRetriever, UnionRetriever, build_two_tower, compare_retrievers, history_buckets,
    in_batch_softmax_loss, interleave, log_sampling_probability, train_two_tower,
)

#: Tiny and quick: two epochs of 128-row batches on the synthetic set (about 1 s).
TINY = TwoTowerConfig(dim=8, user_dim=4, genre_dim=4, year_dim=2, hidden=16, batch_size=128, epochs=2)


@pytest.fixture(scope="module")
def trained(synthetic_task, synthetic_features):
    feats, spec = synthetic_features
    return train_two_tower(feats, synthetic_task[1], spec, TINY, seed=1)


@pytest.fixture(scope="module")
def retriever(trained, synthetic_task):
    task, movies = synthetic_task
    return TwoTowerRetriever(trained, task, movies)


@pytest.fixture(scope="module")
def moments(synthetic_task):
    when = recommendation_times(synthetic_task[0])
    users = sorted(when)[:30]
    return users, [when[u] for u in users]


def test_rated_movies_are_never_returned(retriever, synthetic_task, moments):
    task, _ = synthetic_task
    users, times = moments
    for user, at, cand in zip(users, times, retriever.candidates_batch(users, times, 150)):
        mine = task[task[USER] == user]
        before = set(mine.loc[mine[TIMESTAMP] < at, ITEM])
        assert before and not before & set(cand.tolist())
        assert len(cand) == min(150, len(retriever.catalogue) - len(before)) == len(set(cand.tolist()))
    # "Now": everything the user ever rated is excluded.
    user = users[0]
    assert not set(task.loc[task[USER] == user, ITEM]) & set(retriever.candidates(user, 200).tolist())


def test_later_ratings_cannot_move_a_users_candidates(trained, synthetic_task, moments):
    """Perturb (other movie, other rating) or delete every rating made at or after a user's
    moment, by anyone: the user's candidates at that moment do not change."""
    task, movies = synthetic_task
    users, times = moments
    user, at = users[0], times[0]
    base = TwoTowerRetriever(trained, task, movies)
    expected = base.candidates(user, 100, at=at)
    later = task[TIMESTAMP] >= at
    rng = np.random.default_rng(0)
    perturbed = task.copy()
    perturbed.loc[later, ITEM] = rng.choice(movies[ITEM].to_numpy(), size=int(later.sum()))
    perturbed.loc[later, RATING] = rng.choice(np.arange(0.5, 5.01, 0.5), size=int(later.sum())).astype("float32")
    perturbed[LABEL] = (perturbed[RATING] >= 3.5).astype("int8")
    for changed in (perturbed, task[~later]):
        np.testing.assert_array_equal(TwoTowerRetriever(trained, changed, movies).candidates(user, 100, at=at),
                                      expected)
    # Not vacuous: the same change moves the user's candidates "now".
    assert not np.array_equal(base.candidates(user, 100), TwoTowerRetriever(trained, task[~later], movies)
                              .candidates(user, 100))


def test_one_user_alone_or_in_a_batch_gets_the_same_list(retriever, moments):
    users, times = moments
    batch = retriever.candidates_batch(users, times, 50)
    for user, at, cand in zip(users[:5], times[:5], batch):
        np.testing.assert_array_equal(retriever.candidates(user, 50, at=at), cand)
        top = np.argsort(-retriever.scores(user, at), kind="stable")
        assert cand[0] in retriever.catalogue[top[:len(retriever.rated_positions(user, at)) + 1]]
    # A shorter list is a prefix of a longer one (recall@N reads prefixes).
    np.testing.assert_array_equal(retriever.candidates_batch(users[:3], times[:3], 10)[2], batch[2][:10])


def test_a_user_vector_is_the_same_bits_alone_or_in_a_batch(retriever, moments):
    """The user tower runs on fixed-size blocks (USER_BLOCK rows). Without them a row's vector could
    differ in the last bits between a call with one row and one with many (on ml-latest-small: one
    user of 610 by 4.5e-8, one movie swapped at a top-150 cut)."""
    from course_lib.two_tower import USER_BLOCK

    users, times = moments
    picked = np.resize(np.arange(len(users)), USER_BLOCK + 7)  # more than one block
    us, ts = [users[i] for i in picked], [times[i] for i in picked]
    batch = retriever.user_vectors(us, ts)
    assert batch.shape[0] == len(picked)
    for j in (0, 5, USER_BLOCK - 1, USER_BLOCK + 3):
        assert np.array_equal(retriever.user_vectors([us[j]], [ts[j]])[0], batch[j]), j
        assert np.array_equal(retriever.scores(us[j], ts[j]), retriever.movie_vectors @ batch[j]), j
    assert retriever.user_vectors([], []).shape[0] == 0


@pytest.mark.slow  # a second training: about 2-3 s
def test_the_same_seed_gives_the_same_scores_bit_for_bit(trained, synthetic_task, synthetic_features, moments):
    task, movies = synthetic_task
    feats, spec = synthetic_features
    users, times = moments
    retrained = train_two_tower(feats, movies, spec, TINY, seed=1)
    again, first = TwoTowerRetriever(retrained, task, movies), TwoTowerRetriever(trained, task, movies)
    assert retrained.losses == trained.losses and len(trained.losses) == TINY.epochs
    assert np.array_equal(first.movie_vectors, again.movie_vectors)
    assert np.array_equal(first.user_vectors(users, times), again.user_vectors(users, times))
    # Not vacuous: another seed draws other initial weights.
    weights = [build_two_tower(spec, np.zeros(4), np.ones(4), TINY, seed=s).get_weights() for s in (1, 1, 2)]
    assert all(np.array_equal(a, b) for a, b in zip(weights[0], weights[1]))
    assert not all(np.array_equal(a, b) for a, b in zip(weights[0], weights[2]))


def test_in_batch_loss_is_the_hand_computed_softmax_cross_entropy():
    rng = np.random.default_rng(0)
    u = rng.normal(size=(4, 3)).astype("float32")
    m = rng.normal(size=(4, 3)).astype("float32")
    log_q = np.log(np.array([0.4, 0.1, 0.4, 0.1], "float32"))
    movie = np.array([7, 8, 7, 9])  # rows 0 and 2 liked the same movie
    t = 0.5

    def by_hand(mask_hits: bool) -> float:
        total = 0.0
        for i in range(4):
            logits = [u[i] @ m[j] / t - log_q[j] for j in range(4)]
            keep = [j for j in range(4) if j == i or not (mask_hits and movie[j] == movie[i])]
            total += -(logits[i] - np.log(sum(np.exp(logits[j]) for j in keep)))
        return total / 4

    assert float(in_batch_softmax_loss(u, m, log_q, movie, temperature=t)) == pytest.approx(by_hand(True), rel=1e-5)
    assert float(in_batch_softmax_loss(u, m, log_q, None, temperature=t)) == pytest.approx(by_hand(False), rel=1e-5)
    # The correction matters: without it the loss differs.
    assert float(in_batch_softmax_loss(u, m, np.zeros(4), None, t)) != pytest.approx(by_hand(False), rel=1e-3)
    np.testing.assert_allclose(log_sampling_probability([7, 8, 7, 9]), np.log([0.5, 0.25, 0.5, 0.25]), rtol=1e-6)


def test_the_union_holds_both_sets_in_a_defined_order(retriever, synthetic_task, moments):
    task, movies = synthetic_task
    users, times = moments
    co = CooccurrenceRetriever(task, movies[ITEM].to_numpy())
    union = UnionRetriever(retriever, co)
    for user, at in zip(users[:5], times[:5]):
        a, b = retriever.candidates(user, 20, at=at), co.candidates(user, 20, at=at)
        got = union.candidates(user, 20, at=at)
        assert set(got.tolist()) == set(a.tolist()) | set(b.tolist()) and len(got) == len(set(got.tolist()))
        assert got[0] == a[0] and (a[0] == b[0] or got[1] == b[0])
    np.testing.assert_array_equal(interleave([1, 2, 3], [2, 4]), [1, 2, 4, 3])
    np.testing.assert_array_equal(union.candidates_batch(users[:3], times[:3], 20)[1],
                                  union.candidates(users[1], 20, at=times[1]))


def test_candidate_queries_asks_a_batch_retriever_once_with_the_same_rows(retriever, synthetic_task, moments):
    """candidate_queries uses a two-tower's or a union's candidates_batch: the rows (candidates, order,
    evidence) equal those of asking each user alone (the user vectors are the same bits either way,
    test_a_user_vector_is_the_same_bits_alone_or_in_a_batch)."""
    import pandas as pd

    from course_lib.ranking import candidate_queries

    class OneByOne:  # the same retriever seen through the one-user interface only
        def __init__(self, inner):
            self.inner, self.catalogue = inner, inner.catalogue
            if hasattr(inner, "scores"):
                self.scores = inner.scores

        def candidate_positions(self, user, n, at=None):
            return pd.Index(self.catalogue).get_indexer(self.inner.candidates(user, n, at=at))

    task, movies = synthetic_task
    users, times = moments
    co = CooccurrenceRetriever(task, movies[ITEM].to_numpy())
    asked = dict(zip(users[:8], times[:8]))
    for r in (retriever, UnionRetriever(co, retriever)):
        batched = candidate_queries(r, asked, 40)
        pd.testing.assert_frame_equal(batched, candidate_queries(OneByOne(r), asked, 40))
        assert batched[USER].nunique() == 8 and (batched.groupby(USER).size() >= 40).all()


def test_compare_retrievers_measures_recall_overall_and_by_history(retriever, synthetic_task):
    task, movies = synthetic_task
    co = CooccurrenceRetriever(task, movies[ITEM].to_numpy())
    cmp = compare_retrievers({"tt": retriever, "co": co, "both": UnionRetriever(retriever, co)}, task, ns=(5, 40))
    relevant, when = liked_in_test(task), recommendation_times(task)
    users = sorted(relevant)
    # recall@N by hand for one retriever, and the union's at least each part's.
    by_hand = np.mean([len(relevant[u] & set(co.candidates(u, 40, at=when[u]).tolist())) / len(relevant[u])
                       for u in users])
    assert cmp.recall.loc["co", 40] == pytest.approx(by_hand)
    assert (cmp.recall.loc["both"] >= cmp.recall.loc[["tt", "co"]].max() - 1e-12).all()
    assert (cmp.recall[40] >= cmp.recall[5]).all()
    table = cmp.by_history
    assert table["users"].sum() == len(users)
    assert set(cmp.seconds) == {"tt", "co", "both"}
    assert list(history_buckets([0, 24, 25, 199, 200])) == ["<25", "<25", "25-49", "100-199", "200+"]
