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


# ------------------------------------------- opt-in options (lesson 04) ---

def _digest(ratings, movies) -> str:
    import hashlib

    parts = [pd.util.hash_pandas_object(f, index=True).to_numpy().tobytes() for f in (ratings, movies)]
    return hashlib.sha256(b"".join(parts)).hexdigest()


def test_default_output_pinned():
    """The options are opt-in: the default data (every test fixture) never moves."""
    from course_lib.synthetic import synthetic_world

    ratings, movies = synthetic_movielens(n_users=40, n_movies=60, seed=5)
    assert _digest(ratings, movies) == "88a44ba678302c66a5b78f0d4883ca3458f16d8a1e47bbbe64f38e25c014eed4"
    world = synthetic_world(40, 60, seed=5, latent_rank=0, n_rules=0)
    pd.testing.assert_frame_equal(world.ratings, ratings)
    assert world.rules.empty


@pytest.fixture(scope="module")
def planted():
    from course_lib.synthetic import synthetic_world

    return synthetic_world(400, 120, seed=2, latent_rank=4, n_rules=6, rule_strength=2.0,
                           rule_follow=1.0, rule_ranks=(3, 30))


def test_planted_world_keeps_the_schema(planted):
    ratings, movies = planted.ratings, planted.movies
    assert list(ratings.columns) == RATINGS_COLUMNS and list(movies.columns) == MOVIES_COLUMNS
    assert {c: str(t) for c, t in ratings.dtypes.items()} == RATINGS_DTYPES
    assert not ratings.duplicated([USER, ITEM]).any()
    expected = ratings.sort_values([USER, TIMESTAMP, ITEM], kind="stable", ignore_index=True)
    pd.testing.assert_frame_equal(ratings, expected)
    rules = planted.rules
    assert len(rules) == 6 and not set(rules.antecedent) & set(rules.consequent)
    assert len(set(rules.antecedent) | set(rules.consequent)) == 12


def test_rules_fire_where_the_features_see_them(planted):
    """Fired rows (A among the last 5 liked) are liked far more than other rows of B."""
    from course_lib.branch_studies import rule_rows
    from course_lib.features import build_features
    from course_lib.split import make_task

    feats = build_features(make_task(planted.ratings), planted.movies)
    target, fired = rule_rows(feats, planted.rules)
    assert fired.sum() >= 100
    liked = feats["liked"].to_numpy()
    assert liked[fired].mean() > 0.9
    assert liked[fired].mean() - liked[target & ~fired].mean() > 0.3


def test_rule_follow_sets_the_repetitions():
    from course_lib.synthetic import synthetic_world

    def sequels(follow):
        # Users who watch B within 3 ratings after A.
        w = synthetic_world(300, 100, seed=4, n_rules=4, rule_follow=follow, rule_ranks=(2, 20))
        pos = w.ratings.groupby(USER).cumcount()
        a, b = w.rules.antecedent.iloc[0], w.rules.consequent.iloc[0]
        at_a = pos[w.ratings[ITEM] == a].groupby(w.ratings[USER]).first()
        at_b = pos[w.ratings[ITEM] == b].groupby(w.ratings[USER]).first()
        gap = (at_b - at_a).dropna()
        return int(gap.between(1, 3).sum())

    assert sequels(1.0) > 3 * sequels(0.1)


def test_latent_taste_is_not_genre_linear():
    """With latent taste, two movies of the same genres split users' opinions."""
    from course_lib.synthetic import synthetic_world

    genre = synthetic_world(300, 80, seed=1)
    latent = synthetic_world(300, 80, seed=1, latent_rank=8)
    assert not genre.ratings.equals(latent.ratings)

    def residual_share(w):
        # Share of rating variance a per-user genre-linear fit leaves unexplained.
        r = w.ratings.merge(w.movies[[ITEM, GENRES]], on=ITEM)
        onehot = r[GENRES].str.get_dummies(sep=GENRE_SEP).to_numpy(float)
        left = 0.0
        for _, idx in r.groupby(USER).indices.items():
            x = np.c_[np.ones(len(idx)), onehot[idx]]
            y = r[RATING].to_numpy(float)[idx] - w.ratings[RATING].mean()
            coef, *_ = np.linalg.lstsq(x, y, rcond=None)
            left += ((y - x @ coef) ** 2).sum()
        return left / ((r[RATING] - r[RATING].mean()) ** 2).sum()

    assert residual_share(latent) > residual_share(genre) + 0.05


@pytest.mark.parametrize("bad", [{"latent_rank": -1}, {"n_rules": -2}, {"rule_follow": 1.5},
                                 {"n_rules": 40, "rule_ranks": (5, 60)}])
def test_bad_options_say_what_to_do(bad):
    from course_lib.synthetic import synthetic_world

    with pytest.raises(ValueError):
        synthetic_world(20, 100, seed=0, **bad)
