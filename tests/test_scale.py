"""The scale path: time-correct streaming features and a real two-worker run."""

import numpy as np
import pandas as pd
import pytest

from course_lib.columns import ITEM, RATING, SPLIT, TIMESTAMP, USER


def _write(folder, ratings: pd.DataFrame, movies_from):
    from benchmarks import scale

    folder.mkdir(parents=True, exist_ok=True)
    ratings.rename(columns={v: k for k, v in scale.CSV_COLUMNS.items()}).to_csv(
        folder / "ratings.csv", index=False, columns=list(scale.CSV_COLUMNS))
    (folder / "movies.csv").write_bytes((movies_from / "movies.csv").read_bytes())


def _read(folder) -> pd.DataFrame:
    from benchmarks import scale

    raw = pd.read_csv(folder / "ratings.csv").rename(columns=scale.CSV_COLUMNS)
    return raw.astype({USER: "int64", ITEM: "int64", RATING: "float32", TIMESTAMP: "int64"})


def _stream(folder, chunk_rows=37) -> pd.DataFrame:
    from benchmarks import scale

    movies = scale.load_movies_csv(folder)
    feats = pd.concat(list(scale.stream_features(folder, movies, chunk_rows=chunk_rows)), ignore_index=True)
    feats[SPLIT] = feats[SPLIT].astype(str)
    return feats


@pytest.fixture()
def csv_folder(tmp_path):
    from benchmarks import scale

    scale.write_synthetic_csv(tmp_path / "base", n_users=60, n_movies=80, ratings_per_user=(5, 40), seed=2,
                              users_per_call=25)
    return tmp_path / "base"


def test_streamed_features_equal_build_features_on_the_whole_file(csv_folder):
    # The two-pass design is exact, so the skew tolerance is zero: same rows, same values, same dtypes.
    from benchmarks import scale
    from course_lib.features import build_features
    from course_lib.split import make_task

    movies = scale.load_movies_csv(csv_folder)
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


def test_workers_shard_the_chunks_and_agree_on_steps(csv_folder):
    from benchmarks import scale

    plan = scale.plan_stream(csv_folder, chunk_rows=200)
    assert len(plan.chunk_sizes) >= 4
    shares = plan.shard_train_rows(2)
    assert sum(shares) == sum(plan.chunk_train_rows)
    movies = scale.load_movies_csv(csv_folder)
    parts = [pd.concat(list(scale.stream_features(csv_folder, movies, plan=plan, shard=(i, 2))))
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
    from benchmarks import multiworker as mw
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
    from benchmarks import scale
    from course_lib.data import _MARKER

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert scale.local_release() is None  # nothing cached, no mirror: synthetic, and no download
    scale.write_synthetic_csv(tmp_path / "ml-25m", n_users=5, n_movies=20, ratings_per_user=(5, 10))
    (tmp_path / "ml-25m" / _MARKER).write_text("")
    assert scale.local_release() == ("ml-25m", tmp_path / "ml-25m")
