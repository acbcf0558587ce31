"""Sparrow RecSys' Wide&Deep, re-implemented in Keras 3 on the course's features.

The reference is ``TFRecModel/src/com/sparrowrecsys/offline/tensorflow/WideNDeep.py``
of wzhe06/SparrowRecSys (TensorFlow 2 feature columns). Its architecture:

- deep: one embedding (dim 10) per genre feature (userGenre1..5, movieGenre1..3,
  each with its own table), movie and user id embeddings (dim 10), and seven
  raw numeric features, unnormalised -> Dense 128 ReLU -> Dense 128 ReLU;
- wide: the one-hot of the hashed cross movieId x userRatedMovie1 (10,000 bins);
- output: Dense(1, sigmoid) over ``concat([deep, wide])``;
- binary cross-entropy, Adam (default settings), batch 12, 5 epochs, no early
  stopping; ``make_csv_dataset`` shuffles with a 10,000-row buffer.

Mapped to our features: user_genre_1..3 (we keep three favourite genres, not
five), movie_genre_1..3, hist_movie_1 for userRatedMovie1, and the numeric
columns below with the log1p of the counts undone (Sparrow feeds raw counts).
Ids go through an ``IntegerLookup`` because Sparrow's identity columns
(``num_buckets=1001`` movies, ``30001`` users) cannot hold MovieLens ids up to
~200k; padding genres ("") take a learned index-0 vector where Sparrow's
vocabulary column gives zeros.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from course_lib.columns import ITEM, LABEL, SPLIT, USER

#: Sparrow name -> our column; counts were log1p'd by course_lib.features.
NUMERIC = {
    "releaseYear": "movie_year",
    "movieRatingCount": "movie_rating_count",
    "movieAvgRating": "movie_rating_mean",
    "movieRatingStddev": "movie_rating_std",
    "userRatingCount": "user_rating_count",
    "userAvgRating": "user_rating_mean",
    "userRatingStddev": "user_rating_std",
}
LOG_COUNTS = ("movie_rating_count", "user_rating_count")
GENRE_COLUMNS = ("user_genre_1", "user_genre_2", "user_genre_3",
                 "movie_genre_1", "movie_genre_2", "movie_genre_3")
RATED_MOVIE = "hist_movie_1"  # Sparrow's userRatedMovie1
EMBEDDING_DIM = 10
HIDDEN = (128, 128)
CROSS_BINS = 10_000
BATCH_SIZE = 12
EPOCHS = 5
SHUFFLE_BUFFER = 10_000


def sparrow_inputs(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The Sparrow model's input dict from a course feature table (counts un-logged)."""
    out = {USER: frame[USER].to_numpy(np.int64), ITEM: frame[ITEM].to_numpy(np.int64),
           RATED_MOVIE: frame[RATED_MOVIE].to_numpy(np.int64)}
    for col in GENRE_COLUMNS:
        out[col] = frame[col].to_numpy().astype(str).astype(object)
    for col in NUMERIC.values():
        values = frame[col].to_numpy(np.float64)
        out[col] = (np.expm1(values) if col in LOG_COUNTS else values).astype(np.float32)
    return out


def build_sparrow(spec):
    """Sparrow RecSys' Wide&Deep as a Keras 3 functional model with dict inputs.

    Args:
        spec: The course ``FeatureSpec`` (only its id and genre vocabularies are used).

    Returns:
        An uncompiled ``keras.Model`` mapping the dict of ``sparrow_inputs`` to probabilities, shape (batch, 1).
    """
    import keras
    from keras import layers

    inputs = {USER: keras.Input((), dtype="int64", name=USER),
              ITEM: keras.Input((), dtype="int64", name=ITEM),
              RATED_MOVIE: keras.Input((), dtype="int64", name=RATED_MOVIE)}
    for col in GENRE_COLUMNS:
        inputs[col] = keras.Input((), dtype="string", name=col)
    for col in NUMERIC.values():
        inputs[col] = keras.Input((), dtype="float32", name=col)

    # Deep part: DenseFeatures(numerical_columns + categorical_columns) in Sparrow.
    numeric = layers.Concatenate(name="numeric")([layers.Reshape((1,))(inputs[c]) for c in NUMERIC.values()])
    parts = [numeric]
    for col in GENRE_COLUMNS:  # one table per genre feature, as Sparrow's embedding_column per key
        idx = layers.StringLookup(vocabulary=spec.genres, num_oov_indices=1, name=f"{col}_lookup")(inputs[col])
        parts.append(layers.Embedding(len(spec.genres) + 1, EMBEDDING_DIM, name=f"{col}_embedding")(idx))
    movie_idx = layers.IntegerLookup(vocabulary=spec.movies, num_oov_indices=1, name="movie_lookup")(inputs[ITEM])
    user_idx = layers.IntegerLookup(vocabulary=spec.users, num_oov_indices=1, name="user_lookup")(inputs[USER])
    parts.append(layers.Embedding(len(spec.movies) + 1, EMBEDDING_DIM, name="movie_embedding")(movie_idx))
    parts.append(layers.Embedding(len(spec.users) + 1, EMBEDDING_DIM, name="user_embedding")(user_idx))
    deep = layers.Concatenate(name="deep_features")(parts)
    for i, units in enumerate(HIDDEN):
        deep = layers.Dense(units, activation="relu", name=f"deep_dense_{i}")(deep)

    # Wide part: indicator_column(crossed_column([movieId, userRatedMovie1], 10000)).
    wide = layers.HashedCrossing(num_bins=CROSS_BINS, output_mode="one_hot", name="movie_x_rated_movie")(
        (inputs[ITEM], inputs[RATED_MOVIE]))
    both = layers.Concatenate(name="wide_deep")([deep, layers.Reshape((CROSS_BINS,))(wide)])
    # Output kept (batch, 1) straight from the sigmoid Dense: Keras then computes the cross-entropy from
    # its logits (as tf.keras did for Sparrow); any layer after it would force clipped probabilities,
    # whose zero gradients leave a model fed raw years (~2000) stuck at AUC 0.5.
    out = layers.Dense(1, activation="sigmoid", name="output")(both)
    return keras.Model(inputs, out, name="sparrow_wide_deep")


def sparrow_dataset(frame: pd.DataFrame, batch_size: int = BATCH_SIZE, shuffle: bool = True, seed: int = 1):
    """Batches of ``(sparrow_inputs, liked)``, shuffled like ``make_csv_dataset`` (10k buffer)."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((sparrow_inputs(frame), frame[LABEL].to_numpy(np.float32)))
    if shuffle:
        ds = ds.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def train_and_evaluate(feats: pd.DataFrame, spec, epochs: int = EPOCHS, batch_size: int = BATCH_SIZE,
                       seed: int = 1, train_fraction: float = 1.0) -> dict:
    """Train Sparrow's model on the course's train split; test metrics and times.

    Args:
        feats: The course feature table (with ``split``).
        spec: Its ``FeatureSpec``.
        epochs: Sparrow trains 5 epochs, without early stopping.
        batch_size: Sparrow uses 12.
        seed: Seeds weights and shuffling.
        train_fraction: Train on this share of the training rows (``--quick`` only).

    Returns:
        ``test`` (classification report), ``train_seconds``, ``steps``, ``epochs``,
        ``train_rows``, ``examples_per_s`` and the parameter count.
    """
    import keras

    from course_lib.metrics import classification_report
    from course_lib.runtime import seed_everything

    seed_everything(seed)
    train = feats[feats[SPLIT] == "train"]
    if train_fraction < 1.0:
        train = train.sample(frac=train_fraction, random_state=seed).sort_index()
    test = feats[feats[SPLIT] == "test"]
    model = build_sparrow(spec)
    model.compile(optimizer=keras.optimizers.Adam(), loss="binary_crossentropy")
    ds = sparrow_dataset(train, batch_size, seed=seed)
    start = time.perf_counter()
    model.fit(ds, epochs=epochs, verbose=0, shuffle=False)
    seconds = time.perf_counter() - start
    probs = np.asarray(model.predict(sparrow_dataset(test, 4096, shuffle=False).map(lambda x, y: x), verbose=0),
                       dtype=np.float64).reshape(-1)
    steps = int(np.ceil(len(train) / batch_size)) * epochs
    return {
        "test": classification_report(test[LABEL].to_numpy(), probs),
        "train_seconds": round(seconds, 2),
        "epochs": epochs,
        "batch_size": batch_size,
        "steps": steps,
        "train_rows": len(train),
        "train_fraction": train_fraction,
        "examples_per_s": round(len(train) * epochs / seconds, 1),
        "params": int(model.count_params()),
        "seed": seed,
    }
