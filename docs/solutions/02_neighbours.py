"""Lesson 02, exercise 2 — a film's nearest neighbours in the deep model's embedding, with their appeal.

Run from the repository root: ``python docs/solutions/02_neighbours.py`` (about 30 s; the lesson's
three embeddings-only deep models come from the model cache).
"""

import course_lib

course_lib.setup_notebook(seed=42)

import numpy as np  # noqa: E402

from course_lib.compare import compare_seeds  # noqa: E402
from course_lib.explain import movie_embeddings, nearest_movies  # noqa: E402
from course_lib.prepare import course_data  # noqa: E402
from course_lib.train import course_model  # noqa: E402

data = course_data()
train, movies = data.train, data.movies
models = {seed: course_model(data, "deep", seed=seed, deep_inputs="embeddings").model for seed in (1, 2, 3)}
counts = train.groupby("movie_id").size()
rated_often = counts[counts >= 20].index  # 20+ training ratings: vectors that training actually moved
liked_rate = train.groupby("movie_id").liked.mean()
genre_sets = movies.set_index("movie_id").genres.str.split("|").map(set)

film = 2571  # The Matrix
mine = nearest_movies(movie_embeddings(models[1]), film, movies, k=10, candidates=rated_often)
print(f"The Matrix ({'|'.join(sorted(genre_sets[film]))}, liked rate {liked_rate[film]:.2f}), seed-1 model:")
print(mine.assign(liked_rate=mine.movie_id.map(liked_rate).round(2))[["title", "genres", "liked_rate"]].to_string())

# One film is an anecdote; the 50 most-rated films are a measurement. For each, the mean gap in liked
# rate to its 10 neighbours (each seed's model) and to 10 random well-known movies (one fixed draw: no
# model, so no seed spread).
queries = counts.nlargest(50).index
rng = np.random.default_rng(0)
random_gap = np.mean([np.abs(liked_rate[q] - liked_rate.reindex(rng.choice(rated_often.drop(q), 10,
                                                                              replace=False))).mean()
                      for q in queries])
near_gap = []
for seed, model in models.items():
    emb = movie_embeddings(model)
    near_gap.append(np.mean([np.abs(liked_rate[q] - liked_rate.reindex(
        nearest_movies(emb, q, movies, k=10, candidates=rated_often).movie_id)).mean() for q in queries]))
closer = compare_seeds([-g for g in near_gap], [-random_gap], b_noise=False)  # a smaller gap is "more alike"
print(f"liked-rate gap to the 10 neighbours {np.mean(near_gap):.3f} (seeds 1-3) vs to 10 random movies "
      f"{random_gap:.3f}; minus the gap, neighbours vs random: {closer}")
assert closer.verdict == "better", closer
