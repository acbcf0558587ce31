"""Wrong submissions the autograder must fail, one list per assignment.

Each ``Wrong`` replaces one solution cell (``cell``, a grade id of
``assignments/source``) with a plausible mistake and names the test cell
(``fails``) that must then lose its points. tests/test_autograder.py runs
them in-process against the graded test cells (hidden tests included);
tests/test_assignments.py submits a few of them to ``nbgrader autograde``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Wrong:
    """One wrong submission.

    Attributes:
        name: Short id (also the nbgrader student id in end-to-end runs).
        cell: Grade id of the solution cell it replaces.
        fails: Grade id of the test cell that must fail.
        source: The cell's new source.
        error: Exception the test must raise: AssertionError (a check's
            plain-language message) unless the submission itself crashes.
    """

    name: str
    cell: str
    fails: str
    source: str
    error: str = "AssertionError"
