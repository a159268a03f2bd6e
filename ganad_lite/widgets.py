"""The lambda / alpha explorer: move lambda and alpha over scores computed once and see every consequence.

`threshold_explorer(scores, labels, normal_scores, images=...)` is the live explorer (ipywidgets, needs a
kernel): sliders for the score weight lambda and the threshold alpha, a toggle for standardised terms and,
given held-out normals, a button and a checkbox that set alpha to their quantile. alpha is a number in the
score's units: moving lambda keeps it, so the decisions at that alpha change with the mix. alpha is set from
the held-out quantile only when the reader asks (button, or the "follows" checkbox), and when the
standardised toggle changes the units. Each move mixes the test scores once (`Scores.anomaly_score`) into
one `ExplorerState`, and every panel is drawn from it (`explorer_figures`).

`static_explorer` pre-renders the same panels on a lambda x alpha grid, alpha in score units shared by
every lambda, and switches the frames in the browser (client-side links), without a kernel.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

from . import metrics
from .explorer_figures import ExplorerState, explorer_figure, explorer_state, figure_png, pick_tiles
from .images import as_image_tensor
from .scoring import Scores

LIVE_KERNEL_NOTE = ("Moving the sliders needs a live Python kernel (JupyterLab, Binder or Colab). "
                    "In the static book the figure shows the initial state.")


# -- inputs ------------------------------------------------------------------------------------------------
def _check(scores: Scores, labels, normal_scores: Scores | None) -> tuple[np.ndarray, Scores | None]:
    if not isinstance(scores, Scores):
        raise TypeError(f"scores must be a ganad_lite.Scores (from GANAD.score_terms), got {type(scores).__name__}")
    y = np.asarray(labels).ravel().astype(int)
    if y.shape[0] != len(scores):
        raise ValueError(f"{len(scores)} scores but {y.shape[0]} labels: pass the labels of the scored images")
    if not set(np.unique(y)) <= {0, 1}:
        raise ValueError("labels must be 0 (normal) or 1 (anomaly)")
    if normal_scores is not None:
        if not isinstance(normal_scores, Scores):
            raise TypeError("normal_scores must be the Scores of held-out normal images "
                            "(detector.score_terms(split.val))")
        if normal_scores.standardizer is None and scores.standardizer is not None:
            normal_scores = dataclasses.replace(normal_scores, standardizer=scores.standardizer)
    return y, normal_scores


def _check_units(scores: Scores, standardized: bool) -> None:
    if standardized and scores.standardizer is None:
        raise ValueError("standardized=True needs held-out statistics: call detector.fit_standardizer(val_images) "
                         "(or fit(..., normal=val_images)) before scoring")


def _tiles(scores: Scores, images, pick: np.ndarray) -> tuple[torch.Tensor, str]:
    """The images `pick` (K,) as float tiles (K, C, H, W) in [0, 1], and what they are: the test images when
    given, else the reconstructions stored in `scores`."""
    if images is not None:
        if len(images) != len(scores):
            raise ValueError(f"{len(images)} images but {len(scores)} scores: pass the scored test images, in order")
        picked = images[torch.as_tensor(pick)] if isinstance(images, torch.Tensor) else np.asarray(images)[pick]
        return as_image_tensor(picked, "images"), "test images"
    if scores.recon is not None:
        return as_image_tensor(scores.recon[pick], "scores.recon"), "reconstructions of test images"
    raise ValueError("the explorer shows test images: pass images=<the scored test images> "
                     "(or score them with keep_recon=True)")


def slider_range(values: Sequence[float] | np.ndarray, n_steps: int = 500,
                 keep: float | None = None) -> tuple[float, float, float]:
    """(min, max, step) for an alpha slider over `values`: from just below the smallest value (every image
    flagged) to the largest (none flagged, since the rule is a > alpha), widened to hold `keep` (the
    current alpha, which must not move)."""
    v = np.asarray(values, dtype=float).ravel()
    v = v if keep is None else np.append(v, keep)
    lo, hi = float(v.min()), float(v.max())
    span = hi - lo if hi > lo else max(abs(hi), 1.0) * 1e-3
    step = span / n_steps
    return lo - 2 * step, hi, step


def _widgets():
    try:
        import ipywidgets
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("the explorer needs ipywidgets: pip install ipywidgets "
                          "(or pip install 'ganad-lite[book]')") from err
    return ipywidgets


def _fit(w):
    """A layout that shrinks a figure to a narrow page column instead of overflowing it."""
    return w.Layout(max_width="100%", height="auto")


def _summary(state: ExplorerState, status: str) -> str:
    c = state.counts
    held = ("" if state.heldout_threshold is None
            else f" (held-out {state.quantile:.0%} quantile: {state.heldout_threshold:.4g})")
    return (f"<b>{status}</b><br>α = {state.threshold:.4g} in {state.units} score units{held}: "
            f"{int(state.flagged.sum())} of {len(state.score)} flagged; precision {c['precision']:.3f}, "
            f"recall {c['recall']:.3f}, F1 {c['f1']:.3f} (all-anomalous F1 {state.trivial['f1']:.3f}), "
            f"AUROC {state.auroc:.3f}")


# -- the live explorer -------------------------------------------------------------------------------------
class ThresholdExplorer:
    """Sliders for lambda and alpha, the units toggle, the re-anchor controls and the figure; `.widget` is
    the container.

    Attributes for programmatic use (and tests): weight_slider, threshold_slider, standardized_box,
    reanchor_button and follow_box (None without held-out normals), image (the figure as PNG), summary
    (HTML), state (the ExplorerState drawn last), score (N,) the test scores mixed for the current lambda.
    """

    def __init__(self, scores: Scores, labels, normal_scores: Scores | None = None, *, images=None,
                 weight: float = 0.05, threshold: float | None = None, standardized: bool = False,
                 quantile: float = 0.95, follow_heldout: bool = False, n_images: int = 16,
                 title: str | None = None, dpi: int = 90):
        w = _widgets()
        self.labels, self.normal_scores = _check(scores, labels, normal_scores)
        _check_units(scores, standardized)
        self.scores, self.quantile, self.dpi = scores, quantile, dpi
        self.pick = pick_tiles(self.labels, n_images)
        self.tiles, self.caption = _tiles(scores, images, self.pick)
        self._busy = False
        self._mix(weight, standardized)
        threshold = self._anchor() if threshold is None else float(threshold)
        self.status = f"α starts at {threshold:.4g}"
        lo, hi, step = slider_range(self._pooled(), keep=threshold)
        style, layout = {"description_width": "150px"}, w.Layout(width="520px")
        self.weight_slider = w.FloatSlider(value=weight, min=0.0, max=1.0, step=0.01, description="λ (score_weight)",
                                           continuous_update=False, readout_format=".2f", style=style, layout=layout)
        self.threshold_slider = w.FloatSlider(value=threshold, min=lo, max=hi, step=step, description="α (threshold)",
                                              continuous_update=False, readout_format=".4g", style=style,
                                              layout=layout)
        self.standardized_box = w.Checkbox(value=standardized, description="standardised terms", indent=False,
                                           disabled=scores.standardizer is None,
                                           tooltip="z-score L_n and L_o with held-out normal statistics")
        toggles = [self.standardized_box]
        self.reanchor_button = self.follow_box = None
        if self.normal_scores is not None:
            self.reanchor_button = w.Button(description=f"re-anchor α (held-out {quantile:.0%})",
                                            tooltip="α = quantile of the held-out normal images' scores at this λ",
                                            layout=w.Layout(width="230px"))
            self.follow_box = w.Checkbox(value=follow_heldout, indent=False,
                                         description="α follows the held-out quantile")
            self.reanchor_button.on_click(lambda _: self.reanchor())
            self.follow_box.observe(self._on_follow, names="value")
            toggles += [self.reanchor_button, self.follow_box]
        self.summary, self.image = w.HTML(), w.Image(format="png", layout=_fit(w))
        head = [w.HTML(f"<b>{title}</b>")] if title else []
        note = w.HTML(f"<small><i>{LIVE_KERNEL_NOTE}</i></small>")
        self.widget = w.VBox([*head, self.weight_slider, self.threshold_slider, w.HBox(toggles), note,
                              self.summary, self.image])
        self.weight_slider.observe(self._on_weight, names="value")
        self.standardized_box.observe(self._on_units, names="value")
        self.threshold_slider.observe(self._on_alpha, names="value")
        self.redraw()

    # the one mix of a setting, and what follows from it without labels
    def _mix(self, weight: float, standardized: bool) -> None:
        """Mix the test scores (and the held-out normals') once for this lambda and these units."""
        self.score = self.scores.anomaly_score(weight, standardized)  # (N,)
        self.normal_score = (None if self.normal_scores is None
                             else self.normal_scores.anomaly_score(weight, standardized))
        self.heldout_threshold = (None if self.normal_score is None
                                  else metrics.quantile_threshold(self.normal_score, self.quantile))

    def _pooled(self) -> np.ndarray:
        """Every score the alpha slider must cover: test and held-out normal."""
        return self.score if self.normal_score is None else np.concatenate([self.score, self.normal_score])

    def _anchor(self) -> float:
        """The label-free alpha: the held-out quantile, else the median test score."""
        return self.heldout_threshold if self.heldout_threshold is not None else float(np.median(self.score))

    @property
    def _following(self) -> bool:
        return self.follow_box is not None and self.follow_box.value

    # callbacks
    def _on_weight(self, change=None) -> None:
        """lambda moved: one mix; alpha stays in score units unless it follows the held-out quantile."""
        self._mix(self.weight_slider.value, self.standardized_box.value)
        if self._following:
            self.reanchor(f"λ = {self.weight_slider.value:.2f}: α follows the held-out {self.quantile:.0%} quantile")
        else:
            alpha = self.threshold_slider.value
            self.set_alpha(alpha, f"λ = {self.weight_slider.value:.2f}: α kept at {alpha:.4g}, decisions re-made")

    def _on_units(self, change=None) -> None:
        """The standardised toggle changes the score's units, so an alpha in the old units means nothing."""
        self._mix(self.weight_slider.value, self.standardized_box.value)
        units = "standardised" if self.standardized_box.value else "raw"
        self.reanchor(f"units changed to {units}: α re-anchored")

    def _on_alpha(self, change=None) -> None:
        self.status = f"α moved to {self.threshold_slider.value:.4g}"
        self.redraw()

    def _on_follow(self, change) -> None:
        if change["new"]:
            self.reanchor()

    def reanchor(self, status: str | None = None) -> None:
        """Set alpha to the held-out normal quantile of the current lambda's scores (the median test score
        without held-out normals) and fit the slider's range to the current scores."""
        source = f"held-out {self.quantile:.0%} quantile" if self.heldout_threshold is not None else "median score"
        self.set_alpha(self._anchor(), status or f"α re-anchored to the {source}")

    def set_alpha(self, alpha: float, status: str) -> None:
        """Put alpha at `alpha` with a slider range over the current scores (widened to hold alpha), redraw once."""
        lo, hi, step = slider_range(self._pooled(), keep=alpha)
        s = self.threshold_slider
        self._busy = True  # one redraw for the whole change
        try:
            with s.hold_trait_notifications():
                if lo > s.max:  # widen first in the direction that keeps min <= max at every moment
                    s.max, s.min = hi, lo
                else:
                    s.min, s.max = lo, hi
                s.step, s.value = step, alpha
        finally:
            self._busy = False
        self.status = status
        self.redraw()

    def redraw(self) -> None:
        """One state from the current mix and alpha; every panel and the summary are drawn from it."""
        if self._busy:
            return
        self.state = explorer_state(self.score, self.labels, self.weight_slider.value, self.threshold_slider.value,
                                    self.standardized_box.value, self.heldout_threshold, self.quantile)
        self.image.value = figure_png(explorer_figure(self.state, self.tiles, self.pick, self.caption, self.dpi))
        self.summary.value = _summary(self.state, self.status)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def threshold_explorer(scores: Scores, labels, normal_scores: Scores | None = None, **kwargs):
    """The live lambda / alpha explorer for test `scores` with `labels` (1 = anomaly); `normal_scores`
    (held-out normals) give the label-free quantile threshold, the re-anchor button and checkbox.

    Keyword arguments: images (the scored test images (N, C, H, W); default the stored reconstructions),
    weight (initial lambda, 0.05), threshold (initial alpha in score units; default the held-out quantile,
    else the median score), standardized, quantile (0.95), follow_heldout (False), n_images (16), title,
    dpi (90). Returns the ipywidgets container; its `.explorer` attribute is the ThresholdExplorer.
    """
    ex = ThresholdExplorer(scores, labels, normal_scores, **kwargs)
    ex.widget.explorer = ex
    return ex.widget


# -- a pre-rendered explorer that works without a kernel ---------------------------------------------------
STATIC_NOTE = ("Pre-rendered on a grid of settings, so these controls work in the static book too. α is a "
               "number in the score's units, the same for every λ: at one α, moving λ shows what the mix "
               "alone does to the decisions. {source}")


def _alpha_grid(reference: Scores, weight: float, standardized: bool, quantiles, alphas) -> list[float]:
    """alpha values in score units: `alphas` as given, else the `quantiles` of the reference scores at
    lambda = `weight`."""
    if alphas is not None:
        return [float(a) for a in alphas]
    mixed = reference.anomaly_score(weight, standardized)
    return [metrics.quantile_threshold(mixed, q) for q in quantiles]


def static_explorer(scores: Scores, labels, normal_scores: Scores | None = None, *, images=None,
                    weights: Sequence[float] = (0.0, 0.05, 0.5, 0.95, 1.0),
                    quantiles: Sequence[float] = (0.5, 0.9, 0.95, 0.99), weight: float = 0.05,
                    alphas: Sequence[float] | None = None, standardized: bool | None = None,
                    quantile: float = 0.95, n_images: int = 16, title: str | None = None, dpi: int = 80):
    """Explorer frames pre-rendered on the lambda x alpha grid, switched by client-side links (ipywidgets
    `jslink`), so the controls also work in the static HTML book. Every frame holds all the live panels.

    alpha is in score units and shared by every lambda: `alphas` as given, else the `quantiles` of the
    held-out normals' scores (of the test scores when `normal_scores` is None: still no labels) at
    lambda = `weight`. standardized: None renders raw and standardised terms (when `scores` carries held-out
    statistics), each with its own alpha grid; True / False renders one (required with `alphas`). Renders
    len(weights) x len(alpha grid) frames per kind of terms. Returns the ipywidgets container, with
    `.frame_states` (the ExplorerState of every frame, kind-major, then lambda, then alpha) and `.links`.
    """
    w = _widgets()
    y, normal_scores = _check(scores, labels, normal_scores)
    if not weights or (alphas is None and not quantiles) or (alphas is not None and not len(alphas)):
        raise ValueError("static_explorer needs at least one weight and one alpha (or quantile)")
    if any(not 0.0 <= q <= 1.0 for q in (*quantiles, quantile)):
        raise ValueError(f"quantiles must lie in [0, 1], got {(*quantiles, quantile)}")
    if any(not 0.0 <= v <= 1.0 for v in (*weights, weight)):
        raise ValueError(f"weights (lambda) must lie in [0, 1], got {(*weights, weight)}")
    if standardized is None:
        if alphas is not None and scores.standardizer is not None:
            raise ValueError("alphas are in the units of one score: pass standardized=False or True with them")
        kinds = (False, True) if scores.standardizer is not None else (False,)
    else:
        _check_units(scores, standardized)
        kinds = (bool(standardized),)
    reference = normal_scores if normal_scores is not None else scores
    pick = pick_tiles(y, n_images)
    tiles, caption = _tiles(scores, images, pick)
    states, middles, alpha_sliders, inners_by_kind = [], [], [], []
    style, layout = {"description_width": "150px"}, w.Layout(width="520px")
    i_w = min(range(len(weights)), key=lambda i: abs(weights[i] - weight))
    for std in kinds:
        grid = _alpha_grid(reference, weight, std, quantiles, alphas)
        i_a = (len(grid) // 2 if alphas is not None
               else min(range(len(quantiles)), key=lambda i: abs(quantiles[i] - quantile)))
        inners = []
        for wt in weights:
            score = scores.anomaly_score(wt, std)  # one mix per (kind, lambda), shared by its alpha frames
            held = (None if normal_scores is None
                    else metrics.quantile_threshold(normal_scores.anomaly_score(wt, std), quantile))
            row = [explorer_state(score, y, wt, a, std, held, quantile) for a in grid]
            states += row
            pngs = [figure_png(explorer_figure(st, tiles, pick, caption, dpi), palette=True) for st in row]
            inners.append(w.Stack([w.Image(value=png, format="png", layout=_fit(w)) for png in pngs],
                                  selected_index=i_a))
        inners_by_kind.append(inners)
        middles.append(w.Stack(inners, selected_index=i_w))
        alpha_sliders.append(w.SelectionSlider(options=[(f"{a:.4g}", i) for i, a in enumerate(grid)], index=i_a,
                                               description=f"α ({'standardised' if std else 'raw'} score)",
                                               style=style, layout=layout))
    outer, alpha_stack = w.Stack(middles, selected_index=0), w.Stack(alpha_sliders, selected_index=0)
    w_slider = w.SelectionSlider(options=[(f"{v:g}", i) for i, v in enumerate(weights)], index=i_w,
                                 description="λ (score_weight)", style=style, layout=layout)
    links = [w.jslink((w_slider, "index"), (m, "selected_index")) for m in middles]
    links += [w.jslink((s, "index"), (inner, "selected_index"))
              for s, inners in zip(alpha_sliders, inners_by_kind) for inner in inners]
    controls = [w_slider, alpha_stack]
    if len(kinds) > 1:
        kind = w.ToggleButtons(options=["raw terms", "standardised terms"], index=0)
        links += [w.jslink((kind, "index"), (outer, "selected_index")),
                  w.jslink((kind, "index"), (alpha_stack, "selected_index"))]
        controls.append(kind)
    source = ("The α values are the given ones." if alphas is not None else
              f"The α values are the {', '.join(f'{q:.0%}' for q in quantiles)} quantiles of the "
              f"{'held-out normal' if normal_scores is not None else 'test'} scores at λ = {weight:g}.")
    head = [w.HTML(f"<b>{title}</b>")] if title else []
    note = w.HTML(f"<small><i>{STATIC_NOTE.format(source=source)}</i></small>")
    box = w.VBox([*head, *controls, note, outer])
    box.links, box.frame_states = links, states  # the links live as long as the container
    return box
