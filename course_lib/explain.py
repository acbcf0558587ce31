"""Look inside trained models: cross weights, embeddings, seen vs unseen crosses.

Introduced in lessons 01 (cross weights, seen crosses) and 02 (embeddings).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from course_lib.columns import GENRES, ITEM, SPLIT, TITLE
from course_lib.features import HIST_COLUMNS, pair_keys


def seen_cross(features: pd.DataFrame, reference: pd.DataFrame | None = None) -> np.ndarray:
    """Whether each row's (candidate, recently liked movie) cross occurred in training.

    The wide model crosses the candidate with each of the user's last liked
    movies; a row is "seen" when at least one of those pairs also occurred in
    a training row (in any history slot), so the cross has a trained weight.

    Args:
        features: Rows to classify (e.g. the test rows).
        reference: Rows that count as "seen" (default: the ``train`` rows of
            ``features``).

    Returns:
        Boolean array. Rows without history are never "seen".
    """
    ref = reference if reference is not None else features[features[SPLIT] == "train"]

    def keys(frame):
        movie = frame[ITEM].to_numpy(np.int64)
        hist = frame[HIST_COLUMNS].to_numpy(np.int64)
        return np.where(hist > 0, pair_keys(movie[:, None], hist), -1)

    known = np.unique(keys(ref))
    known = known[known >= 0]
    k = keys(features)
    return (np.isin(k, known) & (k >= 0)).any(axis=1)


def _wide_layer(model, name: str):
    """The wide branch's layer ``<branch>_<name>`` of a ``WideDeep`` model."""
    if getattr(model, "wide", None) is None:
        raise ValueError("this model has no wide branch; pass a Wide&Deep or wide-only WideDeep model.")
    return model.wide.get_layer(f"{model.wide.name}_{name}")


def movie_cross_weights(model, pairs: pd.DataFrame) -> np.ndarray:
    """Learned weight of each (movie, liked movie) pair in the wide model's cross.

    Works for the exact pair vocabulary (unseen pairs weigh exactly 0) and
    for the hashed variant (unseen pairs pick up whatever shares their bin).

    Args:
        model: A ``WideDeep`` with a wide branch.
        pairs: Columns ``movie_id`` (candidate) and ``liked_movie``.
    """
    movie = pairs[ITEM].to_numpy(np.int64)
    liked = pairs["liked_movie"].to_numpy(np.int64)
    layer = _wide_layer(model, "movie_x_history")
    table = layer.table.numpy()
    if model.encoder.pair is not None:
        idx = np.asarray(model.encoder.pair(pair_keys(movie, liked)))
        return np.where(idx > 0, table[idx], 0.0)
    a = np.asarray(model.encoder.movie(movie))
    b = np.asarray(model.encoder.movie(liked))
    return table[np.asarray(layer.pair_ids(a[:, None], b[:, None]))[:, 0, 0]]


def top_movie_crosses(model, features: pd.DataFrame, movies: pd.DataFrame, k: int = 10,
                      min_count: int = 3) -> pd.DataFrame:
    """The strongest "liked A -> likes B" rules the wide model memorised.

    Args:
        model: A ``WideDeep`` with a wide branch.
        features: Feature rows; pairs come from their ``train`` rows.
        movies: For titles.
        k: How many rules.
        min_count: Only pairs seen at least this often in training (a rule
            memorised from one row is noise, however large its weight).

    Returns:
        Columns liked (title), likes (title), weight, train_rows, liked_rate.
    """
    train = features[(features[SPLIT] == "train") & (features[HIST_COLUMNS[0]] > 0)]
    pairs = (train.assign(liked_movie=train[HIST_COLUMNS[0]])
             .groupby([ITEM, "liked_movie"], sort=True)["liked"].agg(["size", "mean"]).reset_index())
    pairs = pairs[pairs["size"] >= min_count].copy()
    pairs["weight"] = movie_cross_weights(model, pairs)
    pairs = pairs.sort_values(["weight", ITEM], ascending=[False, True]).head(k)
    titles = movies.set_index(ITEM)[TITLE]
    return pd.DataFrame({
        "liked": titles.reindex(pairs["liked_movie"]).to_numpy(),
        "likes": titles.reindex(pairs[ITEM]).to_numpy(),
        "weight": pairs["weight"].round(3).to_numpy(),
        "train_rows": pairs["size"].to_numpy(),
        "liked_rate": pairs["mean"].round(2).to_numpy(),
    })


def genre_cross_matrix(model, spec) -> pd.DataFrame:
    """The genre x genre cross weights as a (user genre) x (candidate genre) table."""
    layer = _wide_layer(model, "genre_x_genre")
    table = layer.table.numpy().reshape(layer.size_a, layer.size_b)
    # Indices 0 (padding) and 1 (unknown genre) are not genres.
    return pd.DataFrame(table[2:, 2:], index=pd.Index(spec.genres, name="user likes"),
                        columns=pd.Index(spec.genres, name="candidate genre"))


def cross_contribution(model, inputs: dict, name: str = "movie_x_history") -> np.ndarray:
    """Each row's logit contribution from one cross (zero where the cross is unseen).

    Args:
        model: A ``WideDeep`` with a wide branch.
        inputs: Raw inputs (``course_lib.train.model_inputs``) or encoded ones.
        name: The cross (a name in ``course_lib.features.ALL_CROSSES``).
    """
    import keras

    layer = _wide_layer(model, name)
    probe = keras.Model(model.wide.inputs, layer.output)
    x = model.encode(inputs)
    return np.asarray(probe.predict_on_batch({t.name: x[t.name] for t in model.wide.inputs})).reshape(-1)


def movie_embeddings(model) -> pd.DataFrame:
    """The deep branch's movie embedding table of a ``WideDeep``, indexed by movie id."""
    if getattr(model, "deep", None) is None:
        raise ValueError("this model has no deep branch; pass a Wide&Deep or deep-only WideDeep model.")
    vocab = model.encoder.movie.get_vocabulary()
    table = model.deep.get_layer(f"{model.deep.name}_movie_embedding").get_weights()[0]
    # Row 0 is the padding token, row 1 the out-of-vocabulary slot.
    ids = np.asarray(vocab[2:], dtype=np.int64)
    return pd.DataFrame(table[2:len(vocab)], index=pd.Index(ids, name=ITEM))


def nearest_movies(embeddings: pd.DataFrame, movie_id: int, movies: pd.DataFrame, k: int = 8,
                   candidates=None) -> pd.DataFrame:
    """Cosine nearest neighbours of ``movie_id`` in an embedding table.

    Args:
        embeddings: Output of ``movie_embeddings``.
        movie_id: The query movie.
        movies: For titles and genres.
        k: How many neighbours.
        candidates: Movie ids allowed as neighbours (e.g. movies with enough
            training ratings: a movie rated twice has an embedding that is
            mostly its random initialisation).

    Raises:
        KeyError: If the movie has no embedding (not in the training vocabulary).
    """
    if movie_id not in embeddings.index:
        raise KeyError(f"movie {movie_id} has no embedding: it never appeared in training; pick another.")
    unit = embeddings.to_numpy() / np.maximum(np.linalg.norm(embeddings.to_numpy(), axis=1, keepdims=True), 1e-12)
    q = unit[embeddings.index.get_loc(movie_id)]
    sim = unit @ q
    allowed = np.ones(len(sim), bool) if candidates is None else embeddings.index.isin(list(candidates))
    order = [i for i in np.lexsort((embeddings.index.to_numpy(), -sim))
             if embeddings.index[i] != movie_id and allowed[i]][:k]
    ids = embeddings.index.to_numpy()[order]
    info = movies.set_index(ITEM).reindex(ids)
    return pd.DataFrame({ITEM: ids, TITLE: info[TITLE].to_numpy(), GENRES: info[GENRES].to_numpy(),
                         "cosine": np.round(sim[order], 4)})


def embedding_map(embeddings: pd.DataFrame, movies: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """2-D PCA coordinates of movie embeddings with each movie's first genre."""
    from sklearn.decomposition import PCA

    xy = PCA(n_components=2, random_state=seed).fit_transform(embeddings.to_numpy())
    info = movies.set_index(ITEM).reindex(embeddings.index)
    first = info[GENRES].fillna("").str.split("|").str[0]
    return pd.DataFrame({ITEM: embeddings.index, "x": xy[:, 0], "y": xy[:, 1], "genre": first.to_numpy(),
                         TITLE: info[TITLE].to_numpy()})
