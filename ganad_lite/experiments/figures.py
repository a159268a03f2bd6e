"""The chapters' figures of a run: its images, reconstructions, score histograms and training curves."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..metrics import trivial_baseline
from .protocol import PRIMARY, VARIANT_NAMES

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


def reconstruction_figure(run: OneClassResult, n: int = 8, title: str | None = None):
    """Input / reconstruction / residual map (and mask / overlay with masks) for normal then anomalous test
    images."""
    from .. import viz

    pick = pick_examples(run.labels, n)
    masks = None if run.split.test_masks is None else run.split.test_masks[pick]
    types = run.split.test_types
    captions = [f"{'anom.' if run.labels[i] else 'normal'}" + (f" ({types[i]})" if types else "") for i in pick]
    return viz.reconstruction_grid(run.split.test[pick], run.scores.recon[pick], run.scores.maps[pick], masks=masks,
                                   captions=captions, title=title or f"{run.name}: normal then anomalous test images")


def histogram_figure(run: OneClassResult, variant: str = PRIMARY):
    """Score histograms by class with the held-out threshold (dashed) and the best test threshold (dotted)."""
    from .. import viz

    m = run.metrics[variant]
    fig = viz.score_histogram(run.variant_scores(variant), run.labels, reference=m["heldout_threshold"]["threshold"],
                              xlabel=f"score: {VARIANT_NAMES[variant]}")
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
                              xlabel=f"score: {VARIANT_NAMES[variant]}")


def figures(result: ExperimentResult, n: int = 8) -> dict:
    """The figures of a chapter: reconstruction grids (normal / anomalous), training curves, histograms."""
    from .. import viz

    figs = {}
    first_seed = result.runs[0].detector.config.seed
    runs = [r for r in result.runs if r.detector.config.seed == first_seed]
    for r in runs[:: max(1, len(runs) // 4)] if result.experiment == "mnist" else runs:
        figs[f"grid_{r.name}"] = reconstruction_figure(
            r, n, title=f"{r.name}: {n // 2} normal then {n - n // 2} anomalous test images "
                        f"({result.profile.name} profile)")
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
