"""The lambda / alpha explorer: re-threshold scores computed once and see every consequence at once.

`threshold_explorer(scores, labels, normal_scores)` returns an ipywidgets container with sliders for the
score weight lambda (`score_weight`) and the threshold alpha, and a toggle for the standardised score.
Nothing is re-scored when they move: a = lambda L_n + (1 - lambda) L_o is recomputed from the stored terms
and re-thresholded, and the figure is redrawn. The drawing lives in plain functions (`explorer_state`,
`explorer_figure`) that work without a widget frontend.
"""
from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from . import metrics
from .scoring import Scores
from .viz import new_figure, roc_plot, score_histogram

LIVE_KERNEL_NOTE = ("Moving the sliders needs a live Python kernel (JupyterLab, Binder or Colab). "
                    "In the static book the figure shows the initial state.")


# -- plain functions -----------------------------------------------------------------------------------
def _check(scores: Scores, labels, normal_scores: Scores | None) -> tuple[np.ndarray, Scores | None]:
    if not isinstance(scores, Scores):
        raise TypeError(f"scores must be a ganad_lite.Scores (from GANAD.score), got {type(scores).__name__}")
    y = np.asarray(labels).ravel().astype(int)
    if y.shape[0] != len(scores):
        raise ValueError(f"{len(scores)} scores but {y.shape[0]} labels: pass the labels of the scored images")
    if not set(np.unique(y)) <= {0, 1}:
        raise ValueError("labels must be 0 (normal) or 1 (anomaly)")
    if normal_scores is not None:
        if not isinstance(normal_scores, Scores):
            raise TypeError("normal_scores must be the Scores of held-out normal images (detector.score_terms(split.val))")
        if normal_scores.standardizer is None and scores.standardizer is not None:
            normal_scores = dataclasses.replace(normal_scores, standardizer=scores.standardizer)
    return y, normal_scores


def explorer_state(scores: Scores, labels, weight: float, threshold: float, standardized: bool = False,
                   normal_scores: Scores | None = None, quantile: float = 0.95) -> dict:
    """Everything the explorer shows for one (lambda, alpha, standardised) setting.

    Returns: score (N,) the mixed scores; labels (N,); counts = metrics.precision_recall_f1 at `threshold`;
    auroc; trivial = the all-anomalous baseline; heldout_threshold (or None) = the `quantile` of the
    held-out normals' scores, and heldout = precision/recall/F1 there.
    """
    y, normal_scores = _check(scores, labels, normal_scores)
    a = scores.anomaly_score(weight, standardized)
    out = {"weight": float(weight), "threshold": float(threshold), "standardized": bool(standardized),
           "score": a, "labels": y, "counts": metrics.precision_recall_f1(y, a, threshold),
           "auroc": metrics.auroc(y, a), "trivial": metrics.trivial_baseline(y),
           "quantile": quantile, "heldout_threshold": None, "heldout": None}
    if normal_scores is not None:
        t = metrics.quantile_threshold(normal_scores.anomaly_score(weight, standardized), quantile)
        out["heldout_threshold"], out["heldout"] = t, metrics.precision_recall_f1(y, a, t)
    return out


def _confusion(ax, counts: dict) -> None:
    """2 x 2 confusion matrix: rows truth (normal, anomaly), columns decision (normal, anomaly)."""
    cells = np.array([[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]])
    ax.imshow(cells / max(cells.sum(), 1), cmap="Blues", vmin=0, vmax=1)
    for (i, j), name in np.ndenumerate(np.array([["tn", "fp"], ["fn", "tp"]])):
        t = ax.text(j, i, f"{cells[i, j]}\n{name.upper()}", ha="center", va="center", fontsize=10,
                    color="white" if cells[i, j] > 0.6 * cells.sum() else "black")
        t.set_gid(name)
    ax.set_xticks([0, 1], ["normal", "anomaly"])
    ax.set_yticks([0, 1], ["normal", "anomaly"])
    ax.set_xlabel("decision ($a > \\alpha$)")
    ax.set_ylabel("truth")
    ax.set_title("confusion matrix", fontsize=10)


def _metric_bars(ax, state: dict) -> None:
    """Precision, recall, F1 at alpha beside the all-anomalous baseline, with AUROC in the title."""
    c, triv = state["counts"], state["trivial"]
    names = ["precision", "recall", "F1"]
    ours = [c["precision"], c["recall"], c["f1"]]
    base = [triv["precision"], triv["recall"], triv["f1"]]
    x = np.arange(3)
    b1 = ax.bar(x - 0.2, ours, 0.4, color="tab:green", label="at $\\alpha$")
    b2 = ax.bar(x + 0.2, base, 0.4, color="0.75", hatch="//", label="all anomalous")
    for bars in (b1, b2):
        for bar in bars:
            ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.01, f"{bar.get_height():.2f}",
                    ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, names)
    ax.set_ylim(0, 1.32)
    ax.legend(fontsize=8, loc="upper center", ncols=2, frameon=False)
    ax.set_title(f"AUROC {state['auroc']:.3f} (threshold-free)", fontsize=10)


def explorer_figure(scores: Scores, labels, weight: float, threshold: float, standardized: bool = False,
                    normal_scores: Scores | None = None, quantile: float = 0.95, state: dict | None = None,
                    dpi: int = 80) -> Figure:
    """The explorer's figure: score histograms by class with the decision line (and the held-out threshold,
    dashed), the ROC curve with the operating point, the confusion matrix, and precision / recall / F1 next
    to the trivial all-anomalous baseline."""
    st = state or explorer_state(scores, labels, weight, threshold, standardized, normal_scores, quantile)
    fig = new_figure(figsize=(10, 7), dpi=dpi)  # a fixed layout: redraws twice as fast as "constrained"
    fig.subplots_adjust(left=0.08, right=0.97, top=0.91, bottom=0.08, hspace=0.38, wspace=0.25)
    ax_hist, ax_roc, ax_conf, ax_bars = fig.subplots(2, 2).ravel()
    score_histogram(st["score"], st["labels"], st["threshold"], ax=ax_hist, reference=st["heldout_threshold"],
                    xlabel="standardised score $a$" if standardized else "score $a = \\lambda L_n + (1-\\lambda) L_o$")
    ax_hist.set_title("scores by class", fontsize=10)
    roc_plot(st["labels"], st["score"], operating_point=st["threshold"], ax=ax_roc, color="tab:purple")
    if st["heldout_threshold"] is not None and 0 < st["labels"].sum() < len(st["labels"]):
        pred = metrics.decide(st["score"], st["heldout_threshold"])
        y = st["labels"]
        ax_roc.plot([pred[y == 0].mean()], [pred[y == 1].mean()], "s", markerfacecolor="none", markeredgecolor="black",
                    markersize=8, label=f"held-out {st['quantile']:.0%} quantile")
        ax_roc.legend(fontsize=8, loc="lower right")
    ax_roc.set_title("ROC curve", fontsize=10)
    _confusion(ax_conf, st["counts"])
    _metric_bars(ax_bars, st)
    fig.suptitle(f"$\\lambda$ = {st['weight']:.2f}, $\\alpha$ = {st['threshold']:.4g} "
                 f"({'standardised' if standardized else 'raw'} score)", fontsize=11)
    return fig


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def slider_range(values: Sequence[float] | np.ndarray, n_steps: int = 500) -> tuple[float, float, float]:
    """(min, max, step) for an alpha slider over `values`: from just below the smallest value (every image
    flagged) to the largest (none flagged, since the rule is a > alpha)."""
    v = np.asarray(values, dtype=float)
    lo, hi = float(v.min()), float(v.max())
    span = hi - lo if hi > lo else max(abs(hi), 1.0) * 1e-3
    step = span / n_steps
    return lo - 2 * step, hi, step


# -- the widget ----------------------------------------------------------------------------------------
def _widgets():
    try:
        import ipywidgets
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("the explorer needs ipywidgets: pip install ipywidgets (or pip install 'ganad-lite[book]')") from err
    return ipywidgets


class ThresholdExplorer:
    """Sliders for lambda and alpha, a standardised toggle and the explorer figure; `.widget` is the container.

    Attributes for programmatic use (and tests): weight_slider, threshold_slider, standardized_box,
    heldout_button (or None), image (the figure as PNG), summary (HTML line), state (the last explorer_state).
    """

    def __init__(self, scores: Scores, labels, normal_scores: Scores | None = None, *, weight: float = 0.05,
                 threshold: float | None = None, standardized: bool = False, quantile: float = 0.95,
                 title: str | None = None, dpi: int = 80):
        w = _widgets()
        self.labels, self.normal_scores = _check(scores, labels, normal_scores)
        if standardized and scores.standardizer is None:
            raise ValueError("standardized=True needs held-out statistics: call detector.fit_standardizer(val_images) "
                             "(or fit(..., normal=val_images)) before scoring")
        self.scores, self.quantile, self.dpi = scores, quantile, dpi
        self._busy = False
        self.state: dict = {}
        style = {"description_width": "150px"}
        layout = w.Layout(width="520px")
        self.weight_slider = w.FloatSlider(value=weight, min=0.0, max=1.0, step=0.01, description="λ (score_weight)",
                                           continuous_update=False, readout_format=".2f", style=style, layout=layout)
        self.standardized_box = w.Checkbox(value=standardized, description="standardised terms",
                                           disabled=scores.standardizer is None, indent=False,
                                           tooltip="z-score L_n and L_o with held-out normal statistics")
        lo, hi, step = self._range(weight, standardized)
        if threshold is None:
            threshold = self._heldout(weight, standardized)
            threshold = float(np.median(scores.anomaly_score(weight, standardized))) if threshold is None else threshold
        self.threshold_slider = w.FloatSlider(value=float(np.clip(threshold, lo, hi)), min=lo, max=hi, step=step,
                                              description="α (threshold)", continuous_update=False,
                                              readout_format=".4g", style=style, layout=layout)
        self.heldout_button = None
        controls = [self.weight_slider, self.threshold_slider, self.standardized_box]
        if self.normal_scores is not None:
            self.heldout_button = w.Button(description=f"α = held-out {quantile:.0%} quantile",
                                           tooltip="threshold from held-out normal images (no test labels)",
                                           layout=w.Layout(width="220px"))
            self.heldout_button.on_click(lambda _: self.use_heldout_threshold())
            controls[-1] = w.HBox([self.standardized_box, self.heldout_button])
        self.note = w.HTML(f"<small><i>{LIVE_KERNEL_NOTE}</i></small>")
        self.summary = w.HTML()
        self.image = w.Image(format="png")
        head = [w.HTML(f"<b>{title}</b>")] if title else []
        self.widget = w.VBox([*head, *controls, self.note, self.summary, self.image])
        self.weight_slider.observe(self._on_weight, names="value")
        self.standardized_box.observe(self._on_weight, names="value")
        self.threshold_slider.observe(lambda _: self.redraw(), names="value")
        self.redraw()

    # scores and thresholds for the current settings
    def _mixed(self, weight: float, standardized: bool) -> np.ndarray:
        a = self.scores.anomaly_score(weight, standardized)
        if self.normal_scores is not None:
            a = np.concatenate([a, self.normal_scores.anomaly_score(weight, standardized)])
        return a

    def _range(self, weight: float, standardized: bool) -> tuple[float, float, float]:
        return slider_range(self._mixed(weight, standardized))

    def _heldout(self, weight: float, standardized: bool) -> float | None:
        if self.normal_scores is None:
            return None
        return metrics.quantile_threshold(self.normal_scores.anomaly_score(weight, standardized), self.quantile)

    # callbacks
    def _on_weight(self, change=None) -> None:
        """Lambda or the standardised toggle moved: rescale alpha's range and keep the share of flagged images."""
        old = self.state
        weight, standardized = self.weight_slider.value, self.standardized_box.value
        new_scores = self.scores.anomaly_score(weight, standardized)
        flagged = float(np.mean(metrics.decide(old["score"], old["threshold"]))) if old else 0.5
        lo, hi, step = self._range(weight, standardized)
        target = float(np.quantile(new_scores, 1.0 - flagged)) if 0 < flagged < 1 else (lo if flagged >= 1 else hi)
        self._busy = True
        try:
            self.set_threshold_range(lo, hi, step, float(np.clip(target, lo, hi)))
        finally:
            self._busy = False
        self.redraw()

    def set_threshold_range(self, lo: float, hi: float, step: float, value: float) -> None:
        s = self.threshold_slider
        with s.hold_trait_notifications():
            if lo > s.max:      # widen first in the direction that keeps min <= max at every moment
                s.max, s.min = hi, lo
            else:
                s.min, s.max = lo, hi
            s.step = step
            s.value = value

    def use_heldout_threshold(self) -> None:
        t = self._heldout(self.weight_slider.value, self.standardized_box.value)
        if t is not None:
            self.threshold_slider.value = float(np.clip(t, self.threshold_slider.min, self.threshold_slider.max))

    def redraw(self) -> None:
        if self._busy:
            return
        st = explorer_state(self.scores, self.labels, self.weight_slider.value, self.threshold_slider.value,
                            self.standardized_box.value, self.normal_scores, self.quantile)
        self.state = st
        fig = explorer_figure(self.scores, self.labels, st["weight"], st["threshold"], st["standardized"],
                              self.normal_scores, self.quantile, state=st, dpi=self.dpi)
        self.image.value = figure_png(fig)
        c = st["counts"]
        held = "" if st["heldout_threshold"] is None else (
            f" &nbsp;|&nbsp; held-out threshold {st['heldout_threshold']:.4g}: F1 {st['heldout']['f1']:.3f}")
        self.summary.value = (f"α = {st['threshold']:.4g}: precision {c['precision']:.3f}, recall {c['recall']:.3f}, "
                              f"F1 {c['f1']:.3f} (all-anomalous F1 {st['trivial']['f1']:.3f}), "
                              f"AUROC {st['auroc']:.3f}{held}")

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def threshold_explorer(scores: Scores, labels, normal_scores: Scores | None = None, **kwargs):
    """The lambda / alpha explorer for test `scores` with `labels` (1 = anomaly); `normal_scores` (held-out
    normals) adds the label-free quantile threshold as a reference and a button to use it.

    Keyword arguments: weight (initial lambda, 0.05), threshold (initial alpha; default the held-out
    threshold, else the median score), standardized, quantile (0.95), title. Returns the ipywidgets
    container; its `.explorer` attribute is the ThresholdExplorer behind it.
    """
    ex = ThresholdExplorer(scores, labels, normal_scores, **kwargs)
    ex.widget.explorer = ex
    return ex.widget


# -- a pre-rendered explorer that works without a kernel -------------------------------------------------
STATIC_NOTE = ("Pre-rendered on a grid of settings, so these controls work in the static book too: "
               "α is set as a quantile of the held-out normal images' scores, which keeps it meaningful "
               "whatever λ does to the scale.")


def frame_figure(state: dict, dpi: int = 72) -> Figure:
    """A compact explorer frame: scores by class with alpha (solid) and the confusion matrix, metric bars."""
    fig = new_figure(figsize=(10, 2.9), dpi=dpi)
    fig.subplots_adjust(left=0.06, right=0.98, top=0.8, bottom=0.2, wspace=0.35)
    ax_hist, ax_conf, ax_bars = fig.subplots(1, 3, width_ratios=[1.6, 0.9, 1.2])
    score_histogram(state["score"], state["labels"], state["threshold"], ax=ax_hist,
                    xlabel="standardised score" if state["standardized"] else "raw score")
    ax_hist.legend(fontsize=7)
    _confusion(ax_conf, state["counts"])
    _metric_bars(ax_bars, state)
    c = state["counts"]
    fig.suptitle(f"$\\lambda$ = {state['weight']:g} ({'standardised' if state['standardized'] else 'raw'}), "
                 f"$\\alpha$ = {state['threshold']:.4g}: precision {c['precision']:.2f}, recall {c['recall']:.2f}, "
                 f"F1 {c['f1']:.2f}", fontsize=10)
    return fig


def static_explorer(scores: Scores, labels, normal_scores: Scores | None = None, *,
                    weights: Sequence[float] = (0.0, 0.05, 0.5, 0.95, 1.0),
                    quantiles: Sequence[float] = (0.5, 0.9, 0.95, 0.99), title: str | None = None, dpi: int = 72):
    """Explorer frames pre-rendered for every (standardised, lambda, alpha-quantile) on a grid, switched by
    client-side links (ipywidgets `jslink`), so the controls also work in the static HTML book.

    alpha is the given quantile of the held-out normal images' scores (of the test scores when
    `normal_scores` is None: still no labels used). Renders len(weights) x len(quantiles) frames, twice
    when `scores` carries held-out statistics (raw and standardised). Returns the ipywidgets container.
    """
    w = _widgets()
    y, normal_scores = _check(scores, labels, normal_scores)
    if not weights or not quantiles:
        raise ValueError("static_explorer needs at least one weight and one quantile")
    if any(not 0.0 <= q <= 1.0 for q in quantiles):
        raise ValueError(f"quantiles must lie in [0, 1], got {tuple(quantiles)}")
    variants = (False, True) if scores.standardizer is not None else (False,)
    reference = normal_scores if normal_scores is not None else scores

    def frame(std: bool, weight: float, q: float):
        alpha = metrics.quantile_threshold(reference.anomaly_score(weight, std), q)
        st = explorer_state(scores, y, weight, alpha, std, normal_scores)
        return w.Image(value=figure_png(frame_figure(st, dpi)), format="png")

    outer = w.Stack([w.Stack([w.Stack([frame(std, wt, q) for q in quantiles]) for wt in weights])
                     for std in variants])
    middles = list(outer.children)
    inners = [inner for m in middles for inner in m.children]
    i_w = min(range(len(weights)), key=lambda i: abs(weights[i] - 0.05))
    i_q = min(range(len(quantiles)), key=lambda i: abs(quantiles[i] - 0.95))
    style = {"description_width": "150px"}
    w_slider = w.SelectionSlider(options=[(f"{v:g}", v) for v in weights], index=i_w, description="λ (score_weight)",
                                 style=style, layout=w.Layout(width="520px"))
    q_slider = w.SelectionSlider(options=[(f"{q:.0%}", q) for q in quantiles], index=i_q,
                                 description="α (quantile)", style=style, layout=w.Layout(width="520px"))
    kind = w.ToggleButtons(options=["raw terms", "standardised terms"][:len(variants)], index=0)
    outer.selected_index = 0
    for m in middles:
        m.selected_index = i_w
    for inner in inners:
        inner.selected_index = i_q
    links = [w.jslink((kind, "index"), (outer, "selected_index"))]
    links += [w.jslink((w_slider, "index"), (m, "selected_index")) for m in middles]
    links += [w.jslink((q_slider, "index"), (inner, "selected_index")) for inner in inners]
    head = [w.HTML(f"<b>{title}</b>")] if title else []
    box = w.VBox([*head, w_slider, q_slider, kind, w.HTML(f"<small><i>{STATIC_NOTE}</i></small>"), outer])
    box.links = links  # keep the links alive with the container
    return box
