"""The book's experiments: the thesis protocols on MNIST, CIFAR-10 and MVTec AD, evaluated honestly.

Each one-class run trains a detector with the active profile (cached on disk), scores the test set with the
encoder, and reports for several score variants: AUROC, average precision, P/R/F1 at a threshold taken from
held-out NORMAL training images (no test labels), P/R/F1 at the best test threshold (optimistic), the trivial
"everything is anomalous" baseline, and a PCA reconstruction-error baseline on the same split.
`reproduce` writes all of it to results/<profile>/<experiment>/ (results.json and PNG figures).

The tables and sentences a chapter shows are built from a run *summary* (a dict: `ExperimentResult.summary()`
for a live run, or a committed results.json), so live and committed results are reported the same way.
"""
from __future__ import annotations

import datetime
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import data as gdata
from .baselines import PCABaseline
from .detector import GANAD
from .device import hardware_info, pick_device
from .metrics import au_pro, auroc, decide, evaluate, pixel_auroc, precision_recall_f1, quantile_threshold, trivial_baseline
from .profiles import PROFILES, Profile, get_profile
from .scoring import Scores, Standardizer

EXPERIMENTS = ("mnist", "cifar10", "mvtec")
EXPERIMENT_NAMES = {"mnist": "MNIST", "cifar10": "CIFAR-10", "mvtec": "MVTec AD"}

# Score variants reported in every table: (weight lambda, standardized). The primary one is fixed in advance
# (the residual, the classic reconstruction score); lambda is never tuned on test labels.
VARIANTS = {
    "residual": (1.0, False),          # L_n alone
    "origin": (0.0, False),            # L_o alone
    "source_mix": (0.05, False),       # the source formula with Berg et al.'s lambda = 0.05
    "standardized_mix": (0.5, True),   # both terms z-scored on held-out normals, equal weight
}
VARIANT_NAMES = {"residual": "L_n alone (primary)", "origin": "L_o alone", "source_mix": "source mix, λ = 0.05",
                 "standardized_mix": "standardised mix, λ = 0.5"}
PRIMARY = "residual"
QUANTILE = 0.95  # held-out threshold: flags about 5% of normal images

# What the source reports (DESIGN section 3, thesis tables 4-1 and sections 4.2-4.3), in percent; Berg et al.
# (2020) table 2 for the CIFAR-10 automobile split (0% contamination).
THESIS = {
    "mnist": {"precision": 99.89, "recall": 97.65, "f1": 98.76,
              "precision_per_digit": [99.94, 99.95, 99.79, 99.84, 99.93, 99.89, 99.86, 99.93, 99.93, 99.83],
              "recall_per_digit": [99.18, 95.11, 97.02, 98.34, 99.09, 97.51, 98.16, 95.74, 98.73, 97.66],
              "f1_per_digit": [99.56, 97.47, 98.39, 99.09, 99.51, 98.68, 99.00, 97.79, 99.33, 98.73],
              "epochs": 32, "train_hours": 40},
    "cifar10": {"precision": 91.21, "recall": 87.20, "f1": 89.16, "berg2020_auroc": 0.72,
                "berg2020_auroc_by_score": {"residual": 0.58, "origin": 0.70, "source_mix": 0.72},
                "berg2020_auroc_2pct_contaminated": 0.64,
                "epochs": 50, "train_hours": 22},
    "mvtec": {"precision": 81.12, "recall": 77.84, "f1": 79.45, "epochs": 64, "train_hours": 36},
}
# MVTec AD's whole test set (Bergmann et al. 2019): defect-free and defective images over the 15 categories.
MVTEC_AD_TEST_COUNTS = {"good": 467, "defective": 1258}
THESIS_HARDWARE = "one NVIDIA GTX 1080"
THESIS_WIDTH = 64

# The protocols as the source states them (DESIGN section 3), for the chapters' protocol tables.
THESIS_PROTOCOL = {
    "mnist": {"normal class": "digit k, each in turn", "training images": "all training images of k (about 6,000)",
              "held-out normals (thresholds)": "not stated", "test images": "all 10,000 test images",
              "anomalous share of test": "about 90%", "image shape": "1 x 28 x 28"},
    "cifar10": {"normal class": "automobile", "training images": "all 5,000 automobile training images",
                "held-out normals (thresholds)": "not stated",
                "test images": "1,000 automobile + 1,000 random other test images",
                "anomalous share of test": "50%", "image shape": "3 x 32 x 32"},
    "mvtec": {"normal class": "the good images of each of 15 categories",
              "training images": "100 normal images per category", "held-out normals (thresholds)": "not stated",
              "test images": "100 mixed test images per category", "anomalous share of test": "not stated",
              "image shape": "3 x 28 x 28 (resized)"},
}


# -- one run ---------------------------------------------------------------------------------------------
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

    def variant_scores(self, variant: str = PRIMARY) -> np.ndarray:
        """Test scores (T,) of a score variant (see VARIANTS)."""
        return self.scores.anomaly_score(*VARIANTS[variant])

    def summary(self) -> dict:
        """JSON-ready summary: metrics, data description, timings and the training record."""
        return {"name": self.name, "meta": _jsonable(self.split.meta), "metrics": self.metrics,
                "pca_baseline": self.baseline, "seconds": self.seconds,
                "epochs": self.detector.epoch_log, "config": self.detector.config.to_dict(),
                "loaded_from_cache": self.detector.loaded_from_cache}


def scrub_paths(text: str) -> str:
    """Replace this machine's data root and home folder in text meant for committed files by
    `$GANAD_DATA` and `~`, so results say where data came from without naming a machine's folders."""
    root = str(gdata.data_root().resolve())
    if root != "/":
        text = text.replace(root, "$GANAD_DATA")
    return text.replace(str(Path.home()), "~")


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def monitoring_set(split, n: int = 400, seed: int = 0):
    """A labelled subset of the TEST split for the per-epoch validation-AUROC curve (monitoring only:
    nothing is selected from it)."""
    small = split.subsample(max_test=min(n, len(split.test)), seed=seed + 7)
    return small.test, small.test_labels.numpy()


def _evaluate_variants(labels, test: Scores, normal: Scores) -> dict:
    metrics = {}
    for name, (weight, standardized) in VARIANTS.items():
        metrics[name] = evaluate(labels, test.anomaly_score(weight, standardized), normal.anomaly_score(weight, standardized), QUANTILE)
        metrics[name].update(weight=weight, standardized=standardized)
    return metrics


def run_one(split, experiment: str, profile: Profile, seed: int = 0, *, progress: bool = True,
            cache_dir=None, device=None, monitor: bool = True) -> OneClassResult:
    """Train (or load from the run cache) and evaluate one one-class detector on `split`."""
    t0 = time.perf_counter()
    det = GANAD.from_profile(split.image_shape, experiment, profile, seed=seed, cache_dir=cache_dir,
                             device=device, progress=progress)
    det.fit(split.train, validation=monitoring_set(split, seed=seed) if monitor else None)
    t1 = time.perf_counter()
    normal = det.score_terms(split.val, keep_maps=False)  # held-out normals, scored once: thresholds and standardiser
    det.standardizer = normal.standardizer = Standardizer.fit(normal)
    test = det.score_terms(split.test, keep_recon=True)
    t2 = time.perf_counter()
    labels = split.test_labels.numpy()
    metrics = _evaluate_variants(labels, test, normal)
    pca = PCABaseline(seed=seed).fit(split.train)
    pca_test, pca_maps = pca.reconstruction_error(split.test)
    baseline = evaluate(labels, pca_test, pca.reconstruction_error(split.val)[0], QUANTILE)
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


def make_split(experiment: str, key, profile=None, seed: int = 0, root=None):
    """The split a run of `experiment` uses, shrunk to the profile's caps. key: the digit (MNIST), the normal
    class (CIFAR-10) or (category, size) (MVTec AD: size 28 is the thesis mode, larger sizes use all images)."""
    p = get_profile(profile)
    if experiment == "mnist":
        split = gdata.mnist_protocol(key, root=root, seed=seed)
    elif experiment == "cifar10":
        split = gdata.cifar10_protocol(key, root=root, seed=seed)
    elif experiment == "mvtec":
        category, size = key
        split = gdata.mvtec_protocol(category, "thesis" if size == 28 else "full", size=size, seed=seed, root=root,
                                     fallback="synthetic")
    else:
        raise ValueError(f"unknown experiment {experiment!r}: choose one of {EXPERIMENTS}")
    return _subsample(split, p, seed)


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
        primary = [r.metrics[PRIMARY] for r in self.runs]
        mean = lambda xs: float(np.mean(xs))  # noqa: E731
        return {
            "experiment": self.experiment, "profile": self.profile.as_dict(), "hardware": self.hardware,
            "wall_seconds": round(self.seconds, 1), "seeds": sorted({r.detector.config.seed for r in self.runs}),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "primary_score": PRIMARY, "threshold_quantile": QUANTILE,
            "mean": {"auroc": mean([m["auroc"] for m in primary]),
                     "f1_heldout": mean([m["heldout_threshold"]["f1"] for m in primary]),
                     "f1_optimistic": mean([m["best_test_threshold_optimistic"]["f1"] for m in primary]),
                     "f1_all_anomalous": mean([m["trivial_all_anomalous"]["f1"] for m in primary]),
                     "pca_auroc": mean([r.baseline["auroc"] for r in self.runs]),
                     **{f"auroc_{v}": mean([r.metrics[v]["auroc"] for r in self.runs]) for v in VARIANTS}},
            "headline_by_seed": seed_means(self.runs),
            "thesis": THESIS[self.experiment],
            "runs": [r.summary() for r in self.runs],
        }


def seed_means(runs: list[OneClassResult]) -> dict:
    """The headline (mean primary AUROC over all normal classes) for each seed, and their mean and standard
    deviation: the spread of the headline number itself, not the average spread of the single runs."""
    by_seed: dict[int, list[float]] = {}
    for r in runs:
        by_seed.setdefault(r.detector.config.seed, []).append(r.metrics[PRIMARY]["auroc"])
    means = {str(seed): float(np.mean(v)) for seed, v in sorted(by_seed.items())}
    values = list(means.values())
    return {"auroc": means, "mean": float(np.mean(values)),
            "sd": float(np.std(values, ddof=1)) if len(values) > 1 else None}


def _run_all(experiment: str, keys, profile: Profile, seeds, progress: bool, cache_dir, device, root=None,
             train_progress: bool | None = None) -> ExperimentResult:
    """One run per (key, seed) with a progress bar over the runs; the per-run training bar is shown when asked
    for (train_progress=True) or, by default, when there is a single run."""
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    device = pick_device(device)
    jobs = [(key, seed) for key in keys for seed in seeds]
    train_progress = progress and len(jobs) == 1 if train_progress is None else train_progress
    runs = []
    bar = tqdm(jobs, desc=f"{experiment} ({profile.name} profile)", unit="run", disable=not progress)
    for key, seed in bar:
        split = make_split(experiment, key, profile, seed, root)
        bar.set_postfix_str(f"{split.name}, seed {seed}")
        runs.append(run_one(split, experiment, profile, seed, progress=train_progress, cache_dir=cache_dir,
                            device=device))
    return ExperimentResult(experiment, profile, runs, time.perf_counter() - t0, hardware_info(device))


def run_mnist(profile=None, digits=range(10), seeds=None, root=None, progress=True, cache_dir=None, device=None,
              train_progress=None):
    """MNIST one-class protocol: each digit in turn is normal, every other test image anomalous."""
    p = get_profile(profile)
    return _run_all("mnist", [int(k) for k in digits], p, seeds or p.seeds, progress, cache_dir, device, root,
                    train_progress)


def run_cifar10(profile=None, normal_classes=("automobile",), seeds=None, root=None, progress=True, cache_dir=None,
                device=None, train_progress=None):
    """CIFAR-10: automobile normal (5,000 train; test 1,000 automobile + 1,000 others), or other classes."""
    p = get_profile(profile)
    return _run_all("cifar10", list(normal_classes), p, seeds or p.seeds, progress, cache_dir, device, root,
                    train_progress)


def mvtec_keys(profile=None, categories=None, sizes=None, root=None) -> list[tuple[str, int]]:
    """(category, size) of every MVTec AD run: each category under the data root (the synthetic stand-in
    "bottle" when there is none) at each of the profile's sizes (28 = the thesis mode)."""
    categories = categories or gdata.mvtec_categories(root) or ["bottle"]  # offline: a synthetic stand-in
    return [(c, s) for c in categories for s in (sizes or get_profile(profile).mvtec_sizes)]


def run_mvtec(profile=None, categories=None, sizes=None, seeds=None, root=None, progress=True, cache_dir=None,
              device=None, train_progress=None):
    """MVTec AD: every category under the data root (the synthetic stand-in when none), in the thesis mode at
    28x28 and in full mode at the larger sizes of the profile."""
    p = get_profile(profile)
    return _run_all("mvtec", mvtec_keys(p, categories, sizes, root), p, seeds or p.seeds, progress, cache_dir,
                    device, root, train_progress)


def cifar10_classes_available(root=None) -> list[str]:
    """All ten classes when the data have every class's training images, else automobile alone."""
    ds = gdata.load_cifar10(root)
    present = sorted(set(ds.y_train.tolist()))
    return [ds.class_names[i] for i in present] if len(present) == 10 else ["automobile"]


RUNNERS = {"mnist": run_mnist, "cifar10": run_cifar10, "mvtec": run_mvtec}


def run_experiment(experiment: str, profile=None, **kwargs) -> ExperimentResult:
    """Run an experiment as a chapter (and `reproduce`) does: with the full profile, CIFAR-10 runs every class
    one-vs-rest when the data have all ten."""
    if experiment not in RUNNERS:
        raise ValueError(f"unknown experiment {experiment!r}: choose one of {EXPERIMENTS}")
    p = get_profile(profile)
    if experiment == "cifar10" and p.name == "full" and "normal_classes" not in kwargs:
        kwargs["normal_classes"] = cifar10_classes_available(kwargs.get("root"))
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
    summary["command"] = (f"python -m ganad_lite reproduce --experiment {experiment} --profile {p.name}"
                          + (f" --seeds {','.join(map(str, seeds))}" if seeds else ""))
    (folder / "results.json").write_text(scrub_paths(json.dumps(_jsonable(summary), indent=1)))
    for fig_name, fig in figures(result).items():
        fig.savefig(folder / f"{fig_name}.png", dpi=110, bbox_inches="tight")
        plt.close(fig)
    return folder


# -- committed results -----------------------------------------------------------------------------------
def results_dir() -> Path:
    """The results folder: $GANAD_RESULTS, else `results/` in the first folder holding a pyproject.toml found
    walking up from the working directory (a chapter runs in book/), else the one beside the package."""
    if os.environ.get("GANAD_RESULTS"):
        return Path(os.environ["GANAD_RESULTS"])
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "results").is_dir():
            return folder / "results"
    return Path(__file__).resolve().parent.parent / "results"


def load_results(experiment: str, profile: str, out_dir=None) -> dict | None:
    """A committed results.json (results/<profile>/<experiment>/), or None when that profile was not run."""
    path = Path(out_dir or results_dir()) / profile / experiment / "results.json"
    return json.loads(path.read_text()) if path.exists() else None


def result_figures(experiment: str, profile: str, out_dir=None) -> list[Path]:
    """The PNG figures `reproduce` wrote beside a committed results.json (sorted by name)."""
    return sorted((Path(out_dir or results_dir()) / profile / experiment).glob("*.png"))


def bigger_profiles(profile=None) -> list[str]:
    """The profiles with a larger budget than `profile` (the order of PROFILES: smoke, cpu, full); for a custom
    profile, every named one."""
    names, name = list(PROFILES), get_profile(profile).name
    return names[names.index(name) + 1:] if name in names else names


def committed_results(experiment: str, profile=None, out_dir=None) -> list[tuple[str, dict | None]]:
    """(profile name, summary or None) for each profile bigger than the active one."""
    return [(name, load_results(experiment, name, out_dir)) for name in bigger_profiles(profile)]


def provenance(summary: dict) -> str:
    """One Markdown line: which profile, hardware, seeds, data and time produced a summary."""
    p, hw, runs = summary["profile"], summary["hardware"], summary["runs"]
    seeds = summary.get("seeds") or sorted({r["config"]["seed"] for r in runs})
    sources = sorted({str(r["meta"].get("source")) for r in runs})
    cached = sum(bool(r.get("loaded_from_cache")) for r in runs)
    train = sum(r["seconds"].get("train_total", 0.0) for r in runs)
    epochs = sorted({r["config"]["epochs"] for r in runs})
    text = (f"**{p['name']} profile** (width {p['width']}, {'/'.join(map(str, epochs))} epoch(s), batch "
            f"{p['batch_size']}, lr {p['lr']:g}) on {hw['summary']}, torch {hw.get('torch', '?')}; "
            f"seed(s) {', '.join(map(str, seeds))}; data: {', '.join(sources)}; {len(runs)} run(s); wall time "
            f"{summary['wall_seconds']:.0f} s (training time recorded by the runs: {train:.0f} s"
            + (f"; {cached} run(s) loaded from the run cache" if cached else "") + ")")
    if summary.get("command"):  # a committed file: say when and how it was written
        text += f"; written {summary['date']} " if summary.get("date") else "; written "
        text += f"by `{summary['command']}`"
    return text + "."


def profile_banner(profile=None, experiment: str | None = None) -> str:
    """Markdown: what the numbers of a chapter run under `profile` can and cannot be read as."""
    p = get_profile(profile)
    if p.name == "smoke":
        return ("> **Smoke profile.** The detectors below train for seconds on a few hundred images (width "
                f"{p.width}): every number and figure of this run proves that the code path works and says nothing "
                "about the method. Results of bigger profiles, where committed, follow at the end of the chapter.")

    def same(ours, theirs) -> str:
        return "as in the thesis" if ours == theirs else f"where the thesis used {theirs}"

    text = f"> **{p.name} profile.** Networks of width {p.width}, {same(p.width, THESIS_WIDTH)}"
    if experiment is not None:
        ours, theirs = p.epochs_for(experiment), THESIS[experiment]["epochs"]
        text += f", and {ours} epochs, {same(ours, theirs)}"
    if p.max_train is not None or p.max_test is not None:
        text += ", on capped subsets of the data"
    return text + ". The budget table at the end compares the two."


def style_table(df, precision: int = 3):
    """A results DataFrame formatted for the book: `precision` decimals, blank cells shown as a dash."""
    return df.style.format(precision=precision, na_rep="–")


def show_committed(experiment: str, profile=None, out_dir=None) -> None:
    """Display (in a notebook) the committed results of every profile bigger than the active one: provenance,
    results table, verdicts and a reconstruction grid, or a line saying that they are not available yet."""
    from IPython.display import Image, Markdown, display

    entries = committed_results(experiment, profile, out_dir)
    if not entries:
        display(Markdown(f"The {get_profile(profile).name} profile is the largest: there is no bigger one to show."))
    for name, summary in entries:
        if summary is None:
            display(Markdown(f"**{name} profile: results not available yet.** `python -m ganad_lite reproduce "
                             f"--experiment {experiment} --profile {name}`" + (" (on a GPU)" if name == "full" else "")
                             + f" writes them to `results/{name}/{experiment}/`."))
            continue
        display(Markdown(f"**Committed results, {name} profile.** " + provenance(summary)))
        display(style_table(results_table(summary)))
        display(Markdown(pca_verdict(summary) + "\n\n" + thesis_verdict(summary)))
        grids = [f for f in result_figures(experiment, name, out_dir) if f.name.startswith("grid_")]
        if grids:
            display(Markdown(f"Reconstructions from that run (`{grids[0].name}`):"))
            display(Image(filename=str(grids[0])))


# -- tables ----------------------------------------------------------------------------------------------
def run_label(run: dict) -> str:
    """Row label of a run summary: "digit 3", "automobile", "bottle 28x28 (thesis)"."""
    meta = run["meta"]
    if meta["dataset"] == "mnist":
        return f"digit {meta['normal_class']}"
    if meta["dataset"] == "cifar10":
        return str(meta["normal_class"])
    synthetic = " [synthetic]" if meta.get("source") == "synthetic" else ""
    return f"{meta['normal_class']}{synthetic} {meta['size']}x{meta['size']} ({meta['mode']})"


HELDOUT = "held-out threshold (no test labels)"
OPTIMISTIC = "best test threshold (optimistic)"
REPORTED = "thesis (threshold not stated)"


def _metric_row(run: dict, variant: str) -> dict:
    m, b = run["metrics"][variant], run["pca_baseline"]
    h, o, t = m["heldout_threshold"], m["best_test_threshold_optimistic"], m["trivial_all_anomalous"]
    short = {"precision": "P", "recall": "R", "f1": "F1"}
    row = {("GAN", "AUROC"): m["auroc"], ("GAN", "AP"): m["average_precision"],
           **{(HELDOUT, short[k]): h[k] for k in short}, **{(OPTIMISTIC, short[k]): o[k] for k in short},
           ("all anomalous", "P"): t["precision"], ("all anomalous", "F1"): t["f1"],
           ("PCA baseline", "AUROC"): b["auroc"], ("PCA baseline", "AP"): b["average_precision"],
           ("PCA baseline", "F1 held-out"): b["heldout_threshold"]["f1"]}
    if "pixel_auroc" in m:
        row.update({("pixel level", "AUROC"): m["pixel_auroc"], ("pixel level", "AU-PRO"): m["au_pro"],
                    ("pixel level", "PCA AUROC"): b["pixel_auroc"], ("pixel level", "PCA AU-PRO"): b["au_pro"]})
    return row


def _thesis_cells(experiment: str, label: str) -> dict:
    """The thesis's P/R/F1 (as fractions) for a row label, where it reports one for that protocol."""
    t = THESIS[experiment]
    if experiment == "mnist" and label.startswith("digit "):
        k = int(label.split()[1])
        vals = (t["precision_per_digit"][k], t["recall_per_digit"][k], t["f1_per_digit"][k])
    elif (experiment == "mnist" and label == "mean") or (experiment == "cifar10" and label == "automobile") or (
            experiment == "mvtec" and label.startswith("thesis")):
        vals = (t["precision"], t["recall"], t["f1"])
    else:
        return {}
    return {(REPORTED, "P"): vals[0] / 100, (REPORTED, "R"): vals[1] / 100, (REPORTED, "F1"): vals[2] / 100}


def results_table(summary: dict, variant: str = PRIMARY, thesis: bool = True):
    """Rows: one per run (averaged over seeds), a mean row, and for MVTec the thesis's category mean; columns
    grouped: threshold-free GAN metrics, P/R/F1 at the held-out threshold, at the best test threshold
    (optimistic), the all-anomalous baseline, the PCA baseline, pixel metrics (MVTec) and the thesis's figures.
    All values are fractions in [0, 1]; a blank cell is a figure that does not exist for that row."""
    import pandas as pd

    rows = [(run_label(r), _metric_row(r, variant)) for r in summary["runs"]]
    df = pd.DataFrame([r for _, r in rows], index=[k for k, _ in rows])
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    groups = df.groupby(level=0, sort=False)
    n_seeds = len({r["config"]["seed"] for r in summary["runs"]})
    df = groups.mean()
    if n_seeds > 1:  # the spread over seeds, right after the mean AUROC
        df.insert(1, ("GAN", "AUROC sd (seeds)"), groups.std()[("GAN", "AUROC")])
    if len(df) > 1:
        df.loc["mean"] = df.mean(numeric_only=True)
        if n_seeds > 1 and summary.get("headline_by_seed"):  # the spread of the mean itself over seeds
            df.loc["mean", ("GAN", "AUROC sd (seeds)")] = summary["headline_by_seed"]["sd"]
    if summary["experiment"] == "mvtec" and thesis:
        df.loc["thesis: mean of 15 categories, 28x28"] = np.nan
    if thesis:
        cells = {label: _thesis_cells(summary["experiment"], label) for label in df.index}
        for col in [(REPORTED, "P"), (REPORTED, "R"), (REPORTED, "F1")]:
            df[col] = [cells[label].get(col, np.nan) for label in df.index]
    df.index.name = f"normal class ({n_seeds} seeds averaged)" if n_seeds > 1 else "normal class"
    return df


def variants_table(summary: dict):
    """One row per score variant: lambda, standardised or not, and AUROC, AP, F1 at the held-out threshold and
    F1 at the best test threshold, averaged over the runs; for CIFAR-10 Berg et al.'s AUROC for that score."""
    import pandas as pd

    rows = {}
    for v, (weight, standardized) in VARIANTS.items():
        ms = [r["metrics"][v] for r in summary["runs"]]
        mean = lambda f: float(np.mean([f(m) for m in ms]))  # noqa: E731
        rows[VARIANT_NAMES[v]] = {"λ": weight, "standardised": standardized, "AUROC": mean(lambda m: m["auroc"]),
                                  "AP": mean(lambda m: m["average_precision"]),
                                  "F1 held-out": mean(lambda m: m["heldout_threshold"]["f1"]),
                                  "F1 optimistic": mean(lambda m: m["best_test_threshold_optimistic"]["f1"])}
        if summary["experiment"] == "cifar10":
            rows[VARIANT_NAMES[v]]["Berg et al. AUROC"] = THESIS["cifar10"]["berg2020_auroc_by_score"].get(v, np.nan)
    df = pd.DataFrame(rows).T
    df.index.name = f"score (mean over {len(summary['runs'])} run(s))"
    return df


def protocol_table(experiment: str, split, profile=None):
    """The thesis protocol beside the split this build uses (sizes after the profile's caps)."""
    import pandas as pd

    p, meta = get_profile(profile), split.meta
    n_anom = int(split.test_labels.sum())
    ours = {"normal class": str(meta.get("normal_class")), "training images": f"{len(split.train):,}",
            "held-out normals (thresholds)": f"{len(split.val):,} normal training images, never trained on",
            "test images": f"{len(split.test):,} ({len(split.test) - n_anom:,} normal, {n_anom:,} anomalous)",
            "anomalous share of test": f"{n_anom / max(len(split.test), 1):.1%}",
            "image shape": " x ".join(map(str, split.image_shape))}
    return pd.DataFrame({"thesis": THESIS_PROTOCOL[experiment],
                         f"this build ({p.name} profile, data: {meta.get('source')})": ours})


def budget_table(summary: dict):
    """The thesis's training budget beside a summary's: width, epochs, runs, training time, hardware."""
    import pandas as pd

    t, runs = THESIS[summary["experiment"]], summary["runs"]
    train = sum(r["seconds"].get("train_total", 0.0) for r in runs)
    return pd.DataFrame({
        "thesis": {"width (ngf = ndf)": THESIS_WIDTH, "epochs": t["epochs"], "hardware": THESIS_HARDWARE,
                   "training time": f"about {t['train_hours']} h"},
        f"this build ({summary['profile']['name']} profile)": {
            "width (ngf = ndf)": summary["profile"]["width"],
            "epochs": "/".join(map(str, sorted({r["config"]["epochs"] for r in runs}))),
            "hardware": summary["hardware"]["summary"],
            "training time": f"{train:.0f} s over {len(runs)} run(s)"}})


def by_type_table(run: OneClassResult, variant: str = PRIMARY):
    """One row per kind of test image (true digit, CIFAR-10 class or defect type): how many, the share flagged
    at the held-out threshold, the mean score, and the AUROC of that kind against the normal test images."""
    import pandas as pd

    types, y, s = np.asarray(run.split.test_types), run.labels, run.variant_scores(variant)
    threshold = run.metrics[variant]["heldout_threshold"]["threshold"]
    normal = s[y == 0]
    rows = {}
    for name in sorted(set(types), key=lambda n: (bool(y[types == n].any()), n)):
        sel = types == name
        anomalous = bool(y[sel].any())
        vs_normal = auroc(np.r_[np.zeros(len(normal)), np.ones(sel.sum())], np.r_[normal, s[sel]])
        rows[name] = {"label": "anomaly" if anomalous else "normal", "n": int(sel.sum()),
                      "flagged at held-out threshold": float(decide(s[sel], threshold).mean()),
                      "mean score": float(s[sel].mean()),
                      "AUROC vs normal test images": vs_normal if anomalous else np.nan}
    df = pd.DataFrame(rows).T
    df.index.name = "test images of kind"
    return df


# -- sentences generated from the numbers ---------------------------------------------------------------
def _names(labels: list[str]) -> str:
    return ", ".join(labels) if len(labels) < 4 else f"{', '.join(labels[:3])} and {len(labels) - 3} more"


def pca_verdict(summary: dict, variant: str = PRIMARY, margin: float = 0.01) -> str:
    """Markdown: where the GAN's score ranks test images better than the PCA baseline (AUROC), and where not."""
    rows = {}
    for r in summary["runs"]:
        rows.setdefault(run_label(r), []).append((r["metrics"][variant]["auroc"], r["pca_baseline"]["auroc"]))
    gan = {k: float(np.mean([a for a, _ in v])) for k, v in rows.items()}
    pca = {k: float(np.mean([b for _, b in v])) for k, v in rows.items()}
    ahead = [k for k in rows if gan[k] > pca[k] + margin]
    behind = [k for k in rows if gan[k] < pca[k] - margin]
    n = len(rows)
    text = (f"With the {VARIANT_NAMES[variant]} score the GAN's AUROC is {np.mean(list(gan.values())):.3f} "
            f"against {np.mean(list(pca.values())):.3f} for the 32-component PCA reconstruction error"
            + (" (means over the rows)" if n > 1 else "") + ". ")
    if not ahead and not behind:
        return text + f"The two are within {margin:.2f} of each other on every row."
    if ahead:
        text += f"The GAN is ahead by more than {margin:.2f} on {len(ahead)} of {n} row(s) ({_names(ahead)}). "
    if behind:
        text += f"PCA is ahead by more than {margin:.2f} on {len(behind)} of {n} row(s) ({_names(behind)}). "
    if not ahead:
        text += "On no row does the GAN beat this simple baseline."
    return text.strip()


def pixel_verdict(summary: dict) -> str:
    """Markdown: per row, the GAN's pixel AUROC and AU-PRO (residual maps against the masks) beside PCA's."""
    parts = []
    for r in summary["runs"]:
        m, b = r["metrics"][PRIMARY], r["pca_baseline"]
        if "pixel_auroc" not in m:
            continue
        gap = m["pixel_auroc"] - b["pixel_auroc"]
        lead = "ahead of" if gap > 0 else "behind" if gap < 0 else "level with"
        parts.append(f"{run_label(r)} (seed {r['config']['seed']}): pixel AUROC {m['pixel_auroc']:.3f} against PCA's "
                     f"{b['pixel_auroc']:.3f} ({lead} it), AU-PRO {m['au_pro']:.3f} against {b['au_pro']:.3f}")
    if not parts:
        return "No run of this summary has ground-truth masks, so there is no pixel-level result."
    return "Localisation, from the residual maps and the ground-truth masks: " + "; ".join(parts) + "."


def thesis_verdict(summary: dict, variant: str = PRIMARY) -> str:
    """Markdown: this build's mean F1 (held-out and optimistic thresholds) against the thesis's F1 and the
    trivial all-anomalous F1 on the same test sets."""
    ms = [r["metrics"][variant] for r in summary["runs"]]
    f_held = float(np.mean([m["heldout_threshold"]["f1"] for m in ms]))
    f_opt = float(np.mean([m["best_test_threshold_optimistic"]["f1"] for m in ms]))
    f_triv = float(np.mean([m["trivial_all_anomalous"]["f1"] for m in ms]))
    f_thesis = THESIS[summary["experiment"]]["f1"] / 100
    cmp = lambda a, b: "above" if a > b else "below" if a < b else "equal to"  # noqa: E731
    return (f"In the {summary['profile']['name']} profile the mean F1 is {f_held:.3f} at the threshold taken from "
            f"held-out normals and {f_opt:.3f} at the best threshold on the test set itself (optimistic: it uses "
            f"the test labels). The thesis reports {f_thesis:.3f}, without saying how its threshold was chosen. "
            f"Calling every test image anomalous gives F1 {f_triv:.3f} on the same test sets: the held-out F1 is "
            f"{cmp(f_held, f_triv)} that trivial baseline, the optimistic F1 {cmp(f_opt, f_triv)} it, and the "
            f"thesis's figure {cmp(f_thesis, f_triv)} it.")


def implied_false_positive_rate(precision: float, recall: float, anomalous_share: float) -> float:
    """The share of normal test images flagged, implied by a reported precision and recall on a test set with
    the given share of anomalies: FP / N_normal = R (1 - P) / P * share / (1 - share)."""
    if not (0 < precision <= 1 and 0 <= recall <= 1 and 0 < anomalous_share < 1):
        raise ValueError("precision in (0, 1], recall in [0, 1] and anomalous_share in (0, 1) are needed")
    return recall * (1 - precision) / precision * anomalous_share / (1 - anomalous_share)


def binormal_auroc(tpr: float, fpr: float) -> float:
    """AUROC of the equal-variance binormal ROC curve through one operating point (fpr, tpr): a rough guide to
    how well a score must rank for a reported precision and recall, when the source gives no ROC curve."""
    from scipy.stats import norm

    eps = 1e-6
    d = norm.ppf(np.clip(tpr, eps, 1 - eps)) + norm.ppf(np.clip(1 - fpr, eps, 1 - eps))
    return float(norm.cdf(d / np.sqrt(2)))


def thesis_operating_point(experiment: str, anomalous_share: float) -> dict:
    """The thesis's reported precision and recall turned into an operating point on a test set with the given
    anomalous share: recall (TPR), implied false-positive rate, and the binormal AUROC through that point."""
    t = THESIS[experiment]
    p, r = t["precision"] / 100, t["recall"] / 100
    fpr = implied_false_positive_rate(p, r, anomalous_share)
    return {"precision": p, "recall": r, "f1": t["f1"] / 100, "fpr": fpr, "binormal_auroc": binormal_auroc(r, fpr),
            "f1_all_anomalous": 2 * anomalous_share / (1 + anomalous_share)}


def _trend(epochs: list[float], values: list[float], extremes: bool = True) -> str:
    """'rose from a to b' (or fell / stayed), noting an extreme in between that stands out from both ends."""
    first, last = values[0], values[-1]
    word = "rose" if last > first else "fell" if last < first else "stayed"
    text = f"{word} from {first:.3g} to {last:.3g}" if word != "stayed" else f"stayed at {first:.3g}"
    if not extremes:
        return text
    span = max(values) - min(values)
    for pick, name in ((int(np.argmax(values)), "peaking at"), (int(np.argmin(values)), "lowest at")):
        if 0 < pick < len(values) - 1 and min(abs(values[pick] - first), abs(values[pick] - last)) > 0.2 * span:
            return text + f" ({name} {values[pick]:.3g} around epoch {epochs[pick]:.0f})"
    return text


def curve_reading(run: OneClassResult, profile=None) -> str:
    """Markdown: what the training curves of a run did, read off the logged numbers."""
    hist, log = run.detector.history, run.detector.epoch_log
    p = get_profile(profile or run.detector.profile)
    if len(hist) < 2:
        return (f"Only {len(hist)} loss record(s) were logged: the {p.name} profile trains too briefly for the "
                "curves to show a trend; they only prove that the training loop runs.")
    epochs = [float(h["epoch"]) for h in hist]
    trend = lambda k: _trend(epochs, [float(h[k]) for h in hist])  # noqa: E731
    text = (f"Over {run.detector.config.epochs} epochs ({hist[-1]['step']} generator steps, {len(hist)} loss "
            f"records) the critic loss {trend('critic_loss')}, the Wasserstein estimate {trend('wasserstein')}, the "
            f"gradient penalty {trend('penalty')} and the encoder loss {trend('encoder_loss')}. ")
    val = [(e["epoch"], e["val_auroc_residual"]) for e in log if "val_auroc_residual" in e]
    if val:
        best = max(val, key=lambda t: t[1])
        text += (f"The monitoring AUROC of L_n {_trend([], [v for _, v in val], extremes=False)} from epoch "
                 f"{val[0][0]} to {val[-1][0]} and was highest at epoch {best[0]} ({best[1]:.3f}); the model kept is "
                 "the last epoch's, whichever epoch scored best.")
    return text


# -- figures ---------------------------------------------------------------------------------------------
def pick_examples(labels, n: int = 8, seed: int = 0) -> np.ndarray:
    """Indices of n // 2 normal then n - n // 2 anomalous test images, drawn with a seed."""
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    normal, anomalous = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    return np.r_[rng.choice(normal, min(n // 2, len(normal)), replace=False),
                 rng.choice(anomalous, min(n - n // 2, len(anomalous)), replace=False)].astype(int)


def sample_figure(split, n: int = 16):
    """Four rows of images: training normals, held-out normals (thresholds), normal and anomalous test images."""
    from . import viz

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
    """Input / reconstruction / residual map (and mask / overlay with masks) for normal then anomalous test images."""
    from . import viz

    pick = pick_examples(run.labels, n)
    masks = None if run.split.test_masks is None else run.split.test_masks[pick]
    types = run.split.test_types
    captions = [f"{'anom.' if run.labels[i] else 'normal'}" + (f" ({types[i]})" if types else "") for i in pick]
    return viz.reconstruction_grid(run.split.test[pick], run.scores.recon[pick], run.scores.maps[pick], masks=masks,
                                   captions=captions, title=title or f"{run.name}: normal then anomalous test images")


def histogram_figure(run: OneClassResult, variant: str = PRIMARY):
    """Score histograms by class with the held-out threshold (dashed) and the best test threshold (dotted)."""
    from . import viz

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
    from . import viz

    y, types = run.labels, run.split.test_types
    normal = sorted({t for t, label in zip(types, y) if label == 0})
    return viz.score_by_group(run.variant_scores(variant), types, run.metrics[variant]["heldout_threshold"]["threshold"],
                              normal_groups=normal, xlabel=f"score: {VARIANT_NAMES[variant]}")


def figures(result: ExperimentResult, n: int = 8) -> dict:
    """The figures of a chapter: reconstruction grids (normal / anomalous), training curves, histograms."""
    from . import viz

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
    from . import viz

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


def overview_table(summaries: dict):
    """One row per (experiment, profile) summary: mean AUROC of the primary score and of PCA, mean F1 at the
    held-out and at the optimistic threshold, the all-anomalous F1, the thesis's F1, hardware and wall time."""
    import pandas as pd

    rows = {}
    for (experiment, profile), s in summaries.items():
        ms = [r["metrics"][PRIMARY] for r in s["runs"]]
        mean = lambda f: float(np.mean([f(m) for m in ms]))  # noqa: E731
        rows[(experiment, profile)] = {
            "runs": len(s["runs"]), "GAN AUROC": mean(lambda m: m["auroc"]),
            "PCA AUROC": float(np.mean([r["pca_baseline"]["auroc"] for r in s["runs"]])),
            "F1 held-out": mean(lambda m: m["heldout_threshold"]["f1"]),
            "F1 optimistic": mean(lambda m: m["best_test_threshold_optimistic"]["f1"]),
            "F1 all anomalous": mean(lambda m: m["trivial_all_anomalous"]["f1"]),
            "thesis F1": THESIS[experiment]["f1"] / 100, "hardware": s["hardware"]["summary"],
            "wall time (s)": s["wall_seconds"]}
    df = pd.DataFrame(rows).T
    df.index.names = ["experiment", "profile"]
    return df


# -- studies for the discussion chapter ------------------------------------------------------------------
def class_balance_study(labels, scores, threshold: float, shares=(0.1, 0.3, 0.5, 0.7, 0.9), draws: int = 20,
                        seed: int = 0):
    """F1 at a FIXED threshold, the trivial F1 and AUROC when the test set is resampled to other anomaly shares.

    For each share the largest test subset with that share is drawn `draws` times without replacement; the
    detector and its threshold never change, only the class balance of what it is scored on. Returns a
    DataFrame indexed by the anomalous share (means over the draws)."""
    import pandas as pd

    y, s = np.asarray(labels).astype(int), np.asarray(scores, dtype=float)
    normal, anomalous = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    rng = np.random.default_rng(seed)
    rows = {}
    for share in shares:
        n = int(min(len(normal) / (1 - share), len(anomalous) / share))
        n_a = int(round(share * n))
        recs = []
        for _ in range(draws):
            idx = np.r_[rng.choice(normal, n - n_a, replace=False), rng.choice(anomalous, n_a, replace=False)]
            prf = precision_recall_f1(y[idx], s[idx], threshold)
            recs.append((prf["precision"], prf["recall"], prf["f1"], trivial_baseline(y[idx])["f1"],
                         auroc(y[idx], s[idx])))
        rows[share] = dict(zip(("P", "R", "F1", "F1 all anomalous", "AUROC"), np.mean(recs, axis=0)), n_test=n)
    df = pd.DataFrame(rows).T
    df.index.name = "anomalous share of test"
    return df


def quantile_study(run: OneClassResult, variant: str = PRIMARY, quantiles=(0.5, 0.8, 0.9, 0.95, 0.99, 1.0)):
    """P/R/F1 on the test set at thresholds taken as quantiles of the held-out normal scores (no test labels),
    with the share of test normals flagged (false-positive rate)."""
    import pandas as pd

    y, s = run.labels, run.variant_scores(variant)
    normal = run.normal_scores.anomaly_score(*VARIANTS[variant])
    rows = {}
    for q in quantiles:
        prf = precision_recall_f1(y, s, quantile_threshold(normal, q))
        rows[q] = {"threshold": prf["threshold"], "P": prf["precision"], "R": prf["recall"], "F1": prf["f1"],
                   "FPR": prf["fp"] / max(prf["fp"] + prf["tn"], 1)}
    df = pd.DataFrame(rows).T
    df.index.name = "quantile of held-out normal scores"
    return df


def contaminate(split, pool, fraction: float, seed: int = 0):
    """A copy of `split` whose training and held-out images have `fraction` of them replaced by anomalies drawn
    from `pool` (uint8 (P, C, H, W) images of other classes, never test images); the test set is unchanged."""
    import copy

    import torch

    if not 0 <= fraction < 1:
        raise ValueError(f"contamination fraction must lie in [0, 1), got {fraction}")
    rng = np.random.default_rng([seed, 3])
    parts = []
    for x in (split.train, split.val):
        k = int(round(fraction * len(x)))
        if k > len(pool):
            raise ValueError(f"{k} contaminating images asked for, but the pool holds only {len(pool)}")
        x = x.clone()
        x[rng.choice(len(x), k, replace=False)] = pool[torch.from_numpy(rng.choice(len(pool), k, replace=False))]
        parts.append(x)
    meta = copy.deepcopy(split.meta) | {"contamination": fraction}
    name = f"{split.name}_contaminated{fraction:g}" if fraction else split.name
    return gdata.Split(parts[0], parts[1], split.test, split.test_labels, split.test_masks, split.test_types, name,
                       meta)


def contamination_study(digit: int = 0, fractions=(0.0, 0.02, 0.05, 0.1), gan_fractions=(0.0, 0.1), profile=None,
                        seed: int = 0, root=None, progress: bool = True, cache_dir=None, device=None):
    """MNIST digit `digit` trained on normals contaminated with other digits' TRAINING images: test AUROC of
    the PCA baseline for every fraction and of the GAN (L_n and the source mix) for `gan_fractions`.
    The held-out slice is contaminated at the same rate (it comes from the same unlabelled pool)."""
    import pandas as pd

    p = get_profile(profile)
    split = make_split("mnist", digit, p, seed, root)
    ds = gdata.load_mnist(root)
    pool = ds.x_train[ds.y_train != digit]
    y = split.test_labels.numpy()
    rows = {}
    for f in sorted(set(fractions) | set(gan_fractions)):
        s = contaminate(split, pool, f, seed)
        pca = PCABaseline(seed=seed).fit(s.train)
        row = {"PCA AUROC": auroc(y, pca.reconstruction_error(s.test)[0])}
        if f in gan_fractions:
            r = run_one(s, "mnist", p, seed, progress=progress, cache_dir=cache_dir, device=device)
            row.update({"GAN AUROC (L_n)": r.metrics[PRIMARY]["auroc"],
                        "GAN AUROC (source mix)": r.metrics["source_mix"]["auroc"],
                        "GAN F1 held-out (L_n)": r.metrics[PRIMARY]["heldout_threshold"]["f1"]})
        rows[f] = row
    df = pd.DataFrame(rows).T
    df.index.name = "share of anomalies in training"
    return df
