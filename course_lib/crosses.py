"""After Wide&Deep: learned crosses (FM / DeepFM and DCN-v2) instead of hand-chosen ones.

Introduced in lesson 08. Two successors of Wide&Deep, built on the course's
``InputEncoder`` and trained through ``course_lib.train.course_model``
(``branches="deepfm"`` or ``"dcn"``), so they are cached, seeded and judged
like lesson 04's models:

- **DeepFM** (Guo et al. 2017): a factorization machine (Rendle 2010)
  replaces the wide branch. Every field (user, candidate movie, recently
  liked movies, genres, year, each numeric feature) gets one vector of
  ``embedding_dim`` numbers, and every *pair* of fields i < j adds the dot
  product <v_i, v_j> to the logit. A pair never seen in training still gets a
  score: it is the dot product of two vectors each learned elsewhere (lesson
  01's "an unseen cross has no weight" does not hold). The deep branch reads
  the *same* field vectors (concatenated) through an MLP. Logit = FM logit +
  deep logit.
- **DCN-v2** (Wang et al. 2021), parallel form: a cross network of learned,
  bounded-degree crosses, ``x_{l+1} = x0 * (x_l W + b) + x_l`` (``CrossLayer``:
  each layer raises the degree of the polynomial in x0 by one), beside the
  deep branch of lessons 02/04 (``models.build_deep``, same input ``x0``: the
  concatenated embeddings and numeric features). The last layer reads both:
  logit = w_c . x_L + w_d . h + b, written as two heads that add.

Both models are ``CrossDeep``: one network with two additive logits, like
``WideDeep``'s wide and deep, so ``branch_logits``, the branch explorer and
``branch_studies.branch_grid`` take them as they are. Unlike ``WideDeep``,
one optimizer (Adam) steps every weight: the FM vectors are shared with the
deep branch, so they cannot belong to two optimizers.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from course_lib.features import FeatureSpec
from course_lib.models import (BiasAdd, InputEncoder, MaskedMean, SparseLinear, _sizes, build_deep, is_encoded,
                               make_encoded_inputs)

#: The ``branches`` values of ``models.build_wide_deep`` / ``train.course_model`` this module builds.
CROSS_MODELS = ("deepfm", "dcn")
#: The two logits of each model, in ``branch_logits`` order (the explorer's checkboxes).
BRANCH_NAMES = {"deepfm": ("fm", "deep"), "dcn": ("cross", "deep")}
#: How the lessons and the branch explorer name each model.
TITLES = {"deepfm": "DeepFM", "dcn": "DCN-v2"}
#: Cross layers of DCN-v2 (degree 3 crosses of the input; the paper uses 2-3).
DCN_CROSS_LAYERS = 2


# ----------------------------------------------------------------- layers ---

@keras.saving.register_keras_serializable(package="course_lib")
class FMInteraction(layers.Layer):
    """Factorization machine pair term: sum over field pairs i < j of <v_i, v_j>.

    Input ``(batch, fields, k)``; output ``(batch,)``. Computed in O(fields x k)
    with Rendle's identity sum_{i<j} <v_i, v_j> = 1/2 (|sum_i v_i|^2 - sum_i |v_i|^2).
    """

    def call(self, fields):
        total = ops.sum(fields, axis=1)
        return 0.5 * ops.sum(ops.square(total) - ops.sum(ops.square(fields), axis=1), axis=1)


@keras.saving.register_keras_serializable(package="course_lib")
class NumericFields(layers.Layer):
    """Each numeric feature j as an FM field: its (normalised) value times a learned vector v_j.

    Input ``(batch, n)``; output ``(batch, n, dim)``.
    """

    def __init__(self, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.dim = int(dim)

    def build(self, input_shape):
        self.factors = self.add_weight(shape=(int(input_shape[-1]), self.dim), initializer="uniform",
                                       name="factors")

    def call(self, values):
        return values[:, :, None] * self.factors[None, :, :]

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}


@keras.saving.register_keras_serializable(package="course_lib")
class CrossLayer(layers.Layer):
    """One DCN-v2 cross layer: ``x_{l+1} = x0 * (x_l @ kernel + bias) + x_l``.

    ``kernel`` is a full d x d matrix (Keras' row-vector convention, the
    paper's W x_l with W = kernel^T): its entry (i, j) is how much input i,
    times x0's entry j, adds to output j. Stacking L layers gives every
    product of up to L + 1 entries of x0 (bounded degree).
    """

    def build(self, input_shape):
        d = int(input_shape[-1])
        self.kernel = self.add_weight(shape=(d, d), initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(d,), initializer="zeros", name="bias")

    def call(self, x0, x):
        return x0 * (ops.matmul(x, self.kernel) + self.bias) + x


# ------------------------------------------------------------------ model ---

@keras.saving.register_keras_serializable(package="course_lib")
class CrossDeep(keras.Model):
    """``sigmoid(a(x) + b(x))``: one network over the shared encoder with two additive logits.

    DeepFM (a = FM, b = deep) and DCN-v2's parallel form (a = cross head,
    b = deep head) share this class. It takes raw or encoded inputs, like
    ``WideDeep``, and one optimizer (``compile``'s) steps every weight.

    Args:
        net: Functional model, encoded inputs -> ``[a_logit, b_logit]``.
        encoder: The shared ``InputEncoder`` (default: built from ``net.feature_spec``).
        branch_names: Names of the two logits, e.g. ``("fm", "deep")``.
    """

    def __init__(self, net: keras.Model, encoder: InputEncoder | None = None,
                 branch_names: tuple[str, str] = ("fm", "deep"), **kwargs):
        super().__init__(**kwargs)
        if encoder is None:
            spec = getattr(net, "feature_spec", None)
            if spec is None:
                raise ValueError("CrossDeep needs encoder=InputEncoder(spec) for a net not built by "
                                 "course_lib.crosses.")
            encoder = InputEncoder(spec, name="encoder")
        self.net, self.encoder, self.branch_names = net, encoder, tuple(branch_names)

    @property
    def spec(self) -> FeatureSpec:
        return self.encoder.spec

    @property
    def title(self) -> str:
        """"DeepFM" or "DCN-v2" (the branch explorer's heading)."""
        return TITLES.get(self.name, self.name)

    def encode(self, inputs):
        """Encoded inputs (unchanged if they already are)."""
        return inputs if is_encoded(inputs) else self.encoder(inputs)

    def branch_logits(self, inputs, training=False):
        """The two logits ``(a, b)``; they add up to the model's logit."""
        x = self.encode(inputs)
        a, b = self.net({t.name: x[t.name] for t in self.net.inputs}, training=training)
        return a, b

    def branch_logits_sum(self, inputs, training=False):
        a, b = self.branch_logits(inputs, training=training)
        return a + b

    def call(self, inputs, training=False):
        return ops.sigmoid(self.branch_logits_sum(inputs, training=training))

    def train_step(self, data):
        import tensorflow as tf

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x = self.encode(x)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
        variables = self.net.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def compile(self, *args, **kwargs):
        """Compile, then build the optimizer on the weights ``train_step`` steps (one trace, as ``WideDeep``)."""
        super().compile(*args, **kwargs)
        if self.net.built and self.optimizer is not None:
            self.optimizer.build(self.net.trainable_variables)

    def compile_from_config(self, config):
        self.compile(**keras.saving.deserialize_keras_object(config))

    def get_config(self):
        ser = keras.saving.serialize_keras_object
        return {**super().get_config(), "net": ser(self.net), "encoder": ser(self.encoder),
                "branch_names": list(self.branch_names)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        net = keras.saving.deserialize_keras_object(config.pop("net"))
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"))
        return cls(net=net, encoder=encoder, **config)


# --------------------------------------------------------------- builders ---

def _net(inputs: dict, outputs: list, name: str, spec: FeatureSpec) -> keras.Model:
    net = keras.Model(inputs, outputs, name=name)
    net.feature_spec = spec
    return net


def build_deepfm(spec: FeatureSpec, name: str = "deepfm", embedding_dim: int = 16,
                 hidden: tuple[int, ...] = (128, 64), dropout: float = 0.4, l2: float = 1e-4) -> keras.Model:
    """DeepFM's network: FM over the field vectors, and an MLP over the same vectors.

    Fields (each a vector of ``embedding_dim``): user, candidate movie, the
    recently liked movies (mean, sharing the movie table), the candidate's
    and the user's genres (means, sharing a genre table), the release-year
    bucket when the spec has ``movie_year``, and each numeric feature
    (``NumericFields``). The FM's first-order terms are the wide branch's id
    weights (user, movie, genres) and one weight per numeric feature.

    Returns:
        A functional model: encoded inputs -> ``[fm_logit, deep_logit]``, each (batch,).
    """
    inputs = make_encoded_inputs(spec)
    reg = keras.regularizers.L2(l2) if l2 else None
    n_users, n_movies, n_genres = _sizes(spec)
    user, movie = inputs["user_index"], inputs["movie_index"]
    hist, m_genres, u_genres = inputs["history_index"], inputs["movie_genres_index"], inputs["user_genres_index"]
    movie_emb = layers.Embedding(n_movies, embedding_dim, embeddings_regularizer=reg, name=f"{name}_movie_embedding")
    genre_emb = layers.Embedding(n_genres, embedding_dim, name=f"{name}_genre_embedding")
    fields = [
        layers.Embedding(n_users, embedding_dim, embeddings_regularizer=reg, name=f"{name}_user_embedding")(user),
        movie_emb(movie),
        MaskedMean(name=f"{name}_history_mean")(movie_emb(hist), hist),
        MaskedMean(name=f"{name}_movie_genres_mean")(genre_emb(m_genres), m_genres),
        MaskedMean(name=f"{name}_user_genres_mean")(genre_emb(u_genres), u_genres),
    ]
    if "movie_year" in spec.numeric:
        bucket = layers.Discretization(bin_boundaries=spec.year_boundaries, name=f"{name}_year_bucket")(
            inputs["movie_year"])
        fields.append(layers.Embedding(len(spec.year_boundaries) + 1, embedding_dim,
                                       name=f"{name}_year_embedding")(bucket))
    stacked = layers.Concatenate(axis=1, name=f"{name}_id_fields")(
        [layers.Reshape((1, embedding_dim), name=f"{name}_field_{i}")(f) for i, f in enumerate(fields)])
    first_order = [SparseLinear(n_users, name=f"{name}_linear_user")(user),
                   SparseLinear(n_movies, name=f"{name}_linear_movie")(movie),
                   SparseLinear(n_genres, name=f"{name}_linear_genre")(m_genres)]
    if spec.numeric:
        numeric = layers.Normalization(mean=spec.numeric_mean, variance=spec.numeric_var,
                                       name=f"{name}_normalize")(inputs["numeric"])
        stacked = layers.Concatenate(axis=1, name=f"{name}_fields")(
            [stacked, NumericFields(embedding_dim, name=f"{name}_numeric_fields")(numeric)])
        first_order.append(layers.Reshape((), name=f"{name}_linear_numeric_flat")(
            layers.Dense(1, use_bias=False, name=f"{name}_linear_numeric")(numeric)))
    pairs = FMInteraction(name=f"{name}_pairs")(stacked)
    fm_logit = BiasAdd(name=f"{name}_fm_bias")(layers.Add(name=f"{name}_fm_sum")(first_order + [pairs]))
    x = layers.Flatten(name=f"{name}_flatten")(stacked)
    if spec.numeric:  # the deep branch also reads the numbers themselves, as lesson 04's does
        x = layers.Concatenate(name=f"{name}_deep_input")([x, numeric])
    for i, units in enumerate(hidden):
        x = layers.Dense(units, activation="relu", name=f"{name}_dense_{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"{name}_dropout_{i}")(x)
    deep_logit = layers.Reshape((), name=f"{name}_deep_logit")(layers.Dense(1, name=f"{name}_deep_out")(x))
    fm_logit = layers.Identity(name=f"{name}_fm_logit")(fm_logit)
    return _net(inputs, [fm_logit, deep_logit], name, spec)


def build_dcn(spec: FeatureSpec, name: str = "dcn", cross_layers: int = DCN_CROSS_LAYERS,
              **deep_kwargs) -> keras.Model:
    """DCN-v2's network, parallel form: a cross network beside lesson 04's deep branch.

    ``models.build_deep`` builds the deep branch as every lesson does; its
    concatenated input is ``x0`` and its last hidden layer ``h``. The cross
    network stacks ``cross_layers`` ``CrossLayer`` on ``x0``; the last layer
    reads ``[x_L, h]``, written as two heads that add: ``cross`` = w_c . x_L
    (no bias) and ``deep`` = w_d . h + b. Switching the cross branch off
    zeroes x_L's input to the last layer exactly; switching the deep branch
    off zeroes h and drops the bias b with it (a constant: no AUC changes).

    Args:
        spec: The feature spec.
        cross_layers: Number of cross layers L.
        **deep_kwargs: Passed to ``build_deep`` (its hidden sizes, dropout...).

    Returns:
        A functional model: encoded inputs -> ``[cross_logit, deep_logit]``, each (batch,).
    """
    deep = build_deep(spec, **deep_kwargs)
    inputs = {t.name: t for t in deep.inputs}
    x0 = deep.get_layer("deep_concat").output
    last = [layer for layer in deep.layers if layer.name.startswith(("deep_dense_", "deep_dropout_"))]
    h = last[-1].output if last else x0
    x = x0
    for i in range(cross_layers):
        x = CrossLayer(name=f"{name}_cross_{i}")(x0, x)
    cross_logit = layers.Reshape((), name=f"{name}_cross_logit")(
        layers.Dense(1, use_bias=False, name=f"{name}_cross_out")(x))
    deep_logit = layers.Reshape((), name=f"{name}_deep_logit")(layers.Dense(1, name=f"{name}_deep_out")(h))
    return _net(inputs, [cross_logit, deep_logit], name, spec)


def build_cross_model(spec: FeatureSpec, branches: str, **kwargs) -> CrossDeep:
    """An untrained ``CrossDeep``: ``branches`` "deepfm" or "dcn" (seed first: ``models.build_wide_deep``).

    Args:
        spec: The feature spec.
        branches: Which model.
        **kwargs: Passed to ``build_deepfm`` / ``build_dcn``.
    """
    if branches not in CROSS_MODELS:
        raise ValueError(f"branches must be one of {CROSS_MODELS}, got {branches!r}")
    net = (build_deepfm if branches == "deepfm" else build_dcn)(spec, **kwargs)
    return CrossDeep(net, InputEncoder(spec, name="encoder"), branch_names=BRANCH_NAMES[branches], name=branches)


# ------------------------------------------------------------ comparison ---

#: Lesson 08's grid (``branch_studies.branch_grid(..., models=GRID_MODELS)``): lesson 04's models and the successors.
GRID_MODELS = ("deep", "wide_deep", "deepfm", "dcn")
#: The differences judged in each deep-input setting: each successor against deep and against W&D, and each other.
PAIRS = (("deepfm", "deep"), ("dcn", "deep"), ("deepfm", "wide_deep"), ("dcn", "wide_deep"), ("dcn", "deepfm"))


def successor_comparisons(runs, metric: str = "roc_auc") -> dict:
    """``{(a, b, deep_inputs): Verdict}`` for every pair of ``PAIRS`` in every setting of ``runs``
    (one row per run, as ``branch_grid`` returns), by the course's rule (``compare.compare_runs``)."""
    from course_lib.compare import compare_runs

    return {(a, b, inputs): compare_runs(runs, {"model": a, "deep_inputs": inputs},
                                         {"model": b, "deep_inputs": inputs}, metric)
            for inputs in dict.fromkeys(runs["deep_inputs"]) for a, b in PAIRS}


# -------------------------------------------------------- reading weights ---

def fm_pair_scores(model: CrossDeep, a_ids, b_ids, table: str = "movie") -> np.ndarray:
    """The FM's learned cross of two ids of one table: <v_a, v_b> (DeepFM).

    Args:
        model: A trained DeepFM (``course_model(data, "deepfm")``).
        a_ids, b_ids: Raw ids, aligned (movie ids for ``table="movie"``, genre
            names for ``"genre"``).
        table: "movie" (candidate x liked movie: the FM's movie x history
            cross) or "genre" (user's genre x candidate's genre).

    Returns:
        One dot product per pair (float64).
    """
    lookup = model.encoder.movie if table == "movie" else model.encoder.genre
    vectors = np.asarray(model.net.get_layer(f"{model.net.name}_{table}_embedding").embeddings, dtype=np.float64)
    a = np.asarray(lookup(np.asarray(a_ids)))
    b = np.asarray(lookup(np.asarray(b_ids)))
    return np.sum(vectors[a] * vectors[b], axis=-1)
