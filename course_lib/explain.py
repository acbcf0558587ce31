"""Look inside trained models: cross weights, embeddings, seen vs unseen crosses, architecture.

Introduced in lessons 01 (cross weights, seen crosses), 02 (embeddings) and
04 (architecture). The explorers in ``course_lib.widgets`` show what these
functions compute. Functions take a ``WideDeep`` (its shared ``encoder`` does
the id lookups, its ``wide``/``deep`` branches hold the weights); where a
layer lives is decided in the small helpers below only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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


# ---------------------------------------------- where the layers live ---

def _branch(model, name: str):
    """``model.wide`` / ``model.deep`` of a ``WideDeep`` (a bare branch cannot look up raw ids)."""
    if getattr(model, "encoder", None) is None:
        raise ValueError(f"pass the WideDeep model (build_wide_deep), not one of its branches: its encoder "
                         f"maps raw ids to the {name} branch's indices.")
    branch = getattr(model, name, None)
    if branch is None:
        raise ValueError(f"this model has no {name} branch; pass a Wide&Deep or {name}-only WideDeep model.")
    return branch


def _layer(branch, suffix: str, hint: str):
    """The layer of ``branch`` whose name ends with ``suffix`` (the branch prefix may vary)."""
    for layer in branch.layers:
        if layer.name.endswith(suffix):
            return layer
    raise ValueError(f"model {branch.name!r} has no layer '*{suffix}'; {hint}")


def _movie_index(model, movie_ids) -> np.ndarray:
    """Raw movie ids -> their indices in the model (0 padding, 1 out of vocabulary)."""
    return np.asarray(model.encoder.movie(np.asarray(movie_ids, dtype=np.int64)))


def _movie_vocabulary(model) -> np.ndarray:
    """The movie ids of indices 2, 3, ... (0 is padding, 1 the out-of-vocabulary slot)."""
    return np.asarray(model.encoder.movie.get_vocabulary()[2:], dtype=np.int64)


def _pair_index(model, movie, liked):
    """Index of each (candidate, liked movie) pair in the exact pair vocabulary, or None if hashed."""
    lookup = getattr(model.encoder, "pair", None)
    return None if lookup is None else np.asarray(lookup(pair_keys(movie, liked)))


def _titles(movies: pd.DataFrame | None, ids) -> np.ndarray:
    """Titles of ``ids`` ("" without a movies table, "(unknown movie)" for ids it lacks)."""
    if movies is None:
        return np.asarray([""] * len(ids), dtype=object)
    lookup = movies.drop_duplicates(ITEM).set_index(ITEM)[TITLE]
    return lookup.reindex(np.asarray(ids)).fillna("(unknown movie)").to_numpy(object)


# ------------------------------------------------ lesson 01: crosses ---

def movie_cross_weights(model, pairs: pd.DataFrame) -> np.ndarray:
    """Learned weight of each (movie, liked movie) pair in the wide model's cross.

    Works for the exact pair vocabulary (unseen pairs weigh exactly 0) and
    for the hashed variant (unseen pairs pick up whatever shares their bin).

    Args:
        model: A ``WideDeep`` with a wide branch.
        pairs: Columns ``movie_id`` (candidate) and ``liked_movie``.
    """
    wide = _branch(model, "wide")
    movie = pairs[ITEM].to_numpy(np.int64)
    liked = pairs["liked_movie"].to_numpy(np.int64)
    layer = _layer(wide, "_movie_x_history",
                   "build the wide model with the 'movie_x_history' cross (spec.with_crosses(...)).")
    table = layer.table.numpy()
    idx = _pair_index(model, movie, liked)
    if idx is not None:
        return np.where(idx > 0, table[idx], 0.0)
    a, b = _movie_index(model, movie), _movie_index(model, liked)
    return table[np.asarray(layer.pair_ids(a[:, None], b[:, None]))[:, 0, 0]]


def top_cross_partners(model, spec, movie_id: int, candidates=None, k: int = 10,
                       movies: pd.DataFrame | None = None) -> pd.DataFrame:
    """The candidates whose learned ``movie_x_history`` weight with one liked movie is highest.

    The wide model adds ``w[candidate, h]`` to the logit for every movie
    ``h`` in the user's recent likes: these are the memorised "liked X, then
    liked Y" rules of one X.

    Args:
        model: A trained ``WideDeep`` with a wide branch.
        spec: Its ``FeatureSpec``.
        movie_id: The liked (history) movie.
        candidates: Candidate movie ids (default: the spec's movie vocabulary).
        k: How many partners.
        movies: Movies table, to add titles (optional).

    Returns:
        Columns rank, movie_id, title, weight; highest weight first (ties by
        movie id). The movie itself is never its own partner.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    cand = np.asarray(spec.movies if candidates is None else candidates, dtype=np.int64)
    cand = cand[cand != int(movie_id)]
    pairs = pd.DataFrame({ITEM: cand, "liked_movie": np.full(len(cand), int(movie_id), dtype=np.int64)})
    weights = np.asarray(movie_cross_weights(model, pairs), dtype=np.float64).reshape(-1)
    order = np.lexsort((cand, -weights))[:k]
    return pd.DataFrame({"rank": np.arange(1, len(order) + 1), ITEM: cand[order],
                         TITLE: _titles(movies, cand[order]), "weight": np.round(weights[order], 4)})


def top_movie_crosses(model, features: pd.DataFrame, movies: pd.DataFrame, k: int = 10,
                      min_count: int = 3) -> pd.DataFrame:
    """The strongest "liked A -> likes B" rules the wide model memorised, over all movies.

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
    return pd.DataFrame({
        "liked": _titles(movies, pairs["liked_movie"]),
        "likes": _titles(movies, pairs[ITEM]),
        "weight": pairs["weight"].round(3).to_numpy(),
        "train_rows": pairs["size"].to_numpy(),
        "liked_rate": pairs["mean"].round(2).to_numpy(),
    })


def genre_cross_matrix(model, spec) -> pd.DataFrame:
    """The genre x genre cross weights as a (user genre) x (candidate genre) table."""
    layer = _layer(_branch(model, "wide"), "_genre_x_genre", "build the wide model with the 'genre_x_genre' cross.")
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

    wide = _branch(model, "wide")
    layer = _layer(wide, f"_{name}", f"build the wide model with the {name!r} cross.")
    probe = keras.Model(wide.inputs, layer.output)
    x = model.encode(inputs)
    return np.asarray(probe.predict_on_batch({t.name: x[t.name] for t in wide.inputs})).reshape(-1)


# --------------------------------------------- lesson 02: embeddings ---

def movie_embeddings(model, movie_ids=None) -> pd.DataFrame:
    """The deep model's learned movie embeddings, one row per movie id.

    Args:
        model: A ``WideDeep`` with a deep branch.
        movie_ids: Rows to return, in this order (default: the training
            vocabulary, whose embeddings were learned).

    Raises:
        ValueError: If a requested id is not in the vocabulary (it would only
            get the shared out-of-vocabulary vector).
    """
    deep = _branch(model, "deep")
    table = _layer(deep, "_movie_embedding", "is this a course deep model (build_deep)?").get_weights()[0]
    vocab = _movie_vocabulary(model)
    # Rows 0 and 1 are padding and the out-of-vocabulary slot.
    frame = pd.DataFrame(table[2:2 + len(vocab)], index=pd.Index(vocab, name=ITEM))
    if movie_ids is None:
        return frame
    ids = np.asarray(movie_ids, dtype=np.int64)
    unknown = ids[~np.isin(ids, vocab)]
    if len(unknown):
        raise ValueError(f"movies {unknown[:5].tolist()} have no learned embedding (not in the training "
                         "vocabulary); pick ids from spec.movies.")
    return frame.loc[ids]


def nearest_movies(embeddings: pd.DataFrame, movie_id: int, movies: pd.DataFrame | None = None, k: int = 8,
                   candidates=None) -> pd.DataFrame:
    """The ``k`` movies whose embeddings are closest (cosine) to ``movie_id``'s.

    Args:
        embeddings: Output of ``movie_embeddings``.
        movie_id: The query movie.
        movies: For titles and genres (optional).
        k: How many neighbours.
        candidates: Movie ids allowed as neighbours (e.g. movies with enough
            training ratings: a movie rated twice has an embedding that is
            mostly its random initialisation).

    Returns:
        Columns rank, movie_id, title, genres, cosine (in [-1, 1], highest
        first); the movie itself is excluded.

    Raises:
        ValueError: If the movie has no embedding (not in the training vocabulary).
    """
    if int(movie_id) not in embeddings.index:
        raise ValueError(f"movie {movie_id} has no learned embedding (not in the training vocabulary); "
                         "pick one from spec.movies.")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    vectors = embeddings.to_numpy(np.float64)
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sim = np.clip(unit @ unit[embeddings.index.get_loc(int(movie_id))], -1.0, 1.0)
    ids = embeddings.index.to_numpy()
    allowed = (ids != int(movie_id)) & (True if candidates is None else np.isin(ids, list(candidates)))
    order = [i for i in np.lexsort((ids, -sim)) if allowed[i]][:k]
    genres = (movies.drop_duplicates(ITEM).set_index(ITEM)[GENRES].reindex(ids[order]).to_numpy()
              if movies is not None else np.asarray([""] * len(order), dtype=object))
    return pd.DataFrame({"rank": np.arange(1, len(order) + 1), ITEM: ids[order], TITLE: _titles(movies, ids[order]),
                         GENRES: genres, "cosine": np.round(sim[order], 4)})


def embedding_map(embeddings: pd.DataFrame, movies: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """2-D PCA coordinates of movie embeddings with each movie's first genre."""
    from sklearn.decomposition import PCA

    xy = PCA(n_components=2, random_state=seed).fit_transform(embeddings.to_numpy())
    info = movies.set_index(ITEM).reindex(embeddings.index)
    first = info[GENRES].fillna("").str.split("|").str[0]
    return pd.DataFrame({ITEM: embeddings.index, "x": xy[:, 0], "y": xy[:, 1], "genre": first.to_numpy(),
                         TITLE: info[TITLE].to_numpy()})


# ------------------------------------------------------ architecture graph ---

#: Columns of the architecture diagram, left to right: raw inputs, the shared
#: encoder, what it hands the branches, then each branch's own layers.
STAGES = ("input", "encoder", "encoded", "lookup", "weights", "pool", "mlp", "sum", "output")
#: Keras layer class -> stage. Any other layer gets a box in the "pool" column.
LAYER_STAGES = {
    "IntegerLookup": "lookup", "StringLookup": "lookup", "Hashing": "lookup", "HashedCrossing": "lookup",
    "Discretization": "lookup", "Normalization": "lookup",
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


def _input_group(name: str, dtype: str) -> str:
    """The box of a raw input: ``hist_movie_1..5`` share one, so do all float inputs ("numeric")."""
    return "input:numeric" if dtype.startswith("float") else "input:" + re.sub(r"_\d+$", "", name)


def _encoder_label(encoder) -> str:
    """The encoder's name and each lookup it holds, with its vocabulary size."""
    lines = [f"{type(encoder).__name__}", "lookups (entries):"]
    for sub in encoder._flatten_layers(include_self=False, recursive=False):
        size = sub.vocabulary_size() if hasattr(sub, "vocabulary_size") else None
        name = sub.name.removesuffix("_lookup").replace("_", " ")
        lines.append(name + (f": {size:,}" if size is not None else ""))
    return "\n".join(lines)


def _dense_label(layer) -> str:
    act = getattr(layer.activation, "__name__", "")
    return f"Dense {layer.units}" + (f" {act}" if act and act != "linear" else "\nlogit" if layer.units == 1 else "")


#: Keras layer class -> its box text, from the layer and its short name (branch prefix dropped).
LAYER_LABELS = {
    "IntegerLookup": lambda l, name: f"{name}\n{l.vocabulary_size():,} entries",
    "StringLookup": lambda l, name: f"{name}\n{l.vocabulary_size():,} entries",
    "Discretization": lambda l, name: f"{name}\n{len(l.bin_boundaries) + 1} buckets",
    "SparseLinear": lambda l, name: f"{name}{' cross' if ' × ' in name else ' weights'}\n{l.size:,} weights",
    "CrossWeights": lambda l, name: f"{name} cross\n{l.table_size:,} weights",
    "Embedding": lambda l, name: f"{name}\n{l.input_dim:,} × {l.output_dim}",
    "Normalization": lambda l, name: f"{name}\n(x − mean) / sd",
    "Concatenate": lambda l, name: f"concatenate\n{l.output.shape[-1]} values",
    "MaskedMean": lambda l, name: f"{name}\n(masked mean)",
    "Dense": lambda l, name: _dense_label(l),
    "Add": lambda l, name: "sum of terms",
}


def _layer_label(layer, branch: str) -> str:
    kind = type(layer).__name__
    short = layer.name[len(branch) + 1:] if layer.name.startswith(branch + "_") else layer.name
    pretty = short.replace("_x_", " × ").replace("_", " ")
    return LAYER_LABELS[kind](layer, pretty) if kind in LAYER_LABELS else f"{pretty}\n{kind}"


def _functional_parts(model) -> list:
    """The functional sub-models to draw: the model itself, or its functional sub-layers (branches)."""
    if hasattr(model, "_nodes_by_depth"):
        return [model]
    parts = [layer for layer in model.layers if hasattr(layer, "_nodes_by_depth")]
    if not parts:
        raise ValueError(f"model {model.name!r} has no functional branches to draw; build it with "
                         "course_lib.models (build_wide, build_deep, build_wide_deep).")
    return parts


def _merge_chains(boxes: dict[str, Box], edges: set[tuple[str, str]], stage: str) -> dict[str, str]:
    """Fold a chain of boxes of one stage (Dense -> Dense -> Dense) into its first box, in place.

    Returns:
        Which box each folded box went into.
    """
    into_box: dict[str, str] = {}
    while True:
        out, into = {}, {}
        for a, b in edges:
            out.setdefault(a, []).append(b)
            into.setdefault(b, []).append(a)
        link = next(((a, b) for a, b in sorted(edges) if boxes[a].stage == boxes[b].stage == stage
                     and out[a] == [b] and into[b] == [a]), None)
        if link is None:
            return {k: into_box.get(v, v) for k, v in into_box.items()}
        a, b = link
        into_box.update({b: a, **{k: a for k, v in into_box.items() if v == b}})
        first, second = boxes[a], boxes.pop(b)
        first.label += "\n→ " + second.label.replace("\n", " ")
        first.notes += [n for n in second.notes if n not in first.notes]
        edges.discard(link)
        for x, y in list(edges):
            if x == b:
                edges.discard((x, y))
                edges.add((a, y))


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
    # A shared encoder (course_lib.models.InputEncoder) turns raw inputs into the
    # branches' inputs: every raw input feeds it, and it feeds every branch input.
    encoders = [] if parts[0] is model else [l for l in model.layers if not hasattr(l, "_nodes_by_depth")]
    spec = getattr(model, "spec", None)
    for enc in encoders:
        key = f"encoder:{enc.name}"
        boxes[key] = Box(key, _encoder_label(enc), "encoder", "")
        for name in getattr(spec, "input_names", []):
            group = _input_group(name, "float" if name in spec.numeric else "int")
            boxes.setdefault(group, Box(group, "", "input", ""))
            members.setdefault(group, {})[name] = None
            edges.add((group, key))
    outputs = []
    for part in parts:
        branch = part.name
        feeds: dict[int, set[str]] = {}  # node id -> boxes whose output reaches it
        for depth in sorted(part._nodes_by_depth, reverse=True):
            for node in part._nodes_by_depth[depth]:
                layer, kind = node.operation, type(node.operation).__name__
                sources = set().union(*[feeds.get(id(p), set()) for p in node.parent_nodes])
                if kind == "InputLayer" and encoders:  # an encoded input, shared by the branches
                    key = f"encoded:{layer.name}"
                    width = layer.output.shape[1:]
                    boxes.setdefault(key, Box(key, layer.name + (f"\n×{width[0]}" if width else ""), "encoded", ""))
                    edges.update((f"encoder:{e.name}", key) for e in encoders)
                    feeds[id(node)] = {key}
                    continue
                if kind == "InputLayer":
                    key = _input_group(layer.name, str(layer.output.dtype))
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
    used = {a for a, _ in edges if not a.startswith("encoder:")}
    boxes = {k: b for k, b in boxes.items() if b.stage not in ("input", "encoded") or k in used
             or (b.stage == "input" and encoders)}
    edges = {(a, b) for a, b in edges if a in boxes and b in boxes}
    folded = _merge_chains(boxes, edges, "mlp")
    outputs = [folded.get(o, o) for o in outputs]
    if len(parts) > 1:
        boxes["output:sum"] = Box("output:sum", "+\nbranch logits", "output", "")
        edges.update((o, "output:sum") for o in outputs)
        outputs = ["output:sum"]
    if parts[0] is not model:  # WideDeep.call: sigmoid of the (summed) logit
        boxes["output:sigmoid"] = Box("output:sigmoid", "sigmoid\nP(liked)", "output", "")
        edges.update((o, "output:sigmoid") for o in outputs)
    return ModelGraph(model.name, boxes, sorted(edges), [p.name for p in parts])
