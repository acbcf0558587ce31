"""The implicit-feedback training set is leak-free and time-correct; retrieval is sane."""

import numpy as np
import pandas as pd
import pytest

from course_lib.columns import ITEM, LABEL, RATING, SPLIT, TIMESTAMP, USER
from course_lib.features import build_features
from course_lib.evaluation import RankingEvaluation, liked_in_test, recommendation_times
from course_lib.features import USER_COLUMNS, FeatureIndex
from course_lib.ranking import (
    SOURCE, CooccurrenceRetriever, implicit_features, pre_test, retrieval_recall, sample_negatives,
    sampling_weights,
)


@pytest.fixture(scope="module")
def implicit(synthetic_task):
    task, movies = synthetic_task
    return implicit_features(task, movies, negatives=3, sampling="popularity", seed=7)


def _perturbed_test_period(task: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Every test-period rating replaced by a random one, on random other movies."""
    rng = np.random.default_rng(seed)
    out = task.copy()
    test = out[SPLIT] == "test"
    out.loc[test, RATING] = rng.choice(np.arange(0.5, 5.01, 0.5), size=int(test.sum())).astype("float32")
    out.loc[test, ITEM] = rng.integers(1, 200, size=int(test.sum()))
    out[LABEL] = (out[RATING] >= 3.5).astype("int8")
    return out


@pytest.mark.parametrize("sampling", ["uniform", "popularity"])
def test_test_period_cannot_change_the_training_set(synthetic_task, sampling):
    """Perturb every test-period rating (and movie), or drop the test period:
    the implicit training set, sampled negatives included, is identical."""
    task, movies = synthetic_task
    base = implicit_features(task, movies, negatives=3, sampling=sampling, seed=7)
    for changed in (_perturbed_test_period(task, 1), task[task[SPLIT] != "test"]):
        pd.testing.assert_frame_equal(base, implicit_features(changed, movies, negatives=3, sampling=sampling,
                                                              seed=7))
    # The perturbation is strong enough to matter for a leaky construction:
    # it changes which movies a user has rated over all time.
    rated_all = {(u, m) for u, m in zip(task[USER], task[ITEM])}
    changed = _perturbed_test_period(task, 1)
    assert rated_all != {(u, m) for u, m in zip(changed[USER], changed[ITEM])}


def test_only_train_and_val_rows_with_the_right_labels(synthetic_task, implicit):
    task, _ = synthetic_task
    assert set(implicit[SPLIT]) == {"train", "val"}
    by_source = implicit.groupby(SOURCE)[LABEL].agg(["min", "max"])
    assert by_source.loc["liked"].tolist() == [1, 1]
    assert by_source.loc["disliked"].tolist() == [0, 0]
    assert by_source.loc["sampled"].tolist() == [0, 0]
    rated = implicit[implicit[SOURCE] != "sampled"]
    assert len(rated) == int((task[SPLIT] != "test").sum())
    # About 3 draws per rating row (a few clashing draws may be dropped).
    assert 2.9 * len(rated) <= (implicit[SOURCE] == "sampled").sum() <= 3 * len(rated)


def test_sampled_movies_were_not_rated_before_the_test_period(synthetic_task, implicit):
    task, _ = synthetic_task
    seen = set(zip(pre_test(task)[USER], pre_test(task)[ITEM]))
    drawn = implicit[implicit[SOURCE] == "sampled"]
    assert not {(u, m) for u, m in zip(drawn[USER], drawn[ITEM])} & seen


def test_sampled_rows_have_the_features_of_their_anchor_time(synthetic_task, implicit):
    """A sampled row equals the feature row ``build_features`` gives that
    (user, movie) at that time; its user features equal its anchor rating's."""
    task, movies = synthetic_task
    drawn = implicit[implicit[SOURCE] == "sampled"].head(300)
    direct = build_features(pre_test(task), movies, queries=drawn[[USER, ITEM, TIMESTAMP]])
    cols = [c for c in direct.columns if c not in (LABEL, SPLIT, RATING)]
    pd.testing.assert_frame_equal(drawn[cols].reset_index(drop=True), direct[cols])
    # The movie statistics are those of that time, not of the end of training.
    late = build_features(pre_test(task), movies, queries=drawn[[USER, ITEM]].assign(
        **{TIMESTAMP: int(task[TIMESTAMP].max()) + 1}))
    assert (late["movie_rating_count"].to_numpy() > direct["movie_rating_count"].to_numpy()).any()
    # User features of a sampled row = those of the rated row it was drawn for.
    rated = implicit[implicit[SOURCE] != "sampled"].drop_duplicates([USER, TIMESTAMP]).set_index([USER, TIMESTAMP])
    anchor = rated.loc[list(zip(drawn[USER], drawn[TIMESTAMP]))]
    for col in ["user_rating_count", "user_rating_mean", "user_liked_rate", "hist_movie_1"]:
        np.testing.assert_array_equal(anchor[col].to_numpy(), drawn[col].to_numpy(), err_msg=col)


def test_rated_rows_keep_their_course_features(synthetic_task, implicit):
    """Rated rows, described as queries, equal ``build_features``' own rows."""
    task, movies = synthetic_task
    full = build_features(task, movies)
    full = full[full[SPLIT] != "test"].reset_index(drop=True)
    rated = implicit[implicit[SOURCE] != "sampled"].reset_index(drop=True)
    cols = [c for c in full.columns if c not in (SPLIT, RATING)]
    pd.testing.assert_frame_equal(rated[cols], full[cols], check_dtype=False)


def test_popularity_sampling_prefers_popular_movies(synthetic_task):
    task, movies = synthetic_task
    cat = movies[ITEM].to_numpy()
    counts = task[task[SPLIT] == "train"].groupby(ITEM).size().reindex(cat).fillna(0).to_numpy()
    p = sampling_weights(task, cat, "popularity")
    np.testing.assert_allclose(p, (counts + 1) ** 0.75 / ((counts + 1) ** 0.75).sum())
    np.testing.assert_allclose(sampling_weights(task, cat, "uniform"), 1 / len(cat))
    top = cat[np.argsort(-counts)[:20]]
    share = {s: sample_negatives(task, cat, negatives=5, sampling=s, seed=0)[ITEM].isin(top).mean()
             for s in ("uniform", "popularity")}
    assert share["popularity"] > 1.5 * share["uniform"]


def test_bad_arguments(synthetic_task):
    task, movies = synthetic_task
    with pytest.raises(ValueError, match="sampling must be"):
        implicit_features(task, movies, sampling="zipf")
    with pytest.raises(ValueError, match="negatives must be"):
        sample_negatives(task, movies[ITEM].to_numpy(), negatives=-1)
    with pytest.raises(KeyError, match="make_task"):
        pre_test(task.drop(columns=[SPLIT]))


def test_retrieval_excludes_rated_and_ignores_the_test_period(synthetic_task):
    task, movies = synthetic_task
    cat = movies[ITEM].to_numpy()
    retriever = CooccurrenceRetriever(pre_test(task), cat)
    rated = set(pre_test(task).loc[pre_test(task)[USER] == 5, ITEM])
    cands = retriever.candidates(5, 50)
    assert len(cands) == 50 and not set(cands.tolist()) & rated
    assert len(set(cands.tolist())) == 50
    other = CooccurrenceRetriever(pre_test(_perturbed_test_period(task, 2)), cat)
    np.testing.assert_array_equal(cands, other.candidates(5, 50))
    # A cold-start user gets the most-rated movies.
    counts = pre_test(task).groupby(ITEM).size().reindex(cat).fillna(0).to_numpy()
    np.testing.assert_array_equal(retriever.candidates(10**9, 5), cat[np.lexsort((cat, -counts))[:5]])


def test_candidates_and_popularity_as_of_a_time_ignore_every_later_rating(synthetic_task):
    """Time-correct retrieval: for each user at their recommendation time t,
    perturbing every rating made at or after t (other users' too, any split;
    all but the user's own pre-test ratings, which the split puts before t),
    or deleting them all, moves neither the candidates nor the popularity list;
    a change strictly before t does move them (the check can fail)."""
    task, movies = synthetic_task
    cat = movies[ITEM].to_numpy()
    when = recommendation_times(task)
    full = CooccurrenceRetriever(task, cat)
    rng = np.random.default_rng(3)
    for user in sorted(when)[::9][:8]:
        t = when[user]
        later = (task[TIMESTAMP] >= t) & ~((task[USER] == user) & (task[SPLIT] != "test"))
        perturbed = task.copy()
        perturbed.loc[later, ITEM] = rng.choice(cat, size=int(later.sum()))
        perturbed.loc[later, LABEL] = rng.integers(0, 2, size=int(later.sum())).astype("int8")
        for other in (CooccurrenceRetriever(perturbed, cat), CooccurrenceRetriever(task[~later], cat)):
            np.testing.assert_array_equal(full.candidates(user, 50, at=t), other.candidates(user, 50, at=t))
            np.testing.assert_array_equal(full.scores(user, at=t), other.scores(user, at=t))
            np.testing.assert_array_equal(full.popular_positions(user, 10, at=t), other.popular_positions(user, 10, at=t))
        # Deleting everything strictly before t (but the user's own ratings) does move them.
        earlier_others = (task[TIMESTAMP] < t) & (task[USER] != user)
        moved = CooccurrenceRetriever(task[~earlier_others], cat)
        assert not np.array_equal(full.scores(user, at=t), moved.scores(user, at=t))
    # With no time given, every rating counts ("now"); the look-ahead is real on this data.
    user = sorted(when)[0]
    assert not np.array_equal(full.candidates(user, 50), full.candidates(user, 50, at=when[user]))


def test_popularity_as_of_a_time_is_the_most_rated_unrated_movies():
    rows = [(1, 10, 4.0, 100), (2, 10, 4.0, 100), (3, 11, 4.0, 100), (3, 12, 4.0, 300), (4, 12, 4.0, 300),
            (4, 13, 2.0, 300), (5, 12, 4.0, 400), (5, 10, 4.0, 50)]
    hist = pd.DataFrame(rows, columns=[USER, ITEM, RATING, TIMESTAMP])
    hist[LABEL] = (hist[RATING] >= 3.5).astype("int8")
    r = CooccurrenceRetriever(hist, np.arange(10, 15))
    assert r.catalogue[r.popular_positions(9, 3, at=200)].tolist() == [10, 11, 12]  # 3, 1, 0 ratings before 200
    assert r.catalogue[r.popular_positions(9, 3)].tolist() == [10, 12, 11]  # now: 10 and 12 have 3: ties by id
    assert r.catalogue[r.popular_positions(5, 2, at=200)].tolist() == [11, 12]  # user 5 rated 10 at 50
    assert r.catalogue[r.popular_positions(5, 2, at=50)].tolist() == [10, 11]  # ... but not before 50


def test_a_users_own_pre_test_ratings_count_at_their_recommendation_time():
    """Same second as the first test rating: the user's own pre-test rating is known (the split
    orders it first), another user's rating is not, and neither is the user's test rating."""
    rows = [(1, 10, 4.0, 100, "train"), (1, 11, 4.0, 200, "train"), (1, 12, 4.0, 200, "test"),
            (2, 13, 4.0, 200, "train"), (2, 10, 4.0, 150, "train"), (3, 13, 4.0, 90, "train")]
    hist = pd.DataFrame(rows, columns=[USER, ITEM, RATING, TIMESTAMP, SPLIT])
    hist[LABEL] = (hist[RATING] >= 3.5).astype("int8")
    r = CooccurrenceRetriever(hist, np.arange(10, 15), recent=0)
    # At 200 user 1 has rated 10 and 11 (same second, pre-test); counts before 200: 10 x2, 13 x1.
    assert r.catalogue[r.popular_positions(1, 3, at=200)].tolist() == [13, 12, 14]
    # User 2's rating of 13 at 200 starts no later period: at 200 it is not known yet (strictly before only).
    assert r.catalogue[r.popular_positions(2, 2, at=200)].tolist() == [13, 11]
    # At a user's first validation rating, their same-second validation ratings are not known; train ones are.
    val = pd.DataFrame([(7, 10, 4.0, 500, "train"), (7, 11, 4.0, 500, "val"), (7, 12, 4.0, 600, "test")],
                       columns=[USER, ITEM, RATING, TIMESTAMP, SPLIT]).assign(**{LABEL: np.int8(1)})
    rv = CooccurrenceRetriever(val, np.arange(10, 15), recent=0)
    assert 10 not in rv.catalogue[rv.popular_positions(7, 5, at=500)] and 11 in rv.catalogue[rv.popular_positions(7, 5, at=500)]
    without_split = CooccurrenceRetriever(hist.drop(columns=[SPLIT]), np.arange(10, 15), recent=0)
    assert 11 in without_split.catalogue[without_split.popular_positions(1, 3, at=200)].tolist()


def test_retrieval_beats_popularity_on_planted_co_occurrence():
    """Users who liked movie 1 also watch movie 2: co-occurrence must find it."""
    rows = []
    for u in range(1, 41):
        rows += [(u, 10 + (u % 7), 4.0, 100), (u, 1, 5.0, 200), (u, 2, 4.0, 300)] if u <= 20 else \
                [(u, 10 + (u % 7), 4.0, 100), (u, 3, 4.0, 200), (u, 4, 4.0, 300), (u, 5, 4.0, 400)]
    rows.append((99, 1, 5.0, 100))
    hist = pd.DataFrame(rows, columns=[USER, ITEM, RATING, TIMESTAMP])
    hist[LABEL] = (hist[RATING] >= 3.5).astype("int8")
    hist[SPLIT] = "train"
    retriever = CooccurrenceRetriever(hist, np.arange(1, 20))
    assert retriever.candidates(99, 1).tolist() == [2]
    relevant = {99: {2}}
    assert retrieval_recall({99: retriever.candidates(99, 1)}, relevant) == 1.0
    assert retrieval_recall({99: np.array([3])}, relevant) == 0.0


def test_test_likes(synthetic_task):
    task, _ = synthetic_task
    likes = liked_in_test(task)
    test = task[(task[SPLIT] == "test") & (task[LABEL] == 1)]
    assert sum(len(v) for v in likes.values()) == test[[USER, ITEM]].drop_duplicates().shape[0]


def test_whole_catalogue_at_a_time_equals_the_feature_path(synthetic_task, trained_wide_deep):
    """``Recommender.score(user, at=t)`` (the fast path of the whole-catalogue
    evaluation) equals scoring ``build_features`` query rows at time t."""
    from course_lib.recommend import Recommender
    from course_lib.train import predict

    task, movies = synthetic_task
    model, _ = trained_wide_deep
    history = pre_test(task)
    rec = Recommender(model, model.spec, history, movies)
    when = recommendation_times(task)
    for user in (5, 77):
        q = pd.DataFrame({USER: user, ITEM: rec.catalogue, TIMESTAMP: when[user]})
        slow = predict(model, build_features(history, movies, queries=q), model.spec)
        np.testing.assert_allclose(rec.score(user, at=when[user]), slow, rtol=1e-5, atol=1e-6)
    # A tie: a time equal to one of the user's ratings does not see that rating.
    t = int(history.loc[history[USER] == 5, TIMESTAMP].iloc[10])
    q = pd.DataFrame({USER: 5, ITEM: rec.catalogue[:20], TIMESTAMP: t})
    np.testing.assert_allclose(rec.score(5, positions=np.arange(20), at=t),
                               predict(model, build_features(history, movies, queries=q), model.spec), rtol=1e-5,
                               atol=1e-6)


def test_user_states_of_many_users_equal_one_at_a_time(synthetic_task):
    """``FeatureIndex.user_states`` (one pass for many (user, time) pairs, in any
    order, repeats included) gives each pair exactly the state of a lone call,
    and that state is the training row's own state at a rating's time."""
    task, movies = synthetic_task
    history = pre_test(task)
    index = FeatureIndex(history, movies)
    when = recommendation_times(task)
    users = sorted(when)[:12][::-1] + [sorted(when)[0], 10**9]  # reversed, a repeat, an unknown user
    times = [when.get(u, index.now) for u in users]
    batch = index.user_states(users, times)
    for i, (user, t) in enumerate(zip(users, times)):
        alone = index.user_states([user], [t])
        for key, value in vars(alone).items():
            np.testing.assert_array_equal(getattr(batch, key)[i:i + 1], value, err_msg=key)
    assert batch.count[-1] == 0 and (batch.last_liked[-1] == 0).all()  # unknown user: no history
    rows = index.rows()
    row = int(np.flatnonzero(history[USER].to_numpy() == users[0])[7])
    q = pd.DataFrame({USER: [users[0]], ITEM: [history[ITEM].iloc[row]], TIMESTAMP: [history[TIMESTAMP].iloc[row]]})
    pd.testing.assert_frame_equal(index.features(q)[USER_COLUMNS].reset_index(drop=True),
                                  rows[USER_COLUMNS].iloc[[row]].reset_index(drop=True))


def test_for_model_shares_the_setup_and_scores_like_a_fresh_recommender(synthetic_task, trained_wide_deep):
    from course_lib.models import build_wide_deep
    from course_lib.recommend import Recommender

    task, movies = synthetic_task
    model, _ = trained_wide_deep
    other = build_wide_deep(model.spec, "deep", seed=3)
    history = pre_test(task)
    when = recommendation_times(task)
    user = sorted(when)[0]
    base = Recommender(model, model.spec, history, movies)
    before = base.score(user, at=when[user])
    switched = base.for_model(other)
    assert switched._movie_side is base._movie_side and switched._states is base._states
    fresh = Recommender(other, other.spec, history, movies)
    np.testing.assert_array_equal(switched.score(user, at=when[user]), fresh.score(user, at=when[user]))
    np.testing.assert_array_equal(switched.score(user), fresh.score(user))
    np.testing.assert_array_equal(base.score(user, at=when[user]), before)  # the original still serves its model


def test_ranking_evaluation_two_stage_and_whole_catalogue(synthetic_task, trained_wide_deep):
    task, movies = synthetic_task
    model, _ = trained_wide_deep
    retriever = CooccurrenceRetriever(task, movies[ITEM].to_numpy())
    users = sorted(liked_in_test(task))[:15]
    two = RankingEvaluation(task, movies, retriever=retriever, n_candidates=20, users=users)
    whole = RankingEvaluation(task, movies, users=users)
    rated = pre_test(task).groupby(USER)[ITEM].agg(set)
    for evaluation in (two, whole):
        metrics, ranked = evaluation(model)
        assert metrics["users"] == len(users) and 0 <= metrics["ndcg@10"] <= metrics["hr@10"] <= 1
        for user, items in ranked.items():
            assert len(items) == 10 and not set(items) & rated[user]
    for user, items in two(model)[1].items():
        assert set(items) <= set(two.candidates[user].tolist())
    # Both paths rank a lone request's scores at the user's moment (the candidates, or every unrated movie).
    from course_lib.recommend import Recommender

    rec = Recommender(model, model.spec, pre_test(task), movies)
    for user in users[:3]:
        scores = rec.score(user, at=two.when[user])
        cand = two.candidates[user]
        s = scores[np.searchsorted(rec.catalogue, cand)]
        assert two(model)[1][user] == cand[np.lexsort((cand, -s))[:10]].tolist()
        assert whole(model)[1][user] == rec.top_k(scores, user, 10)[ITEM].tolist()
