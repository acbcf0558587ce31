"""Shared fixtures: small synthetic MovieLens-shaped data and tiny trained models."""

import urllib.error
import urllib.parse
import urllib.request

import pytest

_REAL_URLOPEN = urllib.request.urlopen


@pytest.fixture
def no_network(monkeypatch):
    """Clear the course's data env vars and refuse every URL except 127.0.0.1/localhost.

    Data and CLI tests must never reach GroupLens; local test servers still work.
    """
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)

    def guarded(url, *args, **kwargs):
        host = urllib.parse.urlsplit(url if isinstance(url, str) else url.full_url).hostname
        if host not in ("127.0.0.1", "localhost"):
            raise urllib.error.URLError(f"network disabled in tests ({host})")
        return _REAL_URLOPEN(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", guarded)


@pytest.fixture(scope="session")
def synthetic():
    from course_lib.synthetic import synthetic_movielens

    return synthetic_movielens(n_users=120, n_movies=200, ratings_per_user=(20, 80), seed=3)


@pytest.fixture(scope="session")
def synthetic_task(synthetic):
    from course_lib.split import make_task

    ratings, movies = synthetic
    return make_task(ratings), movies


@pytest.fixture(scope="session")
def synthetic_features(synthetic_task):
    from course_lib.features import build_features
    from course_lib.features import make_feature_spec

    task, movies = synthetic_task
    feats = build_features(task, movies)
    return feats, make_feature_spec(feats)


@pytest.fixture(scope="session")
def trained_wide_deep(synthetic_features):
    from course_lib.models import build_wide_deep
    from course_lib.train import train_model

    feats, spec = synthetic_features
    model = build_wide_deep(spec, "wide_deep")
    result = train_model(model, feats, spec, epochs=4, batch_size=256, seed=1)
    return model, result


@pytest.fixture(scope="session", autouse=True)
def _tensorflow_configured():
    """Configure TensorFlow as every notebook does (threads, determinism, no graph rewrites)."""
    from course_lib.runtime import configure_tensorflow

    configure_tensorflow()
