"""Friendly checks for the graded assignments: feedback a student can act on.

Introduced with the assignments (``assignments/``, nbgrader). Every check
raises ``AssertionError`` — what nbgrader counts as a failed test — with a
message in plain language: what was expected, what was found, and a hint.
A bare ``assert x.shape == (5,)`` only says "AssertionError"; these say
"movie_vectors should have shape (5,), but it has shape (5, 8). Hint: ...".

Each check returns its (converted) value, so tests can chain them::

    probs = check_probabilities(joint_probability(w, d), "joint_probability(...)")

The visible test cells call them in the learner's kernel, as feedback while
they work; the grade is decided elsewhere, by the trusted grader
(``course_lib.autograde``), which calls the same checks in its own process on
the answers it gets back. They also provide the small seeded data sets the
graded cells train on (``ordered_pairs``, ``taste_clusters`` and its
``liked_histories``) and the toy models the tests build (``lookup_probe``,
``toy_branches``). A passing test cell prints one line, ``passed(...)``;
nothing else.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# The small worlds the graded cells train on live with the lessons that open on them.
from course_lib.toys import liked_histories, ordered_pairs, taste_clusters  # noqa: F401

def _fail(name: str, expected: str, found: str, hint: str | None = None) -> None:
    message = f"{name} should {expected}, but {found}."
    if hint:
        message += f"\nHint: {hint}"
    raise AssertionError(message)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_not_placeholder(value: Any, name: str) -> Any:
    """Fail if ``value`` is still the placeholder of the release (``None`` or ``...``).

    Args:
        value: The student's answer.
        name: How the notebook calls it (shown in the message).
    """
    if value is None or value is Ellipsis:
        _fail(name, "hold your answer", f"it is still {value!r}",
              "replace the placeholder in the cell above with your code and run that cell again.")
    return value


def check_callable(value: Any, name: str) -> Any:
    """Fail unless ``value`` is a function (or other callable)."""
    check_not_placeholder(value, name)
    if not callable(value):
        _fail(name, "be a function", f"it is a {type(value).__name__}: {_describe(value)}",
              "define it with `def` and do not overwrite it with a value later.")
    return value


def check_number(value: Any, name: str) -> float:
    """Fail unless ``value`` is one finite real number; return it as ``float``."""
    check_not_placeholder(value, name)
    try:
        number = float(np.asarray(value).item())
    except (TypeError, ValueError):
        _fail(name, "be a single number", f"it is a {type(value).__name__}: {_describe(value)}",
              "reduce your result to one number, e.g. with float(...).")
    if not math.isfinite(number):
        _fail(name, "be a finite number", f"it is {number}",
              "look for a division by zero or a log of 0 in your computation.")
    return number


def check_shape(value: Any, shape: tuple, name: str) -> np.ndarray:
    """Fail unless ``value`` converts to an array of ``shape`` (``None`` = any size).

    Returns:
        ``value`` as a NumPy array.
    """
    check_not_placeholder(value, name)
    array = np.asarray(value)
    expected = tuple(shape)
    found = array.shape
    if len(found) != len(expected) or any(e is not None and e != f for e, f in zip(expected, found)):
        pretty = "(" + ", ".join("any" if e is None else str(e) for e in expected) + \
                 ("," if len(expected) == 1 else "") + ")"
        _fail(name, f"have shape {pretty}", f"it has shape {found}",
              "print its .shape; a transposed matrix, a missing row or a batch of "
              "(n, 1) instead of (n,) are the usual causes.")
    return array


def check_range(value: Any, lo: float, hi: float, name: str) -> np.ndarray:
    """Fail unless every element of ``value`` is finite and within ``[lo, hi]``."""
    check_not_placeholder(value, name)
    array = np.asarray(value, dtype=np.float64)
    if array.size == 0:
        _fail(name, f"contain values in [{lo}, {hi}]", "it is empty",
              "check that your code returns its result instead of printing it.")
    if not np.all(np.isfinite(array)):
        _fail(name, "contain only finite numbers", f"it contains {int((~np.isfinite(array)).sum())} NaN or inf",
              "look for a division by zero, or exp() of a large number.")
    bad = (array < lo) | (array > hi)
    if bad.any():
        _fail(name, f"lie in [{lo}, {hi}]",
              f"{int(bad.sum())} of {array.size} values do not (min {array.min():.4g}, max {array.max():.4g})",
              "check the formula, e.g. a missing sigmoid, or a modulo on the wrong number.")
    return array


def check_probabilities(value: Any, name: str) -> np.ndarray:
    """Fail unless ``value`` holds probabilities: finite numbers in ``[0, 1]``."""
    array = check_range(value, 0.0, 1.0, name)
    return array


def check_close(value: Any, expected: Any, name: str, tol: float = 1e-4) -> np.ndarray:
    """Fail unless ``value`` matches ``expected`` element-wise within ``tol``."""
    expected = np.asarray(expected, dtype=np.float64)
    array = check_shape(value, expected.shape, name).astype(np.float64)
    diff = np.abs(array - expected)
    if not np.all(diff <= tol):
        worst = int(np.argmax(diff))
        _fail(name, f"equal {_describe(np.round(expected, 4).tolist())} (within {tol:g})",
              f"it is {_describe(np.round(array, 4).tolist())} (largest error {diff.flat[worst]:.4g})",
              "compare your formula with the one in the task, on a small example by hand.")
    return array


def check_auc_above(value: Any, baseline: float, name: str, hint: str | None = None) -> float:
    """Fail unless the AUC ``value`` is a valid AUC strictly above ``baseline``."""
    auc = check_number(value, name)
    if not 0.0 <= auc <= 1.0:
        _fail(name, "be a ROC AUC between 0 and 1", f"it is {auc:.4f}",
              "compute it with course_lib.metrics.auc(y_true, y_score) on the validation rows.")
    if auc <= baseline:
        _fail(name, f"be above {baseline:.4f}", f"it is {auc:.4f}",
              hint or "make sure you evaluate on the validation split, not on the training rows.")
    return auc


def passed(task: str) -> None:
    """The one line a passing test cell prints."""
    print(f"{task}: all checks passed")


def check_changed(before: list, after: list, expect_changed: bool, name: str, hint: str) -> None:
    """Fail unless the weights ``after`` differ from ``before`` exactly when ``expect_changed``."""
    changed = any(not np.array_equal(np.asarray(b), np.asarray(a)) for b, a in zip(before, after))
    if changed != expect_changed:
        _fail(name, "change" if expect_changed else "stay unchanged",
              "they stayed the same" if expect_changed else "they changed", hint)


def lookup_probe(movie_ids, table) -> "keras.Model":  # noqa: F821
    """A tiny model with the layers the deep-branch tasks read: ``movie_lookup`` and ``movie_embedding``.

    ``movie_lookup`` is an ``IntegerLookup`` over ``movie_ids`` laid out as
    the lessons' ``InputEncoder`` lays out its lookups: row 0 is padding (the
    id 0), row 1 the out-of-vocabulary slot, then the ids in the given order
    from row 2. ``movie_embedding`` holds ``table`` (``len(movie_ids) + 2``
    rows), so a test knows exactly which row each id must read.
    """
    import keras
    from keras import layers

    table = np.asarray(table, dtype=np.float32)
    if table.shape[0] != len(movie_ids) + 2:
        raise ValueError(f"table needs len(movie_ids) + 2 = {len(movie_ids) + 2} rows (row 0: padding, "
                         f"row 1: OOV), it has {table.shape[0]}.")
    movie = keras.Input(shape=(), dtype="int64", name="movie")
    rows = layers.IntegerLookup(vocabulary=np.asarray(movie_ids, dtype=np.int64), mask_token=0,
                                name="movie_lookup")(movie)
    vectors = layers.Embedding(table.shape[0], table.shape[1], name="movie_embedding")(rows)
    model = keras.Model({"movie": movie}, vectors, name="probe")
    model.get_layer("movie_embedding").set_weights([table])
    return model


def toy_branches(num_bins: int = 512, embedding_dim: int = 4, seed: int = 0) -> tuple:
    """A small ``(wide, deep)`` pair of branches on inputs ``a`` and ``b`` (logits, shape (batch, 1)).

    The wide branch is linear in one-hot ids and their hashed ordered cross;
    the deep branch embeds both ids and passes them through a hidden layer.
    Same seed, same initial weights: tests rebuild them to know the start.
    """
    import keras
    from keras import layers, ops

    keras.utils.set_random_seed(seed)
    a = keras.Input(shape=(), dtype="int64", name="a")
    b = keras.Input(shape=(), dtype="int64", name="b")
    inputs = {"a": a, "b": b}
    hashed = {"a": ops.mod(a, num_bins), "b": ops.mod(b, num_bins),
              "ab": ops.mod(a * 7_919 + b, num_bins)}
    one_hot = [layers.Embedding(num_bins, 1, name=f"wide_{k}")(v) for k, v in hashed.items()]
    wide = keras.Model(inputs, layers.Dense(1, name="wide_logit")(layers.Concatenate()(one_hot)), name="wide")
    dense = [layers.Embedding(num_bins, embedding_dim, name=f"deep_{k}")(hashed[k]) for k in ("a", "b")]
    hidden = layers.Dense(8, activation="relu", name="deep_hidden")(layers.Concatenate()(dense))
    deep = keras.Model(inputs, layers.Dense(1, name="deep_logit")(hidden), name="deep")
    return wide, deep
