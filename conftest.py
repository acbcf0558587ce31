"""pytest configuration shared by unit tests and strict nbval runs."""

import os

# TensorFlow reads these once, at import; set them before any test imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def pytest_collectstart(collector):
    """For notebooks: compare stdout and text results, not stderr or HTML twins.

    stderr carries progress bars and library warnings that vary by machine;
    pandas' HTML tables repeat their text/plain twin, which is compared.
    """
    path = getattr(collector, "path", None)
    if path is not None and path.suffix == ".ipynb":
        collector.skip_compare += ("stderr", "text/html", "application/javascript")
