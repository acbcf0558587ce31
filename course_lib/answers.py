"""The wire format between the trusted grader and a student's kernel: arrays, never code or objects.

Introduced with trusted grading (``course_lib.autograde``, issue 21). The
grader never asks a student's kernel whether a check passed: it sends a
**request** — the source of a small function ``probe(inputs)`` that the
grader wrote, and its inputs as arrays — and the kernel prints back one
line holding what the probe returned::

    <<answer NONCE>>BASE64 OF AN .npz<<answer NONCE>>

The grader judges those values in its own process. Both directions use
``np.savez`` / ``np.load(allow_pickle=False)``: an answer is numbers or
strings, so a forged one can at most be wrong; it cannot run code in the
grader. Lists of arrays travel as ``key/0``, ``key/1``, ... and come back
as lists.

This module runs on both sides (the kernel imports it to answer), so it
needs only NumPy.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import zipfile
from typing import Any

import numpy as np

#: The largest answer the grader reads (an answer is a few arrays, not a data set).
MAX_BYTES = 64 << 20
_ITEM = re.compile(r"^(?P<key>.+)/(?P<index>\d+)$")


class NoAnswer(AssertionError):
    """The kernel gave no readable answer: missing, several, malformed or too large (a failed check)."""


def pack(values: dict[str, Any]) -> str:
    """Arrays (or lists of arrays) by name -> one base64 text (an ``.npz``, no pickle).

    Raises:
        ValueError: A value is not numbers or strings (e.g. a model object).
    """
    flat = {}
    for key, value in values.items():
        if "/" in key:
            raise ValueError(f"answer keys may not contain '/': {key!r}")
        items = enumerate(value) if isinstance(value, (list, tuple)) else [(None, value)]
        for index, item in items:
            array = np.asarray(item)
            if array.dtype.kind not in "biufcUS":
                raise ValueError(f"{key!r} must hold numbers or strings, not {type(item).__name__}")
            flat[key if index is None else f"{key}/{index}"] = array
    buffer = io.BytesIO()
    np.savez(buffer, **flat)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def unpack(text: str) -> dict[str, Any]:
    """The inverse of ``pack``: arrays by name, ``key/i`` entries regrouped into lists.

    Raises:
        NoAnswer: The text is not a packed answer, or it is larger than ``MAX_BYTES``.
    """
    if len(text) > MAX_BYTES * 4 // 3 + 4:
        raise NoAnswer(f"the answer is larger than {MAX_BYTES >> 20} MiB")
    try:
        with np.load(io.BytesIO(base64.b64decode(text, validate=True)), allow_pickle=False) as npz:
            flat = {key: npz[key] for key in npz.files}
    except (binascii.Error, ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise NoAnswer(f"the answer could not be read ({type(exc).__name__})") from None
    values: dict[str, Any] = {}
    lists: dict[str, dict[int, np.ndarray]] = {}
    for key, array in flat.items():
        item = _ITEM.match(key)
        if item:
            lists.setdefault(item["key"], {})[int(item["index"])] = array
        else:
            values[key] = array
    for key, items in lists.items():
        values[key] = [items[i] for i in sorted(items)]
    return values


def _marker(nonce: str) -> str:
    return f"<<answer {nonce}>>"


def request_code(probe: str, inputs: dict[str, Any], nonce: str) -> str:
    """The code a grader runs in the student's kernel: ``probe`` on ``inputs``, answer printed."""
    return (f"import course_lib.answers as _course_answers\n"
            f"_course_answers.respond({probe!r}, {pack(inputs)!r}, {nonce!r}, globals())\n"
            f"del _course_answers")


def _plain(value: np.ndarray) -> Any:
    """A 0-d input array as the Python scalar a student's function expects (``range(k)``...)."""
    return value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value


def respond(probe: str, payload: str, nonce: str, namespace: dict) -> None:
    """Kernel side: define ``probe`` against the student's ``namespace``, call it, print the answer."""
    inputs = {key: ([_plain(v) for v in value] if isinstance(value, list) else _plain(value))
              for key, value in unpack(payload).items()}
    local: dict[str, Any] = {}
    # The probe's globals are the student's namespace: it calls their functions by name.
    exec(compile(probe, "<grader probe>", "exec"), namespace, local)  # noqa: S102  (the grader's own code)
    answer = pack(local["probe"](inputs))
    print(_marker(nonce) + answer + _marker(nonce))


def read(text: str, nonce: str) -> dict[str, Any]:
    """Grader side: the one answer tagged ``nonce`` in the kernel's printed ``text``.

    Raises:
        NoAnswer: No answer, several, or one that cannot be read.
    """
    mark = re.escape(_marker(nonce))
    found = re.findall(f"{mark}([A-Za-z0-9+/=]*){mark}", text)
    if len(found) != 1:
        raise NoAnswer("no answer came back" if not found else f"{len(found)} answers came back instead of one")
    return unpack(found[0])
