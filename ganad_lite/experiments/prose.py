"""Sentences generated from the numbers: verdicts on a run summary, a reading of the training curves, and the
banner that says what a profile's numbers can mean. Every function returns Markdown."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..profiles import get_profile
from .protocol import PRIMARY, THESIS, THESIS_WIDTH, VARIANT_NAMES
from .tables import run_label

if TYPE_CHECKING:
    from .runs import OneClassResult


def _names(labels: list[str]) -> str:
    return ", ".join(labels) if len(labels) < 4 else f"{', '.join(labels[:3])} and {len(labels) - 3} more"


def pca_verdict(summary: dict, variant: str = PRIMARY, margin: float = 0.01) -> str:
    """Where the GAN's score ranks test images better than the PCA baseline (AUROC), and where not."""
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
    """Per row, the GAN's pixel AUROC and AU-PRO (residual maps against the masks) beside PCA's."""
    parts = []
    for r in summary["runs"]:
        m, b = r["metrics"][PRIMARY], r["pca_baseline"]
        if "pixel_auroc" not in m:
            continue
        gap = m["pixel_auroc"] - b["pixel_auroc"]
        lead = "ahead of" if gap > 0 else "behind" if gap < 0 else "level with"
        parts.append(f"{run_label(r)} (seed {r['config']['seed']}): pixel AUROC {m['pixel_auroc']:.3f} against "
                     f"PCA's {b['pixel_auroc']:.3f} ({lead} it), AU-PRO {m['au_pro']:.3f} against {b['au_pro']:.3f}")
    if not parts:
        return "No run of this summary has ground-truth masks, so there is no pixel-level result."
    return "Localisation, from the residual maps and the ground-truth masks: " + "; ".join(parts) + "."


def thesis_verdict(summary: dict, variant: str = PRIMARY) -> str:
    """This build's mean F1 (held-out and optimistic thresholds) against the thesis's F1 and the trivial
    all-anomalous F1 on the same test sets."""
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
    """What the training curves of a run did, read off the logged numbers."""
    hist, log = run.detector.history, run.detector.epoch_log
    p = get_profile(profile or run.detector.profile)
    if len(hist) < 2:
        return (f"Only {len(hist)} loss record(s) were logged: the {p.name} profile trains too briefly for the "
                "curves to show a trend; they only prove that the training loop runs.")
    epochs = [float(h["epoch"]) for h in hist]
    trend = lambda k: _trend(epochs, [float(h[k]) for h in hist])  # noqa: E731
    text = (f"Over {run.detector.config.epochs} epochs ({hist[-1]['step']} generator steps, {len(hist)} loss "
            f"records) the critic loss {trend('critic_loss')}, the Wasserstein estimate {trend('wasserstein')}, "
            f"the gradient penalty {trend('penalty')} and the encoder loss {trend('encoder_loss')}. ")
    val = [(e["epoch"], e["val_auroc_residual"]) for e in log if "val_auroc_residual" in e]
    if val:
        best = max(val, key=lambda t: t[1])
        text += (f"The monitoring AUROC of L_n {_trend([], [v for _, v in val], extremes=False)} from epoch "
                 f"{val[0][0]} to {val[-1][0]} and was highest at epoch {best[0]} ({best[1]:.3f}); the model kept "
                 "is the last epoch's, whichever epoch scored best.")
    return text


def profile_banner(profile=None, experiment: str | None = None) -> str:
    """What the numbers of a chapter run under `profile` can and cannot be read as."""
    p = get_profile(profile)
    if p.name == "smoke":
        return ("> **Smoke profile.** The detectors below train for seconds on a few hundred images (width "
                f"{p.width}): every number and figure of this run proves that the code path works and says "
                "nothing about the method. Results of bigger profiles, where committed, follow at the end of the "
                "chapter.")

    def same(ours, theirs) -> str:
        return "as in the thesis" if ours == theirs else f"where the thesis used {theirs}"

    text = f"> **{p.name} profile.** Networks of width {p.width}, {same(p.width, THESIS_WIDTH)}"
    if experiment is not None:
        ours, theirs = p.epochs_for(experiment), THESIS[experiment]["epochs"]
        text += f", and {ours} epochs, {same(ours, theirs)}"
    if p.max_train is not None or p.max_test is not None:
        text += ", on capped subsets of the data"
    return text + ". The budget table at the end compares the two."
