"""One call for the data every lesson after 03 starts from.

Introduced in lesson 01 (lesson 03 shows each step it performs). Keeps the
notebooks from repeating the same five lines of set-up.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from course_lib.columns import SPLIT
from course_lib.features import FeatureSpec


@dataclass
class CourseData:
    """MovieLens, labelled, split and featurised the course's way.

    Attributes:
        ratings: Raw ratings (``course_lib.data.load``).
        movies: The movies table.
        task: Ratings with ``liked`` and ``split`` (``course_lib.split.make_task``).
        features: One feature row per rating (``course_lib.features.build_features``).
        spec: The ``FeatureSpec`` built from the training rows.
    """

    ratings: pd.DataFrame
    movies: pd.DataFrame
    task: pd.DataFrame
    features: pd.DataFrame
    spec: FeatureSpec

    @property
    def train(self) -> pd.DataFrame:
        return self.features[self.features[SPLIT] == "train"]

    @property
    def val(self) -> pd.DataFrame:
        return self.features[self.features[SPLIT] == "val"]

    @property
    def test(self) -> pd.DataFrame:
        return self.features[self.features[SPLIT] == "test"]

    def __repr__(self) -> str:
        sizes = self.features[SPLIT].value_counts()
        return (f"CourseData({len(self.ratings):,} ratings, {len(self.movies):,} movies, "
                f"{self.ratings['user_id'].nunique()} users; train {sizes.get('train', 0):,} / "
                f"val {sizes.get('val', 0):,} / test {sizes.get('test', 0):,})")


def course_data(variant: str = "ml-latest-small", path=None) -> CourseData:
    """Load, label, split and featurise MovieLens (every step as in lessons 00 and 03).

    Args:
        variant: A registry name of ``course_lib.data``.
        path: An already-extracted MovieLens folder instead of the registry.
    """
    from course_lib.data import load
    from course_lib.features import build_features
    from course_lib.features import make_feature_spec
    from course_lib.split import make_task

    ratings, movies = load(variant, path=path)
    task = make_task(ratings)
    features = build_features(task, movies)
    return CourseData(ratings, movies, task, features, make_feature_spec(features))
