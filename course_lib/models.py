"""Wide, deep and Wide&Deep models in Keras 3 (functional API, dict inputs).

Introduced in lessons 01 (wide), 02 (deep) and 04 (Wide&Deep).

Every builder takes a ``FeatureSpec`` — which features exist, their
vocabularies and normalisation statistics — instead of hard-coded columns,
and every model takes *raw* inputs (movie ids, genre strings): the lookups
live inside the model, so a saved ``.keras`` file is all inference needs.
Unknown ids and genres fall into an out-of-vocabulary bucket (index 1,
learned like any other id) instead of crashing.

Keras 3 dropped ``WideDeepModel``; ``WideDeep`` below is ours: one logit
``wide(x) + deep(x)``, trained jointly, with FTRL + L1 on the wide weights and
Adam on the deep weights, as in Cheng et al. (2016).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import keras
import numpy as np
import pandas as pd
from keras import layers, ops

from course_lib.columns import ITEM, SPLIT, USER
from course_lib.features import (
    HIST_COLUMNS, MOVIE_GENRE_COLUMNS, NUMERIC_COLUMNS, USER_GENRE_COLUMNS, YEAR_BOUNDARIES,
)

#: FTRL settings of the wide part: a large step suits sparse, rarely-updated
#: weights; L1 zeroes the crosses that do not help.
#: The loss is a batch mean, so a rare pair's gradient is tiny: L1 and the
#: initial accumulator must be small too, or they swamp it.
WIDE_LEARNING_RATE = 0.5
WIDE_L1 = 1e-5
WIDE_INITIAL_ACCUMULATOR = 1e-3

#: Index 0 is padding ("no movie", "no genre"); index 1 the out-of-vocabulary bucket.
PAD, OOV = 0, 1


@dataclass
class FeatureSpec:
    """What the models see: vocabularies, numeric statistics, cross sizes.

    Build it with ``make_feature_spec`` from the training rows only (so no
    statistic leaks from validation or test).
    """

    users: list[int]
    movies: list[int]
    genres: list[str]
    numeric: list[str]
    numeric_mean: list[float]
    numeric_var: list[float]
    hist_columns: list[str] = field(default_factory=lambda: list(HIST_COLUMNS))
    movie_genre_columns: list[str] = field(default_factory=lambda: list(MOVIE_GENRE_COLUMNS))
    user_genre_columns: list[str] = field(default_factory=lambda: list(USER_GENRE_COLUMNS))
    year_boundaries: list[float] = field(default_factory=lambda: list(YEAR_BOUNDARIES))
    #: The (candidate, liked movie) pairs seen in training, as keys
    #: ``movie_id * 2**32 + liked_movie_id``: the exact vocabulary of the
    #: movie x history cross. Empty -> hash pairs into ``movie_cross_bins``.
    movie_pairs: list[int] = field(default_factory=list)
    #: Hash bins of the movie x history cross when ``movie_pairs`` is empty.
    movie_cross_bins: int = 1 << 17
    #: Which crosses the wide model uses (lesson 01 adds them one by one).
    crosses: tuple[str, ...] = ("movie_x_history", "genre_x_genre", "user_x_genre")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, config: dict) -> "FeatureSpec":
        config = dict(config)
        config["crosses"] = tuple(config.get("crosses", ()))
        return cls(**config)

    @property
    def input_names(self) -> list[str]:
        return [USER, ITEM, *self.hist_columns, *self.movie_genre_columns,
                *self.user_genre_columns, *self.numeric]

    def with_crosses(self, *crosses: str) -> "FeatureSpec":
        """A copy of this spec using only the named crosses (lesson 01)."""
        unknown = set(crosses) - set(ALL_CROSSES)
        if unknown:
            raise ValueError(f"unknown cross {sorted(unknown)}; choose from {ALL_CROSSES}")
        return FeatureSpec.from_dict({**self.to_dict(), "crosses": tuple(crosses)})


ALL_CROSSES = ("movie_x_history", "genre_x_genre", "user_x_genre")


def make_feature_spec(features: pd.DataFrame, numeric: list[str] | None = None,
                      genres: list[str] | None = None) -> FeatureSpec:
    """Vocabularies and normalisation statistics from the ``train`` rows.

    Args:
        features: Output of ``course_lib.features.build_features``.
        numeric: Numeric columns for the deep model (default: all).
        genres: Genre vocabulary (default: genres seen in train).
    """
    train = features[features[SPLIT] == "train"] if SPLIT in features else features
    if train.empty:
        raise ValueError("no training rows: make_feature_spec needs rows with split == 'train'.")
    numeric = list(numeric or NUMERIC_COLUMNS)
    if genres is None:
        genres = sorted({g for c in MOVIE_GENRE_COLUMNS for g in train[c].unique() if g})
    values = train[numeric].to_numpy(np.float64)
    return FeatureSpec(
        movie_pairs=movie_pair_vocabulary(train),
        users=sorted(int(u) for u in train[USER].unique()),
        movies=sorted(int(m) for m in train[ITEM].unique()),
        genres=list(genres),
        numeric=numeric,
        numeric_mean=[float(v) for v in np.nanmean(values, axis=0)],
        numeric_var=[float(max(v, 1e-6)) for v in np.nanvar(values, axis=0)],
    )


PAIR_SHIFT = 1 << 32


def movie_pair_vocabulary(train: pd.DataFrame) -> list[int]:
    """Sorted keys of every (candidate, recently liked movie) pair in ``train``."""
    movie = train[ITEM].to_numpy(np.int64)[:, None]
    hist = train[HIST_COLUMNS].to_numpy(np.int64)
    keys = (movie * PAIR_SHIFT + hist)[hist > 0]
    return [int(k) for k in np.unique(keys)]


# ----------------------------------------------------------------- inputs ---

def make_inputs(spec: FeatureSpec) -> dict[str, keras.KerasTensor]:
    """One scalar ``keras.Input`` per raw feature, named like its column."""
    inputs = {USER: keras.Input((), dtype="int64", name=USER),
              ITEM: keras.Input((), dtype="int64", name=ITEM)}
    for col in spec.hist_columns:
        inputs[col] = keras.Input((), dtype="int64", name=col)
    for col in [*spec.movie_genre_columns, *spec.user_genre_columns]:
        inputs[col] = keras.Input((), dtype="string", name=col)
    for col in spec.numeric:
        inputs[col] = keras.Input((), dtype="float32", name=col)
    return inputs


class _Lookups:
    """The id lookups shared by the branches of one model (raw -> index)."""

    def __init__(self, spec: FeatureSpec, prefix: str):
        # mask_token=0 / "" maps padding to index 0; num_oov_indices=1 gives
        # unknown ids index 1: a learned "some other movie/user" slot.
        self.user = layers.IntegerLookup(vocabulary=spec.users, mask_token=0, num_oov_indices=1,
                                         name=f"{prefix}_user_lookup")
        self.movie = layers.IntegerLookup(vocabulary=spec.movies, mask_token=0, num_oov_indices=1,
                                          name=f"{prefix}_movie_lookup")
        self.genre = layers.StringLookup(vocabulary=spec.genres, mask_token="", num_oov_indices=1,
                                         name=f"{prefix}_genre_lookup")

    def movie_genres(self, inputs, spec):
        return ops.stack([self.genre(inputs[c]) for c in spec.movie_genre_columns], axis=1)

    def user_genres(self, inputs, spec):
        return ops.stack([self.genre(inputs[c]) for c in spec.user_genre_columns], axis=1)

    def history(self, inputs, spec):
        return ops.stack([self.movie(inputs[c]) for c in spec.hist_columns], axis=1)


# ------------------------------------------------------------------- wide ---

@keras.saving.register_keras_serializable(package="course_lib")
class CrossWeights(layers.Layer):
    """Sum of learned weights of all pairs (a_i, b_j) of two id lists.

    A cross feature ``a x b`` is a one-hot over pairs; its weight in a linear
    model is a table lookup. Index 0 is padding on either side and adds
    nothing. With ``num_bins`` set, pair ids are hashed into that many bins
    (needed for movie x movie: 9,700^2 exact pairs would not fit).

    Args:
        size_a: Number of indices on the left (incl. padding/OOV).
        size_b: Same on the right.
        num_bins: Hash bins, or None for an exact ``size_a * size_b`` table.
        l2: L2 penalty on the weights (FTRL adds L1 on top when training).
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
        w = ops.take(self.table, self.pair_ids(a, b))
        return ops.sum(w * mask, axis=(1, 2))

    def get_config(self):
        return {**super().get_config(), "size_a": self.size_a, "size_b": self.size_b,
                "num_bins": self.num_bins}


@keras.saving.register_keras_serializable(package="course_lib")
class PairKey(layers.Layer):
    """Raw ids -> pair keys ``a * 2**32 + b`` (b = 0 padding gives key a*2**32, never in a vocabulary)."""

    def call(self, a, b):
        return ops.cast(a, "int64")[:, None] * PAIR_SHIFT + ops.cast(b, "int64")


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
        return ops.sum(ops.take(self.table, ids) * mask, axis=1)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


def build_wide(spec: FeatureSpec, name: str = "wide") -> keras.Model:
    """The wide branch: a linear model over one-hot ids and cross products.

    Terms: user id, movie id, movie genres, and the crosses named in
    ``spec.crosses``: ``movie_x_history`` (candidate x each of the last liked
    movies, hashed), ``genre_x_genre`` (user's favourite genres x candidate's
    genres) and ``user_x_genre`` (user id x candidate's genres).

    Returns:
        A model mapping the raw input dict to one logit per row, shape (batch,).
    """
    inputs = make_inputs(spec)
    lk = _Lookups(spec, name)
    user, movie = lk.user(inputs[USER]), lk.movie(inputs[ITEM])
    m_genres = lk.movie_genres(inputs, spec)
    n_users, n_movies, n_genres = len(spec.users) + 2, len(spec.movies) + 2, len(spec.genres) + 2
    terms = [
        SparseLinear(n_users, name=f"{name}_user")(user),
        SparseLinear(n_movies, name=f"{name}_movie")(movie),
        SparseLinear(n_genres, name=f"{name}_genre")(m_genres),
    ]
    if "movie_x_history" in spec.crosses and spec.movie_pairs:
        # Exact memorization: one weight per pair seen in training; an unseen
        # pair maps to the out-of-vocabulary index 0, which has no weight.
        hist_raw = ops.stack([inputs[c] for c in spec.hist_columns], axis=1)
        keys = PairKey(name=f"{name}_movie_pair_key")(inputs[ITEM], hist_raw)
        pair_ids = layers.IntegerLookup(vocabulary=np.asarray(spec.movie_pairs, dtype=np.int64),
                                        mask_token=None, num_oov_indices=1,
                                        name=f"{name}_movie_pair_lookup")(keys)
        terms.append(SparseLinear(len(spec.movie_pairs) + 1, name=f"{name}_movie_x_history")(pair_ids))
    elif "movie_x_history" in spec.crosses:
        terms.append(CrossWeights(n_movies, n_movies, num_bins=spec.movie_cross_bins,
                                  name=f"{name}_movie_x_history")(movie[:, None], lk.history(inputs, spec)))
    if "genre_x_genre" in spec.crosses:
        terms.append(CrossWeights(n_genres, n_genres, name=f"{name}_genre_x_genre")(
            lk.user_genres(inputs, spec), m_genres))
    if "user_x_genre" in spec.crosses:
        terms.append(CrossWeights(n_users, n_genres, name=f"{name}_user_x_genre")(user[:, None], m_genres))
    logit = BiasAdd(name=f"{name}_bias")(layers.Add(name=f"{name}_sum")(terms) if len(terms) > 1 else terms[0])
    return keras.Model(inputs, layers.Identity(name=f"{name}_logit")(logit), name=name)


@keras.saving.register_keras_serializable(package="course_lib")
class BiasAdd(layers.Layer):
    """Adds one learned scalar (the branch's intercept)."""

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(), initializer="zeros", name="bias")

    def call(self, x):
        return x + self.bias


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
    (sharing a genre table, averaged), and the bucketized release year.

    Args:
        spec: The feature spec.
        embedding_dim: Size of the id embeddings (genres and years use half).
        hidden: Units of the hidden ReLU layers.
        dropout: Dropout after each hidden layer (training only).
        l2: L2 penalty on embeddings, against memorising rare ids.
    """
    inputs = make_inputs(spec)
    lk = _Lookups(spec, name)
    reg = keras.regularizers.L2(l2) if l2 else None
    small = max(embedding_dim // 2, 2)
    user_emb = layers.Embedding(len(spec.users) + 2, embedding_dim, embeddings_regularizer=reg,
                                name=f"{name}_user_embedding")
    movie_emb = layers.Embedding(len(spec.movies) + 2, embedding_dim, embeddings_regularizer=reg,
                                 name=f"{name}_movie_embedding")
    genre_emb = layers.Embedding(len(spec.genres) + 2, small, name=f"{name}_genre_embedding")
    hist = lk.history(inputs, spec)
    m_genres, u_genres = lk.movie_genres(inputs, spec), lk.user_genres(inputs, spec)
    numeric = ops.stack([inputs[c] for c in spec.numeric], axis=1)
    numeric = layers.Normalization(mean=spec.numeric_mean, variance=spec.numeric_var,
                                   name=f"{name}_normalize")(numeric)
    year_col = "movie_year" if "movie_year" in spec.numeric else None
    parts = [
        movie_emb(lk.movie(inputs[ITEM])),
        MaskedMean(name=f"{name}_history_mean")(movie_emb(hist), hist),
        MaskedMean(name=f"{name}_movie_genres_mean")(genre_emb(m_genres), m_genres),
        MaskedMean(name=f"{name}_user_genres_mean")(genre_emb(u_genres), u_genres),
        numeric,
    ]
    if use_user_embedding:
        parts.insert(0, user_emb(lk.user(inputs[USER])))
    if year_col:
        bucket = layers.Discretization(bin_boundaries=spec.year_boundaries, name=f"{name}_year_bucket")(
            inputs[year_col])
        parts.append(layers.Embedding(len(spec.year_boundaries) + 1, small,
                                      name=f"{name}_year_embedding")(bucket))
    x = layers.Concatenate(name=f"{name}_concat")(parts)
    for i, units in enumerate(hidden):
        x = layers.Dense(units, activation="relu", name=f"{name}_dense_{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"{name}_dropout_{i}")(x)
    logit = layers.Dense(1, name=f"{name}_out")(x)
    logit = layers.Reshape((), name=f"{name}_logit")(logit)
    return keras.Model(inputs, logit, name=name)


# -------------------------------------------------------------- wide&deep ---

@keras.saving.register_keras_serializable(package="course_lib")
class WideDeep(keras.Model):
    """Wide&Deep (Cheng et al. 2016): ``sigmoid(wide(x) + deep(x))``, trained jointly.

    Either branch may be ``None`` (a wide-only or deep-only model with the
    same training code). ``compile`` takes the *deep* optimizer as usual; the
    wide optimizer is a constructor argument (FTRL with L1 by default, which
    drives useless cross weights to exactly zero).

    Args:
        wide: Wide branch (raw inputs -> logit) or None.
        deep: Deep branch or None.
        wide_optimizer: Optimizer for the wide weights.
    """

    def __init__(self, wide: keras.Model | None = None, deep: keras.Model | None = None,
                 wide_optimizer: keras.optimizers.Optimizer | None = None, **kwargs):
        super().__init__(**kwargs)
        if wide is None and deep is None:
            raise ValueError("WideDeep needs at least one branch: pass wide=..., deep=... or both.")
        self.wide, self.deep = wide, deep
        self.wide_optimizer = wide_optimizer or (
            keras.optimizers.Ftrl(learning_rate=WIDE_LEARNING_RATE, l1_regularization_strength=WIDE_L1,
                                  initial_accumulator_value=WIDE_INITIAL_ACCUMULATOR) if wide else None)
        if self.wide_optimizer is not None and wide.built:
            # Built now, on the variables it steps: the wide optimizer is part of
            # the saved state, and an unbuilt one on reload (compiled or not)
            # would skip its FTRL state with a warning.
            self.wide_optimizer.build(wide.trainable_variables)

    def call(self, inputs, training=False):
        return ops.sigmoid(self.branch_logits_sum(inputs, training=training))

    def branch_logits_sum(self, inputs, training=False):
        logit = 0.0
        if self.wide is not None:
            logit = logit + self.wide(inputs, training=training)
        if self.deep is not None:
            logit = logit + self.deep(inputs, training=training)
        return logit

    def branch_logits(self, inputs, training=False):
        """``(wide_logit, deep_logit)``; an absent branch contributes zeros."""
        w = self.wide(inputs, training=training) if self.wide is not None else None
        d = self.deep(inputs, training=training) if self.deep is not None else None
        zero = ops.zeros_like(w if w is not None else d)
        return (w if w is not None else zero), (d if d is not None else zero)

    def train_step(self, data):
        import tensorflow as tf

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
        wide_vars = self.wide.trainable_variables if self.wide is not None else []
        deep_vars = self.deep.trainable_variables if self.deep is not None else []
        grads = tape.gradient(loss, wide_vars + deep_vars)
        # The paper's recipe: FTRL (+L1) for the sparse wide part, an
        # adaptive optimizer for the dense deep part, one shared loss.
        if wide_vars:
            self.wide_optimizer.apply(grads[:len(wide_vars)], wide_vars)
        if deep_vars:
            self.optimizer.apply(grads[len(wide_vars):], deep_vars)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def compile_from_config(self, config):
        """Re-compile on load, building ``optimizer`` on the deep variables it steps.

        Keras' default builds it on *all* trainable variables, but
        ``train_step`` gives it only the deep ones: built that way, a reloaded
        model restores its state instead of warning "Skipping variable loading".
        """
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built and self.deep is not None:
            self.optimizer.build(self.deep.trainable_variables)

    def get_config(self):
        return {
            **super().get_config(),
            "wide": keras.saving.serialize_keras_object(self.wide) if self.wide is not None else None,
            "deep": keras.saving.serialize_keras_object(self.deep) if self.deep is not None else None,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        wide = config.pop("wide", None)
        deep = config.pop("deep", None)
        wide = keras.saving.deserialize_keras_object(wide) if wide else None
        deep = keras.saving.deserialize_keras_object(deep) if deep else None
        return cls(wide=wide, deep=deep, **config)


def build_wide_deep(spec: FeatureSpec, branches: str = "wide_deep", seed: int | None = None,
                    **deep_kwargs) -> WideDeep:
    """Build an untrained ``WideDeep`` with ``branches`` in {"wide", "deep", "wide_deep"}.

    Args:
        spec: The feature spec.
        branches: Which branches the model has.
        seed: If given, re-seed before drawing the initial weights, so the
            same seed gives the same starting model whatever ran before.
        **deep_kwargs: Passed to ``build_deep``.
    """
    if branches not in ("wide", "deep", "wide_deep"):
        raise ValueError(f"branches must be 'wide', 'deep' or 'wide_deep', got {branches!r}")
    if seed is not None:
        from course_lib.runtime import seed_everything

        seed_everything(seed)
    wide = build_wide(spec) if branches in ("wide", "wide_deep") else None
    deep = build_deep(spec, **deep_kwargs) if branches in ("deep", "wide_deep") else None
    return WideDeep(wide=wide, deep=deep, name=branches)
