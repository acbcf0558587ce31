"""Look inside trained models: cross weights, embeddings, seen vs unseen crosses.

Introduced in lessons 01 (cross weights, seen crosses) and 02 (embeddings).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from course_lib.columns import GENRES, ITEM, SPLIT, TITLE
from course_lib.features import HIST_COLUMNS


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
        return np.where(hist > 0, movie[:, None] * (1 << 32) + hist, -1)

    known = np.unique(keys(ref))
    known = known[known >= 0]
    k = keys(features)
    return (np.isin(k, known) & (k >= 0)).any(axis=1)


def _lookup_index(model, layer_name: str, values) -> np.ndarray:
    return np.asarray(model.get_layer(layer_name)(np.asarray(values)))


def movie_cross_weights(wide, pairs: pd.DataFrame, prefix: str = "wide") -> np.ndarray:
    """Learned weight of each (movie, liked movie) pair in the wide model's cross.

    Works for the exact pair vocabulary (unseen pairs weigh exactly 0) and
    for the hashed variant (unseen pairs pick up whatever shares their bin).

    Args:
        wide: The wide branch (``model.wide``).
        pairs: Columns ``movie_id`` (candidate) and ``liked_movie``.
    """
    movie = pairs[ITEM].to_numpy(np.int64)
    liked = pairs["liked_movie"].to_numpy(np.int64)
    layer = wide.get_layer(f"{prefix}_movie_x_history")
    names = {l.name for l in wide.layers}
    if f"{prefix}_movie_pair_lookup" in names:
        idx = np.asarray(wide.get_layer(f"{prefix}_movie_pair_lookup")(movie * (1 << 32) + liked))
        return np.where(idx > 0, layer.table.numpy()[idx], 0.0)
    a = _lookup_index(wide, f"{prefix}_movie_lookup", movie)
    b = _lookup_index(wide, f"{prefix}_movie_lookup", liked)
    ids = np.asarray(layer.pair_ids(a[:, None], b[:, None]))[:, 0, 0]
    return layer.table.numpy()[ids]


def top_movie_crosses(wide, features: pd.DataFrame, movies: pd.DataFrame, k: int = 10,
                      min_count: int = 3) -> pd.DataFrame:
    """The strongest "liked A -> likes B" rules the wide model memorised.

    Args:
        wide: The wide branch.
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
    pairs["weight"] = movie_cross_weights(wide, pairs)
    pairs = pairs.sort_values(["weight", ITEM], ascending=[False, True]).head(k)
    titles = movies.set_index(ITEM)[TITLE]
    return pd.DataFrame({
        "liked": titles.reindex(pairs["liked_movie"]).to_numpy(),
        "likes": titles.reindex(pairs[ITEM]).to_numpy(),
        "weight": pairs["weight"].round(3).to_numpy(),
        "train_rows": pairs["size"].to_numpy(),
        "liked_rate": pairs["mean"].round(2).to_numpy(),
    })


def genre_cross_matrix(wide, spec, prefix: str = "wide") -> pd.DataFrame:
    """The genre x genre cross weights as a (user genre) x (candidate genre) table."""
    layer = wide.get_layer(f"{prefix}_genre_x_genre")
    table = layer.table.numpy().reshape(layer.size_a, layer.size_b)
    # Indices 0 (padding) and 1 (unknown genre) are not genres.
    return pd.DataFrame(table[2:, 2:], index=pd.Index(spec.genres, name="user likes"),
                        columns=pd.Index(spec.genres, name="candidate genre"))


def cross_contribution(wide, inputs: dict, name: str = "movie_x_history", prefix: str = "wide") -> np.ndarray:
    """Each row's logit contribution from one cross (zero where the cross is unseen)."""
    import keras

    layer = wide.get_layer(f"{prefix}_{name}")
    probe = keras.Model(wide.inputs, layer.output)
    return np.asarray(probe.predict_on_batch(inputs)).reshape(-1)


def movie_embeddings(deep, prefix: str = "deep") -> pd.DataFrame:
    """The deep model's movie embedding table, indexed by movie id."""
    vocab = deep.get_layer(f"{prefix}_movie_lookup").get_vocabulary()
    table = deep.get_layer(f"{prefix}_movie_embedding").get_weights()[0]
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


# ------------------------------------------------------ architecture graph ---

#: Columns of the architecture diagram, left to right.
STAGES = ("input", "lookup", "weights", "pool", "mlp", "sum", "output")
#: Keras layer class -> stage. Any other layer gets a box in the "pool" column.
LAYER_STAGES = {
    "IntegerLookup": "lookup", "StringLookup": "lookup", "Hashing": "lookup", "HashedCrossing": "lookup",
    "Discretization": "lookup", "Normalization": "lookup", "PairKey": "lookup",
    "SparseLinear": "weights", "CrossWeights": "weights", "Embedding": "weights",
    "MaskedMean": "pool", "Concatenate": "pool", "Dense": "mlp", "Add": "sum",
}
#: Layers drawn as a note on the box that feeds them instead of a box of their own.
FOLDED_LAYERS = {"Dropout": lambda l: f"dropout {l.rate:g}", "BiasAdd": lambda l: "+ bias",
                 "Identity": None, "Reshape": None, "Activation": None, "InputLayer": None}


@dataclass
class Box:
    """One box of the architecture diagram: a layer, a group of inputs, or the output."""

    key: str
    label: str
    stage: str
    branch: str  # the sub-model it belongs to ("" for raw inputs and the output)
    notes: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join([self.label, *self.notes])


@dataclass
class ModelGraph:
    """Boxes and arrows of a model's architecture, grouped by branch (``plots.architecture`` draws it)."""

    name: str
    boxes: dict[str, Box]
    edges: list[tuple[str, str]]
    branches: list[str]

    def by_stage(self, stage: str) -> list[Box]:
        return [b for b in self.boxes.values() if b.stage == stage]


def _input_group(layer) -> str:
    """The box of a raw input: ``hist_movie_1..5`` share one, so do all float inputs ("numeric")."""
    dtype = str(getattr(getattr(layer, "output", None), "dtype", ""))
    return "input:numeric" if dtype.startswith("float") else "input:" + re.sub(r"_\d+$", "", layer.name)


def _layer_label(layer, branch: str) -> str:
    kind = type(layer).__name__
    short = layer.name[len(branch) + 1:] if layer.name.startswith(branch + "_") else layer.name
    pretty = short.replace("_x_", " × ").replace("_", " ")
    if kind in ("IntegerLookup", "StringLookup"):
        return f"{pretty}\n{layer.vocabulary_size():,} entries"
    if kind == "Discretization":
        return f"{pretty}\n{len(layer.bin_boundaries) + 1} buckets"
    if kind in ("SparseLinear", "CrossWeights"):
        size = getattr(layer, "size", None) or layer.table_size
        return f"{pretty}{' cross' if ' × ' in pretty else ' weights'}\n{size:,} weights"
    if kind == "Embedding":
        return f"{pretty}\n{layer.input_dim:,} × {layer.output_dim}"
    if kind == "Normalization":
        return f"{pretty}\n(x − mean) / sd"
    if kind == "PairKey":
        return f"{pretty}\n(movie, liked movie)"
    if kind == "Concatenate":
        return f"concatenate\n{layer.output.shape[-1]} values"
    if kind == "MaskedMean":
        return f"{pretty}\n(masked mean)"
    if kind == "Dense":
        act = getattr(layer.activation, "__name__", "")
        return f"Dense {layer.units}" + (f" {act}" if act and act != "linear" else "\nlogit" if layer.units == 1 else "")
    if kind == "Add":
        return "sum of terms"
    return f"{pretty}\n{kind}"


def _functional_parts(model) -> list:
    """The functional sub-models to draw: the model itself, or its functional sub-layers (branches)."""
    if hasattr(model, "_nodes_by_depth"):
        return [model]
    parts = [layer for layer in model.layers if hasattr(layer, "_nodes_by_depth")]
    if not parts:
        raise ValueError(f"model {model.name!r} has no functional branches to draw; build it with "
                         "course_lib.models (build_wide, build_deep, build_wide_deep).")
    return parts


def model_graph(model) -> ModelGraph:
    """Walk a model's layers and group them into the boxes of an architecture diagram.

    Each functional branch (``model.wide``, ``model.deep``, or the model
    itself) is read node by node: raw inputs are grouped by name, lookups,
    weight tables, pooling, dense layers and sums become boxes, and plumbing
    (stacking, reshapes, dropout, bias) is folded into the box it follows.
    A model made of several branches adds their logits and applies a sigmoid
    (``WideDeep.call``), so the graph ends with those two boxes.

    Args:
        model: A course model (``WideDeep`` or one functional branch).

    Returns:
        A ``ModelGraph``; ``course_lib.plots.architecture`` draws it.
    """
    boxes: dict[str, Box] = {}
    edges: set[tuple[str, str]] = set()
    members: dict[str, dict[str, None]] = {}  # input group -> raw input names (ordered)
    parts = _functional_parts(model)
    outputs = []
    for part in parts:
        branch = part.name
        feeds: dict[int, set[str]] = {}  # node id -> boxes whose output reaches it
        for depth in sorted(part._nodes_by_depth, reverse=True):
            for node in part._nodes_by_depth[depth]:
                layer, kind = node.operation, type(node.operation).__name__
                sources = set().union(*[feeds.get(id(p), set()) for p in node.parent_nodes])
                if kind == "InputLayer":
                    key = _input_group(layer)
                    boxes.setdefault(key, Box(key, "", "input", ""))
                    members.setdefault(key, {})[layer.name] = None
                    feeds[id(node)] = {key}
                    continue
                if kind in FOLDED_LAYERS or not hasattr(layer, "weights"):  # plumbing (ops.stack...)
                    note = FOLDED_LAYERS.get(kind)
                    for src in sources:
                        if note and note(layer) not in boxes[src].notes:
                            boxes[src].notes.append(note(layer))
                    feeds[id(node)] = sources
                    continue
                key = f"{branch}/{layer.name}"
                if key not in boxes:
                    boxes[key] = Box(key, _layer_label(layer, branch), LAYER_STAGES.get(kind, "pool"), branch)
                edges.update((src, key) for src in sources if src != key)
                feeds[id(node)] = {key}
        out_node = part.outputs[0]._keras_history
        outputs.extend(feeds[id(out_node.operation._inbound_nodes[out_node.node_index])])
    for key, names in members.items():
        names = list(names)
        boxes[key].label = (f"{len(names)} numeric\nfeatures" if key == "input:numeric" else
                            names[0] if len(names) == 1 else f"{key[6:]}_1…{len(names)}")
    # Inputs that no branch reads (e.g. numeric columns of a wide-only model) are not drawn.
    used = {a for a, _ in edges}
    boxes = {k: b for k, b in boxes.items() if b.stage != "input" or k in used}
    if len(parts) > 1:
        boxes["output:sum"] = Box("output:sum", "+\nbranch logits", "output", "")
        edges.update((o, "output:sum") for o in outputs)
        outputs = ["output:sum"]
    if parts[0] is not model:  # WideDeep.call: sigmoid of the (summed) logit
        boxes["output:sigmoid"] = Box("output:sigmoid", "sigmoid\nP(liked)", "output", "")
        edges.update((o, "output:sigmoid") for o in outputs)
    return ModelGraph(model.name, boxes, sorted(edges), [p.name for p in parts])
