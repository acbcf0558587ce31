"""course_lib: the companion library of the Wide & Deep course.

The notebooks teach; this package holds every function they call, so a fix
lands in one place. Modules, by concept (and the lesson that introduces them):

- ``runtime`` (00): ``setup_notebook`` — seeds, determinism, display.
- ``columns`` (00): column-name constants.
- ``data`` (00): MovieLens registry, verified download, loaders.
- ``synthetic`` (00): MovieLens-shaped random data for fast tests.
- ``split`` (00): the task (``liked``) and the chronological split.

Importing ``course_lib`` does not import TensorFlow, so ``setup_notebook`` can
still configure it.
"""

__version__ = "0.1.0"

from course_lib.runtime import setup_notebook  # noqa: E402  (no TF import)

__all__ = ["__version__", "setup_notebook"]
