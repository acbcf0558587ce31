"""synthetic_movielens: same schema as the real loader, deterministic, sane values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib.columns import (
    GENRE_SEP, GENRES, ITEM, MOVIES_COLUMNS, RATING, RATINGS_COLUMNS, TIMESTAMP, TITLE, USER, YEAR,
)
from course_lib.synthetic import GENRE_NAMES, synthetic_movielens

RATINGS_DTYPES = {USER: "int64", ITEM: "int64", RATING: "float32", TIMESTAMP: "int64"}


@pytest.fixture(scope="module")
def small():
    return synthetic_movielens(n_users=50, n_movies=80, seed=3)


def test_ratings_schema(small):
    ratings, _ = small
    assert list(ratings.columns) == RATINGS_COLUMNS
    assert {c: str(t) for c, t in ratings.dtypes.items()} == RATINGS_DTYPES
    assert isinstance(ratings.index, pd.RangeIndex) and ratings.index.start == 0


def test_movies_schema(small):
    _, movies = small
    assert list(movies.columns) == MOVIES_COLUMNS
    assert str(movies[ITEM].dtype) == "int64"
    assert pd.api.types.is_string_dtype(movies[TITLE]) and pd.api.types.is_string_dtype(movies[GENRES])
    assert str(movies[YEAR].dtype) == "Int16"


def test_schema_matches_real_loader(tmp_path):
    """Same dtypes as course_lib.data loading a tiny ml-latest-shaped folder."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    import _archives as A

    from course_lib import data

    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    for name, content in A.latest_members().items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    real_r, real_m = data.load(path=folder)
    syn_r, syn_m = synthetic_movielens(n_users=5, n_movies=10, ratings_per_user=(2, 5))
    assert real_r.dtypes.to_dict() == syn_r.dtypes.to_dict()
    assert real_m.dtypes.to_dict() == syn_m.dtypes.to_dict()


def test_same_seed_same_data_other_seed_other_data():
    a_r, a_m = synthetic_movielens(n_users=30, n_movies=40, seed=7)
    b_r, b_m = synthetic_movielens(n_users=30, n_movies=40, seed=7)
    c_r, _ = synthetic_movielens(n_users=30, n_movies=40, seed=8)
    pd.testing.assert_frame_equal(a_r, b_r)
    pd.testing.assert_frame_equal(a_m, b_m)
    assert not a_r.equals(c_r)


def test_sizes_and_ids():
    ratings, movies = synthetic_movielens(n_users=25, n_movies=60, ratings_per_user=(5, 12), seed=1)
    assert len(movies) == 60 and movies[ITEM].tolist() == list(range(1, 61))
    assert set(ratings[USER]) == set(range(1, 26))
    per_user = ratings.groupby(USER).size()
    assert per_user.between(5, 12).all()
    assert set(ratings[ITEM]) <= set(movies[ITEM])
    assert not ratings.duplicated([USER, ITEM]).any(), "a user rates a movie at most once"


def test_ratings_per_user_capped_by_catalogue():
    ratings, _ = synthetic_movielens(n_users=4, n_movies=10, ratings_per_user=(20, 50), seed=0)
    assert (ratings.groupby(USER).size() == 10).all()


def test_ratings_in_half_star_steps(small):
    ratings, _ = small
    r = ratings[RATING].to_numpy(dtype=np.float64)
    assert r.min() >= 0.5 and r.max() <= 5.0
    assert np.allclose(r * 2, np.round(r * 2))


def test_sorted_by_user_then_time(small):
    ratings, _ = small
    expected = ratings.sort_values([USER, TIMESTAMP, ITEM], kind="stable", ignore_index=True)
    pd.testing.assert_frame_equal(ratings, expected)


def test_movies_genres_and_years(small):
    _, movies = small
    for genres in movies[GENRES]:
        names = genres.split(GENRE_SEP)
        assert 1 <= len(names) <= 3 and set(names) <= set(GENRE_NAMES)
    titles_year = movies[TITLE].str.extract(r"\((\d{4})\)$")[0].astype(int)
    assert (titles_year.to_numpy() == movies[YEAR].to_numpy(dtype=int)).all()
