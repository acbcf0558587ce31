"""Wrong submissions of a02_embeddings (deep branch, movie vectors, nearest neighbours)."""

from tests.wrong_answers import Wrong

_DEEP = '''
def build_deep_model(user_ids, movie_ids, embedding_dim=8):
    inputs, vectors = {{}}, []
    for key, ids in (("user", user_ids), ("movie", movie_ids)):
        raw = keras.Input(shape=(), dtype="int64", name=key)
        rows = layers.IntegerLookup(vocabulary=np.asarray(ids, dtype=np.int64), name=f"{{key}}_lookup")(raw)
        vectors.append(layers.Embedding(len(ids) + 1, embedding_dim, name=f"{{key}}_embedding")(rows))
        inputs[key] = raw
    {body}
'''
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


def _nearest(vocab_slice="[1:]", keep="m != movie_id", similarity=_COSINE, order="-sims"):
    return _NEAREST.format(vocab_slice=vocab_slice, keep=keep, similarity=similarity, order=order)


WRONG = [
    Wrong("deep_no_hidden_layer", "a02_deep_model", "a02_test_deep_model",
          _DEEP.format(body='return keras.Model(inputs, layers.Dense(1)(layers.Concatenate()(vectors)))')),
    Wrong("deep_missing_user_branch", "a02_deep_model", "a02_test_deep_model",
          _DEEP.format(body='hidden = layers.Dense(32, activation="relu")(vectors[1])\n'
                            '    return keras.Model(inputs, layers.Dense(1)(hidden))')),
    Wrong("deep_library_model", "a02_deep_model", "a02_test_deep_model", '''
from course_lib.models import build_deep


def build_deep_model(user_ids, movie_ids, embedding_dim=8):
    return build_deep(spec, embedding_dim=embedding_dim)
'''),
    Wrong("vectors_ignore_oov_slot", "a02_movie_vectors", "a02_test_movie_vectors", '''
def movie_vectors(model, movie_ids):
    table = model.get_layer("movie_embedding").get_weights()[0]
    known = [int(v) for v in model.get_layer("movie_lookup").get_vocabulary()[1:]]
    row_of = {m: i for i, m in enumerate(known)}
    return table[[row_of.get(int(m), 0) for m in movie_ids]]
'''),
    Wrong("vectors_assume_sorted_ids", "a02_movie_vectors", "a02_test_movie_vectors", '''
def movie_vectors(model, movie_ids):
    table = model.get_layer("movie_embedding").get_weights()[0]
    known = sorted(int(v) for v in model.get_layer("movie_lookup").get_vocabulary()[1:])
    row_of = {m: i + 1 for i, m in enumerate(known)}
    return table[[row_of.get(int(m), 0) for m in movie_ids]]
'''),
    Wrong("vectors_unknown_crash", "a02_movie_vectors", "a02_test_movie_vectors", '''
def movie_vectors(model, movie_ids):
    table = model.get_layer("movie_embedding").get_weights()[0]
    vocab = [int(v) for v in model.get_layer("movie_lookup").get_vocabulary()]
    row_of = {m: i for i, m in enumerate(vocab) if i > 0}
    return table[[row_of[int(m)] for m in movie_ids]]
''', error="KeyError"),
    Wrong("vectors_hardcoded", "a02_movie_vectors", "a02_test_movie_vectors", '''
def movie_vectors(model, movie_ids):
    return np.array([[4.0, 5.0], [2.0, 3.0]])
'''),
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
    Wrong("nearest_includes_oov_row", "a02_nearest", "a02_test_nearest", _nearest(vocab_slice="")),
    Wrong("nearest_library", "a02_nearest", "a02_test_nearest", _nearest() + '''

from course_lib import explain


def nearest_movies(model, movie_id, k=5):
    vocabulary = [int(v) for v in model.get_layer("movie_lookup").get_vocabulary()[1:]]
    table = explain.pd.DataFrame(movie_vectors(model, vocabulary), index=vocabulary)
    return list(explain.nearest_movies(table, movie_id, None, k=k).index)
'''),
]
