"""Trusted checks of a02_embeddings: the pooled-history model, movie vectors, cosine nearest neighbours.

Instructor-only (not in the learner copy). Each check runs in the grading
process (course_lib.autograde): the submission gets inputs — a fresh world
of taste clusters, fresh embedding tables, seeded per submission — and
returns scores and vectors that are judged here. The labels of the rows it
is scored on never reach the kernel.
"""

import numpy as np

from course_lib.autograde import Task
from course_lib.checks import check_auc_above, check_close, check_shape, liked_histories, taste_clusters
from course_lib.columns import ITEM, LABEL, USER
from course_lib.metrics import auc

HISTORY = 16
#: The grader's world: more users than the notebook's (240), so the AUC on new users varies less.
USERS, KNOWN = 400, 300
AUC_NEW_USERS = 0.70  # 20 worlds: the model answer 0.81-0.86, no hidden layer 0.47-0.56

POOLED_PROBE = '''
def probe(inputs):
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    model = build_pooled_model(inputs["movies"], 16, embedding_dim=8)
    if not isinstance(model, keras.Model):
        return {"type": type(model).__name__}
    names = {layer.name for layer in model.layers}
    out = {"type": "Model", "layers": np.array(sorted(names))}
    if not {"movie_lookup", "movie_embedding"} <= names:
        return out
    out["table_shape"] = np.array(model.get_layer("movie_embedding").get_weights()[0].shape)
    out["lookup"] = np.asarray(model.get_layer("movie_lookup")(inputs["lookup_ids"]))
    try:
        out["first"] = np.asarray(model({"movie": inputs["movie"][:5], "history": inputs["history"][:5]}))
    except Exception as exc:
        out["no_user_id"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        return out
    out["probe_scores"] = np.asarray(model({"movie": inputs["probe_movie"], "history": inputs["probe_history"]})).ravel()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.BinaryCrossentropy(from_logits=True))
    model.fit({"movie": inputs["movie"], "history": inputs["history"]}, inputs["y"], epochs=10, batch_size=128,
              verbose=0)
    out["new_scores"] = np.asarray(model.predict({"movie": inputs["new_movie"], "history": inputs["new_history"]},
                                                 verbose=0)).ravel()
    return out
'''


def check_pooled(student, rng):
    # A fresh world: users 1-300 train, users 301-400 are never trained on.
    ratings, cluster_of = taste_clusters(n_users=USERS, seed=int(rng.integers(1_000, 1_000_000)))
    known, is_train = ratings[USER] <= KNOWN, ratings["split"] == "train"
    train = ratings[known & is_train]
    new_likes, new_rows = ratings[~known & is_train], ratings[~known & ~is_train]
    movies = np.unique(train[ITEM])
    a = int(movies[0])
    b_same = next(int(m) for m in movies[1:] if cluster_of[int(m)] == cluster_of[a])
    b_other = next(int(m) for m in movies if cluster_of[int(m)] != cluster_of[a])
    probe_history = np.zeros((4, HISTORY), dtype=np.int64)
    for row, liked in enumerate(([a, a, b_same, b_same], [a, b_same], [a, a, a, b_other], [a, b_other])):
        probe_history[row, :len(liked)] = liked
    out = student.ask(POOLED_PROBE, "build_pooled_model(...), trained on the grader's ratings",
                      movies=movies, movie=train[ITEM].to_numpy(), history=liked_histories(train, train, HISTORY),
                      y=train[LABEL].to_numpy(), new_movie=new_rows[ITEM].to_numpy(),
                      new_history=liked_histories(new_rows, new_likes, HISTORY),
                      probe_movie=np.full(4, a, dtype=np.int64), probe_history=probe_history,
                      lookup_ids=np.array([0, 999_999, int(movies[0])]))
    kind = str(out["type"])
    assert kind == "Model", f"build_pooled_model should return a keras.Model, but it returned a {kind}."
    missing = {"movie_lookup", "movie_embedding"} - set(np.asarray(out["layers"]).tolist())
    assert not missing, (f"build_pooled_model should have layers named {sorted(missing)}, but they are missing.\n"
                         "Hint: pass name=... to each layer.")
    check_shape(np.zeros(tuple(out["table_shape"])), (len(movies) + 2, 8),
                "the movie_embedding table (padding row, OOV row, then one row per known movie)")
    check_close(out["lookup"], [0, 1, 2], "movie_lookup of padding (0), an unknown id and the first known id "
                "(padding row 0, OOV row 1, then 2)", tol=0)
    assert "no_user_id" not in out, (
        "build_pooled_model(...) should score a row from its 'movie' and 'history' inputs alone, but calling it "
        f"with only those raised {out.get('no_user_id')}\nHint: no user id: the user is the mean of the "
        "history's vectors.")
    check_shape(np.asarray(out["first"]).reshape(5, -1), (5, 1), "build_pooled_model(...) on 5 rows")
    twice, once, lopsided, even = np.asarray(out["probe_scores"], dtype=np.float64)
    assert abs(twice - once) < 1e-5, (
        f"build_pooled_model should give a user who liked [a, a, b, b] the score of one who liked [a, b] (the same "
        f"mean), but it gives {twice:.5f} and {once:.5f}.\nHint: average over the real entries only: multiply the "
        "vectors by a 0/1 mask of rows > 0, sum, and divide by the mask's sum (not by history_length).")
    assert abs(lopsided - even) > 1e-6, (
        "build_pooled_model should weigh each liked entry equally (the mean of [a, a, a, b] is not that of [a, b]), "
        f"but both users score {even:.5f}.\nHint: a mean, not a maximum.")
    check_auc_above(auc(new_rows[LABEL].to_numpy(), out["new_scores"]), AUC_NEW_USERS,
                    "the AUC of build_pooled_model on users it never saw",
                    hint="liked depends on whether the candidate matches the user's taste: the user vector and the "
                         "candidate's vector must go through a hidden Dense layer with a ReLU before the output (a "
                         "Dense(1) straight on them adds a user score and a movie score, and cannot).")


VECTORS_PROBE = '''
def probe(inputs):
    from course_lib.checks import lookup_probe

    model = lookup_probe(inputs["ids"], inputs["table"])
    return {"vectors": [movie_vectors(model, query) for query in inputs["queries"]]}
'''


def check_vectors(student, rng):
    # The notebook's example (row 0 padding, row 1 OOV, then 42, 7, 1000) and fresh scattered ids.
    cases = [([42, 7, 1000], np.arange(10, dtype=np.float32).reshape(5, 2), [[7, 42], [999, 1000]])]
    ids = rng.choice(np.arange(1, 200_000), size=20, replace=False)
    table = rng.normal(size=(22, 3)).astype(np.float32)
    unknown = int(rng.integers(300_000, 5_000_000))
    cases.append((ids, table, [np.concatenate([ids[::-1], [unknown]])]))
    for ids, table, queries in cases:
        row_of = {int(m): i + 2 for i, m in enumerate(ids)}
        out = student.ask(VECTORS_PROBE, "movie_vectors(model, movie_ids)", ids=np.asarray(ids), table=table,
                          queries=[np.asarray(q) for q in queries])
        for query, got in zip(queries, out["vectors"]):
            rows = [row_of.get(int(m), 1) for m in query]
            check_close(got, table[rows], f"movie_vectors on ids {list(map(int, query))[:6]}"
                        f"{'...' if len(query) > 6 else ''} (an unknown id reads the OOV row 1, not the padding row 0)")


def cosine(matrix, vector):
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(vector)
    dots = matrix @ vector
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


def check_cosine(student, rng):
    rows, vec = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0], [1.0, 1.0]]), np.array([2.0, 0.0])
    sims = check_shape(student.call("cosine_similarity", rows, vec), (4,), "cosine_similarity(4 rows, vector)")
    check_close(sims, [1.0, 0.0, -1.0, 0.7071], "cosine_similarity(rows, [2, 0])")
    zero_row = student.call("cosine_similarity", np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([1.0, 1.0]))
    check_close(zero_row, [0.0, 1.0], "cosine_similarity with a zero row (should give 0, not NaN)")
    rows, vec = rng.normal(size=(30, 5)), rng.normal(size=5)
    check_close(student.call("cosine_similarity", rows, vec), cosine(rows, vec), "cosine_similarity of 30 random rows")


NEAREST_PROBE = '''
def probe(inputs):
    import numpy as np
    from course_lib.checks import lookup_probe

    model = lookup_probe(inputs["ids"], inputs["table"])
    return {"nearest": np.asarray(nearest_movies(model, inputs["query"], k=inputs["k"]), dtype=np.int64)}
'''


def check_nearest(student, rng):
    # Movie 10 points like the padding and OOV rows; 20 has the same direction but is short,
    # 30 is long but at 45 degrees: cosine ranks 20 first, a dot product 30.
    cases = [(np.array([10, 20, 30, 40, 50]), np.array([[1, 0], [1, 0], [1, 0], [0.5, 0.05], [3, 3], [-1, 0], [0, 2]]),
              10, 4)]
    ids = rng.choice(np.arange(1, 200_000), size=30, replace=False)
    table = rng.normal(size=(32, 4))
    query = int(rng.integers(0, 30))
    table[0] = table[1] = table[query + 2]  # the padding and OOV rows copy the query's vector
    cases.append((ids, table, int(ids[query]), int(rng.integers(3, 10))))
    for ids, table, movie, k in cases:
        out = student.ask(NEAREST_PROBE, f"nearest_movies(model, {movie}, k={k})", ids=ids, table=table,
                          query=movie, k=k)
        near = check_shape(out["nearest"], (k,), f"nearest_movies(model, {movie}, k={k})")
        assert movie not in near.tolist(), (
            f"nearest_movies should leave out the query movie itself, but {movie} is in the list.\n"
            "Hint: drop movie_id from the candidates.")
        assert set(near.tolist()) <= set(ids.tolist()), (
            f"nearest_movies should return known movie ids, but returned {near.tolist()}.\n"
            "Hint: map rows back to ids with the lookup's vocabulary, and skip the padding and OOV rows (0 and -1).")
        keep = ids != movie
        sims = cosine(table[2:][keep], table[2 + int(np.flatnonzero(~keep)[0])])
        expected = ids[keep][np.argsort(-sims, kind="stable")[:k]]
        check_close(near, expected, f"nearest_movies(model, {movie}, k={k}), most similar first", tol=0)


TASKS = [
    Task("a02_test_pooled_model", "build_pooled_model", check_pooled, own_work=("a02_pooled_model",)),
    Task("a02_test_movie_vectors", "movie_vectors", check_vectors, own_work=("a02_movie_vectors",)),
    Task("a02_test_cosine", "cosine_similarity", check_cosine),
    Task("a02_test_nearest", "nearest_movies", check_nearest, own_work=("a02_nearest",)),
]
