"""Interactive explorers (ipywidgets 8) for lessons 01, 02 and 04.

Introduced in lessons 01 (``CrossExplorer``), 02 (``EmbeddingExplorer``) and
04 (``BranchExplorer``).

Thin UI over ``metrics``, ``recommend`` (``Recommender.top_k``), ``explain``
and ``plots``: this module adds only the branch-combination rule
(``combine_logits``) and the controls. State lives in attributes (``.metrics``,
``.top10`` ...), unit-tested without a browser; a control change is NumPy only
(model outputs are cached once). Leave an explorer as the last expression of a
cell: besides the live widget, its display carries a static snapshot of the
view (HTML, chart inlined as PNG) that JupyterLab shows when the widget cannot
be drawn (untrusted notebook, no kernel, a notebook viewer).
"""

from __future__ import annotations

import html
import time

import numpy as np
import pandas as pd

from course_lib.columns import GENRES, ITEM, LABEL, SPLIT, TITLE, USER
from course_lib.explain import _branch, _titles, movie_embeddings, nearest_movies, top_cross_partners
from course_lib.plots import contribution_bars, png_base64
from course_lib.train import model_inputs

#: Shown instead of numbers when both branches are unticked.
NO_BRANCH_MESSAGE = "Tick Wide, Deep or both: with no branch there is no score to evaluate."

ABLATE, SEPARATE = "Ablate a branch", "Separately trained"

#: CSS class of every snapshot (the browser test and readers' style sheets find it).
SNAPSHOT_CLASS = "explorer-snapshot"


class NoBranchError(ValueError):
    """Raised by ``combine_logits`` when neither branch is switched on."""


# ------------------------------------------------------------ pure logic ---

def combine_logits(wide, deep, use_wide: bool, use_deep: bool, blend: float = 0.5) -> np.ndarray:
    """The logit of the chosen branch combination.

    Scheme (documented in lesson 04):

    - both on: ``2 * (blend * wide + (1 - blend) * deep)``. At ``blend=0.5``
      this is ``wide + deep``, exactly the trained Wide&Deep logit; at 1 (0)
      only the wide (deep) branch orders the rows, scaled by 2;
    - one on: that branch's logit alone, unscaled (the *ablation*: the other
      branch's contribution is removed, nothing is retrained);
    - none on: ``NoBranchError``.

    Args:
        wide: Wide-branch logits, any shape.
        deep: Deep-branch logits, same shape.
        use_wide: Include the wide branch.
        use_deep: Include the deep branch.
        blend: Weight of the wide branch in [0, 1] (used only when both are on).

    Raises:
        NoBranchError: If both branches are off.
        ValueError: If ``blend`` is outside [0, 1].
    """
    w_part, d_part = branch_contributions(wide, deep, use_wide, use_deep, blend)
    return w_part + d_part


def branch_contributions(wide, deep, use_wide: bool, use_deep: bool, blend: float = 0.5) -> tuple[
        np.ndarray, np.ndarray]:
    """What each branch adds to ``combine_logits`` (the two parts sum to it)."""
    if not 0.0 <= float(blend) <= 1.0:
        raise ValueError(f"blend must lie in [0, 1], got {blend}")
    wide = np.asarray(wide, dtype=np.float64)
    deep = np.asarray(deep, dtype=np.float64)
    if use_wide and use_deep:
        return 2.0 * blend * wide, 2.0 * (1.0 - blend) * deep
    if use_wide:
        return wide.copy(), np.zeros_like(deep)
    if use_deep:
        return np.zeros_like(wide), deep.copy()
    raise NoBranchError(NO_BRANCH_MESSAGE)


def metrics_for(y_true, logits) -> dict[str, float]:
    """Test ROC AUC and log loss of logits, rounded to 4 places (``course_lib.metrics``).

    Raises:
        ValueError: If only one class is present (AUC is undefined).
    """
    from scipy.special import expit

    from course_lib.metrics import auc, log_loss

    z = np.asarray(logits, dtype=np.float64)
    return {"roc_auc": round(auc(y_true, z), 4), "log_loss": round(log_loss(y_true, expit(z)), 4)}


def _table_html(frame: pd.DataFrame, css_class: str) -> str:
    # Inline alignment: JupyterLab's table CSS right-aligns cells, titles read better left-aligned.
    return frame.to_html(index=False, classes=css_class, border=0, escape=True).replace(
        "<th>", '<th style="text-align: left">').replace("<td>", '<td style="text-align: left">')


def _plot_into(output, figure) -> None:
    """Redraw a matplotlib figure (``figure()`` makes it) inside an ``Output`` widget."""
    import matplotlib.pyplot as plt
    from IPython import get_ipython
    from IPython.display import display

    output.clear_output(wait=True)
    fig = figure()
    if fig is None:
        return
    try:
        if get_ipython() is not None:  # outside a kernel (unit tests) there is nothing to show
            with output:
                display(fig)
    finally:
        plt.close(fig)


class _Explorer:
    """Display plumbing: the live widget, plus a static snapshot for when it cannot be drawn.

    Subclasses set ``widget`` and define ``describe()`` (one line on the
    current view), ``view_html()`` (its text and tables) and ``figure()``
    (its chart as a new matplotlib Figure, or None).
    """

    #: Human name (snapshot heading, image alt text) and CSS class of the explorer.
    name, css = "Explorer", "explorer"
    widget = None

    def figure(self):
        return None

    def view_html(self) -> str:
        return self.table.value

    def _chosen(self) -> str:
        """Title of the movie picked in ``self.movie``."""
        return _titles(self.movies, [int(self.movie.value)])[0]

    def snapshot_html(self) -> str:
        """The current view as self-contained HTML: tables, and the chart as an inline PNG."""
        fig = self.figure()
        img = "" if fig is None else (
            f'<img class="{SNAPSHOT_CLASS}-chart" alt="{html.escape(self.name)}: chart of the current view" '
            f'src="data:image/png;base64,{png_base64(fig)}">')
        return (f'<div class="{SNAPSHOT_CLASS} {self.css}-snapshot">'
                f"<p><b>{html.escape(self.name)}</b> — a snapshot of the view when this cell ran; run the "
                f"notebook to use the controls. {html.escape(self.describe())}</p>{self.view_html()}{img}</div>")

    def _repr_mimebundle_(self, **kwargs):
        bundle = dict(self.widget._repr_mimebundle_(**kwargs))
        # Untrusted notebooks and viewers without a widget manager pick the best
        # mime type they can render: the snapshot instead of "VBox(children=...)".
        bundle["text/html"] = self.snapshot_html()
        bundle["text/plain"] = f"{self.name}: {self.describe()}"
        return bundle


# ------------------------------------------------------ lesson 04: branches ---

class BranchExplorer(_Explorer):
    """Switch the wide and deep branches of a trained Wide&Deep on and off (lesson 04).

    Controls: *Wide* and *Deep* checkboxes, a blend slider (wide weight
    ``w``; see ``combine_logits``), a user picker and a mode toggle:
    *Ablate a branch* removes a branch's contribution from the jointly
    trained model; *Separately trained* uses models trained alone (wide-only
    and deep-only, passed in) so a learner sees that ablating a branch is not
    the same as training without it. With both ticked in that mode, the two
    separate models' logits are added: an ensemble, not joint training.

    Everything is computed once up front (branch logits of every test row,
    and per user of every catalogue movie on first use); a control change
    is NumPy only.

    Attributes:
        metrics: ``{"roc_auc", "log_loss"}`` of the current choice on the test
            rows, or None when no branch is ticked.
        top10: The chosen user's top-10 unrated movies (rank, movie_id,
            title, wide, deep, logit), empty when no branch is ticked.
        contributions: Per recommended movie, the wide and deep parts of its
            logit (they sum to ``logit``).
        message: The text shown above the results.
        last_update_s: Seconds the last update took (logic only, and with plot).
    """

    name, css = "Branch explorer", "branch-explorer"

    def __init__(self, model, spec, test_features: pd.DataFrame, recommender, users=None,
                 wide_only=None, deep_only=None, k: int = 10):
        import ipywidgets as w

        for m in (model, getattr(recommender, "model", model)):
            # Lesson 08's DeepFM and DCN-v2 (crosses.CrossDeep) name their two additive logits.
            if getattr(m, "branch_names", None) is None and (
                    getattr(m, "wide", None) is None or getattr(m, "deep", None) is None):
                raise ValueError("BranchExplorer needs Wide&Deep models with both branches "
                                 "(build_wide_deep(spec, 'wide_deep')), or lesson 08's DeepFM / DCN-v2.")
        #: The two logits' names: ("wide", "deep"), or ("fm", "deep") / ("cross", "deep") (lesson 08).
        self.names = tuple(getattr(model, "branch_names", None) or ("wide", "deep"))
        a, b = (n.upper() if len(n) <= 2 else n.capitalize() for n in self.names)
        # The top-10 may come from another Wide&Deep (lesson 06's implicit ranker); not so in SEPARATE mode.
        self.top10_model = getattr(recommender, "model", model)
        if self.top10_model is not model and (wide_only is not None or deep_only is not None):
            raise ValueError("wide_only/deep_only need a Recommender of the AUC panel's own model.")
        self.model, self.spec, self.recommender, self.k = model, spec, recommender, int(k)
        self.wide_only, self.deep_only = wide_only, deep_only
        test = test_features[test_features[SPLIT] == "test"] if SPLIT in test_features else test_features
        if test.empty:
            raise ValueError("no test rows: pass the feature rows with split == 'test'.")
        self.y = test[LABEL].to_numpy(np.float64)
        self._test_inputs = model_inputs(test, spec)
        self._test = {"joint": self._logits(model, self._test_inputs)}
        self._user_cache: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
        self.metrics: dict | None = None
        self.top10 = pd.DataFrame()
        self.contributions = pd.DataFrame()
        self.message = ""
        self.last_update_s = {"logic": float("nan"), "total": float("nan")}

        users = sorted(recommender.rated) if users is None else [int(u) for u in users]
        if not users:
            raise ValueError("no users to pick from: pass users=[...] or a Recommender built from ratings.")
        has_separate = wide_only is not None and deep_only is not None
        self.wide_box = w.Checkbox(value=True, description=a, indent=False)
        self.deep_box = w.Checkbox(value=True, description=b, indent=False)
        self.blend = w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description=f"{a} weight",
                                   readout_format=".2f", continuous_update=False,
                                   style={"description_width": "initial"})
        self.user = w.Dropdown(options=users, value=users[0], description="User")
        self.mode = w.ToggleButtons(options=[ABLATE, SEPARATE] if has_separate else [ABLATE], value=ABLATE,
                                    description="Compare", style={"description_width": "initial"},
                                    tooltips=["Switch a branch off in the jointly trained model",
                                              "Use models trained with one branch only"][:2 if has_separate else 1])
        self.metrics_html = w.HTML(_dom_classes=["be-metrics"])
        self.top10_html = w.HTML(_dom_classes=["be-top10"])
        self.plot = w.Output(_dom_classes=["be-plot"])
        for control in (self.wide_box, self.deep_box, self.blend, self.user, self.mode):
            control.observe(lambda change: self.update(), names="value")
        self.widget = w.VBox([
            w.HTML("<b>Branch explorer</b> — switch the branches of the trained "
                   f"{html.escape(getattr(model, 'title', 'Wide&Deep'))} model; nothing is retrained."),
            w.HBox([self.wide_box, self.deep_box, self.blend]),
            w.HBox([self.mode, self.user]),
            self.metrics_html,
            w.HBox([self.top10_html, self.plot]),
        ])
        self.widget.add_class(self.css)
        self.update()

    # -- cached model outputs ------------------------------------------------
    @staticmethod
    def _logits(model, inputs) -> tuple[np.ndarray, np.ndarray]:
        wide, deep = model.branch_logits(inputs)
        return (np.asarray(wide, dtype=np.float64).reshape(-1),
                np.asarray(deep, dtype=np.float64).reshape(-1))

    def _separate_test(self) -> tuple[np.ndarray, np.ndarray]:
        if "separate" not in self._test:
            wide = self._logits(self.wide_only, self._test_inputs)[0]
            deep = self._logits(self.deep_only, self._test_inputs)[1]
            self._test["separate"] = (wide, deep)
        return self._test["separate"]

    def _user_logits(self, user_id: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
        key = (mode, int(user_id))
        if key not in self._user_cache:
            if mode == ABLATE:
                self._user_cache[key] = self.recommender.branch_logits(int(user_id))
            else:
                inputs = self.recommender.inputs(int(user_id))
                self._user_cache[key] = (self._logits(self.wide_only, inputs)[0],
                                         self._logits(self.deep_only, inputs)[1])
        return self._user_cache[key]

    # -- state -----------------------------------------------------------------
    def choice(self) -> dict:
        """The current control values."""
        return {"use_wide": bool(self.wide_box.value), "use_deep": bool(self.deep_box.value),
                "blend": float(self.blend.value), "user": int(self.user.value), "mode": self.mode.value}

    def label(self) -> str:
        """Human description of the current combination, e.g. 'wide only'."""
        c = self.choice()
        a, b = self.names
        both = f"{a} + {b}" if c["blend"] == 0.5 else f"blend w={c['blend']:.2f}"
        what = {(True, True): both, (True, False): f"{a} only", (False, True): f"{b} only",
                (False, False): "no branch"}[c["use_wide"], c["use_deep"]]
        return f"{c['mode']}: {what}"

    def _test_branches(self) -> tuple[np.ndarray, np.ndarray]:
        return self._test["joint"] if self.mode.value == ABLATE else self._separate_test()

    def test_logits(self) -> np.ndarray:
        """Logits of the test rows for the current choice (``NoBranchError`` if none)."""
        c = self.choice()
        return combine_logits(*self._test_branches(), c["use_wide"], c["use_deep"], c["blend"])

    def summary(self) -> pd.DataFrame:
        """Test metrics of every combination at the current blend and mode (for printing)."""
        wide, deep = self._test_branches()
        rows = {name: metrics_for(self.y, combine_logits(wide, deep, uw, ud, self.blend.value))
                for name, uw, ud in [(f"{self.names[0]} only", True, False), (f"{self.names[1]} only", False, True),
                                     ("both", True, True)]}
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("branches")

    def update(self, *_):
        """Recompute metrics, top-10 and chart from the cached logits."""
        start = time.perf_counter()
        c = self.choice()
        self.message = self.label()
        try:
            self.metrics = metrics_for(self.y, self.test_logits())
        except NoBranchError:
            self.metrics, self.top10, self.contributions = None, pd.DataFrame(), pd.DataFrame()
            self.message = NO_BRANCH_MESSAGE
            self.metrics_html.value = f'<div class="be-warning"><b>{html.escape(NO_BRANCH_MESSAGE)}</b></div>'
            self.top10_html.value = ""
            self.plot.clear_output()
            self.last_update_s = dict.fromkeys(("logic", "total"), time.perf_counter() - start)
            return
        self._rank(c)
        self.metrics_html.value = (
            f"<b>{html.escape(self.message)}</b> — test ROC AUC "
            f"<b>{self.metrics['roc_auc']:.4f}</b> · log loss <b>{self.metrics['log_loss']:.4f}</b>")
        source = "" if self.top10_model is self.model else f" from the {html.escape(self.top10_model.name)} model"
        self.top10_html.value = (f"<b>Top {len(self.top10)} for user {c['user']}</b>{source} "
                                 "(unrated movies)" + _table_html(self.top10[["rank", ITEM, TITLE, "logit"]],
                                                                  "be-table"))
        self.last_update_s["logic"] = time.perf_counter() - start
        _plot_into(self.plot, self.figure)
        self.last_update_s["total"] = time.perf_counter() - start

    def _rank(self, c: dict) -> None:
        """Top-k by the combined logit, ranked by ``Recommender.top_k`` (rated movies out)."""
        rec = self.recommender
        wide, deep = self._user_logits(c["user"], c["mode"])
        w_part, d_part = branch_contributions(wide, deep, c["use_wide"], c["use_deep"], c["blend"])
        logit = w_part + d_part
        top = rec.top_k(logit, c["user"], self.k)
        pos = pd.Index(rec.catalogue).get_indexer(top[ITEM].to_numpy())
        self.contributions = pd.DataFrame({ITEM: top[ITEM].to_numpy(), TITLE: top[TITLE].to_numpy(),
                                           self.names[0]: w_part[pos], self.names[1]: d_part[pos],
                                           "logit": logit[pos]})
        self.top10 = pd.concat([top[["rank"]], self.contributions.round(4).reset_index(drop=True)], axis=1)

    def figure(self):
        """Per recommended movie, the wide and deep parts of its logit (``plots.contribution_bars``)."""
        import matplotlib.pyplot as plt

        if self.contributions.empty:
            return None
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        contribution_bars(self.contributions, ax=ax, fontsize=7, names=self.names)
        ax.set_title(f"Why these movies? ({self.label().split(': ')[1]})", fontsize=9)
        fig.tight_layout()
        return fig

    def describe(self) -> str:
        if self.metrics is None:
            return NO_BRANCH_MESSAGE
        return (f"{self.message}: test ROC AUC {self.metrics['roc_auc']:.4f}, log loss "
                f"{self.metrics['log_loss']:.4f}; top {len(self.top10)} for user {self.user.value}.")

    def view_html(self) -> str:
        return f"<p>{self.metrics_html.value}</p>{self.top10_html.value}"


# ------------------------------------------------------ lesson 01: crosses ---

class CrossExplorer(_Explorer):
    """Which movies did the wide model learn to pair with a liked movie? (lesson 01)

    Pick a user, then a movie that user liked (training rows); the table
    lists the candidates whose ``movie_x_history`` cross weight with it is
    highest — the memorised "people who liked X then liked Y" rules — with
    how often the pair was seen in training (``train_pairs``) and the liked
    rate among those rows.

    Args:
        model: A trained ``WideDeep`` with a wide branch.
        spec: Its ``FeatureSpec`` (with the ``movie_x_history`` cross).
        task: Labelled, split ratings (``make_task``).
        movies: The movies table (titles).
        feats: The feature table (``build_features``), for co-occurrence counts.
        users: User ids offered (default: every user with a liked training movie).
        k: How many partners to list.

    Attributes:
        partners: The current table (rank, movie_id, title, weight, train_pairs,
            liked_rate); only non-zero weights, so it can hold fewer than ``k`` rows.
    """

    name, css = "Cross explorer", "cross-explorer"

    def __init__(self, model, spec, task: pd.DataFrame, movies: pd.DataFrame,
                 feats: pd.DataFrame, users=None, k: int = 10):
        import ipywidgets as w

        _branch(model, "wide")  # fail early, with a clear message
        self.model, self.spec, self.movies, self.feats, self.k = model, spec, movies, feats, int(k)
        vocab = set(spec.movies)
        liked = task[(task[SPLIT] == "train") & (task[LABEL] == 1) & task[ITEM].isin(vocab)]
        self._liked = {int(u): g[ITEM].drop_duplicates().tolist() for u, g in liked.groupby(USER, sort=True)}
        users = sorted(self._liked) if users is None else [int(u) for u in users if int(u) in self._liked]
        if not users:
            raise ValueError("no user with a liked training movie to explore; check task/users.")
        train = feats[feats[SPLIT] == "train"] if SPLIT in feats else feats
        self._train = train[[ITEM, LABEL, *spec.hist_columns]]
        self.partners = pd.DataFrame()
        self.user = w.Dropdown(options=users, value=users[0], description="User")
        self.movie = w.Dropdown(description="Liked movie", style={"description_width": "initial"},
                                layout=w.Layout(width="480px"))
        self.table = w.HTML(_dom_classes=["ce-partners"])
        self.user.observe(self._on_user, names="value")
        self._quiet = False
        self.movie.observe(lambda change: None if self._quiet else self.update(), names="value")
        self.widget = w.VBox([
            w.HTML("<b>Cross explorer</b> — candidates with the highest learned "
                   "<code>movie_x_history</code> weight for a movie the user liked."),
            w.HBox([self.user, self.movie]), self.table])
        self.widget.add_class(self.css)
        self._on_user()

    def _on_user(self, *_):
        ids = self._liked[int(self.user.value)]
        titles = _titles(self.movies, ids)
        options = sorted(((f"{t} ({m})", m) for t, m in zip(titles, ids)), key=lambda o: o[0])
        # Changing the options fires the movie observer; update once, here.
        self._quiet = True
        try:
            self.movie.options = options
            self.movie.value = options[0][1]
        finally:
            self._quiet = False
        self.update()

    def support(self, movie_id: int) -> pd.DataFrame:
        """Per candidate: training rows with ``movie_id`` in the history, and their liked rate."""
        hist = self._train[self.spec.hist_columns].to_numpy()
        rows = self._train[(hist == int(movie_id)).any(axis=1)]
        return rows.groupby(ITEM)[LABEL].agg(train_pairs="size", liked_rate="mean")

    def update(self):
        movie_id = self.movie.value
        if movie_id is None:
            return
        table = top_cross_partners(self.model, self.spec, int(movie_id), k=self.k, movies=self.movies)
        # A zero weight is "no rule learned" (unseen pair or pruned by L1): not a partner.
        table = table[table["weight"] != 0].reset_index(drop=True)
        support = self.support(int(movie_id)).reindex(table[ITEM].to_numpy())
        table["train_pairs"] = support["train_pairs"].fillna(0).astype(int).to_numpy()
        table["liked_rate"] = support["liked_rate"].round(3).to_numpy()
        self.partners = table
        title = _titles(self.movies, [int(movie_id)])[0]
        if table.empty:
            self.table.value = (f"<b>{html.escape(title)}</b>: the model learned no cross weight with it "
                                "(no training pair survived). Pick another movie.")
        else:
            self.table.value = (f"<b>Learned partners of {html.escape(title)}</b>"
                                + _table_html(table, "ce-table"))

    def describe(self) -> str:
        return f"User {self.user.value}, liked movie {self._chosen()}: {len(self.partners)} learned partners."


# ---------------------------------------------------- lesson 02: embeddings ---

class EmbeddingExplorer(_Explorer):
    """Nearest neighbours and the 2-D map of the deep model's movie embeddings (lesson 02).

    Args:
        deep_model: A trained ``WideDeep`` with a deep branch.
        spec: Its ``FeatureSpec``.
        movies: The movies table (titles).
        coords_2d: ``(n, 2)`` coordinates of ``spec.movies``, or a frame with
            columns movie_id, x, y (``course_lib.explain.embedding_map``);
            default: PCA of the embeddings.
        choices: Movie ids offered in the picker (default: the vocabulary);
            pass e.g. the 300 most-rated movies, whose embeddings are trained best.
        candidates: Movie ids allowed as neighbours (default: ``choices``):
            a movie rated twice has an embedding that is mostly noise.
        k: How many neighbours.

    Attributes:
        neighbours: The current neighbour table.
        highlight: ``{"movie": (x, y), "neighbours": array (k, 2)}`` of the plot.
    """

    name, css = "Embedding explorer", "embedding-explorer"

    def __init__(self, deep_model, spec, movies: pd.DataFrame, coords_2d=None, choices=None,
                 candidates=None, k: int = 10):
        import ipywidgets as w

        self.spec, self.movies, self.k = spec, movies, int(k)
        self.embeddings = movie_embeddings(deep_model, spec.movies)
        self.ids = self.embeddings.index.to_numpy()
        if coords_2d is None:
            from sklearn.decomposition import PCA

            coords_2d = PCA(n_components=2, random_state=0).fit_transform(self.embeddings.to_numpy())
        if isinstance(coords_2d, pd.DataFrame):
            frame = coords_2d.drop_duplicates(ITEM).set_index(ITEM).reindex(self.ids)
            if frame[["x", "y"]].isna().any().any():
                raise ValueError("coords_2d lacks some of spec.movies; build it from the same model's embeddings.")
            coords_2d = frame[["x", "y"]].to_numpy()
        self.coords = np.asarray(coords_2d, dtype=np.float64)
        if self.coords.shape != (len(self.ids), 2):
            raise ValueError(f"coords_2d must have shape ({len(self.ids)}, 2): one row per spec.movies entry.")
        self._row = {int(m): i for i, m in enumerate(self.ids)}
        if candidates is None and choices is not None:
            candidates = choices
        self.candidates = None if candidates is None else [int(m) for m in candidates if int(m) in self._row]
        choices = self.ids if choices is None else [int(m) for m in choices if int(m) in self._row]
        if len(choices) == 0:
            raise ValueError("none of the chosen movies has a learned embedding (not in spec.movies).")
        titles = _titles(movies, choices)
        options = sorted(((f"{t} ({m})", int(m)) for t, m in zip(titles, choices)), key=lambda o: o[0])
        self.neighbours = pd.DataFrame()
        self.highlight: dict = {}
        self.movie = w.Dropdown(options=options, value=options[0][1], description="Movie",
                                layout=w.Layout(width="480px"))
        self.table = w.HTML(_dom_classes=["ee-neighbours"])
        self.plot = w.Output()
        self.movie.observe(lambda change: self.update(), names="value")
        self.widget = w.VBox([
            w.HTML("<b>Embedding explorer</b> — a movie's nearest neighbours by cosine similarity "
                   "of the learned embeddings, and where it sits on the 2-D map."),
            self.movie, w.HBox([self.table, self.plot])])
        self.widget.add_class(self.css)
        self.update()

    def update(self):
        movie_id = int(self.movie.value)
        self.neighbours = nearest_movies(self.embeddings, movie_id, self.movies, self.k,
                                         candidates=self.candidates).drop(columns=GENRES)
        self.highlight = {"movie": self.coords[self._row[movie_id]],
                          "neighbours": self.coords[[self._row[int(m)] for m in self.neighbours[ITEM]]]}
        self.table.value = _table_html(self.neighbours, "ee-table")
        _plot_into(self.plot, self.figure)

    def describe(self) -> str:
        return f"The {len(self.neighbours)} nearest neighbours of {self._chosen()} (cosine of the learned embeddings)."

    def figure(self):
        """The 2-D embedding map with the chosen movie and its neighbours highlighted."""
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.0, 4.0))
        ax.scatter(self.coords[:, 0], self.coords[:, 1], s=4, color="lightgrey", label="all movies")
        nb = self.highlight["neighbours"]
        ax.scatter(nb[:, 0], nb[:, 1], s=18, color="#ff7f0e", label="nearest neighbours")
        x, y = self.highlight["movie"]
        ax.scatter([x], [y], s=80, color="#d62728", marker="*", label="chosen movie")
        ax.set_title(f"Embedding map (2-D): {self._chosen()[:40]}", fontsize=9)
        ax.set_xlabel("component 1")
        ax.set_ylabel("component 2")
        ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        return fig
