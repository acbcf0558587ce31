"""Execute notebooks headless — for ``make notebooks`` and the benchmarks.

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
