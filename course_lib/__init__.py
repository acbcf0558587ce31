"""course_lib: the companion library of the Wide & Deep course.

The notebooks teach; this package holds every function they call, so a fix
lands in one place. Modules, by concept (and the lesson that introduces them):

- ``runtime`` (00): ``setup_notebook`` — seeds, determinism, display.
- ``columns`` (00): column-name constants.
- ``data`` (00): MovieLens registry, verified download, loaders.
- ``synthetic`` (00): MovieLens-shaped random data for fast tests.
- ``split`` (00): the task (``liked``) and the chronological split.
- ``explore`` (00): statistics and plots of the data tour.
- ``notebooks`` (00): headless execution for ``make notebooks``.
- ``prepare`` (01): ``course_data()`` — load, split and featurise in one call.
- ``toys`` (01, 02, assignments): the small worlds lessons 01 and 02 open on.
- ``compare`` (01, used everywhere): scores over seeds (mean ± SD, pooled SD) and
  the course's one rule for "better".
- ``features`` (03, used from 01): the feature contract (``FeatureSpec``) and
  the one leak-free core behind training rows, queries and serving.
- ``models`` (01, 02, 04): wide, deep and ``WideDeep`` (two optimizers).
- ``train`` (03, 04): ``tf.data`` pipelines, ``course_model`` and the one
  training budget ``TRAINING``.
- ``metrics`` (01, 02, 05, 06): AUC, log loss, HR@k / NDCG@k (per user), segments, calibration.
- ``explain`` (01, 02): cross weights, embeddings, seen vs unseen crosses.
- ``leaks`` (03): the two classic leaks, reproduced to measure them.
- ``branch_studies`` (04): when the wide branch pays: the 2x2 deep-inputs grid,
  cross ablation, planted rules.
- ``crosses`` (08): learned crosses after Wide&Deep: FM / DeepFM and DCN-v2
  (``course_model(data, "deepfm")`` / ``"dcn"``).
- ``plots`` (00-06): the lessons' figures, incl. the architecture diagram.
- ``serving`` (05, 06): a model's traced catalogue scoring (behind ``recommend``).
- ``recommend`` (05, 06): top-k from raw ids, cold start, two-stage serving.
- ``evaluation`` (02, 05, 06): the one ranking protocol (HR@k / NDCG@k at each
  user's moment), the popularity baseline, how alike lists are.
- ``ranking`` (06): implicit feedback, sampled negatives, co-occurrence retrieval.
- ``two_tower`` (07): the learned retriever (two towers, in-batch negatives, logQ),
  the union of two retrievers, recall@N by history length.
- ``streaming`` (README): big ratings files in chunks, the same features.
- ``multiworker`` (README): training on several workers (``tf.distribute``).
- ``widgets`` (01, 02, 04, 06): branch, cross and embedding explorers.
- ``checks`` (assignments): plain-language feedback for autograded tests.
- ``answers`` (assignments): the data-only wire format between grader and kernel.
- ``autograde`` (instructors): the trusted grader that decides every test cell.
- ``grading`` (instructors): the sandboxed grading kernel, the learner copy.

Importing ``course_lib`` does not import TensorFlow, so ``setup_notebook`` can
still configure it.
"""

__version__ = "0.1.0"

from course_lib.runtime import setup_notebook  # noqa: E402  (no TF import)

__all__ = ["__version__", "setup_notebook"]
