"""Execute notebooks headless — for ``make notebooks`` and ``make bench``.

Introduced for maintainers (lesson 00's "how this course is tested").
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


def execute(path: str | os.PathLike, timeout: int = 900):
    """Run a notebook top to bottom in a fresh kernel of this environment.

    Args:
        path: The ``.ipynb`` file; it runs with its own folder as working directory.
        timeout: Seconds allowed per cell.

    Returns:
        ``(notebook, seconds)``: the executed ``nbformat`` node and the wall time.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    # record_timing=False: no per-cell timestamps, so a re-run that changes
    # nothing leaves the file (and git) unchanged.
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return nb, time.perf_counter() - start


def execute_in_place(path: str | os.PathLike, timeout: int = 900) -> float:
    """Execute ``path`` and replace it atomically with the executed copy.

    The file is only replaced when every cell ran: a failing notebook is left
    as it was, never half-written.

    Returns:
        Wall-clock seconds of the execution.
    """
    import nbformat

    path = Path(path)
    nb, seconds = execute(path, timeout=timeout)
    fd, tmp = tempfile.mkstemp(suffix=".ipynb", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            nbformat.write(nb, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return seconds


#: A lesson's core path ends at its first markdown heading that names this word.
OPTIONAL_HEADING = "Optional"
#: A learner's reading budget: words of markdown on each lesson's core path (about 30 minutes), and
#: on average over the lessons (so the course grows by a mean lesson, not a longest one, per lesson added).
CORE_WORDS_PER_LESSON = 1800
CORE_WORDS_MEAN = 1300


def core_words_course(lessons: int) -> int:
    """The budget of all core paths together for a course of ``lessons`` lessons."""
    return CORE_WORDS_MEAN * int(lessons)


def core_words(path: str | os.PathLike) -> int:
    """Words of markdown on a lesson's core path: every markdown cell before the first
    heading (a line starting with ``#``) that contains "Optional".

    A word is a run of non-blank characters, as a reader counts them; code cells do not count.
    """
    import json

    cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    words = 0
    for cell in cells:
        if cell["cell_type"] != "markdown":
            continue
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if any(line.lstrip().startswith("#") and OPTIONAL_HEADING in line for line in text.splitlines()):
            break
        words += len(text.split())
    return words


if __name__ == "__main__":  # python -m course_lib.notebooks notebooks/*.ipynb: the reading budget
    import sys

    total = 0
    for name in sys.argv[1:]:
        n = core_words(name)
        total += n
        print(f"{n:6d}  {name}" + ("  (over budget)" if n > CORE_WORDS_PER_LESSON else ""))
    print(f"{total:6d}  in all (budget {CORE_WORDS_PER_LESSON} per lesson, "
          f"{core_words_course(len(sys.argv) - 1)} in all)")
