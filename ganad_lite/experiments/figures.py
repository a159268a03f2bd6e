"""The chapters' figures of a run: its images, reconstructions (of the thesis method and of the scores beyond
it), score histograms and training curves."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..metrics import trivial_baseline
from .protocol import PRIMARY
from .variants import SELECTED, VARIANTS, variant_label

if TYPE_CHECKING:
    from .runs import ExperimentResult, OneClassResult


def pick_examples(labels, n: int = 8, seed: int = 0) -> np.ndarray:
    """Indices of n // 2 normal then n - n // 2 anomalous test images, drawn with a seed."""
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    normal, anomalous = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    return np.r_[rng.choice(normal, min(n // 2, len(normal)), replace=False),
                 rng.choice(anomalous, min(n - n // 2, len(anomalous)), replace=False)].astype(int)


def sample_figure(split, n: int = 16):
    """Four rows of images: training normals, held-out normals (thresholds), normal and anomalous test images."""
    from .. import viz

    y = split.test_labels.numpy()
    rows = [("training images (normal)", split.train[:n]), ("held-out normals (thresholds only)", split.val[:n]),
            ("test: normal", split.test[np.flatnonzero(y == 0)[:n]]),
            ("test: anomalous", split.test[np.flatnonzero(y == 1)[:n]])]
    rows = [(t, x) for t, x in rows if len(x)]
    height = 1.0 + 1.1 * len(rows) * max(1.0, split.image_shape[1] / 48)
    fig = viz.new_figure(figsize=(10, height), layout="constrained")
    for ax, (title, x) in zip(fig.subplots(len(rows), 1, squeeze=False)[:, 0], rows):
        viz.image_grid(x, nrow=n, title=title, ax=ax)
    return fig


# what the map row of a grid shows, per map name (Scores.map): in the title, and as the row's label
MAP_NAMES = {"residual": "residual map", "ssim": "1 - SSIM map", "gms": "1 - gradient-magnitude similarity map"}
MAP_ROWS = {"residual": "residual map", "ssim": "1 - SSIM", "gms": "1 - GMS"}


def _grid(run: OneClassResult, pick: np.ndarray, recon, maps, title: str):
    """Input / reconstruction / map (and mask / overlay with masks) of the test images `pick`."""
    from .. import viz

    masks = None if run.split.test_masks is None else run.split.test_masks[pick]
    types = run.split.test_types
    # "normal", or "anomaly" over its defect type or class ("broken_large" drawn as "broken large" so it wraps)
    captions = ["anomaly" + (f"\n{types[i].replace('_', ' ')}" if types else "") if run.labels[i] else "normal"
                for i in pick]
    return viz.reconstruction_grid(run.split.test[pick], recon[pick], maps[pick], masks=masks, captions=captions,
                                   title=title)


def reconstruction_figure(run: OneClassResult, n: int = 8, title: str | None = None):
    """Input / reconstruction / residual map (and mask / overlay with masks) for normal then anomalous test
    images, with the thesis's joint encoder."""
    return _grid(run, pick_examples(run.labels, n), run.scores.recon, run.scores.maps,
                 title or f"{run.name}: normal then anomalous test images")


def variant_figure(run: OneClassResult, variant: str = SELECTED, n: int = 8, title: str | None = None):
    """The grid of `reconstruction_figure` (same test images) for a score variant: the reconstructions of its
    encoder, and its map (the residual map of that encoder for a variant without one)."""
    name = run.metrics[SELECTED]["selected_from"] if variant == SELECTED else variant
    v = VARIANTS[name]
    recon, maps = run.reconstructions(variant)
    what = f"selected: {name}" if variant == SELECTED else name
    fig = _grid(run, pick_examples(run.labels, n), recon, maps,
                title or f"{run.name}, {what}: {v.encoder} encoder, {MAP_NAMES[v.map or 'residual']}")
    fig.axes[2].yaxis.label.set_text(MAP_ROWS[v.map or "residual"])  # rows: input, reconstruction, map, ...
    return fig


def beyond_figures(run: OneClassResult, n: int = 8) -> dict:
    """Grids of the same test images, the thesis method first: "thesis" (joint encoder, residual map),
    "selected" (the variant `selected` chose) and, for runs with masks, "ssim" and "gms" (those maps of the
    berg+izif reconstructions) unless the selected variant already shows that map. Each grid's map row has
    its own colour scale (0 to the largest value shown)."""
    chosen = VARIANTS[run.metrics[SELECTED]["selected_from"]]
    shown = {"thesis": PRIMARY, "selected": SELECTED}
    if run.split.test_masks is not None:
        shown.update({m: m for m in ("ssim", "gms") if chosen.map != m})
    return {key: variant_figure(run, variant, n,
                                title=f"{run.name}, thesis method: berg encoder, residual map" if key == "thesis"
                                else None)
            for key, variant in shown.items()}


def _score_name(run: OneClassResult, variant: str) -> str:
    return variant_label(variant, run.metrics[SELECTED]["selected_from"] if variant == SELECTED else None)


def histogram_figure(run: OneClassResult, variant: str = PRIMARY):
    """Score histograms by class with the held-out threshold (dashed) and the best test threshold (dotted)."""
    from .. import viz

    m = run.metrics[variant]
    fig = viz.score_histogram(run.variant_scores(variant), run.labels, reference=m["heldout_threshold"]["threshold"],
                              xlabel=f"score: {_score_name(run, variant)}")
    ax = fig.axes[0]
    ax.axvline(m["best_test_threshold_optimistic"]["threshold"], color="0.4", lw=1.2, ls=":",
               label="best test threshold (optimistic)")
    ax.legend(fontsize=8)
    ax.set_title(f"{run.name} (AUROC {m['auroc']:.3f})", fontsize=10)
    return fig


def by_type_figure(run: OneClassResult, variant: str = PRIMARY):
    """Box plots of the test scores per kind of image (true digit, class or defect type), threshold dashed."""
    from .. import viz

    y, types = run.labels, run.split.test_types
    normal = sorted({t for t, label in zip(types, y) if label == 0})
    threshold = run.metrics[variant]["heldout_threshold"]["threshold"]
    return viz.score_by_group(run.variant_scores(variant), types, threshold, normal_groups=normal,
                              xlabel=f"score: {_score_name(run, variant)}")


def figures(result: ExperimentResult, n: int = 8) -> dict:
    """The figures of a chapter: reconstruction grids (normal / anomalous) of the thesis method and of the
    selected score, training curves, histograms."""
    from .. import viz

    figs = {}
    first_seed = result.runs[0].detector.config.seed
    runs = [r for r in result.runs if r.detector.config.seed == first_seed]
    for r in runs[:: max(1, len(runs) // 4)] if result.experiment == "mnist" else runs:
        figs[f"grid_{r.name}"] = reconstruction_figure(
            r, n, title=f"{r.name}: {n // 2} normal then {n - n // 2} anomalous test images "
                        f"({result.profile.name} profile)")
        if SELECTED in r.metrics:
            figs[f"selected_{r.name}"] = variant_figure(r, SELECTED, n)
        figs[f"curves_{r.name}"] = viz.training_curves(r.detector.history, r.detector.epoch_log)
        figs[f"hist_{r.name}"] = histogram_figure(r)
    return figs


def trivial_f1_figure(points: dict | None = None):
    """F1 of the all-anomalous classifier against the anomalous share p of the test set (2p / (1 + p), computed
    with metrics.trivial_baseline), with optional labelled points {name: (share, reported F1)}."""
    from .. import viz

    shares = np.linspace(0.01, 0.99, 99)
    f1 = [trivial_baseline(np.r_[np.zeros(1000 - int(round(1000 * p))), np.ones(int(round(1000 * p)))])["f1"]
          for p in shares]
    ax = viz.new_figure(figsize=(5.5, 3.8), layout="constrained").add_subplot()
    ax.plot(shares, f1, color="0.3", label="all anomalous: $2p/(1+p)$")
    for name, (share, reported) in (points or {}).items():
        ax.plot([share], [reported], "o", markersize=7, label=f"{name}: reported F1")
        ax.plot([share, share], [2 * share / (1 + share), reported], color="0.6", lw=0.8, ls=":")
    ax.set_xlabel("anomalous share $p$ of the test set")
    ax.set_ylabel("F1")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return ax.figure
