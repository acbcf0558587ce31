"""Lesson 02, exercise 2 — a film's nearest neighbours in the deep model's embedding, with their appeal.

Run from the repository root: ``python docs/solutions/02_neighbours.py`` (about 30 s).
"""

import course_lib

course_lib.setup_notebook(seed=42)

import numpy as np  # noqa: E402

from course_lib.explain import movie_embeddings, nearest_movies  # noqa: E402
from course_lib.prepare import course_data  # noqa: E402
from course_lib.train import course_model  # noqa: E402

data = course_data()
train, movies = data.train, data.movies
emb = movie_embeddings(course_model(data, "deep", seed=1).model)  # the lesson's seed-1 deep model
counts = train.groupby("movie_id").size()
well_known = counts[counts >= 20].index
liked_rate = train.groupby("movie_id").liked.mean()

film = 2571  # The Matrix
mine = nearest_movies(emb, film, movies, k=10, candidates=well_known)
print(f"The Matrix (liked rate {liked_rate[film]:.2f}):")
print(mine.assign(liked_rate=mine.movie_id.map(liked_rate).round(2))[["title", "genres", "liked_rate"]].to_string())

# One film is an anecdote; the 50 most-rated films are a measurement: neighbours are closer in
# liked rate than random well-known movies are.
rng = np.random.default_rng(0)
near_gap, random_gap = [], []
for q in counts.nlargest(50).index:
    near = nearest_movies(emb, q, movies, k=10, candidates=well_known).movie_id
    near_gap.append(np.abs(liked_rate[q] - liked_rate.reindex(near)).mean())
    random_gap.append(np.abs(liked_rate[q] - liked_rate.reindex(rng.choice(well_known.drop(q), 10))).mean())
print(f"liked-rate gap to neighbours {np.mean(near_gap):.3f} vs to random movies {np.mean(random_gap):.3f}")
assert np.mean(near_gap) < np.mean(random_gap)
