"""Wide, deep and Wide&Deep models in Keras 3 (functional API, dict inputs).

Introduced in lessons 01 (wide), 02 (deep) and 04 (Wide&Deep).

Every builder takes a ``FeatureSpec`` (``course_lib.features``) instead of
hard-coded columns. A model has three parts, as in the keras-io Wide&Deep
example: ONE ``InputEncoder`` turns the raw inputs (movie ids, genre strings)
into indices, and both branches read its output. So a saved ``.keras`` model
takes raw inputs and needs nothing else at serving time, while training
encodes the whole table once in the input pipeline (``course_lib.train``)
instead of repeating every string lookup in every step. Unknown ids and
genres fall into an out-of-vocabulary bucket (index 1, learned like any
other id) instead of crashing.

Keras 3 dropped ``WideDeepModel``; ``WideDeep`` below is ours: one logit
``wide(x) + deep(x)``, trained jointly, with FTRL + L1 on the wide weights and
Adam on the deep weights, as in Cheng et al. (2016).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from course_lib.columns import ITEM, USER
from course_lib.features import PAIR_SHIFT, FeatureSpec

#: FTRL settings of the wide part: a large step suits sparse, rarely-updated
#: weights; L1 zeroes the crosses that do not help.
#: The loss is a batch mean, so a rare pair's gradient is tiny: L1 and the
#: initial accumulator must be small too, or they swamp it.
#: The step depends on whether the wide part learns alone, each chosen on
#: validation AUC over seeds 1-3 (the repository's ``wide_step.py`` study). Alone, it
#: is the only learner: at 2.0 it converges within the course's budget (best
#: epoch 6-15 of 20), at 0.5 it was still improving at epoch 20. Trained
#: jointly, the deep branch (Adam) learns the bulk and the wide part corrects
#: it; there 2.0 overfits: the statistics-fed W&D's validation AUC is 0.7989
#: at 0.5 and 0.7952 at 2.0.
WIDE_LEARNING_RATE = 2.0
WIDE_JOINT_LEARNING_RATE = 0.5
WIDE_L1 = 1e-5
WIDE_INITIAL_ACCUMULATOR = 1e-3

#: Index 0 is padding ("no movie", "no genre"); index 1 the out-of-vocabulary bucket.
PAD, OOV = 0, 1

#: What ``InputEncoder`` returns (and the branches take): name -> (shape, dtype).
#: ``movie_pair_index`` exists only with an exact pair vocabulary, ``numeric``
#: and ``movie_year`` only when the spec has numeric features / the year.
def encoded_signature(spec: FeatureSpec) -> dict[str, tuple[tuple[int, ...], str]]:
    sig = {"user_index": ((), "int64"), "movie_index": ((), "int64"),
           "history_index": ((len(spec.hist_columns),), "int64"),
           "movie_genres_index": ((len(spec.movie_genre_columns),), "int64"),
           "user_genres_index": ((len(spec.user_genre_columns),), "int64")}
    if spec.movie_pairs:
        sig["movie_pair_index"] = ((len(spec.hist_columns),), "int64")
    if spec.numeric:
        sig["numeric"] = ((len(spec.numeric),), "float32")
    if "movie_year" in spec.numeric:
        sig["movie_year"] = ((), "float32")
    return sig


def is_encoded(inputs) -> bool:
    """Whether an input dict is already encoded (else it holds raw columns)."""
    return isinstance(inputs, dict) and "movie_index" in inputs


# ----------------------------------------------------------------- inputs ---

def make_encoded_inputs(spec: FeatureSpec) -> dict[str, keras.KerasTensor]:
    """The branches' inputs: one ``keras.Input`` per entry of ``encoded_signature``."""
    return {name: keras.Input(shape, dtype=dtype, name=name)
            for name, (shape, dtype) in encoded_signature(spec).items()}


@keras.saving.register_keras_serializable(package="course_lib")
class InputEncoder(layers.Layer):
    """Raw feature dict -> index dict, shared by the wide and the deep branch.

    ``mask_token`` 0 / "" maps padding to index 0; ``num_oov_indices=1`` gives
    unknown ids index 1, a learned "some other movie/user" slot. Pairs of
    (candidate, liked movie) get their index in the exact pair vocabulary;
    unseen pairs index 0, which has no weight.
    """

    def __init__(self, spec: FeatureSpec | dict, **kwargs):
        super().__init__(**kwargs)
        self.spec = spec if isinstance(spec, FeatureSpec) else FeatureSpec.from_dict(spec)
        sp = self.spec
        self.user = layers.IntegerLookup(vocabulary=sp.users, mask_token=0, num_oov_indices=1, name="user_lookup")
        self.movie = layers.IntegerLookup(vocabulary=sp.movies, mask_token=0, num_oov_indices=1,
                                          name="movie_lookup")
        self.genre = layers.StringLookup(vocabulary=sp.genres, mask_token="", num_oov_indices=1,
                                         name="genre_lookup")
        self.pair = (layers.IntegerLookup(vocabulary=np.asarray(sp.movie_pairs, dtype=np.int64), mask_token=None,
                                          num_oov_indices=1, name="movie_pair_lookup") if sp.movie_pairs else None)

    def build(self, input_shape=None):
        # The lookups are complete at construction (their vocabularies are given).
        self.built = True

    def call(self, raw):
        sp = self.spec
        stack = lambda cols, lookup: ops.stack([lookup(raw[c]) for c in cols], axis=1)  # noqa: E731
        out = {"user_index": self.user(raw[USER]), "movie_index": self.movie(raw[ITEM]),
               "history_index": stack(sp.hist_columns, self.movie),
               "movie_genres_index": stack(sp.movie_genre_columns, self.genre),
               "user_genres_index": stack(sp.user_genre_columns, self.genre)}
        if self.pair is not None:
            movie = ops.cast(raw[ITEM], "int64")[:, None]
            hist = ops.stack([ops.cast(raw[c], "int64") for c in sp.hist_columns], axis=1)
            out["movie_pair_index"] = self.pair(movie * PAIR_SHIFT + hist)
        if sp.numeric:
            out["numeric"] = ops.stack([ops.cast(raw[c], "float32") for c in sp.numeric], axis=1)
        if "movie_year" in sp.numeric:
            out["movie_year"] = ops.cast(raw["movie_year"], "float32")
        return out

    def get_config(self):
        return {**super().get_config(), "spec": self.spec.to_dict()}


# ------------------------------------------------------------------- wide ---

@keras.saving.register_keras_serializable(package="course_lib")
class CrossWeights(layers.Layer):
    """Sum of learned weights of all pairs (a_i, b_j) of two index lists.

    A cross feature ``a x b`` is a one-hot over pairs; its weight in a linear
    model is a table lookup. Index 0 is padding on either side and adds
    nothing. With ``num_bins`` set, pair ids are hashed into that many bins
    (needed for movie x movie: 9,700^2 exact pairs would not fit).

    Args:
        size_a: Number of indices on the left (incl. padding/OOV).
        size_b: Same on the right.
        num_bins: Hash bins, or None for an exact ``size_a * size_b`` table.
    """

    def __init__(self, size_a: int, size_b: int, num_bins: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.size_a, self.size_b, self.num_bins = int(size_a), int(size_b), num_bins
        self.table_size = int(num_bins) if num_bins else self.size_a * self.size_b

    def build(self, input_shape):
        self.table = self.add_weight(shape=(self.table_size,), initializer="zeros", name="table")

    def pair_ids(self, a, b):
        """Table index of each pair, shape (batch, len_a, len_b)."""
        a = ops.cast(a, "int64")[:, :, None]
        b = ops.cast(b, "int64")[:, None, :]
        pair = a * self.size_b + b
        if self.num_bins:
            # A fixed multiplicative hash: deterministic across runs and machines.
            pair = ops.mod(pair * 2654435761, self.num_bins)
        return pair

    def call(self, a, b):
        mask = ops.cast((ops.cast(a, "int64")[:, :, None] > 0) & (ops.cast(b, "int64")[:, None, :] > 0),
                        self.table.dtype)
        w = ops.take(self.table, self.pair_ids(a, b), axis=0)  # axis=0: a sparse gradient (see SparseLinear)
        return ops.sum(w * mask, axis=(1, 2))

    def get_config(self):
        return {**super().get_config(), "size_a": self.size_a, "size_b": self.size_b,
                "num_bins": self.num_bins}


@keras.saving.register_keras_serializable(package="course_lib")
class SparseLinear(layers.Layer):
    """One learned weight per index, summed over a list of indices (0 = padding)."""

    def __init__(self, size: int, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)

    def build(self, input_shape):
        self.table = self.add_weight(shape=(self.size,), initializer="zeros", name="table")

    def call(self, ids):
        ids = ops.cast(ids, "int64")
        if len(ids.shape) == 1:
            ids = ids[:, None]
        mask = ops.cast(ids > 0, self.table.dtype)
        # axis=0 gathers rows of the table as it is. Without an axis, Keras
        # flattens the table first, and the reshape turns the gradient into a
        # dense tensor of the whole table (1.2 M weights for the ranker) every
        # step; with it, the gradient names only the rows the batch touched
        # (``tf.IndexedSlices``), which ``SparseFtrl`` updates alone.
        return ops.sum(ops.take(self.table, ids, axis=0) * mask, axis=1)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


@keras.saving.register_keras_serializable(package="course_lib")
class BiasAdd(layers.Layer):
    """Adds one learned scalar (the branch's intercept)."""

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(), initializer="zeros", name="bias")

    def call(self, x):
        return x + self.bias


def _sizes(spec: FeatureSpec) -> tuple[int, int, int]:
    """Index-table sizes of users, movies and genres (vocabulary + padding + OOV)."""
    return len(spec.users) + 2, len(spec.movies) + 2, len(spec.genres) + 2


def build_wide(spec: FeatureSpec, name: str = "wide") -> keras.Model:
    """The wide branch: a linear model over one-hot ids and cross products.

    Terms: user id, movie id, movie genres, and the crosses named in
    ``spec.crosses``: ``movie_x_history`` (candidate x each of the last liked
    movies: one weight per pair seen in training, or hashed bins when the
    spec has no pair vocabulary), ``genre_x_genre`` (user's favourite genres x
    candidate's genres) and ``user_x_genre`` (user id x candidate's genres).

    Returns:
        A model mapping the encoded input dict (``InputEncoder``) to one logit
        per row, shape (batch,).
    """
    inputs = make_encoded_inputs(spec)
    user, movie, m_genres = inputs["user_index"], inputs["movie_index"], inputs["movie_genres_index"]
    n_users, n_movies, n_genres = _sizes(spec)
    terms = [
        SparseLinear(n_users, name=f"{name}_user")(user),
        SparseLinear(n_movies, name=f"{name}_movie")(movie),
        SparseLinear(n_genres, name=f"{name}_genre")(m_genres),
    ]
    if "movie_x_history" in spec.crosses and spec.movie_pairs:
        # Exact memorization: one weight per pair seen in training; an unseen
        # pair has index 0, which has no weight.
        terms.append(SparseLinear(len(spec.movie_pairs) + 1, name=f"{name}_movie_x_history")(
            inputs["movie_pair_index"]))
    elif "movie_x_history" in spec.crosses:
        terms.append(CrossWeights(n_movies, n_movies, num_bins=spec.movie_cross_bins,
                                  name=f"{name}_movie_x_history")(movie[:, None], inputs["history_index"]))
    if "genre_x_genre" in spec.crosses:
        terms.append(CrossWeights(n_genres, n_genres, name=f"{name}_genre_x_genre")(
            inputs["user_genres_index"], m_genres))
    if "user_x_genre" in spec.crosses:
        terms.append(CrossWeights(n_users, n_genres, name=f"{name}_user_x_genre")(user[:, None], m_genres))
    logit = BiasAdd(name=f"{name}_bias")(layers.Add(name=f"{name}_sum")(terms) if len(terms) > 1 else terms[0])
    return _branch(inputs, layers.Identity(name=f"{name}_logit")(logit), name, spec)


def _branch(inputs: dict, logit, name: str, spec: FeatureSpec) -> keras.Model:
    """A branch model on exactly the encoded inputs it uses (the rest are dropped)."""
    model = keras.Model(inputs, logit, name=name)
    model.feature_spec = spec  # lets WideDeep build the encoder when none is given
    return model


# ------------------------------------------------------------------- deep ---

@keras.saving.register_keras_serializable(package="course_lib")
class MaskedMean(layers.Layer):
    """Mean of embeddings over a list, ignoring padding (index 0)."""

    def call(self, emb, ids):
        mask = ops.cast(ops.cast(ids, "int64") > 0, emb.dtype)[:, :, None]
        return ops.sum(emb * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)


def build_deep(spec: FeatureSpec, name: str = "deep", embedding_dim: int = 16,
               hidden: tuple[int, ...] = (128, 64), dropout: float = 0.4,
               l2: float = 1e-4, use_user_embedding: bool = True) -> keras.Model:
    """The deep branch: embeddings + normalised numeric features -> MLP -> logit.

    Embeddings: user, candidate movie, the recently liked movies (sharing the
    movie table, averaged), the candidate's and the user's favourite genres
    (sharing a genre table, averaged), and the bucketized release year when
    the spec's numeric features include ``movie_year``.

    Args:
        spec: The feature spec (``spec.numeric`` are the numeric inputs).
        embedding_dim: Size of the id embeddings (genres and years use half).
        hidden: Units of the hidden ReLU layers.
        dropout: Dropout after each hidden layer (training only).
        l2: L2 penalty on embeddings, against memorising rare ids.
        use_user_embedding: Include the user-id embedding.

    Returns:
        A model mapping the encoded input dict to one logit per row.
    """
    inputs = make_encoded_inputs(spec)
    reg = keras.regularizers.L2(l2) if l2 else None
    small = max(embedding_dim // 2, 2)
    n_users, n_movies, n_genres = _sizes(spec)
    movie_emb = layers.Embedding(n_movies, embedding_dim, embeddings_regularizer=reg,
                                 name=f"{name}_movie_embedding")
    genre_emb = layers.Embedding(n_genres, small, name=f"{name}_genre_embedding")
    hist, m_genres, u_genres = inputs["history_index"], inputs["movie_genres_index"], inputs["user_genres_index"]
    parts = [
        movie_emb(inputs["movie_index"]),
        MaskedMean(name=f"{name}_history_mean")(movie_emb(hist), hist),
        MaskedMean(name=f"{name}_movie_genres_mean")(genre_emb(m_genres), m_genres),
        MaskedMean(name=f"{name}_user_genres_mean")(genre_emb(u_genres), u_genres),
    ]
    if use_user_embedding:
        parts.insert(0, layers.Embedding(n_users, embedding_dim, embeddings_regularizer=reg,
                                         name=f"{name}_user_embedding")(inputs["user_index"]))
    if spec.numeric:
        parts.append(layers.Normalization(mean=spec.numeric_mean, variance=spec.numeric_var,
                                          name=f"{name}_normalize")(inputs["numeric"]))
    if "movie_year" in spec.numeric:
        bucket = layers.Discretization(bin_boundaries=spec.year_boundaries, name=f"{name}_year_bucket")(
            inputs["movie_year"])
        parts.append(layers.Embedding(len(spec.year_boundaries) + 1, small,
                                      name=f"{name}_year_embedding")(bucket))
    x = layers.Concatenate(name=f"{name}_concat")(parts)
    for i, units in enumerate(hidden):
        x = layers.Dense(units, activation="relu", name=f"{name}_dense_{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"{name}_dropout_{i}")(x)
    logit = layers.Dense(1, name=f"{name}_out")(x)
    return _branch(inputs, layers.Reshape((), name=f"{name}_logit")(logit), name, spec)


# -------------------------------------------------------------- wide&deep ---

def dense_gradient(gradient):
    """A row-sparse gradient (``tf.IndexedSlices``) as the dense tensor it stands for.

    Keras' optimizers read row slices differently from the dense gradient
    (e.g. they square a row's duplicates one by one, where the dense
    gradient sums them first): every wide optimizer but ``SparseFtrl`` gets
    this dense form, as it did before the tables' gradients were sparse.
    """
    import tensorflow as tf

    return tf.convert_to_tensor(gradient) if isinstance(gradient, tf.IndexedSlices) else gradient


@keras.saving.register_keras_serializable(package="course_lib")
class SparseFtrl(keras.optimizers.Ftrl):
    """Keras' FTRL, updating only the rows a batch touched when the gradient is sparse.

    FTRL leaves a weight whose gradient is zero exactly as it was: its
    accumulator and linear term do not move, and the weight is recomputed
    from them to the same value. So updating only the touched rows is the
    same algorithm as Keras' dense update, which runs ~15 element-wise ops
    over the *whole* table each step (the ranker's movie x history table has
    1.2 M weights, of which a batch touches a few thousand). Results agree
    to float rounding: ``pow`` rounds differently in vectorised and scalar
    code, and which one an element gets depends on its position in the array.

    The dense update runs instead when the premise fails: a dense gradient,
    L2 shrinkage (it moves untouched weights), or a learning-rate schedule
    (a new step recomputes every weight).
    """

    def update_step(self, gradient, variable, learning_rate):
        import tensorflow as tf

        schedule = isinstance(self._learning_rate, keras.optimizers.schedules.LearningRateSchedule)
        if not isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        if self.l2_shrinkage_regularization_strength or schedule:
            return super().update_step(dense_gradient(gradient), variable, learning_rate)
        # Duplicate rows in a batch are summed first, in batch order, as the dense gradient sums them.
        rows, position = tf.unique(gradient.indices)
        grad = tf.math.unsorted_segment_sum(gradient.values, position, tf.shape(rows)[0])
        grad = ops.cast(grad, variable.dtype)
        lr = ops.cast(learning_rate, variable.dtype)
        index = self._get_variable_index(variable)
        slots = (self._accumulators[index], self._linears[index], variable)
        accum, linear, weight = (tf.gather(v.value if isinstance(v, keras.Variable) else v, rows) for v in slots)
        # Keras' Ftrl.update_step, op for op, on the touched rows.
        power = -self.learning_rate_power
        l2 = self.l2_regularization_strength + self.beta / (2.0 * lr)
        new_accum = ops.add(accum, ops.square(grad))
        sigma = ops.divide(ops.subtract(ops.power(new_accum, power), ops.power(accum, power)), lr)
        linear = ops.add(linear, ops.subtract(grad, ops.multiply(sigma, weight)))
        quadratic = ops.add(ops.divide(ops.power(new_accum, power), lr), 2 * l2)
        l1 = self.l1_regularization_strength
        weight = ops.divide(ops.subtract(ops.clip(linear, -l1, l1), linear), quadratic)
        for slot, value in zip(slots, (new_accum, linear, weight)):
            self.assign(slot, tf.IndexedSlices(value, rows))


def wide_ftrl(joint: bool = True, learning_rate: float | None = None, l1: float | None = None):
    """The wide part's optimizer: FTRL with L1, the course's settings unless overridden.

    Args:
        joint: Whether the wide part trains jointly with a deep branch (it
            then takes the smaller step, ``WIDE_JOINT_LEARNING_RATE``).
        learning_rate: Override the step.
        l1: Override the L1 strength.
    """
    step = (WIDE_JOINT_LEARNING_RATE if joint else WIDE_LEARNING_RATE) if learning_rate is None else learning_rate
    return SparseFtrl(learning_rate=step, l1_regularization_strength=WIDE_L1 if l1 is None else l1,
                                 initial_accumulator_value=WIDE_INITIAL_ACCUMULATOR)


@keras.saving.register_keras_serializable(package="course_lib")
class ReplicaBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy returned per example, so Keras divides it by the replica count.

    The course's models output shape ``(batch,)``; on that,
    ``keras.losses.BinaryCrossentropy`` averages inside the loss function
    and returns a scalar, and Keras skips its 1 / replicas scaling for
    scalars: with ``n`` replicas the summed gradients would be ``n`` times
    the batch mean (FTRL's step is not scale-free). Same value on one replica.
    ``course_lib.train.compile_model`` uses it under a distribution strategy.
    """

    def call(self, y_true, y_pred):
        return keras.losses.binary_crossentropy(y_true[:, None], y_pred[:, None])


@keras.saving.register_keras_serializable(package="course_lib")
class WideDeep(keras.Model):
    """Wide&Deep (Cheng et al. 2016): ``sigmoid(wide(x) + deep(x))``, trained jointly.

    Either branch may be ``None`` (a wide-only or deep-only model with the
    same training code). ``compile`` takes the *deep* optimizer as usual; the
    wide optimizer is a constructor argument (``wide_ftrl``: FTRL with L1 by
    default, which drives useless cross weights to exactly zero).

    The model takes raw inputs (``course_lib.train.model_inputs``) or inputs
    already encoded by its ``encoder`` (what the training pipeline feeds).

    Extension point: ``train_step`` is where per-variable optimizers live
    (as in TensorFlow Recommenders' ``models/base.py``); override it, not
    ``fit``, to change how the branches are updated.

    Args:
        wide: Wide branch (encoded inputs -> logit) or None.
        deep: Deep branch or None.
        encoder: The shared ``InputEncoder`` (default: built from the
            branches' feature spec).
        wide_optimizer: Optimizer for the wide weights.
    """

    def __init__(self, wide: keras.Model | None = None, deep: keras.Model | None = None,
                 encoder: InputEncoder | None = None,
                 wide_optimizer: keras.optimizers.Optimizer | None = None, **kwargs):
        super().__init__(**kwargs)
        if wide is None and deep is None:
            raise ValueError("WideDeep needs at least one branch: pass wide=..., deep=... or both.")
        if encoder is None:
            spec = getattr(wide if wide is not None else deep, "feature_spec", None)
            if spec is None:
                raise ValueError("WideDeep needs encoder=InputEncoder(spec) for branches not built by "
                                 "course_lib.models.build_wide/build_deep.")
            encoder = InputEncoder(spec, name="encoder")
        self.encoder, self.wide, self.deep = encoder, wide, deep
        self.wide_optimizer = wide_optimizer or (wide_ftrl(joint=deep is not None) if wide else None)
        if self.wide_optimizer is not None and wide.built:
            # Built now, on the variables it steps: the wide optimizer is part of
            # the saved state, and an unbuilt one on reload (compiled or not)
            # would skip its FTRL state with a warning.
            self.wide_optimizer.build(wide.trainable_variables)

    @property
    def spec(self) -> FeatureSpec:
        return self.encoder.spec

    def encode(self, inputs):
        """Encoded inputs (unchanged if they already are)."""
        return inputs if is_encoded(inputs) else self.encoder(inputs)

    @staticmethod
    def _run(branch, encoded, training):
        names = [t.name for t in branch.inputs]
        return branch({k: encoded[k] for k in names}, training=training)

    def call(self, inputs, training=False):
        return ops.sigmoid(self.branch_logits_sum(inputs, training=training))

    def branch_logits_sum(self, inputs, training=False):
        wide, deep = self.branch_logits(inputs, training=training)
        return wide + deep

    def branch_logits(self, inputs, training=False):
        """``(wide_logit, deep_logit)``; an absent branch contributes zeros."""
        x = self.encode(inputs)
        w = self._run(self.wide, x, training) if self.wide is not None else None
        d = self._run(self.deep, x, training) if self.deep is not None else None
        zero = ops.zeros_like(w if w is not None else d)
        return (w if w is not None else zero), (d if d is not None else zero)

    def train_step(self, data):
        import tensorflow as tf

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x = self.encode(x)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
        wide_vars = self.wide.trainable_variables if self.wide is not None else []
        deep_vars = self.deep.trainable_variables if self.deep is not None else []
        grads = tape.gradient(loss, wide_vars + deep_vars)
        # The paper's recipe: FTRL (+L1) for the sparse wide part, an
        # adaptive optimizer for the dense deep part, one shared loss.
        if wide_vars:
            wide_part = grads[:len(wide_vars)]
            # Row slices go to SparseFtrl only, and only on one replica: under a
            # distribution strategy Keras sums them across workers with an
            # all-gather, which aborted a 2-worker run (course_lib.multiworker);
            # dense, it is the all-reduce every other gradient takes.
            if not isinstance(self.wide_optimizer, SparseFtrl) or tf.distribute.has_strategy():
                wide_part = [dense_gradient(g) for g in wide_part]
            self.wide_optimizer.apply(wide_part, wide_vars)
        if deep_vars:
            self.optimizer.apply(grads[len(wide_vars):], deep_vars)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def compile(self, *args, **kwargs):
        """Compile as usual, then build ``optimizer`` on the deep variables it steps.

        ``train_step`` hands it only the deep weights. Built here, not lazily
        at its first step, the training function is traced once instead of
        twice (TensorFlow discards a first trace that creates variables and
        traces again): about 0.5 s less per model, same numbers. A reloaded
        model also restores its state instead of warning "Skipping variable
        loading", as Keras' default builds it on *all* trainable variables.
        """
        super().compile(*args, **kwargs)
        if self.deep is not None and self.deep.built and self.optimizer is not None:
            self.optimizer.build(self.deep.trainable_variables)

    def compile_from_config(self, config):
        """Re-compile on load (``compile`` builds the deep optimizer on the deep variables)."""
        self.compile(**keras.saving.deserialize_keras_object(config))

    def get_config(self):
        ser = keras.saving.serialize_keras_object
        return {**super().get_config(), "encoder": ser(self.encoder),
                "wide": ser(self.wide) if self.wide is not None else None,
                "deep": ser(self.deep) if self.deep is not None else None}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        parts = {k: config.pop(k, None) for k in ("encoder", "wide", "deep")}
        parts = {k: keras.saving.deserialize_keras_object(v) if v else None for k, v in parts.items()}
        return cls(**parts, **config)


def build_wide_deep(spec: FeatureSpec, branches: str = "wide_deep", seed: int | None = None,
                    wide_optimizer: keras.optimizers.Optimizer | None = None, **deep_kwargs) -> WideDeep:
    """Build an untrained ``WideDeep`` with ``branches`` in {"wide", "deep", "wide_deep"}.

    ``branches="deepfm"`` or ``"dcn"`` builds lesson 08's ``crosses.CrossDeep``
    instead (after the same seeding; ``**deep_kwargs`` go to its builder).

    Args:
        spec: The feature spec.
        branches: Which branches the model has.
        seed: If given, re-seed before drawing the initial weights, so the
            same seed gives the same starting model whatever ran before.
        wide_optimizer: Another optimizer for the wide weights (default: ``wide_ftrl``).
        **deep_kwargs: Passed to ``build_deep``.
    """
    from course_lib.crosses import CROSS_MODELS, build_cross_model

    if branches not in ("wide", "deep", "wide_deep") + CROSS_MODELS:
        raise ValueError(f"branches must be 'wide', 'deep', 'wide_deep' or one of lesson 08's {CROSS_MODELS}, "
                         f"got {branches!r}")
    if seed is not None:
        from course_lib.runtime import seed_everything

        seed_everything(seed)
    if branches in CROSS_MODELS:  # lesson 08's successors: one network, one optimizer (course_lib.crosses)
        return build_cross_model(spec, branches, **deep_kwargs)
    wide = build_wide(spec) if branches in ("wide", "wide_deep") else None
    deep = build_deep(spec, **deep_kwargs) if branches in ("deep", "wide_deep") else None
    return WideDeep(wide=wide, deep=deep, encoder=InputEncoder(spec, name="encoder"),
                    wide_optimizer=wide_optimizer if wide is not None else None, name=branches)
