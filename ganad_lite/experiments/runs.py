"""Training and evaluating the one-class runs: one split, all splits of an experiment, and `reproduce`.

Each run trains a detector with the active profile (cached on disk), scores the test set with the encoder,
and reports for every score variant: AUROC, average precision, P/R/F1 at a threshold taken from held-out
NORMAL training images (no test labels), P/R/F1 at the best test threshold (optimistic) and the trivial
"everything is anomalous" baseline, beside a PCA reconstruction-error baseline on the same split.
"""
from __future__ import annotations

import datetime
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import data as gdata
from ..baselines import PCABaseline
from ..defects import small_defect_validation_set
from ..detector import GANAD
from ..device import hardware_info, pick_device
from ..metrics import au_pro, evaluate, pixel_auroc
from ..profiles import Profile, get_profile
from ..scoring import Scores, Standardizer
from .figures import figures
from .protocol import HEADLINE, PRIMARY, QUANTILE, THESIS, check_experiment
from .variants import (CANDIDATES, ENSEMBLE, PIXEL_MAPS, SELECTED, SELECTED_SMALL, VARIANTS, ensemble_scores,
                       score_all, select_variant)
from .results import jsonable, scrub_paths
from .search import search_metrics
from .tables import results_table, variants_table
from .workers import RunSpec, run_workers, threads_per_worker, train_in_workers  # noqa: F401 (run_workers: part of this module's face)


# -- one run ---------------------------------------------------------------------------------------------
@dataclass
class OneClassResult:
    """One trained detector on one split, with its scores and metrics."""

    name: str
    split: gdata.Split
    detector: GANAD
    scores: Scores               # test scores (the joint "berg" encoder, the thesis method)
    normal_scores: Scores        # held-out normal (val) scores (berg)
    metrics: dict                # variant -> evaluate(...) report (+ pixel metrics)
    baseline: dict               # PCA reconstruction error on the same split
    seconds: dict = field(default_factory=dict)
    by_encoder: dict = field(default_factory=dict)         # encoder mode -> test Scores
    normal_by_encoder: dict = field(default_factory=dict)  # encoder mode -> held-out normal Scores

    @property
    def labels(self) -> np.ndarray:
        return self.split.test_labels.numpy()

    def variant_scores(self, variant: str = PRIMARY, normal: bool = False) -> np.ndarray:
        """Test scores (T,) of a score variant (see VARIANTS; `selected` reads the candidate it chose), or the
        held-out normal scores with normal=True."""
        if variant == SELECTED:
            variant = self.metrics[SELECTED]["selected_from"]
        v = VARIANTS[variant]
        by_encoder = self.normal_by_encoder if normal else self.by_encoder
        return v.image_scores(by_encoder.get(v.encoder) or (self.normal_scores if normal else self.scores))

    def reconstructions(self, variant: str = HEADLINE) -> tuple[np.ndarray, np.ndarray]:
        """Test reconstructions (T, C, H, W) and maps (T, H, W) of a variant's encoder and map."""
        if variant == SELECTED:
            variant = self.metrics[SELECTED]["selected_from"]
        v = VARIANTS[variant]
        s = self.by_encoder.get(v.encoder, self.scores)
        return s.recon, s.map(v.map or "residual")

    def summary(self) -> dict:
        """JSON-ready summary: metrics, data description, timings and the training record."""
        return {"name": self.name, "meta": jsonable(self.split.meta), "metrics": self.metrics,
                "pca_baseline": self.baseline, "seconds": self.seconds,
                "epochs": self.detector.epoch_log, "config": self.detector.config.to_dict(),
                "loaded_from_cache": self.detector.loaded_from_cache}


def monitoring_set(split, n: int = 400, seed: int = 0):
    """A labelled subset of the TEST split for the per-epoch validation-AUROC curve (monitoring only:
    nothing is selected from it)."""
    small = split.subsample(max_test=min(n, len(split.test)), seed=seed + 7)
    return small.test, small.test_labels.numpy()


def _evaluate_variants(labels, test: dict[str, Scores], normal: dict[str, Scores], masks=None) -> dict:
    """evaluate(...) of every variant with its held-out threshold, plus pixel AUROC / AU-PRO of map variants."""
    metrics = {}
    for name, v in VARIANTS.items():
        metrics[name] = evaluate(labels, v.image_scores(test[v.encoder]), v.image_scores(normal[v.encoder]), QUANTILE)
        metrics[name].update(encoder=v.encoder, weight=v.weight, standardized=v.standardized)
        if masks is not None and name in PIXEL_MAPS:
            maps = test[v.encoder].map(PIXEL_MAPS[name])
            metrics[name]["pixel_auroc"], metrics[name]["au_pro"] = pixel_auroc(masks, maps), au_pro(masks, maps)
    return metrics


def run_one(split, experiment: str, profile: Profile, seed: int = 0, *, progress: bool = True,
            cache_dir=None, device=None, monitor: bool = True, overrides: dict | None = None) -> OneClassResult:
    """Train (or load from the run cache) and evaluate one one-class detector on `split`: the thesis's joint
    encoder, then izif encoders refined on the same GAN; every variant on the same test images.
    overrides: TrainConfig fields set beyond the profile's (a study's option, e.g. augment=("translation",))."""
    t0 = time.perf_counter()
    det = GANAD.from_profile(split, experiment, profile, seed=seed, cache_dir=cache_dir,
                             device=device, progress=progress, **(overrides or {}))
    det.fit(split.train, validation=monitoring_set(split, seed=seed) if monitor else None)
    for mode in ("izif", "berg+izif"):  # checkpoints chosen on held-out normals with planted defects
        det.refine_encoder(mode, split.train, split.val)
    t1 = time.perf_counter()
    # held-out normals, scored once: they give the thresholds and the standardiser
    normal = score_all(det, split.val, keep_maps=False)
    det.standardizer = Standardizer.fit(normal["berg"])
    for s in normal.values():
        s.standardizer = det.standardizer
    test = score_all(det, split.test, keep_recon=True)
    t2 = time.perf_counter()
    labels = split.test_labels.numpy()
    masks = None if split.test_masks is None else split.test_masks[:, 0].numpy()
    metrics = _evaluate_variants(labels, test, normal, masks)
    chosen, on_defects = select_variant(det, split.val, seed)
    metrics[SELECTED] = {**metrics[chosen], "selected_from": chosen, "selection_auroc": on_defects}
    chosen, on_defects = select_variant(det, split.val, seed, planted=small_defect_validation_set)
    metrics[SELECTED_SMALL] = {**metrics[chosen], "selected_from": chosen, "selection_auroc": on_defects}
    metrics[ENSEMBLE] = {**evaluate(labels, *ensemble_scores(test, normal), QUANTILE), "members": list(CANDIDATES),
                         "encoder": ", ".join(dict.fromkeys(VARIANTS[c].encoder for c in CANDIDATES))}
    metrics.update(search_metrics(det, split, profile.search_steps, profile.search_restarts, seed))
    pca = PCABaseline(seed=seed).fit(split.train)
    pca_test, pca_maps = pca.reconstruction_error(split.test)
    baseline = evaluate(labels, pca_test, pca.reconstruction_error(split.val)[0], QUANTILE)
    if masks is not None:
        baseline["pixel_auroc"] = pixel_auroc(masks, pca_maps)
        baseline["au_pro"] = au_pro(masks, pca_maps)
    seconds = {"fit": round(t1 - t0, 2), "score": round(t2 - t1, 2), "train_total": round(det.train_seconds, 2),
               "total": round(time.perf_counter() - t0, 2)}
    return OneClassResult(split.name, split, det, test["berg"], normal["berg"], metrics, baseline, seconds,
                          test, normal)


def make_split(experiment: str, key, profile=None, seed: int = 0, root=None) -> gdata.Split:
    """The split a run of `experiment` uses, shrunk to the profile's caps. key: the digit (MNIST), the normal
    class (CIFAR-10) or (category, size) (MVTec AD: size 28 is the thesis mode, larger sizes use all images)."""
    check_experiment(experiment)
    normal_class, size = key if experiment == "mvtec" else (key, None)
    # offline, MVTec AD falls back to the synthetic stand-in; the split's meta["source"] says so on every page
    return gdata.load_split(experiment, normal_class, size=size, root=root, seed=seed,
                            profile=get_profile(profile), fallback="synthetic")


# -- all runs of an experiment ---------------------------------------------------------------------------
@dataclass
class ExperimentResult:
    """All one-class runs of an experiment under one profile."""

    experiment: str
    profile: Profile
    runs: list[OneClassResult]
    seconds: float
    hardware: dict

    def run(self, name_part: str, seed: int | None = None) -> OneClassResult:
        """The first run whose name contains `name_part` (e.g. "digit0", "automobile", "bottle_thesis_28")."""
        for r in self.runs:
            if name_part in r.name and (seed is None or r.detector.config.seed == seed):
                return r
        raise KeyError(f"no run named like {name_part!r}; runs: {[r.name for r in self.runs]}")

    def table(self, variant: str = PRIMARY):
        """One row per run next to the baselines and the thesis (see `results_table`)."""
        return results_table(self.summary(), variant)

    def variants_table(self):
        """Every score variant (lambda fixed in advance, never tuned on test labels), averaged over the runs."""
        return variants_table(self.summary())

    def summary(self) -> dict:
        primary = [r.metrics[HEADLINE] for r in self.runs]
        mean = lambda xs: float(np.mean(xs))  # noqa: E731
        return {
            "experiment": self.experiment, "profile": self.profile.as_dict(), "hardware": self.hardware,
            "wall_seconds": round(self.seconds, 1), "seeds": sorted({r.detector.config.seed for r in self.runs}),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "primary_score": HEADLINE, "thesis_primary_score": PRIMARY, "threshold_quantile": QUANTILE,
            "mean": {"auroc": mean([m["auroc"] for m in primary]),
                     "auroc_thesis_primary": mean([r.metrics[PRIMARY]["auroc"] for r in self.runs]),
                     "f1_heldout": mean([m["heldout_threshold"]["f1"] for m in primary]),
                     "f1_optimistic": mean([m["best_test_threshold_optimistic"]["f1"] for m in primary]),
                     "f1_all_anomalous": mean([m["trivial_all_anomalous"]["f1"] for m in primary]),
                     "pca_auroc": mean([r.baseline["auroc"] for r in self.runs]),
                     **{f"auroc_{v}": mean([r.metrics[v]["auroc"] for r in self.runs]) for v in VARIANTS},
                     f"auroc_{ENSEMBLE}": mean([r.metrics[ENSEMBLE]["auroc"] for r in self.runs])},
            "headline_by_seed": seed_means(self.runs, HEADLINE),
            "thesis_headline_by_seed": seed_means(self.runs, PRIMARY),
            "ensemble_by_seed": seed_means(self.runs, ENSEMBLE),
            "thesis": THESIS[self.experiment],
            "runs": [r.summary() for r in self.runs],
        }


def seed_means(runs: list[OneClassResult], variant: str = HEADLINE) -> dict:
    """The headline (mean AUROC of `variant` over all normal classes) for each seed, and their mean and standard
    deviation: the spread of the headline number itself, not the average spread of the single runs."""
    by_seed: dict[int, list[float]] = {}
    for r in runs:
        by_seed.setdefault(r.detector.config.seed, []).append(r.metrics[variant]["auroc"])
    means = {str(seed): float(np.mean(v)) for seed, v in sorted(by_seed.items())}
    values = list(means.values())
    return {"auroc": means, "mean": float(np.mean(values)),
            "sd": float(np.std(values, ddof=1)) if len(values) > 1 else None}


def _run_all(experiment: str, keys, profile: Profile, seeds, progress: bool, cache_dir, device, root=None,
             train_progress: bool | None = None, workers: int | None = None) -> ExperimentResult:
    """One run per (key, seed) with a progress bar over the runs; the per-run training bar is shown when asked
    for (train_progress=True) or, by default, when there is a single run.

    With several untrained runs on a CPU, worker processes first train and score them into the run cache (see
    `workers.run_workers`; benchmarks/bench_workers.py checks that the weights equal those of one process), and the loop
    below reads them back."""
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    device = pick_device(device)
    jobs = [(key, seed) for key in keys for seed in seeds]
    splits = {(key, seed): make_split(experiment, key, profile, seed, root) for key, seed in jobs}
    pending = [(key, seed) for key, seed in jobs if not GANAD.from_profile(
        splits[key, seed], experiment, profile, seed=seed, cache_dir=cache_dir).is_trained_in_cache(
        splits[key, seed].train)]
    n_workers = train_in_workers(experiment, [RunSpec(experiment, key, seed) for key, seed in pending], profile,
                                 root, cache_dir, device, workers, progress)
    train_progress = progress and len(jobs) == 1 if train_progress is None else train_progress
    runs = []
    bar = tqdm(jobs, desc=f"{experiment} ({profile.name} profile)", unit="run", disable=not progress)
    for key, seed in bar:
        split = splits.pop((key, seed))
        bar.set_postfix_str(f"{split.name}, seed {seed}")
        run = run_one(split, experiment, profile, seed, progress=train_progress, cache_dir=cache_dir,
                      device=device)
        if (key, seed) in pending:  # trained by a worker in this call, not read from an earlier one
            run.detector.loaded_from_cache = False
        runs.append(run)
    return ExperimentResult(experiment, profile, runs, time.perf_counter() - t0, _hardware(device, runs, n_workers))


def _hardware(device, runs: list[OneClassResult], n_workers: int) -> dict:
    """hardware_info of this process, its summary saying what trained the runs: the worker processes of this
    call, else the hardware each run's own record names (a run read from the cache may have trained elsewhere)."""
    hardware = hardware_info(device)
    trained_on = sorted({r.detector.train_hardware["summary"] for r in runs if r.detector.train_hardware})
    if n_workers > 1:
        threads = threads_per_worker(n_workers)
        hardware.update(workers=n_workers, threads_per_worker=threads, summary=(
            f"CPU ({hardware['cpu_count']} cores, {n_workers} worker processes of {threads} torch thread"
            + ("s)" if threads != 1 else ")")))
    elif trained_on:
        hardware.update(trained_on=trained_on, summary=" and ".join(trained_on))
    return hardware


def run_mnist(profile=None, digits=range(10), seeds=None, root=None, progress=True, cache_dir=None, device=None,
              train_progress=None, workers=None) -> ExperimentResult:
    """MNIST one-class protocol: each digit in turn is normal, every other test image anomalous."""
    p = get_profile(profile)
    return _run_all("mnist", [int(k) for k in digits], p, seeds or p.seeds, progress, cache_dir, device, root,
                    train_progress, workers)


def run_cifar10(profile=None, normal_classes=("automobile",), seeds=None, root=None, progress=True, cache_dir=None,
                device=None, train_progress=None, workers=None) -> ExperimentResult:
    """CIFAR-10: automobile normal (5,000 train; test 1,000 automobile + 1,000 others), or other classes."""
    p = get_profile(profile)
    return _run_all("cifar10", list(normal_classes), p, seeds or p.seeds, progress, cache_dir, device, root,
                    train_progress, workers)


def mvtec_keys(profile=None, categories=None, sizes=None, root=None) -> list[tuple[str, int]]:
    """(category, size) of every MVTec AD run: each category under the data root (the synthetic stand-in
    "bottle" when there is none) at each of the profile's sizes (28 = the thesis mode)."""
    categories = categories or gdata.mvtec_categories(root) or ["bottle"]  # offline: a synthetic stand-in
    return [(c, s) for c in categories for s in (sizes or get_profile(profile).mvtec_sizes)]


def run_mvtec(profile=None, categories=None, sizes=None, seeds=None, root=None, progress=True, cache_dir=None,
              device=None, train_progress=None, workers=None) -> ExperimentResult:
    """MVTec AD: every category under the data root (the synthetic stand-in when none), in the thesis mode at
    28x28 and in full mode at the larger sizes of the profile."""
    p = get_profile(profile)
    return _run_all("mvtec", mvtec_keys(p, categories, sizes, root), p, seeds or p.seeds, progress, cache_dir,
                    device, root, train_progress, workers)


def cifar10_classes_available(root=None) -> list[str]:
    """All ten classes when the data have every class's training images, else automobile alone."""
    ds = gdata.load_cifar10(root)
    present = sorted(set(ds.y_train.tolist()))
    return [ds.class_names[i] for i in present] if len(present) == 10 else ["automobile"]


RUNNERS = {"mnist": run_mnist, "cifar10": run_cifar10, "mvtec": run_mvtec}


def experiment_keys(experiment: str, profile=None, root=None) -> list:
    """The normal classes a chapter (and `reproduce`) runs of `experiment`: the ten digits; CIFAR-10 automobile,
    or with the full profile every class the data hold; every MVTec AD (category, size) of the profile."""
    check_experiment(experiment)
    p = get_profile(profile)
    if experiment == "mnist":
        return list(range(10))
    if experiment == "cifar10":
        return cifar10_classes_available(root) if p.name == "full" else ["automobile"]
    return mvtec_keys(p, root=root)


def run_experiment(experiment: str, profile=None, **kwargs) -> ExperimentResult:
    """Run an experiment as a chapter (and `reproduce`) does: with the full profile, CIFAR-10 runs every class
    one-vs-rest when the data have all ten."""
    check_experiment(experiment)
    p = get_profile(profile)
    if experiment == "cifar10" and "normal_classes" not in kwargs:
        kwargs["normal_classes"] = experiment_keys(experiment, p, kwargs.get("root"))
    return RUNNERS[experiment](p, **kwargs)


def reproduce(experiment: str, profile=None, out_dir="results", progress: bool = True, **kwargs) -> Path:
    """Run an experiment and write results/<profile>/<experiment>/results.json plus its PNG figures."""
    import matplotlib.pyplot as plt

    p = get_profile(profile)
    result = run_experiment(experiment, p, progress=progress, **kwargs)
    folder = Path(out_dir) / p.name / experiment
    folder.mkdir(parents=True, exist_ok=True)
    summary = result.summary()
    seeds = kwargs.get("seeds")
    sizes = kwargs.get("sizes")
    summary["command"] = (f"python -m ganad_lite reproduce --experiment {experiment} --profile {p.name}"
                          + (f" --seeds {','.join(map(str, seeds))}" if seeds else "")
                          + (f" --sizes {','.join(map(str, sizes))}" if sizes else ""))
    (folder / "results.json").write_text(scrub_paths(json.dumps(jsonable(summary), indent=1)))
    for fig_name, fig in figures(result).items():
        fig.savefig(folder / f"{fig_name}.png", dpi=110, bbox_inches="tight")
        plt.close(fig)
    return folder
