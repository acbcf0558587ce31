"""Column-name constants shared by every loader, feature and model.

Introduced in lesson 00. Every DataFrame that ``course_lib`` returns uses these
names, so notebooks and assignments never spell a column by hand.
"""

USER = "user_id"
ITEM = "movie_id"
RATING = "rating"
TIMESTAMP = "timestamp"
TITLE = "title"
GENRES = "genres"
YEAR = "year"

# Task and split columns (lesson 00).
LABEL = "liked"
SPLIT = "split"

#: Separator between genres in the ``GENRES`` column (MovieLens' own).
GENRE_SEP = "|"

#: The 19 genres of ml-100k, the 18 of ml-1m and the 20 of ml-latest share
#: these names; "(no genres listed)" appears only in ml-latest.
NO_GENRE = "(no genres listed)"

RATINGS_COLUMNS = [USER, ITEM, RATING, TIMESTAMP]
MOVIES_COLUMNS = [ITEM, TITLE, GENRES, YEAR]
