"""Ranking evaluation: one protocol for every top-k figure of the course.

Introduced in lesson 02 (how alike are the lists?); the two-stage system in lesson 06.

The protocol (every HR@k / NDCG@k of the lessons, the mark schemes and
``make bench``):

- each user is scored at their own recommendation time
  (``recommendation_times``: their first test rating), described as they were
  then, from strictly earlier ratings only (the history's ``FeatureIndex``);
- the ranker's features come from the ratings before the test period
  (``ranking.pre_test``); the movies a user rated in it are never recommended;
- retrieval and popularity are counted *as of* each user's recommendation
  time: every rating made strictly before it, whatever its split (other
  users' test-period ratings included, as a system running then would know
  them), plus the user's own pre-test ratings (``CooccurrenceRetriever``'s
  ``at=``). Counting every pre-test rating instead, as the course once did,
  lets a 1997 user's candidates and "most popular" list draw on ratings from
  2018, and inflated both baselines (lesson 06 measures by how much);
- relevant = the movies the user liked in their test period (``liked_in_test``);
- ties are broken by movie id, so lists repeat exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from course_lib.columns import ITEM, LABEL, SPLIT, TIMESTAMP, USER
from course_lib.features import RETRIEVAL_COLUMNS, FeatureIndex
from course_lib.metrics import hit_rate_and_ndcg
from course_lib.ranking import N_CANDIDATES, CooccurrenceRetriever, candidate_queries, pre_test


def liked_in_test(task: pd.DataFrame) -> dict[int, set[int]]:
    """User -> the movies they liked in their test period (what a recommender should find)."""
    test = task[(task[SPLIT] == "test") & (task[LABEL] == 1)]
    return {int(u): set(g.tolist()) for u, g in test.groupby(USER)[ITEM]}


def recommendation_times(task: pd.DataFrame) -> dict[int, int]:
    """User -> the moment we recommend to them: the timestamp of their first test rating.

    Candidates are described as they were then (movie statistics from
    earlier training ratings only), exactly like the training rows; scoring
    a 1997 user with 2018 statistics would rank films they could not have seen.
    """
    test = task[task[SPLIT] == "test"]
    return {int(u): int(t) for u, t in test.groupby(USER)[TIMESTAMP].min().items()}


#: Users scored together over the whole catalogue (about 9,700 rows each): fewer, larger
#: model calls; memory, not results, depends on it.
WHOLE_CATALOGUE_USERS = 8


class RankingEvaluation:
    """HR@k and NDCG@k of ranking models: the same users, candidates and moments for every model.

    The module's protocol: each user is scored at ``recommendation_times``
    from the ratings before the test period; relevant = the movies they liked
    in the test period. Everything that does not depend on the model (the
    history's ``FeatureIndex``, the users' states at their moments, the
    candidates) is computed once and shared by every model evaluated.

    - With a ``retriever`` (two-stage), each model ranks the retriever's
      candidates (their feature rows computed once).
    - Without one, each model ranks the whole catalogue minus the movies the
      user already rated (``course_lib.serving.CatalogueScorer``).

    Args:
        task: Output of ``make_task``.
        movies: The catalogue.
        retriever: A ``CooccurrenceRetriever`` built on every rating
            (``task``), or anything with ``candidates(user, n, at=t)``
            that counts only what was known before ``t``; or None.
        n_candidates: Candidates per user with a retriever.
        users: Users to evaluate (default: all with a liked test movie).
        k: Cut-off.
    """

    def __init__(self, task: pd.DataFrame, movies: pd.DataFrame, retriever=None,
                 n_candidates: int = N_CANDIDATES, users=None, k: int = 10):
        self.history, self.movies, self.k = pre_test(task), movies, int(k)
        relevant = liked_in_test(task)
        self.users = sorted(relevant) if users is None else [int(u) for u in users if int(u) in relevant]
        if not self.users:
            raise ValueError("no user has a liked test movie among those asked for; nothing to rank.")
        self.relevant = {u: relevant[u] for u in self.users}
        self.when = recommendation_times(task)
        self.index = FeatureIndex(self.history, movies)
        self.features = None
        self._states = None  # whole-catalogue path: built on first use, shared by every model
        if retriever is not None:
            queries = candidate_queries(retriever, {u: self.when[u] for u in self.users}, n_candidates)
            self.candidates = {int(u): g.to_numpy(np.int64) for u, g in queries.groupby(USER, sort=False)[ITEM]}
            self.candidates.update({u: np.zeros(0, np.int64) for u in self.users if u not in self.candidates})
            # The candidates' course features and the retrieval evidence (a ranker may read both).
            self.features = self.index.features(queries)
            for col in RETRIEVAL_COLUMNS:
                self.features[col] = queries[col].to_numpy()

    def __call__(self, model, spec=None) -> tuple[dict, dict]:
        """``(metrics, ranked)``: the averaged metrics and each user's top-k movie ids.

        Args:
            model: A trained course model (probability of the positive class).
            spec: Its ``FeatureSpec`` (default: the model's own, ``model.spec``).
        """
        spec = spec or model.spec
        ranked = self._two_stage(model, spec) if self.features is not None else self._whole_catalogue(model, spec)
        return hit_rate_and_ndcg(ranked, self.relevant, self.k), ranked

    def retrieval_alone(self) -> tuple[dict, dict]:
        """``(metrics, ranked)`` of the retriever's own top-k: the bar a ranker must clear."""
        if self.features is None:
            raise ValueError("retrieval_alone needs a RankingEvaluation built with a retriever.")
        ranked = {u: self.candidates[u][:self.k].tolist() for u in self.users}
        return hit_rate_and_ndcg(ranked, self.relevant, self.k), ranked

    def _two_stage(self, model, spec) -> dict[int, list[int]]:
        from course_lib.train import predict

        scores = predict(model, self.features, spec)
        ranked, offset = {}, 0
        for user in self.users:
            cand = self.candidates[user]
            s = scores[offset:offset + len(cand)]
            offset += len(cand)
            # Stable order: ties broken by movie id, so lists repeat exactly.
            ranked[user] = cand[np.lexsort((cand, -s))[:self.k]].tolist()
        return ranked

    def _whole_catalogue(self, model, spec) -> dict[int, list[int]]:
        from course_lib.serving import CatalogueScorer, top_positions

        index, times = self.index, [self.when[u] for u in self.users]
        catalogue, n = index.catalogue, len(index.catalogue)
        if self._states is None:  # the same for every model
            self._states = index.user_states(self.users, times)
            self._movie_side = index.catalogue_features()
            where = pd.Index(catalogue)
            self._rated = {int(u): where.get_indexer(g.to_numpy()) for u, g in self.history.groupby(USER)[ITEM]}
        scorer = CatalogueScorer(model, spec, index, self._movie_side)
        keys = list(zip(self.users, times))
        scorer.encode_users(keys, self.users, self._states)  # one encoder call for all users
        ranked, everything = {}, np.arange(n)
        for start in range(0, len(self.users), WHOLE_CATALOGUE_USERS):
            block = slice(start, start + WHOLE_CATALOGUE_USERS)
            users = self.users[block]
            # The movies' statistics at every user's moment, and every user's scores, in one pass per block.
            stats = index.movie_statistics(np.tile(catalogue, len(users)), np.repeat(times[block], n))
            scores = scorer.score_users(keys[block], users, self._states.take(block), everything, stats)
            for user, row in zip(users, scores):
                rated = self._rated.get(user, np.zeros(0, int))
                ranked[user] = catalogue[top_positions(row, catalogue, self.k, rated[rated >= 0])].tolist()
        return ranked


def liked_in_validation(task: pd.DataFrame) -> dict[int, set[int]]:
    """User -> the movies they liked in their validation period (where every choice is made)."""
    val = task[(task[SPLIT] == "val") & (task[LABEL] == 1)]
    return {int(u): set(g.tolist()) for u, g in val.groupby(USER)[ITEM]}


def validation_ranking(rows: pd.DataFrame, scores, task: pd.DataFrame, k: int = 10) -> tuple[dict, dict]:
    """HR@k / NDCG@k of scored validation-window candidates (``ranking.candidate_training_set``'s
    ``val`` rows): each user's candidates ranked by ``scores`` (ties by movie id), relevant =
    the movies they liked in their validation period. The test period is never read.
    """
    relevant = liked_in_validation(task)
    frame = rows[[USER, ITEM]].assign(_score=np.asarray(scores, dtype=np.float64))
    frame = frame[frame[USER].isin(list(relevant))].sort_values([USER, ITEM], kind="stable")
    ranked = {}
    for user, g in frame.groupby(USER, sort=True):
        ids, s = g[ITEM].to_numpy(), g["_score"].to_numpy()
        ranked[int(user)] = ids[np.lexsort((ids, -s))[:k]].tolist()
    return hit_rate_and_ndcg(ranked, {u: relevant[u] for u in ranked}, k), ranked


def popularity_evaluation(task: pd.DataFrame, movies: pd.DataFrame, users=None, k: int = 10) -> tuple[dict, dict]:
    """The same HR@k / NDCG@k for the most-rated movies (a model-free baseline).

    Each user gets the ``k`` movies most rated before their recommendation
    time that they had not rated (``CooccurrenceRetriever.popular_positions``
    with no likes used): the module's time-correct protocol.
    """
    relevant, when = liked_in_test(task), recommendation_times(task)
    users = sorted(relevant) if users is None else [int(u) for u in users if int(u) in relevant]
    popular = CooccurrenceRetriever(task, movies[ITEM].to_numpy(), recent=0)
    ranked = {u: popular.catalogue[popular.popular_positions(u, k, at=when[u])].tolist() for u in users}
    return hit_rate_and_ndcg(ranked, {u: relevant[u] for u in users}, k), ranked


def list_sameness(lists: dict, catalogue_size: int | None = None) -> dict[str, float]:
    """How alike the users' top-k lists are: over-generalization measured as what it is (lesson 02).

    A model that generalizes too much gives everyone the same list, whatever
    their taste.

    Args:
        lists: User -> recommended movie ids (e.g. the ``ranked`` lists of
            ``ranking.RankingEvaluation``); no movie twice in one list.
        catalogue_size: Number of movies that could be recommended (adds ``coverage``).

    Returns:
        ``shared``: titles two users' lists have in common, averaged over every
        pair of users (0 = all lists differ; k = everyone gets the same list);
        ``top_title_share``: share of users whose list holds the single most
        common title; ``distinct``: distinct titles over all lists; and
        ``coverage`` = distinct / ``catalogue_size`` when given.
    """
    sets = [set(int(m) for m in movies) for movies in lists.values()]
    if len(sets) < 2:
        raise ValueError(f"list_sameness needs the lists of at least 2 users, got {len(sets)}.")
    if any(len(s) != len(list(movies)) for s, movies in zip(sets, lists.values())):
        raise ValueError("a list holds the same movie twice.")
    counts = pd.Series([m for s in sets for m in s], dtype=np.int64).value_counts()
    n = len(sets)
    out = {"shared": float((counts * (counts - 1)).sum() / (n * (n - 1))),
           "top_title_share": float(counts.iloc[0] / n) if len(counts) else 0.0,
           "distinct": int(len(counts))}
    if catalogue_size is not None:
        out["coverage"] = out["distinct"] / int(catalogue_size)
    return out
