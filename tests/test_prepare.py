"""course_data: the one-call set-up of lessons 01-05, on a folder the test writes."""

import pandas as pd

from course_lib.columns import ITEM, RATING, TIMESTAMP, USER
from course_lib.prepare import course_data


def test_course_data_from_an_extracted_folder(tmp_path, synthetic):
    ratings, movies = synthetic
    folder = tmp_path / "ml-mini"
    folder.mkdir()
    ratings.rename(columns={USER: "userId", ITEM: "movieId"}).to_csv(folder / "ratings.csv", index=False)
    movies[[ITEM, "title", "genres"]].rename(columns={ITEM: "movieId"}).to_csv(folder / "movies.csv", index=False)
    data = course_data(path=folder)
    assert len(data.features) == len(ratings)
    assert len(data.train) + len(data.val) + len(data.test) == len(ratings)
    assert set(data.train[USER]) == set(ratings[USER])
    assert data.spec.users == sorted(set(data.train[USER]))
    pd.testing.assert_series_equal(data.task[RATING].reset_index(drop=True),
                                   ratings.sort_values([USER, TIMESTAMP, ITEM])[RATING].reset_index(drop=True))
    assert "train" in repr(data) and "users" in repr(data)
