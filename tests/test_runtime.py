"""setup_notebook: environment, versions, and reproducible random numbers.

TensorFlow reads its environment once, at import, so each check runs in a
fresh interpreter (a subprocess) with the course variables removed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from course_lib import runtime

REPO = Path(__file__).resolve().parent.parent

CHILD = textwrap.dedent(
    """
    import json, os, random, sys

    import course_lib

    seed = int(sys.argv[1])
    assert course_lib.setup_notebook(seed=seed) is None  # nothing echoed in the cell
    info = course_lib.runtime.versions()
    env = {k: os.environ.get(k) for k in course_lib.runtime.TF_ENV}

    import keras
    import numpy as np

    layer = keras.layers.Dense(3)
    layer.build((None, 4))
    out = {
        "info": info,
        "env": env,
        "python": random.random(),
        "numpy": np.random.rand(3).tolist(),
        "keras_uniform": keras.random.uniform((4,), seed=None).numpy().tolist(),
        "keras_init": layer.kernel.numpy().ravel().tolist(),
    }
    # Re-seeding in the same process starts the same sequence again.
    course_lib.runtime.seed_everything(seed)
    out["numpy_reseeded"] = np.random.rand(3).tolist()
    print("RESULT " + json.dumps(out))
    """
)


def run_child(seed: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in runtime.TF_ENV}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(seed)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines and lines[-1].startswith("RESULT "), f"no result line in stdout: {proc.stdout!r}"
    out = json.loads(lines[-1][len("RESULT "):])
    out["printed"] = lines[:-1]
    out["stderr"] = proc.stderr
    return out


@pytest.fixture(scope="module")
def runs():
    return run_child(42), run_child(42), run_child(7)


def test_setup_returns_versions(runs):
    info = runs[0]["info"]
    for key in ("python", "platform", "tensorflow", "keras", "numpy", "pandas", "course_lib"):
        assert info.get(key), f"versions() lacks {key}"
    assert info["python"] == ".".join(map(str, sys.version_info[:3]))
    import course_lib

    assert info["course_lib"] == course_lib.__version__


def test_setup_sets_tf_environment(runs):
    assert runs[0]["env"] == runtime.TF_ENV
    assert runtime.TF_ENV["TF_ENABLE_ONEDNN_OPTS"] == "0"
    assert runtime.TF_ENV["TF_CPP_MIN_LOG_LEVEL"] == "3"


def test_same_seed_same_random_numbers(runs):
    a, b, _ = runs
    for key in ("python", "numpy", "keras_uniform", "keras_init"):
        assert a[key] == b[key], f"{key} differs between two runs with seed 42"
    assert a["numpy_reseeded"] == a["numpy"]


def test_other_seed_other_numbers(runs):
    a, _, c = runs
    for key in ("python", "numpy", "keras_uniform", "keras_init"):
        assert a[key] != c[key], f"{key} ignores the seed"


def test_configure_environment_respects_user_settings(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
    for key in runtime.TF_ENV:
        if key != "TF_CPP_MIN_LOG_LEVEL":
            monkeypatch.delenv(key, raising=False)
    runtime.configure_environment()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "0"


def test_setup_prints_one_line_of_versions_and_seed(runs):
    printed = runs[2]["printed"]
    assert len(printed) == 1, printed
    line = printed[0]
    assert line.startswith("python ") and line.endswith("| seed 7")
    for name, version in runs[2]["info"].items():
        assert f"{name} {version}" in line


def test_setup_prints_nothing_on_stderr(runs):
    # TensorFlow's C++ side writes absl/CUDA/CPU notes to fd 2 at import,
    # whatever TF_CPP_MIN_LOG_LEVEL says: setup_notebook must swallow them.
    for run in runs:
        assert run["stderr"] == "", f"setup_notebook let this reach stderr:\n{run['stderr'][-2000:]}"


def test_quiet_native_stderr_drops_noise_and_keeps_the_rest(capfd):
    import sys

    with runtime._quiet_native_stderr():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"I0000 00:00:1.0  1 cudart_stub.cc:31] Could not find cuda drivers on your machine\n")
        os.write(2, b"a real native error\n")
    sys.stderr.flush()
    err = capfd.readouterr().err
    assert "a real native error" in err
    assert "absl" not in err and "cudart" not in err
