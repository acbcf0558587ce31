"""Friendly checks for the graded assignments: feedback a student can act on.

Introduced with the assignments (``assignments/``, nbgrader). Every check
raises ``AssertionError`` — what nbgrader counts as a failed test — with a
message in plain language: what was expected, what was found, and a hint.
A bare ``assert x.shape == (5,)`` only says "AssertionError"; these say
"movie_vectors should have shape (5,), but it has shape (5, 8). Hint: ...".

Each check returns its (converted) value, so tests can chain them::

    probs = check_probabilities(joint_probability(w, d), "joint_probability(...)")
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


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


def check_auc_above(value: Any, baseline: float, name: str) -> float:
    """Fail unless the AUC ``value`` is a valid AUC strictly above ``baseline``."""
    auc = check_number(value, name)
    if not 0.0 <= auc <= 1.0:
        _fail(name, "be a ROC AUC between 0 and 1", f"it is {auc:.4f}",
              "compute it with course_lib.metrics.auc(y_true, y_score) on the validation rows.")
    if auc <= baseline:
        _fail(name, f"beat the baseline validation AUC {baseline:.4f}", f"it is {auc:.4f}",
              "try other crosses (spec.with_crosses(...)) and make sure you evaluate on the "
              "validation split, not on the training rows.")
    return auc
