"""The lesson explorers (course_lib.widgets): set controls, check what they compute.

Tiny models trained one epoch on synthetic MovieLens; no browser (see
test_browser.py for the real JupyterLab check).
"""

import time

import numpy as np
import pytest

from course_lib.columns import ITEM, LABEL, SPLIT, TITLE
from course_lib.metrics import auc


@pytest.fixture(scope="module")
def world():
    from course_lib.features import build_features
    from course_lib.features import make_feature_spec
    from course_lib.models import build_wide_deep
    from course_lib.recommend import Recommender
    from course_lib.split import make_task
    from course_lib.synthetic import synthetic_movielens
    from course_lib.train import train_model

    ratings, movies = synthetic_movielens(n_users=120, n_movies=200, seed=0)
    task = make_task(ratings)
    feats = build_features(task, movies)
    spec = make_feature_spec(feats)
    models = {}
    for branches in ("wide_deep", "wide", "deep"):
        models[branches] = train_model(build_wide_deep(spec, branches), feats, spec, epochs=1, seed=42).model
    rec = Recommender(models["wide_deep"], spec, task, movies)
    test = feats[feats[SPLIT] == "test"]
    return {"task": task, "movies": movies, "feats": feats, "spec": spec, "models": models, "rec": rec,
            "test": test}


@pytest.fixture(scope="module")
def explorer(world):
    from course_lib.widgets import BranchExplorer

    return BranchExplorer(world["models"]["wide_deep"], world["spec"], world["test"], world["rec"],
                          users=sorted(world["rec"].rated)[:5], wide_only=world["models"]["wide"],
                          deep_only=world["models"]["deep"])


def _set(ex, wide=True, deep=True, blend=0.5, mode="Ablate a branch", user=None):
    ex.mode.value = mode
    ex.blend.value = blend
    ex.wide_box.value = wide
    ex.deep_box.value = deep
    if user is not None:
        ex.user.value = user
    return ex


# ------------------------------------------------------------ pure logic ---

def test_combine_logits_scheme():
    from course_lib.widgets import NoBranchError, combine_logits

    wide, deep = np.array([1.0, -2.0]), np.array([0.5, 3.0])
    np.testing.assert_allclose(combine_logits(wide, deep, True, True, 0.5), wide + deep)
    np.testing.assert_allclose(combine_logits(wide, deep, True, True, 1.0), 2 * wide)
    np.testing.assert_allclose(combine_logits(wide, deep, True, True, 0.0), 2 * deep)
    np.testing.assert_allclose(combine_logits(wide, deep, True, False, 0.9), wide)
    np.testing.assert_allclose(combine_logits(wide, deep, False, True, 0.1), deep)
    with pytest.raises(NoBranchError, match="Tick Wide, Deep or both"):
        combine_logits(wide, deep, False, False)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        combine_logits(wide, deep, True, True, 1.5)


def test_metrics_for_matches_sklearn():
    from sklearn.metrics import log_loss, roc_auc_score

    from course_lib.widgets import metrics_for

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    z = rng.normal(size=500) + y
    m = metrics_for(y, z)
    assert m["roc_auc"] == round(roc_auc_score(y, z), 4)
    assert m["log_loss"] == round(log_loss(y, 1 / (1 + np.exp(-z))), 4)
    with pytest.raises(ValueError, match="one class"):
        metrics_for(np.ones(3), np.zeros(3))


# -------------------------------------------------------- branch explorer ---

def test_initial_state_is_the_trained_model(explorer, world):
    from course_lib.train import predict

    _set(explorer)
    y = world["test"][LABEL].to_numpy()
    probs = predict(world["models"]["wide_deep"], world["test"], world["spec"])
    assert explorer.metrics["roc_auc"] == pytest.approx(round(auc(y, probs), 4), abs=2e-4)
    assert "wide + deep" in explorer.metrics_html.value
    assert f"{explorer.metrics['roc_auc']:.4f}" in explorer.metrics_html.value


def test_single_branch_auc_equals_cached_branch_logit_auc(explorer):
    y = explorer.y
    wide, deep = explorer._test["joint"]
    _set(explorer, wide=True, deep=False)
    assert explorer.metrics["roc_auc"] == round(auc(y, wide), 4)
    assert "wide only" in explorer.metrics_html.value
    _set(explorer, wide=False, deep=True)
    assert explorer.metrics["roc_auc"] == round(auc(y, deep), 4)
    assert "deep only" in explorer.metrics_html.value


def test_blend_extremes_order_like_one_branch(explorer):
    y = explorer.y
    wide, deep = explorer._test["joint"]
    _set(explorer, blend=1.0)
    assert explorer.metrics["roc_auc"] == round(auc(y, wide), 4)
    _set(explorer, blend=0.0)
    assert explorer.metrics["roc_auc"] == round(auc(y, deep), 4)
    _set(explorer, blend=0.5)
    assert explorer.metrics["roc_auc"] == round(auc(y, wide + deep), 4)


def test_both_off_shows_message_not_crash(explorer):
    _set(explorer, wide=False, deep=False)
    assert explorer.metrics is None
    assert explorer.top10.empty and explorer.contributions.empty
    assert "Tick Wide, Deep or both" in explorer.metrics_html.value
    assert explorer.top10_html.value == ""
    _set(explorer)  # ticking a branch again brings the numbers back
    assert explorer.metrics is not None and len(explorer.top10) == 10


@pytest.mark.parametrize("choice", [dict(), dict(deep=False), dict(wide=False), dict(blend=0.8)])
def test_top10_excludes_rated_and_contributions_sum(explorer, world, choice):
    rec = world["rec"]
    for user in explorer.user.options[:2]:
        _set(explorer, user=user, **choice)
        top = explorer.top10
        assert len(top) == 10 and list(top["rank"]) == list(range(1, 11))
        assert not set(top[ITEM]) & rec.rated[user]
        assert top[TITLE].str.len().gt(0).all() and "(unknown movie)" not in set(top[TITLE])
        assert top["logit"].is_monotonic_decreasing
        c = explorer.contributions
        np.testing.assert_allclose(c["wide"] + c["deep"], c["logit"], atol=1e-9)
        if choice.get("deep") is False:
            assert (c["deep"] == 0).all()
        if choice.get("wide") is False:
            assert (c["wide"] == 0).all()
        # The ranking is the model's: the best unrated movie by combined logit.
        wide, deep = rec.branch_logits(user)
        from course_lib.widgets import combine_logits

        logit = combine_logits(wide, deep, choice.get("wide", True), choice.get("deep", True),
                               choice.get("blend", 0.5))
        unrated = ~np.isin(rec.catalogue, list(rec.rated[user]))
        assert c["logit"].iloc[0] == pytest.approx(logit[unrated].max())


def test_top10_html_lists_titles(explorer):
    _set(explorer)
    html = explorer.top10_html.value
    assert all(t.replace("&", "&amp;") in html for t in explorer.top10[TITLE])
    assert "be-metrics" in explorer.metrics_html._dom_classes
    assert "be-top10" in explorer.top10_html._dom_classes


def test_separately_trained_mode_uses_separate_models(explorer, world):
    from course_lib.train import model_inputs, predict

    y = explorer.y
    for flags, name in [((True, False), "wide"), ((False, True), "deep")]:
        _set(explorer, wide=flags[0], deep=flags[1], mode="Separately trained")
        probs = predict(world["models"][name], world["test"], world["spec"])
        assert explorer.metrics["roc_auc"] == pytest.approx(round(auc(y, probs), 4), abs=2e-4)
        assert "Separately trained" in explorer.metrics_html.value
    # The separate-mode ranking comes from the separate models too.
    _set(explorer, wide=True, deep=False, mode="Separately trained")
    user = explorer.user.value
    rec = world["rec"]
    sep_wide = np.asarray(world["models"]["wide"].branch_logits(
        model_inputs(rec.features(user), world["spec"]))[0], dtype=np.float64)
    unrated = ~np.isin(rec.catalogue, list(rec.rated[user]))
    assert explorer.contributions["logit"].iloc[0] == pytest.approx(sep_wide[unrated].max())
    _set(explorer)


def test_separate_mode_absent_without_separate_models(world):
    from course_lib.widgets import BranchExplorer

    ex = BranchExplorer(world["models"]["wide_deep"], world["spec"], world["test"], world["rec"],
                        users=sorted(world["rec"].rated)[:2])
    assert list(ex.mode.options) == ["Ablate a branch"]


def test_summary_table(explorer):
    _set(explorer)
    table = explorer.summary()
    assert list(table.index) == ["wide only", "deep only", "both"]
    assert table.loc["both", "roc_auc"] == explorer.metrics["roc_auc"]


def test_each_toggle_recomputes_and_times_itself(explorer):
    """A toggle reruns the update: other metrics, and fresh timings with 0 < logic <= total.

    (How fast is measured by the browser test and benchmarks/, not asserted here.)
    """
    _set(explorer)
    seen = []
    for value in (False, True):
        before = dict(explorer.last_update_s)
        explorer.deep_box.value = value
        after = explorer.last_update_s
        assert 0 < after["logic"] <= after["total"] and after != before, (before, after)
        seen.append(explorer.metrics["roc_auc"])
    assert seen[0] != seen[1], "toggling the deep branch left the metrics unchanged"


def test_needs_both_branches(world):
    from course_lib.widgets import BranchExplorer

    with pytest.raises(ValueError, match="both branches"):
        BranchExplorer(world["models"]["wide"], world["spec"], world["test"], world["rec"])
    from course_lib.recommend import Recommender

    other = Recommender(world["models"]["deep"], world["spec"], world["task"], world["movies"])
    with pytest.raises(ValueError, match="both branches"):
        BranchExplorer(world["models"]["wide_deep"], world["spec"], world["test"], other)


def test_top10_from_another_wide_deep_is_labelled(world):
    """Lesson 06: the AUC panel's model and the top-10's (the implicit ranker) may differ."""
    from course_lib.models import build_wide_deep
    from course_lib.recommend import Recommender
    from course_lib.widgets import BranchExplorer

    ranker = build_wide_deep(world["spec"], "wide_deep", seed=5)
    ranker.name = "implicit_wide_deep"
    rec = Recommender(ranker, world["spec"], world["task"], world["movies"])
    ex = BranchExplorer(world["models"]["wide_deep"], world["spec"], world["test"], rec)
    user = int(ex.user.value)
    wide, deep = rec.branch_logits(user)
    assert "from the implicit_wide_deep model" in ex.top10_html.value
    # The listed logits are the ranker's, not the AUC panel model's.
    best = ex.top10.iloc[0]
    pos = int(np.flatnonzero(rec.catalogue == best["movie_id"])[0])
    assert best["logit"] == pytest.approx(wide[pos] + deep[pos], abs=1e-4)
    with pytest.raises(ValueError, match="wide_only/deep_only"):
        BranchExplorer(world["models"]["wide_deep"], world["spec"], world["test"], rec,
                       wide_only=world["models"]["wide"], deep_only=world["models"]["deep"])


# --------------------------------------------------------- cross explorer ---

def _hashed(world):
    """A wide model whose movie x history cross is hashed (empty pair vocabulary)."""
    from course_lib.features import FeatureSpec
    from course_lib.models import build_wide_deep
    from course_lib.train import train_model

    if "hashed" not in world:
        spec = FeatureSpec.from_dict({**world["spec"].to_dict(), "movie_pairs": []})
        world["hashed"] = (train_model(build_wide_deep(spec, "wide"), world["feats"], spec, epochs=1,
                                       seed=42).model, spec)
    return world["hashed"]


@pytest.mark.parametrize("variant", ["exact", "hashed"])
def test_top_cross_partners_sorted(world, variant):
    from course_lib.explain import top_cross_partners

    model, spec = (world["models"]["wide_deep"], world["spec"]) if variant == "exact" else _hashed(world)
    movie = spec.movies[0]
    table = top_cross_partners(model, spec, movie, k=7, movies=world["movies"])
    assert len(table) == 7 and list(table["rank"]) == list(range(1, 8))
    assert table["weight"].is_monotonic_decreasing
    assert movie not in set(table[ITEM]) and table[TITLE].str.len().gt(0).all()


@pytest.mark.parametrize("variant", ["exact", "hashed"])
def test_cross_weight_moves_the_wide_logit(world, variant):
    """A partner's weight is what the wide logit gains when the movie is in the history."""
    from course_lib.explain import top_cross_partners
    from course_lib.train import model_inputs

    model, spec = (world["models"]["wide_deep"], world["spec"]) if variant == "exact" else _hashed(world)
    feats = world["feats"]
    train = feats[feats[SPLIT] == "train"]
    movie = int(train[spec.hist_columns[0]].value_counts().drop(0, errors="ignore").index[0])
    top = top_cross_partners(model, spec, movie, k=1)
    assert top["weight"].iloc[0] != 0  # a popular liked movie has learned partners
    row = feats[feats[ITEM] == top[ITEM].iloc[0]].head(1).copy()
    for col in spec.hist_columns:
        row[col] = 0
    base = float(np.asarray(model.branch_logits(model_inputs(row, spec))[0])[0])
    row[spec.hist_columns[0]] = movie
    with_movie = float(np.asarray(model.branch_logits(model_inputs(row, spec))[0])[0])
    assert with_movie - base == pytest.approx(top["weight"].iloc[0], abs=1e-4)


def test_cross_explorer_widget(world):
    from course_lib.widgets import CrossExplorer

    ex = CrossExplorer(world["models"]["wide_deep"], world["spec"], world["task"], world["movies"],
                       world["feats"], k=5)
    assert 0 < len(ex.partners) <= 5 and ex.partners["weight"].is_monotonic_decreasing
    assert (ex.partners["weight"] != 0).all()
    assert {"train_pairs", "liked_rate"} <= set(ex.partners.columns)
    ex.user.value = ex.user.options[1]
    liked = [v for _, v in ex.movie.options]
    assert ex.movie.value == liked[0]  # the picker now lists the new user's liked movies
    ex.movie.value = liked[-1]
    assert ex.movie.value not in set(ex.partners[ITEM]) and len(ex.partners) <= 5
    assert "ce-partners" in ex.table._dom_classes


def test_cross_explorer_needs_the_cross(world):
    from course_lib.explain import top_cross_partners
    from course_lib.models import build_wide_deep

    spec = world["spec"].with_crosses("genre_x_genre")
    with pytest.raises(ValueError, match="movie_x_history"):
        top_cross_partners(build_wide_deep(spec, "wide"), spec, spec.movies[0])


# ----------------------------------------------------- embedding explorer ---

def test_nearest_movies(world):
    from course_lib.explain import movie_embeddings, nearest_movies

    model, spec = world["models"]["deep"], world["spec"]
    emb = movie_embeddings(model)
    assert list(emb.index) == list(spec.movies)
    np.testing.assert_array_equal(movie_embeddings(model, spec.movies[:3]), emb.iloc[:3])
    movie = spec.movies[5]
    nn = nearest_movies(emb, movie, world["movies"], k=8)
    assert len(nn) == 8 and movie not in set(nn[ITEM]) and list(nn["rank"]) == list(range(1, 9))
    assert nn["cosine"].is_monotonic_decreasing
    assert nn["cosine"].between(-1, 1).all()
    assert nn[TITLE].str.len().gt(0).all()
    v = emb.to_numpy()
    best = nn[ITEM].iloc[0]
    cos = v[spec.movies.index(best)] @ v[5] / np.linalg.norm(v[spec.movies.index(best)]) / np.linalg.norm(v[5])
    assert nn["cosine"].iloc[0] == pytest.approx(cos, abs=1e-4)
    with pytest.raises(ValueError, match="no learned embedding"):
        nearest_movies(emb, -5)
    with pytest.raises(ValueError, match="no learned embedding"):
        movie_embeddings(model, [-5])


def test_embedding_explorer_widget(world):
    from course_lib.widgets import EmbeddingExplorer

    spec = world["spec"]
    ex = EmbeddingExplorer(world["models"]["wide_deep"], spec, world["movies"], choices=spec.movies[:20], k=5)
    assert ex.coords.shape == (len(spec.movies), 2)
    assert len(ex.neighbours) == 5
    ex.movie.value = ex.movie.options[3][1]
    chosen = ex.movie.value
    assert chosen not in set(ex.neighbours[ITEM])
    row = spec.movies.index(chosen)
    np.testing.assert_allclose(ex.highlight["movie"], ex.coords[row])
    assert ex.highlight["neighbours"].shape == (5, 2)
    assert set(ex.neighbours[ITEM]) <= set(spec.movies[:20])  # neighbours drawn from the choices
    # Lesson 02's map (a frame of movie_id, x, y) is accepted as the coordinates.
    from course_lib.explain import embedding_map, movie_embeddings

    coords = embedding_map(movie_embeddings(world["models"]["deep"]), world["movies"])
    ex2 = EmbeddingExplorer(world["models"]["deep"], spec, world["movies"], coords_2d=coords, k=3)
    row = coords.set_index(ITEM).loc[ex2.movie.value]
    np.testing.assert_allclose(ex2.highlight["movie"], [row["x"], row["y"]])
    with pytest.raises(ValueError, match="coords_2d"):
        EmbeddingExplorer(world["models"]["deep"], spec, world["movies"], coords_2d=np.zeros((3, 2)))


def test_widgets_have_a_display(explorer, world):
    import ipywidgets

    assert isinstance(explorer.widget, ipywidgets.VBox)
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def _snapshot_png(snapshot: str) -> bytes:
    import base64
    import re

    match = re.search(r'<img class="explorer-snapshot-chart" alt="[^"]+" src="data:image/png;base64,([^"]+)"',
                      snapshot)
    assert match, "the snapshot has no inline chart"
    return base64.b64decode(match.group(1))


def test_branch_explorer_snapshot_shows_the_current_view(explorer):
    """Without a kernel or trust, JupyterLab renders the text/html snapshot: it must hold the view."""
    _set(explorer, deep=False)
    bundle = explorer._repr_mimebundle_()
    snap = bundle["text/html"]
    assert snap.startswith('<div class="explorer-snapshot branch-explorer-snapshot">')
    assert "wide only" in snap and f"{explorer.metrics['roc_auc']:.4f}" in snap
    assert all(t.replace("&", "&amp;") in snap for t in explorer.top10[TITLE])
    assert _snapshot_png(snap).startswith(b"\x89PNG")
    assert bundle["text/plain"].startswith("Branch explorer: Ablate a branch: wide only: test ROC AUC")
    _set(explorer, wide=False, deep=False)
    snap = explorer._repr_mimebundle_()["text/html"]
    assert "Tick Wide, Deep or both" in snap and "<img" not in snap
    _set(explorer)


def test_cross_and_embedding_snapshots(world):
    from course_lib.widgets import CrossExplorer, EmbeddingExplorer

    spec = world["spec"]
    cross = CrossExplorer(world["models"]["wide_deep"], spec, world["task"], world["movies"], world["feats"], k=4)
    snap = cross._repr_mimebundle_()["text/html"]
    assert 'class="explorer-snapshot cross-explorer-snapshot"' in snap and "ce-table" in snap
    emb = EmbeddingExplorer(world["models"]["deep"], spec, world["movies"], choices=spec.movies[:20], k=3)
    snap = emb._repr_mimebundle_()["text/html"]
    assert 'class="explorer-snapshot embedding-explorer-snapshot"' in snap and "ee-table" in snap
    assert _snapshot_png(snap).startswith(b"\x89PNG")


def test_one_log_loss_in_the_package():
    from scipy.special import expit

    from course_lib.metrics import PROB_CLIP, classification_report, log_loss
    from course_lib.widgets import metrics_for

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    z = rng.normal(size=300) * 30  # very confident rows: the clipping matters
    assert metrics_for(y, z)["log_loss"] == round(log_loss(y, expit(z)), 4)
    assert classification_report(y, expit(z))["log_loss"] == round(log_loss(y, expit(z)), 4)
    assert log_loss([1], [0.0]) == pytest.approx(-np.log(PROB_CLIP))


def test_widgets_module_computes_nothing_of_its_own():
    from pathlib import Path

    import course_lib.widgets as widgets

    text = Path(widgets.__file__).read_text(encoding="utf-8")
    for own in ("logaddexp", "lexsort", "barh(", "get_layer("):
        assert own not in text, f"widgets.py computes {own!r} itself; use course_lib.metrics/recommend/plots/explain"
