"""Sentences generated from the numbers: verdicts on a run summary (against PCA, the thesis, and for the score
selected beyond the thesis), a reading of the training curves, and the banner that says what a profile's numbers
can mean. Every function returns Markdown."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..profiles import get_profile
from .protocol import PRIMARY, THESIS, THESIS_WIDTH
from .tables import run_label
from .variants import CANDIDATES, ENSEMBLE, SELECTED, SELECTED_SMALL, best_ties, variant_label

if TYPE_CHECKING:
    from .runs import OneClassResult


NO_SELECTED = ("This summary has no `selected` score: it was written before the scores beyond the thesis were "
               "added. `python -m ganad_lite reproduce` with the same profile writes them.")


def row_names(labels: list[str]) -> str:
    """'a, b, c' for up to three labels, else the first three and how many more."""
    return ", ".join(labels) if len(labels) < 4 else f"{', '.join(labels[:3])} and {len(labels) - 3} more"


def has_selected(summary: dict) -> bool:
    """Whether every run of a summary carries the `selected` score (summaries written before it do not)."""
    return bool(summary["runs"]) and all(SELECTED in r["metrics"] for r in summary["runs"])


def pca_comparison(summary: dict, variant: str = PRIMARY, margin: float = 0.01) -> dict:
    """Per row (run label, averaged over seeds) the GAN's AUROC with `variant` and PCA's, and the rows where
    the GAN is ahead by more than `margin`, behind by more than it, or within it: keys gan, pca (row ->
    AUROC), ahead, behind, level (lists of row labels in the order of the runs)."""
    rows: dict[str, list[tuple[float, float]]] = {}
    for r in summary["runs"]:
        rows.setdefault(run_label(r), []).append((r["metrics"][variant]["auroc"], r["pca_baseline"]["auroc"]))
    gan = {k: float(np.mean([a for a, _ in v])) for k, v in rows.items()}
    pca = {k: float(np.mean([b for _, b in v])) for k, v in rows.items()}
    ahead = [k for k in rows if gan[k] > pca[k] + margin]
    behind = [k for k in rows if gan[k] < pca[k] - margin]
    return {"gan": gan, "pca": pca, "ahead": ahead, "behind": behind,
            "level": [k for k in rows if k not in ahead and k not in behind]}


def pca_verdict(summary: dict, variant: str = PRIMARY, margin: float = 0.01) -> str:
    """Where the GAN's score ranks test images better than the PCA baseline (AUROC), and where not."""
    c = pca_comparison(summary, variant, margin)
    ahead, behind, n = c["ahead"], c["behind"], len(c["gan"])
    text = (f"With the score {variant_label(variant)}, the GAN's AUROC is {np.mean(list(c['gan'].values())):.3f} "
            f"against {np.mean(list(c['pca'].values())):.3f} for the 32-component PCA reconstruction error"
            + (" (means over the rows)" if n > 1 else "") + ". ")
    if not ahead and not behind:
        return text + f"The two are within {margin:.2f} of each other on every row."
    if ahead:
        text += f"The GAN is ahead by more than {margin:.2f} on {len(ahead)} of {n} row(s) ({row_names(ahead)}). "
    if behind:
        text += f"PCA is ahead by more than {margin:.2f} on {len(behind)} of {n} row(s) ({row_names(behind)}). "
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


def seed_aurocs(summary: dict, value) -> dict[int, float]:
    """Per seed, the mean over that seed's runs of value(run summary): for the `selected` AUROC these are the
    summary's headline_by_seed values."""
    by_seed: dict[int, list[float]] = {}
    for r in summary["runs"]:
        by_seed.setdefault(r["config"]["seed"], []).append(float(value(r)))
    return {seed: float(np.mean(v)) for seed, v in sorted(by_seed.items())}


def _mean_sd(by_seed: dict[int, float]) -> str:
    """'0.912 ± 0.010' (mean ± sd over seeds), or '0.912' for one seed."""
    values = list(by_seed.values())
    sd = f" ± {np.std(values, ddof=1):.3f}" if len(values) > 1 else ""
    return f"{np.mean(values):.3f}{sd}"


def _lead(ours: dict[int, float], theirs: dict[int, float], name: str) -> str:
    """'ahead of L_n by 0.062 (in 3 of 3 seeds)': the gap of the means, and in how many seeds ours is ahead."""
    gap = float(np.mean(list(ours.values())) - np.mean(list(theirs.values())))
    text = (f"ahead of {name} by {gap:.3f}" if gap >= 0.0005 else f"behind {name} by {-gap:.3f}"
            if gap <= -0.0005 else f"level with {name}")
    if len(ours) > 1:
        text += f" (ahead in {sum(ours[s] > theirs[s] for s in ours)} of {len(ours)} seeds)"
    return text


def beyond_thesis_verdict(summary: dict) -> str:
    """Whether the primary score beyond the thesis (`selected`) ranks test images better than the thesis
    primary L_n and than PCA, by how much (mean AUROC over the rows, per seed; mean ± sd over the seeds) and in
    how many seeds; with masks, the same for the pixel-level metrics. A summary without it gets NO_SELECTED."""
    if not has_selected(summary):
        return NO_SELECTED
    sel = seed_aurocs(summary, lambda r: r["metrics"][SELECTED]["auroc"])
    thesis = seed_aurocs(summary, lambda r: r["metrics"][PRIMARY]["auroc"])
    pca = seed_aurocs(summary, lambda r: r["pca_baseline"]["auroc"])
    rows = len({run_label(r) for r in summary["runs"]})
    over = (f"over {len(sel)} seeds (mean ± sd of the per-seed means over the {rows} row(s))" if len(sel) > 1
            else f"with one seed (mean over the {rows} row(s); no spread over seeds to report)")
    text = (f"The score selected on synthetic defects has a mean AUROC of {_mean_sd(sel)} {over}, against "
            f"{_mean_sd(thesis)} for the thesis primary L_n and {_mean_sd(pca)} for PCA: it is "
            f"{_lead(sel, thesis, 'L_n')} and {_lead(sel, pca, 'PCA')}.")
    runs = summary["runs"]
    if all("pixel_auroc" in r["metrics"][SELECTED] and "pixel_auroc" in r["pca_baseline"] for r in runs):
        mean = lambda f: float(np.mean([f(r) for r in runs]))  # noqa: E731
        px = {name: (mean(lambda r: get(r)["pixel_auroc"]), mean(lambda r: get(r)["au_pro"]))
              for name, get in (("sel", lambda r: r["metrics"][SELECTED]), ("thesis", lambda r: r["metrics"][PRIMARY]),
                                ("pca", lambda r: r["pca_baseline"]))}
        text += (f" At the pixel level its maps reach AUROC {px['sel'][0]:.3f} and AU-PRO {px['sel'][1]:.3f}, "
                 f"against {px['thesis'][0]:.3f} and {px['thesis'][1]:.3f} for the residual maps of L_n and "
                 f"{px['pca'][0]:.3f} and {px['pca'][1]:.3f} for PCA's (means over the runs).")
    return text + tie_note(summary) + ensemble_note(summary)


def ensemble_note(summary: dict) -> str:
    """' The mean of the candidates' z-scores ...': the later `ensemble` rule's mean AUROC beside `selected`'s and
    PCA's, per seed (empty when the runs do not have it)."""
    if not all(ENSEMBLE in r["metrics"] for r in summary["runs"]):
        return ""
    ens = seed_aurocs(summary, lambda r: r["metrics"][ENSEMBLE]["auroc"])
    sel = seed_aurocs(summary, lambda r: r["metrics"][SELECTED]["auroc"])
    pca = seed_aurocs(summary, lambda r: r["pca_baseline"]["auroc"])
    return (" Instead of choosing one candidate, their scores can be averaged: each z-scored with its mean and "
            "standard deviation on the held-out normals, no label read. This rule was added after the test results "
            f"above were read, so it is not a result fixed in advance: its mean AUROC is {_mean_sd(ens)}, "
            f"{_lead(ens, sel, '`selected`')} and {_lead(ens, pca, 'PCA')}.")


def tie_note(summary: dict) -> str:
    """' In k of n runs ...': how often the choice of `selected` was a tie on the planted defects, which the
    order of the candidate list then broke (empty when no choice was tied)."""
    runs = summary["runs"]
    tied = [r for r in runs if len(best_ties(r["metrics"][SELECTED]["selection_auroc"])) > 1]
    if not tied:
        return ""
    pairs = sorted({r["meta"]["n_val"] // 2 for r in tied})
    return (f" In {len(tied)} of {len(runs)} runs the choice was a tie on the planted defects (held-out slices of "
            f"{' or '.join(map(str, pairs))} good images beside as many with a defect), broken by the order of the "
            f"candidate list ({CANDIDATES[0]} first): there the planted defects were too few or too easy to choose, "
            "and the selected score is in effect the first candidate." + _small_set_note(runs))


def _small_set_note(runs: list[dict]) -> str:
    """' On the small planted defects ...': ties and mean test AUROC of the later rule beside `selected`'s."""
    if not all(SELECTED_SMALL in r["metrics"] for r in runs):
        return ""
    small = [r["metrics"][SELECTED_SMALL] for r in runs]
    tied = sum(len(best_ties(m["selection_auroc"])) > 1 for m in small)
    mean = lambda ms: float(np.mean([m["auroc"] for m in ms]))  # noqa: E731
    return (f" On the harder set of small planted defects (a rule added after the test results were read) the "
            f"choice was a tie in {tied} of {len(runs)} runs, and the chosen scores reach a mean test AUROC of "
            f"{mean(small):.3f}, against {mean([r['metrics'][SELECTED] for r in runs]):.3f} for `selected`.")


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
