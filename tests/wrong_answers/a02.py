"""Wrong submissions of a02_embeddings (pooled-history model, movie vectors, nearest neighbours)."""

from tests.wrong_answers import Wrong

_POOLED = '''
def build_pooled_model(movie_ids, history_length, embedding_dim=8):
    movie = keras.Input(shape=(), dtype="int64", name="movie")
    history = keras.Input(shape=(history_length,), dtype="int64", name="history")
    lookup = layers.IntegerLookup(vocabulary=np.asarray(movie_ids, dtype=np.int64), {lookup_args}name="movie_lookup")
    table = layers.Embedding(len(movie_ids) + {extra_rows}, embedding_dim, name="movie_embedding")
    rows = lookup(history)
    vectors = table(rows)
    mask = ops.expand_dims(ops.cast(ops.not_equal(rows, 0), "float32"), axis=-1)
    {pool}
    both = layers.Concatenate()([user, table(lookup(movie))])
    {head}
'''
_MEAN = "user = ops.sum(vectors * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)"
_HEAD = ('hidden = layers.Dense(32, activation="relu")(both)\n'
         '    return keras.Model({"movie": movie, "history": history}, layers.Dense(1)(hidden))')


def _pooled(pool=_MEAN, head=_HEAD, lookup_args="mask_token=0, ", extra_rows=2):
    return _POOLED.format(pool=pool, head=head, lookup_args=lookup_args, extra_rows=extra_rows)


_NEAREST = '''
def cosine_similarity(matrix, vector):
    matrix = np.asarray(matrix, dtype=np.float64)
    vector = np.asarray(vector, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(vector)
    dots = matrix @ vector
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


def nearest_movies(model, movie_id, k=5):
    vocabulary = [int(v) for v in model.get_layer("movie_lookup").get_vocabulary(){vocab_slice}]
    candidates = np.asarray([m for m in vocabulary if {keep}], dtype=np.int64)
    sims = {similarity}
    order = np.argsort({order}, kind="stable")[:k]
    return [int(m) for m in candidates[order]]
'''
_COSINE = "cosine_similarity(movie_vectors(model, candidates), movie_vectors(model, [movie_id])[0])"


def _nearest(vocab_slice="[2:]", keep="m != movie_id", similarity=_COSINE, order="-sims"):
    return _NEAREST.format(vocab_slice=vocab_slice, keep=keep, similarity=similarity, order=order)


WRONG = [
    # Task 1: the pooled-history model.
    Wrong("pooled_uses_user_id", "a02_pooled_model", "a02_test_pooled_model", '''
def build_pooled_model(movie_ids, history_length, embedding_dim=8):
    user = keras.Input(shape=(), dtype="int64", name="user")
    movie = keras.Input(shape=(), dtype="int64", name="movie")
    history = keras.Input(shape=(history_length,), dtype="int64", name="history")
    lookup = layers.IntegerLookup(vocabulary=np.asarray(movie_ids, dtype=np.int64), mask_token=0, name="movie_lookup")
    table = layers.Embedding(len(movie_ids) + 2, embedding_dim, name="movie_embedding")
    user_rows = layers.IntegerLookup(vocabulary=np.arange(1, 241), mask_token=0)(user)
    user_vector = layers.Embedding(243, embedding_dim)(user_rows)
    rows = lookup(history)
    mask = ops.expand_dims(ops.cast(ops.not_equal(rows, 0), "float32"), axis=-1)
    taste = ops.sum(table(rows) * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)
    both = layers.Concatenate()([user_vector, taste, table(lookup(movie))])
    hidden = layers.Dense(32, activation="relu")(both)
    return keras.Model({"user": user, "movie": movie, "history": history}, layers.Dense(1)(hidden))
'''),
    Wrong("pooled_mean_counts_padding", "a02_pooled_model", "a02_test_pooled_model",
          _pooled(pool="user = ops.mean(vectors, axis=1)")),
    Wrong("pooled_sum_not_mean", "a02_pooled_model", "a02_test_pooled_model",
          _pooled(pool="user = ops.sum(vectors * mask, axis=1)")),
    Wrong("pooled_max_not_mean", "a02_pooled_model", "a02_test_pooled_model",
          _pooled(pool="user = ops.max(vectors * mask - 1e9 * (1.0 - mask), axis=1)")),
    Wrong("pooled_no_hidden_layer", "a02_pooled_model", "a02_test_pooled_model",
          _pooled(head='return keras.Model({"movie": movie, "history": history}, layers.Dense(1)(both))')),
    Wrong("pooled_oov_in_row_0", "a02_pooled_model", "a02_test_pooled_model",
          _pooled(lookup_args="", extra_rows=1)),
    Wrong("pooled_library_mean", "a02_pooled_model", "a02_test_pooled_model",
          _pooled(pool="user = MaskedMean()(vectors, rows)").replace(
              "def build_pooled_model", "from course_lib.models import MaskedMean\n\n\ndef build_pooled_model")),
    # Task 2: the vector of a movie.
    Wrong("vectors_ignore_oov_slot", "a02_movie_vectors", "a02_test_movie_vectors", '''
def movie_vectors(model, movie_ids):
    table = model.get_layer("movie_embedding").get_weights()[0]
    known = [int(v) for v in model.get_layer("movie_lookup").get_vocabulary()[2:]]
    row_of = {m: i + 2 for i, m in enumerate(known)}
    return table[[row_of.get(int(m), 0) for m in movie_ids]]
'''),
    Wrong("vectors_old_layout", "a02_movie_vectors", "a02_test_movie_vectors", '''
def movie_vectors(model, movie_ids):
    table = model.get_layer("movie_embedding").get_weights()[0]
    known = [int(v) for v in model.get_layer("movie_lookup").get_vocabulary()[2:]]
    row_of = {m: i + 1 for i, m in enumerate(known)}
    return table[[row_of.get(int(m), 0) for m in movie_ids]]
'''),
    Wrong("vectors_assume_sorted_ids", "a02_movie_vectors", "a02_test_movie_vectors", '''
def movie_vectors(model, movie_ids):
    table = model.get_layer("movie_embedding").get_weights()[0]
    known = sorted(int(v) for v in model.get_layer("movie_lookup").get_vocabulary()[2:])
    row_of = {m: i + 2 for i, m in enumerate(known)}
    return table[[row_of.get(int(m), 1) for m in movie_ids]]
'''),
    Wrong("vectors_unknown_crash", "a02_movie_vectors", "a02_test_movie_vectors", '''
def movie_vectors(model, movie_ids):
    table = model.get_layer("movie_embedding").get_weights()[0]
    vocab = [int(v) for v in model.get_layer("movie_lookup").get_vocabulary()]
    row_of = {m: i for i, m in enumerate(vocab) if i > 1}
    return table[[row_of[int(m)] for m in movie_ids]]
''', error="KeyError"),
    Wrong("vectors_hardcoded", "a02_movie_vectors", "a02_test_movie_vectors", '''
def movie_vectors(model, movie_ids):
    return np.array([[6.0, 7.0], [4.0, 5.0]])
'''),
    # Task 3: cosine similarity and nearest neighbours.
    Wrong("cosine_plain_dot", "a02_nearest", "a02_test_cosine",
          _nearest().replace("return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)",
                             "return dots")),
    Wrong("cosine_nan_on_zero_row", "a02_nearest", "a02_test_cosine",
          _nearest().replace("return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)",
                             "return dots / norms")),
    Wrong("cosine_forgets_vector_norm", "a02_nearest", "a02_test_cosine",
          _nearest().replace("norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(vector)",
                             "norms = np.linalg.norm(matrix, axis=1)")),
    Wrong("nearest_includes_query", "a02_nearest", "a02_test_nearest", _nearest(keep="True")),
    Wrong("nearest_least_similar_first", "a02_nearest", "a02_test_nearest", _nearest(order="sims")),
    Wrong("nearest_by_dot_product", "a02_nearest", "a02_test_nearest", _nearest(
        similarity="movie_vectors(model, candidates) @ movie_vectors(model, [movie_id])[0]")),
    Wrong("nearest_includes_oov_row", "a02_nearest", "a02_test_nearest", _nearest(vocab_slice="[1:]")),
    Wrong("nearest_includes_padding_row", "a02_nearest", "a02_test_nearest",
          _nearest(vocab_slice="", keep="m != movie_id and m != -1")),
    Wrong("nearest_library", "a02_nearest", "a02_test_nearest", _nearest() + '''

from course_lib import explain


def nearest_movies(model, movie_id, k=5):
    vocabulary = [int(v) for v in model.get_layer("movie_lookup").get_vocabulary()[2:]]
    table = explain.pd.DataFrame(movie_vectors(model, vocabulary), index=vocabulary)
    return list(explain.nearest_movies(table, movie_id, None, k=k).index)
'''),
]
