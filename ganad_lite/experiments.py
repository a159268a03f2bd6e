"""The book's experiments: the thesis protocols on MNIST, CIFAR-10 and MVTec AD, evaluated honestly.

Each one-class run trains a detector with the active profile (cached on disk), scores the test set with the
encoder, and reports for several score variants: AUROC, average precision, P/R/F1 at a threshold taken from
held-out NORMAL training images (no test labels), P/R/F1 at the best test threshold (optimistic), the trivial
"everything is anomalous" baseline, and a PCA reconstruction-error baseline on the same split.
`reproduce` writes all of it to results/<profile>/<experiment>/ (results.json and PNG figures).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import data as gdata
from .baselines import PCABaseline
from .detector import GANAD
from .device import hardware_info, pick_device
from .metrics import au_pro, auroc, evaluate, pixel_auroc
from .profiles import Profile, get_profile
from .scoring import Scores

EXPERIMENTS = ("mnist", "cifar10", "mvtec")

# Score variants reported in every table: (weight lambda, standardized). The primary one is fixed in advance
# (the residual, the classic reconstruction score); lambda is never tuned on test labels.
VARIANTS = {
    "residual": (1.0, False),          # L_n alone
    "origin": (0.0, False),            # L_o alone
    "source_mix": (0.05, False),       # the source formula with Berg et al.'s lambda = 0.05
    "standardized_mix": (0.5, True),   # both terms z-scored on held-out normals, equal weight
}
PRIMARY = "residual"
QUANTILE = 0.95  # held-out threshold: flags about 5% of normal images

# What the source reports (DESIGN section 3), for the side-by-side tables. F1 etc. in percent.
THESIS = {
    "mnist": {"precision": 99.89, "recall": 97.65, "f1": 98.76,
              "f1_per_digit": [99.56, 97.47, 98.39, 99.09, 99.51, 98.68, 99.00, 97.79, 99.33, 98.73]},
    "cifar10": {"precision": 91.21, "recall": 87.20, "f1": 89.16, "berg2020_auroc": 0.72},
    "mvtec": {"precision": 81.12, "recall": 77.84, "f1": 79.45},
}


@dataclass
class OneClassResult:
    """One trained detector on one split, with its scores and metrics."""

    name: str
    split: "gdata.Split"
    detector: GANAD
    scores: Scores               # test scores
    normal_scores: Scores        # held-out normal (val) scores
    metrics: dict                # variant -> evaluate(...) report (+ pixel metrics)
    baseline: dict               # PCA reconstruction error on the same split
    seconds: dict = field(default_factory=dict)

    @property
    def labels(self) -> np.ndarray:
        return self.split.test_labels.numpy()

    def summary(self) -> dict:
        """JSON-ready summary: metrics, data description, timings and the training record."""
        return {"name": self.name, "meta": _jsonable(self.split.meta), "metrics": self.metrics,
                "pca_baseline": self.baseline, "seconds": self.seconds,
                "epochs": self.detector.epoch_log, "config": self.detector.config.to_dict(),
                "loaded_from_cache": self.detector.loaded_from_cache}


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def monitoring_set(split, n: int = 400, seed: int = 0):
    """A labelled subset of the TEST split for the per-epoch validation-AUROC curve (monitoring only:
    nothing is selected from it)."""
    small = split.subsample(max_test=min(n, len(split.test)), seed=seed + 7)
    return small.test, small.test_labels.numpy()


def run_one(split, experiment: str, profile: Profile, seed: int = 0, *, progress: bool = True,
            cache_dir=None, device=None, monitor: bool = True) -> OneClassResult:
    """Train (or load from the run cache) and evaluate one one-class detector on `split`."""
    t0 = time.perf_counter()
    det = GANAD.from_profile(split.image_shape, experiment, profile, seed=seed, cache_dir=cache_dir,
                             device=device, progress=progress)
    det.fit(split.train, validation=monitoring_set(split, seed=seed) if monitor else None, normal=split.val)
    t1 = time.perf_counter()
    test = det.score(split.test, keep_recon=True)
    normal = det.score(split.val, keep_maps=False)
    t2 = time.perf_counter()
    labels = split.test_labels.numpy()
    metrics = {}
    for name, (weight, standardized) in VARIANTS.items():
        metrics[name] = evaluate(labels, test.score(weight, standardized), normal.score(weight, standardized), QUANTILE)
        metrics[name].update(weight=weight, standardized=standardized)
    pca = PCABaseline(seed=seed).fit(split.train)
    pca_test, pca_maps = pca.score(split.test)
    baseline = evaluate(labels, pca_test, pca.score(split.val)[0], QUANTILE)
    if split.test_masks is not None:
        masks = split.test_masks[:, 0].numpy()
        metrics[PRIMARY]["pixel_auroc"] = pixel_auroc(masks, test.maps)
        metrics[PRIMARY]["au_pro"] = au_pro(masks, test.maps)
        baseline["pixel_auroc"] = pixel_auroc(masks, pca_maps)
        baseline["au_pro"] = au_pro(masks, pca_maps)
    seconds = {"fit": round(t1 - t0, 2), "score": round(t2 - t1, 2), "train_total": round(det.train_seconds, 2)}
    return OneClassResult(split.name, split, det, test, normal, metrics, baseline, seconds)


def _subsample(split, profile: Profile, seed: int):
    if profile.max_train is None and profile.max_test is None:
        return split
    return split.subsample(max_train=profile.max_train, max_test=profile.max_test, seed=seed,
                           max_val=None if profile.max_train is None else max(20, profile.max_train // 5))


@dataclass
class ExperimentResult:
    """All one-class runs of an experiment under one profile."""

    experiment: str
    profile: Profile
    runs: list[OneClassResult]
    seconds: float
    hardware: dict

    def table(self, variant: str = PRIMARY):
        """One row per run: the chosen score variant next to the PCA baseline and the trivial baseline."""
        import pandas as pd

        rows = []
        for r in self.runs:
            m, b = r.metrics[variant], r.baseline
            row = {"run": r.name, "seed": r.detector.config.seed, "AUROC": m["auroc"], "AP": m["average_precision"],
                   "P (held-out thr.)": m["heldout_threshold"]["precision"],
                   "R (held-out thr.)": m["heldout_threshold"]["recall"],
                   "F1 (held-out thr.)": m["heldout_threshold"]["f1"],
                   "F1 (best test thr., optimistic)": m["best_test_threshold_optimistic"]["f1"],
                   "F1 (all anomalous)": m["trivial_all_anomalous"]["f1"], "PCA AUROC": b["auroc"]}
            if "pixel_auroc" in m:
                row.update({"pixel AUROC": m["pixel_auroc"], "AU-PRO": m["au_pro"],
                            "PCA pixel AUROC": b["pixel_auroc"], "PCA AU-PRO": b["au_pro"]})
            rows.append(row)
        return pd.DataFrame(rows).set_index("run")

    def variants_table(self):
        """Mean AUROC of every score variant over the runs (lambda fixed in advance, never tuned on test)."""
        import pandas as pd

        return pd.DataFrame({v: {"lambda": VARIANTS[v][0], "standardized": VARIANTS[v][1],
                                 "mean AUROC": float(np.mean([r.metrics[v]["auroc"] for r in self.runs]))}
                             for v in VARIANTS}).T

    def summary(self) -> dict:
        primary = [r.metrics[PRIMARY] for r in self.runs]
        mean = lambda xs: float(np.mean(xs))  # noqa: E731
        return {
            "experiment": self.experiment, "profile": self.profile.as_dict(), "hardware": self.hardware,
            "wall_seconds": round(self.seconds, 1), "primary_score": PRIMARY, "threshold_quantile": QUANTILE,
            "mean": {"auroc": mean([m["auroc"] for m in primary]),
                     "f1_heldout": mean([m["heldout_threshold"]["f1"] for m in primary]),
                     "f1_optimistic": mean([m["best_test_threshold_optimistic"]["f1"] for m in primary]),
                     "f1_all_anomalous": mean([m["trivial_all_anomalous"]["f1"] for m in primary]),
                     "pca_auroc": mean([r.baseline["auroc"] for r in self.runs]),
                     **{f"auroc_{v}": mean([r.metrics[v]["auroc"] for r in self.runs]) for v in VARIANTS}},
            "thesis": THESIS[self.experiment],
            "runs": [r.summary() for r in self.runs],
        }


def _run_all(experiment: str, splits, profile: Profile, seeds, progress: bool, cache_dir, device) -> ExperimentResult:
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    device = pick_device(device)
    jobs = [(make, seed) for make in splits for seed in seeds]
    runs = []
    for make, seed in tqdm(jobs, desc=f"{experiment} ({profile.name} profile)", disable=not progress):
        runs.append(run_one(_subsample(make(seed), profile, seed), experiment, profile, seed,
                            progress=progress, cache_dir=cache_dir, device=device))
    return ExperimentResult(experiment, profile, runs, time.perf_counter() - t0, hardware_info(device))


def run_mnist(profile=None, digits=range(10), seeds=None, root=None, progress=True, cache_dir=None, device=None):
    """MNIST one-class protocol: each digit in turn is normal, every other test image anomalous."""
    p = get_profile(profile)
    splits = [lambda seed, k=k: gdata.mnist_protocol(k, root=root, seed=seed) for k in digits]
    return _run_all("mnist", splits, p, seeds or p.seeds, progress, cache_dir, device)


def run_cifar10(profile=None, normal_classes=("automobile",), seeds=None, root=None, progress=True, cache_dir=None,
                device=None):
    """CIFAR-10: automobile normal (5,000 train; test 1,000 automobile + 1,000 others), or other classes."""
    p = get_profile(profile)
    splits = [lambda seed, c=c: gdata.cifar10_protocol(c, root=root, seed=seed) for c in normal_classes]
    return _run_all("cifar10", splits, p, seeds or p.seeds, progress, cache_dir, device)


def run_mvtec(profile=None, categories=None, sizes=None, seeds=None, root=None, progress=True, cache_dir=None,
              device=None):
    """MVTec AD: every category under the data root (the synthetic stand-in when none), in the thesis mode at
    28x28 and in full mode at the larger sizes of the profile."""
    p = get_profile(profile)
    categories = categories or gdata.mvtec_categories(root) or ["synthetic"]
    sizes = sizes or p.mvtec_sizes
    splits = []
    for cat in categories:
        for size in sizes:
            mode = "thesis" if size == 28 else "full"
            splits.append(lambda seed, c=cat, s=size, m=mode: gdata.mvtec_protocol(
                c, m, size=s, seed=seed, root=root, fallback="synthetic"))
    return _run_all("mvtec", splits, p, seeds or p.seeds, progress, cache_dir, device)


RUNNERS = {"mnist": run_mnist, "cifar10": run_cifar10, "mvtec": run_mvtec}


def reproduce(experiment: str, profile=None, out_dir="results", progress: bool = True, **kwargs) -> Path:
    """Run an experiment and write results/<profile>/<experiment>/results.json plus its PNG figures."""
    import matplotlib.pyplot as plt

    if experiment not in RUNNERS:
        raise ValueError(f"unknown experiment {experiment!r}: choose one of {EXPERIMENTS}")
    p = get_profile(profile)
    if experiment == "cifar10" and p.name == "full" and "normal_classes" not in kwargs:
        kwargs["normal_classes"] = _cifar_classes_available(kwargs.get("root"))
    result = RUNNERS[experiment](p, progress=progress, **kwargs)
    folder = Path(out_dir) / p.name / experiment
    folder.mkdir(parents=True, exist_ok=True)
    summary = result.summary()
    summary["command"] = f"python -m ganad_lite reproduce --experiment {experiment} --profile {p.name}"
    (folder / "results.json").write_text(json.dumps(_jsonable(summary), indent=1))
    for fig_name, fig in figures(result).items():
        fig.savefig(folder / f"{fig_name}.png", dpi=110, bbox_inches="tight")
        plt.close(fig)
    return folder


def _cifar_classes_available(root) -> list[str]:
    """All ten classes when the data have every class's training images, else automobile alone."""
    ds = gdata.load_cifar10(root)
    present = sorted(set(ds.y_train.tolist()))
    return [ds.class_names[i] for i in present] if len(present) == 10 else ["automobile"]


def figures(result: ExperimentResult, n: int = 8) -> dict:
    """The figures of a chapter: reconstruction grids (normal / anomalous), training curves, histograms."""
    from . import viz

    figs = {}
    for r in result.runs[:: max(1, len(result.runs) // 4)] if result.experiment == "mnist" else result.runs:
        if r.detector.config.seed != result.runs[0].detector.config.seed:
            continue
        y = r.labels
        rng = np.random.default_rng(0)
        pick = np.r_[rng.choice(np.flatnonzero(y == 0), min(n // 2, (y == 0).sum()), replace=False),
                     rng.choice(np.flatnonzero(y == 1), min(n - n // 2, (y == 1).sum()), replace=False)]
        masks = None if r.split.test_masks is None else r.split.test_masks[pick]
        figs[f"grid_{r.name}"] = viz.reconstruction_grid(
            r.split.test[pick], r.scores.recon[pick], r.scores.maps[pick], masks=masks,
            title=f"{r.name}: {n // 2} normal then {n - n // 2} anomalous test images ({result.profile.name} profile)")
        figs[f"curves_{r.name}"] = viz.training_curves(r.detector.history, r.detector.epoch_log)
        figs[f"hist_{r.name}"] = viz.score_histogram(r.scores.score(*VARIANTS[PRIMARY]), y,
                                                     threshold=r.metrics[PRIMARY]["heldout_threshold"]["threshold"])
    return figs


def load_results(experiment: str, profile: str, out_dir="results") -> dict | None:
    """A committed results.json, or None when that profile was not run."""
    path = Path(out_dir) / profile / experiment / "results.json"
    return json.loads(path.read_text()) if path.exists() else None

