"""What the lambda / alpha explorer shows for one setting: one state, and the figure drawn from it.

`explorer_state` takes the scores already mixed for one lambda (so a caller mixes once per setting) and
holds every consequence of the threshold alpha: the decisions, the confusion counts, P / R / F1, AUROC.
`explorer_figure` draws all its panels from that one state: scores by class with the alpha line, the ROC
curve with the operating point, the confusion matrix, P / R / F1 beside the all-anomalous baseline and a
grid of test images, each framed when flagged. The live and the pre-rendered explorer both use them.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from PIL import Image

from . import metrics
from .viz import ANOMALY_COLOR, NORMAL_COLOR, new_figure, roc_plot, score_histogram

FLAG_COLOR = "tab:orange"   # frame of a flagged image (a > alpha)
PASS_COLOR = "0.82"         # frame of an image that is not flagged
OUTCOMES = np.array([["TN", "FP"], ["FN", "TP"]])  # [truth, decision]


@dataclass(frozen=True)
class ExplorerState:
    """One (lambda, alpha, standardised) setting and everything that follows from it.

    score (N,): the mixed scores a = lambda L_n + (1 - lambda) L_o in their own units; labels (N,) with
    1 = anomaly; flagged (N,) = metrics.decide(score, threshold); counts = P / R / F1 and confusion counts
    at threshold; heldout_threshold: the `quantile` of the held-out normals' scores (None without them).
    """

    weight: float
    threshold: float
    standardized: bool
    score: np.ndarray
    labels: np.ndarray
    flagged: np.ndarray
    counts: dict
    auroc: float
    trivial: dict
    quantile: float
    heldout_threshold: float | None

    @property
    def units(self) -> str:
        return "standardised" if self.standardized else "raw"


def explorer_state(score: np.ndarray, labels: np.ndarray, weight: float, threshold: float,
                   standardized: bool = False, heldout_threshold: float | None = None,
                   quantile: float = 0.95) -> ExplorerState:
    """The state for test scores `score` (N,) already mixed at `weight`, thresholded at `threshold`."""
    score, labels = np.asarray(score, dtype=np.float64), np.asarray(labels).astype(int)
    return ExplorerState(float(weight), float(threshold), bool(standardized), score, labels,
                         metrics.decide(score, threshold), metrics.precision_recall_f1(labels, score, threshold),
                         metrics.auroc(labels, score), metrics.trivial_baseline(labels), float(quantile),
                         None if heldout_threshold is None else float(heldout_threshold))


def pick_tiles(labels: np.ndarray, n: int = 16, seed: int = 0) -> np.ndarray:
    """A fixed pick of `n` image indices drawn with `seed`, half normal and half anomalous (the other class
    fills a short one), normals first, each class in index order. It depends on the labels only, never on
    lambda or alpha, so the same images stay on screen while the decisions change."""
    rng = np.random.default_rng(seed)
    normal, anomalous = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    n_anomalous = min(len(anomalous), max(n // 2, n - len(normal)))
    n_normal = min(len(normal), n - n_anomalous)
    take = lambda idx, k: np.sort(rng.choice(idx, size=k, replace=False))  # noqa: E731
    return np.concatenate([take(normal, n_normal), take(anomalous, n_anomalous)]).astype(int)


def _mosaic(tiles: torch.Tensor, flagged: np.ndarray, ncol: int) -> tuple[np.ndarray, int, int]:
    """Tiles (K, C, H, W) in [0, 1] -> an RGB mosaic (rows, cols, 3) with a coloured frame per tile, and
    the tile pitch (height, width) in pixels."""
    k, _, h, w = tiles.shape
    border = max(2, h // 9)
    pitch_h, pitch_w = h + 2 * border + max(2, h // 3), w + 2 * border + border  # room above for a label
    rgb = tiles.expand(-1, 3, -1, -1).permute(0, 2, 3, 1).numpy()  # (K, H, W, 3); grey is repeated
    canvas = np.ones((-(-k // ncol) * pitch_h, ncol * pitch_w, 3))
    for i, (img, flag) in enumerate(zip(rgb, flagged)):
        y0, x0 = (i // ncol) * pitch_h + pitch_h - h - 2 * border, (i % ncol) * pitch_w
        canvas[y0:y0 + h + 2 * border, x0:x0 + w + 2 * border] = to_rgb(FLAG_COLOR if flag else PASS_COLOR)
        canvas[y0 + border:y0 + border + h, x0 + border:x0 + border + w] = img
    return canvas, pitch_h, pitch_w


def image_panel(ax, state: ExplorerState, tiles: torch.Tensor, pick: np.ndarray, caption: str) -> None:
    """Tiles (K, C, H, W) of the images `pick` (K,), each framed in FLAG_COLOR when flagged, with its
    outcome (TP / FP / TN / FN) above it in the colour of its true class."""
    flagged, truth = state.flagged[pick], state.labels[pick]
    ncol = max(1, -(-len(pick) // 2))  # two rows
    canvas, pitch_h, pitch_w = _mosaic(tiles, flagged, ncol)
    ax.imshow(canvas, interpolation="nearest")
    for i, (flag, y) in enumerate(zip(flagged, truth)):
        ax.text((i % ncol + 0.45) * pitch_w, (i // ncol) * pitch_h + 0.02 * pitch_h, OUTCOMES[y, int(flag)],
                ha="center", va="top", fontsize=9, fontweight="bold",
                color=ANOMALY_COLOR if y else NORMAL_COLOR)
    ax.set_axis_off()
    ax.set_gid("image_grid")
    ax.set_title(f"{caption}: orange frame = flagged ({int(flagged.sum())} of {len(pick)})", fontsize=10)


def confusion_panel(ax, counts: dict) -> None:
    """2 x 2 confusion matrix: rows truth (normal, anomaly), columns decision (normal, anomaly)."""
    cells = np.array([[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]])
    ax.imshow(cells / max(cells.sum(), 1), cmap="Blues", vmin=0, vmax=1)
    for (i, j), name in np.ndenumerate(OUTCOMES):
        t = ax.text(j, i, f"{cells[i, j]}\n{name}", ha="center", va="center", fontsize=10,
                    color="white" if cells[i, j] > 0.6 * cells.sum() else "black")
        t.set_gid(name.lower())
    ax.set_xticks([0, 1], ["normal", "anomaly"])
    ax.set_yticks([0, 1], ["normal", "anomaly"])
    ax.set_xlabel("decision ($a > \\alpha$)")
    ax.set_ylabel("truth")
    ax.set_title("confusion matrix", fontsize=10)


def metric_bars(ax, state: ExplorerState) -> None:
    """Precision, recall, F1 at alpha beside the all-anomalous baseline."""
    c, triv = state.counts, state.trivial
    x = np.arange(3)
    ours = ax.bar(x - 0.2, [c["precision"], c["recall"], c["f1"]], 0.4, color="tab:green", label="at $\\alpha$")
    ax.bar(x + 0.2, [triv["precision"], triv["recall"], triv["f1"]], 0.4, color="0.75", hatch="//",
           label=f"all anomalous (F1 {triv['f1']:.2f})")
    for bar in ours:  # only our values: two labels side by side would collide in a small panel
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.01, f"{bar.get_height():.2f}",
                ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, ["precision", "recall", "F1"])
    ax.set_ylim(0, 1.6)
    ax.set_yticks([0, 0.5, 1])
    ax.legend(fontsize=8, loc="upper center", ncols=1, frameon=False)
    ax.set_title("at this $\\alpha$", fontsize=10)


def roc_panel(ax, state: ExplorerState) -> None:
    """ROC curve with the operating point of alpha (dot) and of the held-out threshold (square)."""
    roc_plot(state.labels, state.score, ax=ax, color="tab:purple")
    y = state.labels
    if 0 < y.sum() < len(y):
        rate = lambda pred: ([pred[y == 0].mean()], [pred[y == 1].mean()])  # noqa: E731  (FPR, TPR)
        ax.plot(*rate(state.flagged), "o", color="tab:purple", markeredgecolor="black", markersize=8,
                label=f"$\\alpha$ = {state.threshold:.4g}")
        if state.heldout_threshold is not None:
            ax.plot(*rate(metrics.decide(state.score, state.heldout_threshold)), "s", markerfacecolor="none",
                    markeredgecolor="black", markersize=8,
                    label=f"held-out {state.quantile:.0%}: {state.heldout_threshold:.4g}")
        ax.legend(fontsize=8, loc="lower right")
    ax.set_title("ROC curve", fontsize=10)


def explorer_figure(state: ExplorerState, tiles: torch.Tensor, pick: np.ndarray, caption: str = "test images",
                    dpi: int = 90) -> Figure:
    """Every panel of the explorer, drawn from `state`; tiles (K, C, H, W) float in [0, 1] are the images
    `pick` (K,) of the test set. 9.6 x 5.8 inches: 864 x 522 pixels at the default dpi."""
    fig = new_figure(figsize=(9.6, 5.8), dpi=dpi)  # a fixed layout: redraws faster than "constrained"
    grid = fig.add_gridspec(2, 3, width_ratios=[1.5, 1, 1], left=0.07, right=0.985, top=0.9, bottom=0.02,
                            hspace=0.38, wspace=0.45, height_ratios=[1, 0.8])
    ax_hist, ax_roc, ax_conf = (fig.add_subplot(grid[0, i]) for i in range(3))
    ax_tiles, ax_bars = fig.add_subplot(grid[1, :2]), fig.add_subplot(grid[1, 2])
    xlabel = f"{state.units} score $a = \\lambda L_n + (1-\\lambda) L_o$"
    score_histogram(state.score, state.labels, state.threshold, ax=ax_hist, reference=state.heldout_threshold,
                    xlabel=xlabel)
    handles, labels = ax_hist.get_legend_handles_labels()  # the classes, then alpha and the held-out line
    lines = ["$\\alpha$", f"held-out {state.quantile:.0%}"][:1 + (state.heldout_threshold is not None)]
    labels = labels[:len(labels) - len(lines)] + lines  # short: the values are in the ROC legend
    ax_hist.set_ylim(top=1.5 * ax_hist.get_ylim()[1])  # room for the legend above the bars
    ax_hist.legend(handles, labels, fontsize=8, loc="upper left", ncols=2, frameon=False, handlelength=1.2,
                   columnspacing=0.8)
    ax_hist.set_title("scores by class", fontsize=10)
    roc_panel(ax_roc, state)
    confusion_panel(ax_conf, state.counts)
    image_panel(ax_tiles, state, tiles, pick, caption)
    metric_bars(ax_bars, state)
    ax_bars.set_position(ax_bars.get_position().translated(0, 0.05).shrunk(1, 0.8))  # room for tick labels
    c = state.counts
    fig.suptitle(f"$\\lambda$ = {state.weight:.2f}, $\\alpha$ = {state.threshold:.4g} ({state.units} score): "
                 f"{int(state.flagged.sum())} of {len(state.score)} flagged, F1 {c['f1']:.2f}, "
                 f"AUROC {state.auroc:.3f}", fontsize=11)
    return fig


def figure_png(fig: Figure, palette: bool = False) -> bytes:
    """The figure as PNG bytes; palette=True stores 256 colours (a few times smaller: for pre-rendered frames)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    if not palette:
        return buf.getvalue()
    small = io.BytesIO()
    buf.seek(0)
    Image.open(buf).convert("RGB").quantize(256).save(small, format="png", optimize=True)
    return small.getvalue()
