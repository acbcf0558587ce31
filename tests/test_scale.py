"""The scale path: time-correct streaming features and a real two-worker run."""

import os

import numpy as np
import pandas as pd
import pytest

from course_lib import streaming
from course_lib.columns import ITEM, RATING, SPLIT, TIMESTAMP, USER


def _write(folder, ratings: pd.DataFrame, movies_from):
    folder.mkdir(parents=True, exist_ok=True)
    ratings.rename(columns={v: k for k, v in streaming.CSV_COLUMNS.items()}).to_csv(
        folder / "ratings.csv", index=False, columns=list(streaming.CSV_COLUMNS))
    (folder / "movies.csv").write_bytes((movies_from / "movies.csv").read_bytes())


def _read(folder) -> pd.DataFrame:
    raw = pd.read_csv(folder / "ratings.csv").rename(columns=streaming.CSV_COLUMNS)
    return raw.astype({USER: "int64", ITEM: "int64", RATING: "float32", TIMESTAMP: "int64"})


def _stream(folder, chunk_rows=37) -> pd.DataFrame:
    movies = streaming.load_movies_csv(folder)
    feats = pd.concat(list(streaming.stream_features(folder, movies, chunk_rows=chunk_rows)), ignore_index=True)
    feats[SPLIT] = feats[SPLIT].astype(str)
    return feats


@pytest.fixture()
def csv_folder(tmp_path):
    streaming.write_synthetic_csv(tmp_path / "base", n_users=60, n_movies=80, ratings_per_user=(5, 40), seed=2,
                                  users_per_call=25)
    return tmp_path / "base"


def test_streamed_features_equal_build_features_on_the_whole_file(csv_folder):
    # The two-pass design is exact, so the skew tolerance is zero: same rows, same values, same dtypes.
    from course_lib.features import build_features
    from course_lib.split import make_task

    movies = streaming.load_movies_csv(csv_folder)
    expected = build_features(make_task(_read(csv_folder)), movies).reset_index(drop=True)
    expected[SPLIT] = expected[SPLIT].astype(str)
    streamed = _stream(csv_folder)  # chunks of 37 rows: users carried over chunk boundaries
    pd.testing.assert_frame_equal(streamed, expected)


def test_future_ratings_do_not_move_any_earlier_row(csv_folder, tmp_path):
    raw = _read(csv_folder)
    cut = int(raw[TIMESTAMP].median())
    future = raw[TIMESTAMP] >= cut
    # The hazard a one-pass, file-order featurizer falls into: users early in the file rate
    # after users later in the file, so "earlier in the file" is not "earlier in time".
    first_future_user = raw.loc[future, USER].min()
    assert (raw.loc[~future, USER] > first_future_user).any()

    changed = raw.copy()
    changed.loc[future, RATING] = 5.5 - changed.loc[future, RATING]  # 0.5 <-> 5.0: every future rating moves
    _write(tmp_path / "changed", changed, csv_folder)

    before, after = _stream(csv_folder), _stream(tmp_path / "changed")
    past = (before[TIMESTAMP] < cut).to_numpy()
    pd.testing.assert_frame_equal(before[past], after[past])
    # Not vacuous: later rows do see the change (their history and labels moved).
    moved = [c for c in before.columns if not before.loc[~past, c].equals(after.loc[~past, c])]
    assert {"movie_rating_mean", "user_rating_mean", "liked"} <= set(moved)


def test_reader_yields_complete_users_sorted_by_time(csv_folder):
    from course_lib.split import make_task

    task = make_task(_read(csv_folder))
    # A chunk far smaller than a user's history forces the carry-over of partial users.
    chunks = list(streaming.stream_ratings(csv_folder / "ratings.csv", chunk_rows=37))
    assert len(chunks) > 3
    assert all(not set(a[USER]) & set(b[USER]) for a, b in zip(chunks, chunks[1:]))
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True),
                                  task[[USER, ITEM, RATING, TIMESTAMP]].reset_index(drop=True))


def test_reader_rejects_a_file_not_grouped_by_user(tmp_path):
    pd.DataFrame({"userId": [1, 2, 1], "movieId": [1, 2, 3], "rating": [4.0, 3.0, 5.0],
                  "timestamp": [1, 2, 3]}).to_csv(tmp_path / "ratings.csv", index=False)
    with pytest.raises(ValueError, match="not ordered by userId"):
        list(streaming.stream_ratings(tmp_path, chunk_rows=2))


def test_workers_shard_the_chunks_and_agree_on_steps(csv_folder):
    plan = streaming.plan_stream(csv_folder, chunk_rows=200)
    assert len(plan.chunk_sizes) >= 4
    shares = plan.shard_train_rows(2)
    assert sum(shares) == sum(plan.chunk_train_rows)
    movies = streaming.load_movies_csv(csv_folder)
    parts = [pd.concat(list(streaming.stream_features(csv_folder, movies, plan=plan, shard=(i, 2))))
             for i in range(2)]
    assert not set(parts[0][USER]) & set(parts[1][USER])
    assert [int((p[SPLIT] == "train").sum()) for p in parts] == shares


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_workers_train_like_one_worker_on_the_same_global_batches(csv_folder, tmp_path):
    """Both workers step to the end; the chief's saved model matches a one-process run.

    Tolerance: 1e-5 on predicted probabilities. The two runs do the same
    float32 operations on the same global batches from the same initial
    weights (the chief's, broadcast), except the order of additions: each
    worker sums its half of the batch and the all-reduce adds the halves. A
    reordered float32 sum of B = 64 terms differs by at most
    (B - 1) * 2**-24 = 3.8e-6 relative (Higham's gamma bound; typically
    sqrt(B) * 2**-24 = 5e-7). To first order such an error in every gradient
    moves a prediction by that fraction of the path training moved it along
    (well under 1 probability unit in 14 steps), so < 4e-6; 1e-5 leaves room
    for second-order feedback. Measured: 1.8e-7. Real faults are 4 orders
    above it (measured on this file): the stock loss, whose gradients the
    all-reduce sums unscaled, moves predictions by 0.16; one worker training
    alone on its half, 0.73. Training itself must move them by > 1e-2.
    """
    import keras

    import course_lib.models  # noqa: F401  (registers WideDeep and its layers for loading)
    from course_lib import multiworker as mw
    from course_lib.train import model_inputs

    job = mw.Job(data=str(csv_folder), out=str(tmp_path / "run"), global_batch=64, chunk_rows=200,
                 model=dict(mw.TINY_MODEL))
    res = mw.launch_local(job, 2, timeout=200)  # then stopped, failing with the workers' logs
    reports = res["workers"]
    assert [r["index"] for r in reports] == [0, 1]
    assert all(r["finished"] and r["workers"] == 2 and r["local_batch"] == 32 for r in reports)
    steps = reports[0]["planned_steps"]
    assert steps >= 10 and all(r["steps"] == steps for r in reports)

    chief = keras.saving.load_model(res["model"], compile=False)
    reference, spec, done = mw.train_reference(job, 2)
    assert done == steps
    untrained = mw.build_model(spec, job)

    rows = _stream(csv_folder, chunk_rows=200)
    x = model_inputs(rows[rows[SPLIT] == "test"], spec)
    p_chief = np.asarray(chief.predict(x, verbose=0))
    p_ref = np.asarray(reference.predict(x, verbose=0))
    p_init = np.asarray(untrained.predict(x, verbose=0))
    assert np.abs(p_ref - p_init).max() > 1e-2
    print(f"max |chief - reference| = {np.abs(p_chief - p_ref).max():.2e}")
    np.testing.assert_allclose(p_chief, p_ref, rtol=0, atol=1e-5)


def test_auto_source_takes_a_big_release_only_when_already_on_disk(tmp_path, monkeypatch, no_network):
    from course_lib.data import _MARKER

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert streaming.local_release() is None  # nothing cached, no mirror: synthetic, and no download
    streaming.write_synthetic_csv(tmp_path / "ml-25m", n_users=5, n_movies=20, ratings_per_user=(5, 10))
    (tmp_path / "ml-25m" / _MARKER).write_text("")
    assert streaming.local_release() == ("ml-25m", tmp_path / "ml-25m")


def test_compile_model_is_replica_safe_under_a_strategy_and_stock_outside(synthetic_features):
    import keras
    import tensorflow as tf

    from course_lib.models import build_wide_deep
    from course_lib.train import compile_model

    spec = synthetic_features[1]
    plain = compile_model(build_wide_deep(spec, "wide_deep", seed=0))
    assert type(plain.loss) is keras.losses.BinaryCrossentropy  # the lessons' models are untouched
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        model = compile_model(build_wide_deep(spec, "wide_deep", seed=0))
    # Both optimizers exist before strategy.run, which would make their slots per replica.
    assert model.optimizer.built and model.wide_optimizer.built
    y, p = np.array([1.0, 0.0, 1.0], np.float32), np.array([0.9, 0.2, 0.6], np.float32)
    # One value per example, which Keras divides by the replica count; the same mean on one replica.
    assert tuple(model.loss.call(y, p).shape) == (3,)
    np.testing.assert_allclose(float(model.loss(y, p)), float(plain.loss(y, p)), rtol=1e-6)


@pytest.mark.slow
def test_a_model_trained_under_a_strategy_loads_with_its_loss_in_a_fresh_process(synthetic_features, tmp_path):
    """The replica-safe loss is registered where the course's layers are: loading
    the saved model with its compile state needs nothing but ``course_lib.models``."""
    import subprocess
    import sys

    import tensorflow as tf

    from course_lib.models import build_wide_deep
    from course_lib.train import compile_model

    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        model = compile_model(build_wide_deep(synthetic_features[1], "wide_deep", seed=0))
    path = tmp_path / "model.keras"
    model.save(path)
    code = ("import keras, course_lib.models\n"
            f"m = keras.saving.load_model({str(path)!r})\n"
            "print(type(m.loss).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "ReplicaBinaryCrossentropy"
