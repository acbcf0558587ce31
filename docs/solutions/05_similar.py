"""Lesson 05, exercise 3 — item-to-item recommendations from the Wide&Deep movie embeddings.

Run from the repository root: ``python docs/solutions/05_similar.py`` (about 30 s).
"""

import course_lib

course_lib.setup_notebook(seed=42)

from course_lib.explain import movie_embeddings, nearest_movies  # noqa: E402
from course_lib.prepare import course_data  # noqa: E402
from course_lib.recommend import Recommender  # noqa: E402
from course_lib.train import course_model  # noqa: E402

data = course_data()
model = course_model(data, "wide_deep", seed=1).model  # the lesson's seed-1 Wide&Deep model
emb = movie_embeddings(model)
counts = data.train.groupby("movie_id").size()
well_known = counts[counts >= 20].index


def recommend_similar(movie_id, k=10):
    """The k well-known movies whose embeddings are closest (cosine) to ``movie_id``'s."""
    return nearest_movies(emb, movie_id, data.movies, k=k, candidates=well_known)


user = 1
last_liked = int(data.task[(data.task.user_id == user) & (data.task.liked == 1)].movie_id.iloc[-1])
similar = recommend_similar(last_liked)
personal = Recommender(model, data.spec, data.task, data.movies).recommend(user, k=10)
print("similar to", data.movies.set_index("movie_id").title[last_liked])
print(similar[["title", "cosine"]].to_string(index=False))
print("user 1's own top 10:")
print(personal[["title", "score"]].to_string(index=False))
overlap = len(set(similar.movie_id) & set(personal.movie_id))
print(f"overlap: {overlap} of 10")

# Item-to-item lists follow one movie's place in the embedding (its appeal, lesson 02);
# the user-based list follows the whole model for this user. They are different lists.
assert len(similar) == 10 and overlap < 10
