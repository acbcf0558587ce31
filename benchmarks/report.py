"""Reporting helpers shared by the benchmark scripts (``benchmarks.run``, ``benchmarks.scale``, ...).

Nothing here measures a model: markdown tables, the machine's facts, a memory
sampler and atomic file writes. Importing it does not import TensorFlow.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import threading
from pathlib import Path

import numpy as np


def md_table(header: list[str], rows: list[list]) -> list[str]:
    """A markdown table's lines."""
    line = lambda cells: "| " + " | ".join(str(c) for c in cells) + " |"  # noqa: E731
    return [line(header), "|" + "---|" * len(header), *(line(r) for r in rows)]


def mean_std_cell(stat: dict, digits: int = 4) -> str:
    """``"0.8052 ± 0.0008"`` from a ``{"mean", "std", "n"}`` summary; ``"—"`` if no value."""
    return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}" if stat["n"] else "—"


def loadavg() -> list[float]:
    """The 1/5/15-minute load averages, rounded ([] where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine_info() -> dict:
    """CPU, cores, RAM, OS, versions and the date (imports TensorFlow for its version and GPUs)."""
    import keras
    import tensorflow as tf

    from course_lib.runtime import NUM_THREADS

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024 ** 2, 1)
    except OSError:
        pass
    os_name = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = f"{line.split('=', 1)[1].strip(chr(34))} ({platform.system()} {platform.release()})"
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable, "ram_gb": ram_gb, "os": os_name,
        "python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
        "numpy": np.__version__, "pandas": __import__("pandas").__version__,
        "tf_threads": NUM_THREADS, "gpus": len(tf.config.list_physical_devices("GPU")),
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def rss_mib() -> float | None:
    """This process's resident memory in MiB (None without psutil)."""
    try:
        import psutil
    except ImportError:
        return None
    return round(psutil.Process().memory_info().rss / 1024 ** 2, 1)


class PeakRSS:
    """Samples the summed RSS of a process tree in a thread (peak in MiB).

    Args:
        children_only: Measure the child processes (a notebook kernel) rather
            than this process plus its children.
    """

    def __init__(self, children_only: bool = True, interval: float = 0.2):
        self.children_only, self.interval = children_only, interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        import psutil

        me = psutil.Process()
        procs = me.children(recursive=True) + ([] if self.children_only else [me])
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval)

    def __enter__(self):
        try:
            import psutil  # noqa: F401
        except ImportError:  # psutil comes with ipykernel; without it, report no figure
            self.peak = None
            return self
        self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.peak is not None:
            self._stop.set()
            self._thread.join()

    @property
    def mib(self):
        return None if self.peak is None else round(self.peak / 1024 ** 2, 1)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so a reader never sees half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def json_default(o):
    """``json.dumps(default=...)`` for NumPy scalars and arrays (anything else: its ``str``)."""
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def verdict_record(v) -> dict:
    """A ``compare.Verdict`` as JSON: the difference, its noise, the verdict and how it was reached."""
    record = {"diff": round(v.diff, 4), "verdict": v.verdict, "method": v.method, "text": str(v)}
    if v.method == "seeds":
        record.update(spread=round(v.spread, 4), in_sd=round(v.in_sd, 2))
    else:
        record.update(low=round(v.low, 4), high=round(v.high, 4))
    return record
