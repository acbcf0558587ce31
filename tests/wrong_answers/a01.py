"""Wrong submissions of a01_crosses (hashed cross id, seen share, cross wide model)."""

from tests.wrong_answers import Wrong

_WIDE = '''
class HashedCross(layers.Layer):
    def __init__(self, num_bins, **kwargs):
        super().__init__(**kwargs)
        self.num_bins = num_bins

    def call(self, a, b):
        {cross}


def build_cross_wide(num_bins):
    a = keras.Input(shape=(), dtype="int64", name="a")
    b = keras.Input(shape=(), dtype="int64", name="b")
    hashed = {{"a": ops.mod(a, num_bins), "b": ops.mod(b, num_bins), "cross": HashedCross(num_bins)(a, b)}}
    weights = [layers.Embedding({cross_bins}, 1, embeddings_initializer="zeros")(ids)
               for key, ids in hashed.items() if {keep}]
    logit = layers.Dense(1)(layers.Concatenate()(weights) if len(weights) > 1 else weights[0])
    return keras.Model({{"a": a, "b": b}}, logit)
'''
_GOOD_CROSS = 'return ops.mod(ops.cast(a, "int64") * 1_000_003 + ops.cast(b, "int64"), self.num_bins)'

WRONG = [
    Wrong("cross_ignores_order", "a01_cross_id", "a01_test_cross_id", '''
def cross_id(a, b, num_bins):
    return (np.asarray(a, dtype=np.int64) + np.asarray(b, dtype=np.int64)) % num_bins
'''),
    Wrong("cross_no_modulo", "a01_cross_id", "a01_test_cross_id", '''
def cross_id(a, b, num_bins):
    return np.asarray(a, dtype=np.int64) * 1_000_003 + np.asarray(b, dtype=np.int64)
'''),
    Wrong("cross_int32_overflow", "a01_cross_id", "a01_test_cross_id", '''
def cross_id(a, b, num_bins):
    pair = np.asarray(a, dtype=np.int32) * 1_000_003 + np.asarray(b, dtype=np.int32)
    return np.mod(pair, num_bins).astype(np.int64)
'''),
    Wrong("cross_hardcoded", "a01_cross_id", "a01_test_cross_id", '''
def cross_id(a, b, num_bins):
    if len(a) == 2:
        return np.array([13, 26])
    return np.arange(len(a)) % num_bins
'''),
    Wrong("share_unique_rows", "a01_seen_share", "a01_test_seen_share", '''
def seen_cross_share(train_ids, new_ids):
    return float(np.isin(np.unique(new_ids), train_ids).mean())
'''),
    Wrong("share_hardcoded", "a01_seen_share", "a01_test_seen_share", '''
def seen_cross_share(train_ids, new_ids):
    return 0.5
'''),
    Wrong("share_swapped", "a01_seen_share", "a01_test_seen_share", '''
def seen_cross_share(train_ids, new_ids):
    return float(np.isin(train_ids, new_ids).mean())
'''),
    Wrong("wide_ids_only", "a01_cross_wide", "a01_test_cross_wide",
          _WIDE.format(cross=_GOOD_CROSS, cross_bins="num_bins", keep='key != "cross"')),
    Wrong("wide_cross_ignores_order", "a01_cross_wide", "a01_test_cross_wide",
          _WIDE.format(cross='return ops.mod(ops.cast(a, "int64") + ops.cast(b, "int64"), self.num_bins)',
                       cross_bins="num_bins", keep="True")),
    Wrong("wide_tiny_table", "a01_cross_wide", "a01_test_cross_wide",
          _WIDE.format(cross=_GOOD_CROSS.replace("self.num_bins", "8"), cross_bins="num_bins", keep="True")),
    Wrong("wide_library_cross", "a01_cross_wide", "a01_test_cross_wide", '''
from course_lib.models import CrossWeights


class HashedCross(layers.Layer):
    def __init__(self, num_bins, **kwargs):
        super().__init__(**kwargs)
        self.num_bins = num_bins

    def call(self, a, b):
        return ops.mod(ops.cast(a, "int64") * 1_000_003 + ops.cast(b, "int64"), self.num_bins)


def build_cross_wide(num_bins):
    a = keras.Input(shape=(), dtype="int64", name="a")
    b = keras.Input(shape=(), dtype="int64", name="b")
    rows_a, rows_b = ops.mod(a, 1000)[:, None], ops.mod(b, 1000)[:, None]
    logit = CrossWeights(1000, 1000, num_bins=num_bins)(rows_a, rows_b)[:, None]
    return keras.Model({"a": a, "b": b}, layers.Dense(1)(logit))
'''),
]
