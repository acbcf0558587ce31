"""The command line: ``python -m course_lib fetch|license``.

Fetch runs in-process (``main([...])``) so the registry can point at a tiny
fake archive and the network can be switched off; the subprocess tests use
only paths that never touch the network.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import _archives as A  # noqa: E402

from course_lib import data  # noqa: E402
from course_lib.__main__ import main  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
NAME = "ml-latest-small"


@pytest.fixture(autouse=True)
def _offline(no_network):
    """Every test here: no course env vars, no URL but localhost (tests/conftest.py)."""


@pytest.fixture
def fake_mirror(tmp_path, monkeypatch):
    """A mirror folder with a tiny archive, registered under the default name."""
    folder = tmp_path / "mirror"
    zip_path = A.make_latest_zip(folder, NAME)
    monkeypatch.setitem(data.VARIANTS, NAME, A.variant_for(zip_path, NAME))
    return folder


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_DATA_")}
    env.update(extra)
    return env


def test_fetch_from_mirror(tmp_path, fake_mirror, monkeypatch, capsys):
    cache = tmp_path / "cache"
    monkeypatch.setenv("COURSE_DATA_DIR", str(cache))
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(fake_mirror))
    assert main(["fetch"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"{NAME}: ready in {cache.resolve() / NAME}"
    assert "Please cite" in err  # the licence is shown once, on stderr, after a download
    ratings, movies = data.load(NAME)
    assert len(ratings) == 5 and len(movies) == 5

    # Second run: served from the cache, even with the mirror gone.
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(tmp_path / "gone"))
    (fake_mirror / f"{NAME}.zip").unlink()
    assert main(["fetch"]) == 0
    out, err = capsys.readouterr()
    assert "ready in" in out and "Please cite" not in err


def test_fetch_offline_without_mirror_fails_helpfully(tmp_path, fake_mirror, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    assert main(["fetch"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: could not download ml-latest-small")
    assert "network disabled" in err
    assert "COURSE_DATA_MIRROR" in err and "internet connection" in err
    assert not (tmp_path / "cache" / NAME).exists()


def test_fetch_corrupt_mirror_fails_helpfully(tmp_path, fake_mirror, monkeypatch, capsys):
    zip_path = fake_mirror / f"{NAME}.zip"
    zip_path.write_bytes(zip_path.read_bytes()[:-1] + b"x")  # same size, other checksum
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(fake_mirror))
    assert main(["fetch"]) == 1
    err = capsys.readouterr().err
    assert "sha256 mismatch" in err and "run again" in err
    assert not (tmp_path / "cache" / f"{NAME}.zip").exists()


def test_license_in_process(capsys):
    assert main(["license"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"[{NAME}]")
    assert "Please cite:" in out and "Harper" in out


def test_subprocess_license():
    proc = subprocess.run([sys.executable, "-m", "course_lib", "license", "ml-100k"], cwd=REPO,
                          env=child_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("[ml-100k]") and "GroupLens" in proc.stdout


def test_subprocess_fetch_missing_mirror_exits_1(tmp_path):
    env = child_env(COURSE_DATA_DIR=str(tmp_path / "cache"), COURSE_DATA_MIRROR=str(tmp_path / "nowhere"))
    proc = subprocess.run([sys.executable, "-m", "course_lib", "fetch"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith("error: mirror path")
    assert "COURSE_DATA_MIRROR" in proc.stderr and "Traceback" not in proc.stderr


def test_subprocess_fetch_uses_verified_cache(tmp_path, fake_mirror):
    cache = tmp_path / "cache"
    data.fetch(NAME, data_dir=cache, mirror=fake_mirror, progress=False)
    # The child sees the real registry; a verified cache is trusted without re-hashing.
    proc = subprocess.run([sys.executable, "-m", "course_lib", "fetch"], cwd=REPO,
                          env=child_env(COURSE_DATA_DIR=str(cache)), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{NAME}: ready in {cache.resolve() / NAME}"


def test_usage_error_without_command(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "fetch" in capsys.readouterr().err


# --------------------------------------------- stream and multiworker (the path beyond a laptop) ---

@pytest.fixture
def tiny_release(tmp_path):
    from course_lib.streaming import write_synthetic_csv

    write_synthetic_csv(tmp_path / "release", n_users=60, n_movies=80, ratings_per_user=(5, 40), seed=2,
                        users_per_call=25)
    return tmp_path / "release"


@pytest.mark.parametrize("argv, message", [
    (["stream"], "say which ratings to read: DATA"),
    (["stream", "x", "--chunk-rows", "0"], "--chunk-rows: must be a positive whole number, got '0'"),
    (["stream", "x", "--strategy", "tpu"], "invalid choice: 'tpu'"),
    (["multiworker", "local", "--out", "o"], "say which ratings to read: --data"),
    (["multiworker", "local", "--data", "d"], "--out is required"),
    (["multiworker", "local", "--data", "d", "--out", "o", "--workers", "3"],
     "--global-batch 2048 must divide evenly over 3 workers"),
    (["multiworker", "worker", "--out", "o"], "say which ratings to read: --data"),
    (["multiworker"], "the following arguments are required: role"),
])
def test_argument_errors_name_the_fix(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert err.startswith("usage: python -m course_lib")


def test_stream_and_multiworker_explain_themselves(capsys):
    for argv, words in [(["stream", "--help"], ("ratings.csv", "ml-25m", "--train-rows", "--strategy")),
                        (["multiworker", "--help"], ("MultiWorkerMirroredStrategy", "TF_CONFIG", "local", "worker")),
                        (["multiworker", "local", "--help"], ("--workers", "--global-batch", "--synthetic-users"))]:
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
        out = capsys.readouterr().out
        assert all(w in out for w in words), (argv, out)


def test_data_that_is_no_release_fails_helpfully(tmp_path, tiny_release, capsys):
    assert main(["stream", str(tmp_path / "nowhere")]) == 1
    assert "is neither a folder nor a csv release" in capsys.readouterr().err
    assert main(["stream", "ml-100k"]) == 1  # a release, but not in csv: the reader cannot stream it
    assert "ml-25m, ml-32m" in capsys.readouterr().err
    (tiny_release / "movies.csv").unlink()
    assert main(["stream", str(tiny_release)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "lacks movies.csv" in err and "Traceback" not in err


def test_a_worker_without_tf_config_says_what_it_needs(tiny_release, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert main(["multiworker", "worker", "--data", str(tiny_release), "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: TF_CONFIG must name the cluster") and '"task"' in err
    (tmp_path / "job.json").write_text('{"out": "/tmp/x"}')
    assert main(["multiworker", "worker", "--job", str(tmp_path / "job.json")]) == 1
    assert "cannot read the job" in capsys.readouterr().err


def test_stream_trains_and_saves_a_model(tiny_release, tmp_path, capsys):
    import keras

    import course_lib.models  # noqa: F401  (registers WideDeep for loading)

    assert main(["stream", str(tiny_release), "--tiny", "--chunk-rows", "300", "--batch-size", "64",
                 "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "first pass:" in out and "examples/s, 1 replica(s)" in out and "test ROC AUC" in out
    model = keras.saving.load_model(tmp_path / "out" / "model.keras", compile=False)
    assert model.spec.movie_pairs == []  # the stream's spec: hashed movie x history cross
