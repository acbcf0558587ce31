"""One call at the top of every notebook: quiet, seeded, deterministic.

Introduced in lesson 00. ``setup_notebook`` must run before TensorFlow is
imported, because TensorFlow reads its logging and oneDNN switches from the
environment only once, at import time.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import sys
import tempfile
import warnings

#: Environment TensorFlow must see before it is imported (why: quiet logs and
#: bit-identical CPU maths; oneDNN reorders float sums between runs).
TF_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "KERAS_BACKEND": "tensorflow",
    "PYTHONHASHSEED": "0",
}

#: Threads per op. A fixed number (not "all cores") keeps float reductions
#: split the same way on a 2-core CI runner and a 10-core laptop.
NUM_THREADS = 2

DEFAULT_SEED = 42


def configure_environment() -> None:
    """Set the TensorFlow environment variables unless the user set them."""
    for key, value in TF_ENV.items():
        os.environ.setdefault(key, value)


def seed_everything(seed: int = DEFAULT_SEED) -> None:
    """Seed Python, NumPy and Keras/TensorFlow from one number.

    Args:
        seed: The seed; the same seed gives the same run.
    """
    import_tensorflow()
    import keras

    # Seeds Python's random, NumPy's global generator and TensorFlow at once.
    keras.utils.set_random_seed(seed)


#: Lines TensorFlow's C++ side writes to file descriptor 2 while it loads,
#: before its log level applies (absl's pre-init notice, "no CUDA driver", CPU
#: feature and oneDNN notes, GPU plugin double registrations). They teach nothing.
IMPORT_NOISE = re.compile(
    r"absl::InitializeLog|cudart_stub|Could not find cuda drivers|cpu_feature_guard|"
    r"To enable the following instructions|oneDNN custom operations|Unable to register cu|"
    r"computation_placer|TF-TRT Warning|^\s*$")


@contextlib.contextmanager
def _quiet_native_stderr():
    """Capture what native code writes to fd 2; replay on ``sys.stderr`` all but ``IMPORT_NOISE``.

    ``warnings`` and Python errors go through ``sys.stderr`` (in a kernel, not
    fd 2) and are untouched; a real native message still reaches the user.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (some embedded interpreters)
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines() if not IMPORT_NOISE.search(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def import_tensorflow():
    """Import TensorFlow (and Keras) without the C++ start-up chatter; return ``tf``."""
    configure_environment()
    if "tensorflow" not in sys.modules:
        with _quiet_native_stderr():
            import keras  # noqa: F401  (imports TensorFlow: its backend)
            import tensorflow  # noqa: F401
    import tensorflow as tf

    return tf


def configure_tensorflow() -> None:
    """Quiet logs, deterministic ops and fixed thread pools (also used by ``make bench``)."""
    tf = import_tensorflow()
    tf.get_logger().setLevel("ERROR")
    tf.config.experimental.enable_op_determinism()
    # Grappler's arithmetic optimizer regroups sums (e.g. the wide branch's
    # terms) in compiled graphs, so a graph, an eager call and a reloaded
    # model would round differently; off, they agree bit for bit.
    tf.config.optimizer.set_experimental_options({"arithmetic_optimization": False})
    try:
        tf.config.threading.set_intra_op_parallelism_threads(NUM_THREADS)
        tf.config.threading.set_inter_op_parallelism_threads(NUM_THREADS)
    except RuntimeError:
        # The runtime is already initialised (setup called twice): the
        # thread pools keep their first setting, which is ours.
        pass


def is_deterministic() -> bool:
    """Whether TensorFlow runs as ``configure_tensorflow`` sets it (deterministic ops,
    no arithmetic regrouping, the course's thread pools): only then is a trained
    model the course's model, fit to be cached and reused."""
    tf = import_tensorflow()
    # TensorFlow exports enable_op_determinism but not its getter (pinned 2.21 has it here).
    from tensorflow.python.framework.config import is_op_determinism_enabled

    return (is_op_determinism_enabled()
            and tf.config.optimizer.get_experimental_options().get("arithmetic_optimization") is False
            and tf.config.threading.get_intra_op_parallelism_threads() == NUM_THREADS
            and tf.config.threading.get_inter_op_parallelism_threads() == NUM_THREADS)


def _configure_display() -> None:
    import matplotlib as mpl
    import pandas as pd
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    mpl.rcParams.update({"figure.figsize": (7.0, 4.0), "figure.dpi": 90,
                         "savefig.dpi": 90, "axes.titleweight": "bold"})
    pd.set_option("display.precision", 4)
    pd.set_option("display.max_columns", 20)
    pd.set_option("display.width", 120)


def versions() -> dict[str, str]:
    """Return the versions of the course's main packages (for bug reports)."""
    import keras
    import numpy as np
    import pandas as pd
    import tensorflow as tf

    from course_lib import __version__

    return {
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "course_lib": __version__,
    }


def setup_notebook(seed: int = DEFAULT_SEED, verbose: bool = True) -> None:
    """Prepare a notebook kernel: environment, seeds, determinism, display.

    Call it in the first code cell of every notebook, before anything imports
    TensorFlow. Calling it again (after "Restart kernel and run all" or from a
    second cell) is harmless and re-seeds.

    Args:
        seed: Seed for Python, NumPy and Keras.
        verbose: Print the package versions (nbval ignores that cell's output);
            ``versions()`` returns them as a dict.
    """
    if "tensorflow" in sys.modules and os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0":
        warnings.warn(
            "TensorFlow was imported before setup_notebook(); restart the kernel "
            "and call course_lib.setup_notebook() first for reproducible results.",
            stacklevel=2,
        )
    configure_environment()
    # Keras prints a progress bar per epoch unless told otherwise; notebooks
    # pass verbose=0 and we silence TensorFlow's Python-side warnings too.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    configure_tensorflow()
    seed_everything(seed)
    _configure_display()
    if verbose:
        print(" | ".join(f"{k} {v}" for k, v in versions().items()) + f" | seed {seed}")
