"""Figures for the book: image grids, reconstructions with residual maps, training curves, score histograms,
ROC curves, AUROC against lambda, scores by group, and the whole pipeline for a few queries.

Every function returns a matplotlib Figure (drawn on `ax.figure` when an `ax` is passed). Figures made here
are detached from pyplot, so a notebook shows one exactly once: leave it as a cell's last expression or
call `display(fig)`; `fig.savefig(path)` writes it to disk.

Images are torch tensors or NumPy arrays of shape (N, C, H, W) with C = 1 or 3, either uint8 0..255 or
float in [0, 1]; residual maps are (N, H, W) (or (N, 1, H, W)) and masks (N, H, W) or (N, 1, H, W) in {0, 1}.
They are checked by `ganad_lite.images`, which names what is wrong with a batch and how to fix it.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.textpath import TextPath
from matplotlib.ticker import MaxNLocator
from torchvision.utils import make_grid

from .images import as_image_tensor, as_map_tensor
from .metrics import decide

MAP_CMAP = "inferno"        # residual maps
NORMAL_COLOR = "tab:blue"   # label 0
ANOMALY_COLOR = "tab:red"   # label 1
PAD = 2                     # pixels between tiles
CAPTION_PT = 8              # font size of the captions under a reconstruction grid
MIN_CAPTION_PT = 5.5        # a caption with a word too long for its column shrinks to this, no further
TILE_IN = 0.8               # inches per column of a reconstruction grid, whatever the image size
LABEL_IN = 1.2              # inches for the row labels left of a reconstruction grid


def new_figure(figsize=(6.4, 4.8), **kwargs) -> Figure:
    """A Figure made through pyplot (so the notebook's backend renders it) but not kept open by pyplot."""
    fig = plt.figure(figsize=figsize, **kwargs)
    plt.close(fig)
    return fig


def _row(images: torch.Tensor, nrow: int, pad_value: float = 1.0) -> np.ndarray:
    """Tile (N, C, H, W) float images with make_grid -> (H', W', 3) array in [0, 1]."""
    grid = make_grid(images, nrow=nrow, padding=PAD, pad_value=pad_value)  # (3, H', W'); C = 1 is repeated
    return grid.permute(1, 2, 0).numpy()


def _map_row(maps: torch.Tensor, nrow: int) -> np.ndarray:
    """Tile (N, H, W) maps -> (H', W') array; the padding is NaN, which imshow leaves blank like an image row's."""
    return make_grid(maps[:, None], nrow=nrow, padding=PAD, pad_value=float("nan"))[0].numpy()


def _clean(ax: Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)


# -- grids ---------------------------------------------------------------------------------------------
def image_grid(images, nrow: int = 8, title: str | None = None, ax: Axes | None = None) -> Figure:
    """Tile images (N, C, H, W) into a grid with `nrow` images per row (torchvision's make_grid)."""
    x = as_image_tensor(images)
    grid = _row(x, nrow)
    if ax is None:
        h, w = grid.shape[:2]
        fig = new_figure(figsize=(min(12.0, 0.012 * w + 1), min(12.0, 0.012 * h + 0.6 + (0.3 if title else 0))))
        ax = fig.add_subplot()
    ax.imshow(grid, interpolation="nearest")
    _clean(ax)
    if title:
        ax.set_title(title)
    return ax.figure


# captions under a reconstruction grid: wrapped to their column by measured width
def _text_width_pt(text: str, size_pt: float) -> float:
    """Width in points of one line of `text` drawn in matplotlib's default font at `size_pt`."""
    return TextPath((0, 0), text, size=size_pt).get_extents().width if text.strip() else 0.0


def _wrap_caption(text: str, width_pt: float, size_pt: float) -> str:
    """Break each line of `text` at spaces into lines no wider than `width_pt` at `size_pt`. A word wider than
    that is broken after its underscores or hyphens (not inside $math$); what is still too wide stays whole
    and the caller shrinks the font for it."""
    lines: list[str] = []
    for paragraph in str(text).split("\n"):
        start = len(lines)
        for word in paragraph.split():
            too_wide = "$" not in word and _text_width_pt(word, size_pt) > width_pt
            for j, piece in enumerate(re.findall(r"[^_-]*[_-]|[^_-]+", word) if too_wide else [word]):
                sep = "" if j else " "  # the pieces of one word join without a space
                if len(lines) > start and _text_width_pt(lines[-1] + sep + piece, size_pt) <= width_pt:
                    lines[-1] += sep + piece
                else:
                    lines.append(piece)
    return "\n".join(lines)


def _fit_captions(captions: Sequence[str], column_pt: float) -> tuple[list[str], float]:
    """Captions wrapped to a column `column_pt` points wide, and the font size (pt) at which the widest
    line fits: CAPTION_PT, or smaller for a word too wide to wrap, but never below MIN_CAPTION_PT."""
    wrapped = [_wrap_caption(c, column_pt, CAPTION_PT) for c in captions]
    widest = max((_text_width_pt(line, CAPTION_PT) for c in wrapped for line in c.split("\n")), default=0.0)
    return wrapped, max(MIN_CAPTION_PT, min(CAPTION_PT, CAPTION_PT * column_pt / max(widest, 1e-9)))


def reconstruction_grid(images, recon, maps, masks=None, n: int = 8, title: str | None = None,
                        captions: Sequence[str] | None = None) -> Figure:
    """Rows: input, reconstruction G(z_hat), residual map (and, with masks, the ground-truth mask and an overlay).

    images, recon: (N, C, H, W); maps: (N, H, W); masks: (N, H, W) or (N, 1, H, W) in {0, 1}. The first `n`
    images are shown. All residual maps share one colour scale (0 to the largest value shown), so brighter
    means a larger residual. The overlay draws the residual map over the input with the mask's outline.
    captions: optional text under each column (e.g. label and score).
    """
    x, r, m = as_image_tensor(images, "images"), as_image_tensor(recon, "recon"), as_map_tensor(maps)
    if not (x.shape[0] == r.shape[0] == m.shape[0]):
        raise ValueError(f"images, recon and maps differ in number: {x.shape[0]}, {r.shape[0]}, {m.shape[0]}")
    if x.shape != r.shape or x.shape[-2:] != m.shape[-2:]:
        raise ValueError(f"shapes do not match: images {tuple(x.shape)}, recon {tuple(r.shape)}, maps {tuple(m.shape)}")
    k = min(n, x.shape[0])
    x, r, m = x[:k], r[:k], m[:k]
    rows = [("input", _row(x, k), {}), ("reconstruction", _row(r, k), {})]
    vmax = max(float(m.max()), 1e-12)
    map_grid = _map_row(m, k)
    rows.append(("residual map", map_grid, {"cmap": MAP_CMAP, "vmin": 0.0, "vmax": vmax}))
    mask_grid = None
    if masks is not None:
        mk = as_map_tensor(masks, "masks")
        if mk.shape[0] < k or mk.shape[-2:] != x.shape[-2:]:
            raise ValueError(f"masks {tuple(mk.shape)} do not match images {tuple(x.shape)}")
        mask_grid = _map_row((mk[:k] > 0).float(), k)
        rows.append(("mask", mask_grid, {"cmap": "gray", "vmin": 0.0, "vmax": 1.0}))
        rows.append(("overlay", _row(x, k), {}))
    h, w = rows[0][1].shape[:2]
    # a column is TILE_IN wide at any image size, so labels and captions keep their size beside the images
    image_width = min(12.0 - LABEL_IN, TILE_IN * k)
    caption_pt = CAPTION_PT
    if captions is not None:
        captions, caption_pt = _fit_captions(list(captions)[:k], 72 * image_width / k * 0.9)  # room between
    lines = max((c.count("\n") + 1 for c in captions or []), default=0)
    fig = new_figure(figsize=(image_width + LABEL_IN, len(rows) * image_width * h / w * 1.1 + 0.3
                              + (0.35 if title else 0) + lines * caption_pt * 1.3 / 72), layout="constrained")
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    for ax, (name, grid, kw) in zip(axes, rows):
        ax.imshow(grid, interpolation="nearest", **kw)
        if name == "overlay":
            # the whole map over the image, only the NaN padding left out (masking zeros left bright specks)
            ax.imshow(np.ma.masked_invalid(map_grid), cmap=MAP_CMAP, vmin=0.0, vmax=vmax, alpha=0.55,
                      interpolation="nearest")
            if mask_grid is not None and np.nanmax(mask_grid) > 0:
                ax.contour(mask_grid, levels=[0.5], colors="cyan", linewidths=1.0)
        _clean(ax)
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    if captions is not None:
        tile = x.shape[-1] + PAD
        ax = axes[-1]
        ax.set_xticks([PAD + tile * i + x.shape[-1] / 2 for i in range(k)])
        ax.set_xticklabels(captions, fontsize=caption_pt)
        ax.tick_params(length=0)
    if title:
        fig.suptitle(title)
    return fig


# -- training ------------------------------------------------------------------------------------------
_CURVES = (("critic_loss", "critic loss $L_D$"), ("wasserstein", "Wasserstein estimate\n$E[D(x)] - E[D(G(z))]$"),
           ("penalty", "gradient penalty\n$E[(\\|\\nabla D(\\hat x)\\|_2 - 1)^2]$"),
           ("generator_loss", "generator loss $-E[D(G(z))]$"), ("encoder_loss", "encoder loss\n$|G(z) - G(E(G(z)))|_1$"))


def training_curves(history: Sequence[dict], epoch_log: Sequence[dict] | None = None) -> Figure:
    """Losses against epoch from `GANAD.history` (one record per logging interval), plus the validation AUROC
    per epoch from `GANAD.epoch_log` when it holds `val_auroc_*` entries (fit with validation=...)."""
    if not history:
        raise ValueError("training_curves needs a non-empty history (train the detector first)")
    epoch = np.array([h["epoch"] for h in history], dtype=float)
    val = [e for e in (epoch_log or []) if any(k.startswith("val_auroc") for k in e)]
    panels = [(k, t) for k, t in _CURVES if k in history[0]] + ([("val", "validation AUROC")] if val else [])
    ncols = 3
    nrows = -(-len(panels) // ncols)
    fig = new_figure(figsize=(10, 2.8 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    style = dict(marker="o" if len(epoch) < 30 else None, markersize=3)
    for ax, (key, label) in zip(axes, panels):
        if key == "val":
            for k in sorted({k for e in val for k in e if k.startswith("val_auroc")}):
                pts = [(e["epoch"], e[k]) for e in val if k in e]
                ax.plot(*zip(*pts), marker="o", markersize=4, label=k.removeprefix("val_auroc_"))
            ax.axhline(0.5, color="gray", lw=0.8, ls=":")
            ax.set_ylim(0, 1.02)
            ax.legend(fontsize=8)
        else:
            ax.plot(epoch, [h[key] for h in history], **style)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    return fig


# -- scores --------------------------------------------------------------------------------------------
def _labels_scores(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).ravel().astype(int)
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length: {y.shape[0]} vs {s.shape[0]}")
    if not set(np.unique(y)) <= {0, 1}:
        raise ValueError("labels must be 0 (normal) or 1 (anomaly)")
    return y, s


def score_histogram(scores, labels, threshold: float | None = None, ax: Axes | None = None, *, bins: int = 40,
                    density: bool = True, reference: float | None = None, xlabel: str = "anomaly score $a$",
                    threshold_label: str = "threshold", reference_label: str = "held-out threshold") -> Figure:
    """Histograms of the scores of normal (label 0) and anomalous (label 1) images, with the decision line
    `a = threshold` (solid) and an optional `reference` threshold (dashed, e.g. one from held-out normals).
    density=True scales each class to unit area, so a rare class stays visible."""
    y, s = _labels_scores(labels, scores)
    if ax is None:
        ax = new_figure(figsize=(6, 3.6), layout="constrained").add_subplot()
    edges = np.histogram_bin_edges(s, bins=bins) if s.size and np.ptp(s) > 0 else bins
    for cls, name, color in ((0, "normal", NORMAL_COLOR), (1, "anomalous", ANOMALY_COLOR)):
        if (y == cls).any():
            ax.hist(s[y == cls], bins=edges, density=density, histtype="stepfilled", alpha=0.5, color=color,
                    edgecolor=color, linewidth=1.0, label=f"{name} (n={(y == cls).sum()})")
    if threshold is not None:
        ax.axvline(threshold, color="black", lw=1.5, label=f"{threshold_label} {threshold:.4g}")
    if reference is not None:
        ax.axvline(reference, color="black", lw=1.2, ls="--", label=f"{reference_label} {reference:.4g}")
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density" if density else "images")
    ax.legend(fontsize=8)
    return ax.figure


def roc_plot(labels, scores, operating_point: float | None = None, ax: Axes | None = None, *,
             label: str | None = None, color=None) -> Figure:
    """ROC curve (anomaly = positive) with its AUROC in the legend; operating_point: a threshold whose
    (false-positive rate, true-positive rate) under the rule `score > threshold` is marked."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y, s = _labels_scores(labels, scores)
    if ax is None:
        ax = new_figure(figsize=(4.2, 4.0), layout="constrained").add_subplot()
    both = 0 < y.sum() < len(y)
    if both:
        fpr, tpr, _ = roc_curve(y, s)
        auc = roc_auc_score(y, s)
        line, = ax.plot(fpr, tpr, color=color, label=f"{label + ': ' if label else ''}AUROC {auc:.3f}")
        color = line.get_color()
    else:
        ax.text(0.5, 0.5, "one class only:\nno ROC curve", ha="center", va="center", transform=ax.transAxes)
    if operating_point is not None and both:
        pred = decide(s, operating_point)
        ax.plot([pred[y == 0].mean()], [pred[y == 1].mean()], "o", color=color, markersize=7,
                markeredgecolor="black", label=f"threshold {operating_point:.4g}")
    ax.plot([0, 1], [0, 1], color="gray", lw=0.8, ls=":")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate (recall)")
    ax.set_aspect("equal")
    ax.legend(fontsize=8, loc="lower right")
    return ax.figure


def auroc_vs_weight(scores, labels, weights=None, ax: Axes | None = None, standardized: bool | None = None,
                    mark: Sequence[float] = (0.05,)) -> Figure:
    """AUROC of a = lambda L_n + (1 - lambda) L_o against lambda, for the raw terms and, when `scores` carries
    held-out statistics (standardized=None) or standardized=True, for the standardised terms.

    scores: a ganad_lite.Scores (anything with .anomaly_score(weight, standardized) and .standardizer); labels (N,).
    mark: lambdas to mark on the raw curve (0.05 is Berg et al.'s choice).
    """
    from sklearn.metrics import roc_auc_score

    y = np.asarray(labels).ravel().astype(int)
    if not 0 < y.sum() < len(y):
        raise ValueError("auroc_vs_weight needs both normal and anomalous labels")
    weights = np.linspace(0.0, 1.0, 101) if weights is None else np.asarray(weights, dtype=float)
    variants = [False] + ([True] if (standardized is None and getattr(scores, "standardizer", None) is not None)
                          or standardized else [])
    if ax is None:
        ax = new_figure(figsize=(6, 3.6), layout="constrained").add_subplot()
    for std in variants:
        auc = np.array([roc_auc_score(y, scores.anomaly_score(w, std)) for w in weights])
        line, = ax.plot(weights, auc, label="standardised terms" if std else "raw terms")
        if not std:
            for w in mark:
                ax.plot([w], [roc_auc_score(y, scores.anomaly_score(w, False))], "o", color=line.get_color())
                ax.annotate(f"$\\lambda$ = {w:g}", (w, roc_auc_score(y, scores.anomaly_score(w, False))),
                            textcoords="offset points", xytext=(6, -12), fontsize=8)
    ax.axhline(0.5, color="gray", lw=0.8, ls=":")
    ax.set_xlabel("$\\lambda$ (weight of the residual $L_n$)")
    ax.set_ylabel("AUROC")
    ax.set_xlim(0, 1)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax.figure


def score_by_group(scores, groups, threshold: float | None = None, normal_groups: Sequence[str] = (),
                   ax: Axes | None = None, *, xlabel: str = "anomaly score $a$") -> Figure:
    """Box plots of the scores (N,) per group (N names: the true digit, CIFAR-10 class or defect type), normal
    groups first and in the normal colour, the others in the anomaly colour; `threshold` draws the decision line."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    g = np.asarray([str(v) for v in groups])
    if g.shape != s.shape:
        raise ValueError(f"scores and groups differ in length: {s.shape[0]} vs {g.shape[0]}")
    normal = {str(n) for n in normal_groups}
    names = sorted(set(g), key=lambda n: (n not in normal, n))
    if ax is None:
        ax = new_figure(figsize=(6, 0.35 * len(names) + 1.2), layout="constrained").add_subplot()
    parts = ax.boxplot([s[g == n] for n in names], vert=False, patch_artist=True, showfliers=False, widths=0.6,
                       medianprops={"color": "black"})
    for box, n in zip(parts["boxes"], names):
        box.set(facecolor=NORMAL_COLOR if n in normal else ANOMALY_COLOR, alpha=0.55)
    ax.set_yticks(range(1, len(names) + 1), [f"{n} (n={(g == n).sum()})" for n in names], fontsize=8)
    ax.invert_yaxis()
    if threshold is not None:
        ax.axvline(threshold, color="black", lw=1.2, ls="--", label=f"threshold {threshold:.4g}")
        ax.legend(fontsize=8)
    ax.set_xlabel(xlabel)
    return ax.figure


# -- the pipeline in one figure ------------------------------------------------------------------------
def pipeline_figure(queries, recon, maps, scores, threshold: float, labels=None, title: str | None = None,
                    score_label: str = "$a = \\lambda L_n + (1-\\lambda) L_o$") -> Figure:
    """One row per query: Q -> E -> z_hat -> G -> G(z_hat) -> residual map -> score a -> decision a > threshold.

    queries, recon: (K, C, H, W); maps: (K, H, W); scores: (K,) anomaly scores; labels: optional (K,) truth;
    score_label: how the score was formed (mathtext), shown above each value.
    """
    q, r, m = as_image_tensor(queries, "queries"), as_image_tensor(recon, "recon"), as_map_tensor(maps)
    s = np.asarray(scores, dtype=float).ravel()
    k = q.shape[0]
    if not (r.shape[0] == m.shape[0] == s.shape[0] == k):
        raise ValueError("queries, recon, maps and scores must hold the same number of images")
    fig = new_figure(figsize=(10, 1.55 * k + 0.7))
    gs = fig.add_gridspec(k, 7, width_ratios=[1, 0.8, 1, 0.8, 1, 1.3, 1.2], wspace=0.15, hspace=0.35)
    vmax = max(float(m.max()), 1e-12)
    arrow = dict(arrowstyle="->", lw=1.4, color="0.3")
    for i in range(k):
        panels = [("query $Q$", _row(q[i:i + 1], 1), {}), None, ("$G(\\hat z)$", _row(r[i:i + 1], 1), {}), None,
                  ("residual map", _map_row(m[i:i + 1], 1), {"cmap": MAP_CMAP, "vmin": 0, "vmax": vmax})]
        for j, p in enumerate(panels):
            ax = fig.add_subplot(gs[i, j])
            _clean(ax)
            if p is None:  # an arrow with the network that maps between the two images
                ax.set_xlim(0, 1)
                ax.set_ylim(0, 1)
                ax.annotate("", xy=(0.95, 0.5), xytext=(0.05, 0.5), arrowprops=arrow)
                ax.text(0.5, 0.62, "$\\hat z = E(Q)$\nthen $G$" if j == 1 else "$|w(Q) - w(G(\\hat z))|$",
                        ha="center", va="bottom", fontsize=8)
                continue
            name, img, kw = p
            ax.imshow(img, interpolation="nearest", **kw)
            if i == 0:
                ax.set_title(name, fontsize=9)
        ax = fig.add_subplot(gs[i, 5])
        _clean(ax)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.annotate("", xy=(0.25, 0.5), xytext=(0.0, 0.5), arrowprops=arrow)
        ax.text(0.3, 0.5, f"{score_label}\n$= {s[i]:.4g}$", va="center", fontsize=8)
        ax = fig.add_subplot(gs[i, 6])
        _clean(ax)
        anomalous = bool(decide(s[i:i + 1], threshold)[0])
        truth = "" if labels is None else f"\n(truth: {'anomaly' if int(np.ravel(labels)[i]) else 'normal'})"
        ax.text(0.5, 0.5, ("$a > \\alpha$: anomaly" if anomalous else "$a \\leq \\alpha$: normal") + truth,
                ha="center", va="center", fontsize=9, transform=ax.transAxes,
                bbox=dict(boxstyle="round", fc=(1, 0.85, 0.85) if anomalous else (0.85, 0.9, 1), ec="0.4"))
    if title:
        fig.suptitle(title)
    return fig
