"""The chapters' discussion paragraphs, written from the numbers: what the thesis's reported precision and
recall imply on each protocol, what the threshold, class-balance and contamination studies show, and where the
GAN's scores beat the PCA baseline. Every function returns Markdown."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from .prose import NO_SELECTED, has_selected, pca_comparison, row_names
from .protocol import EXPERIMENT_NAMES, MVTEC_AD_TEST_COUNTS, PRIMARY, THESIS, mvtec_test_share, thesis_operating_point
from .variants import ENSEMBLE, SELECTED

if TYPE_CHECKING:
    import pandas as pd

    from ..data import Split
    from ..profiles import Profile
    from .runs import OneClassResult


def anomalous_share(split: Split) -> float:
    """The share of anomalies in a split's test set."""
    return float(split.test_labels.float().mean())


def mnist_threshold_note(split: Split, summary: dict) -> str:
    """MNIST: the all-anomalous F1 on this test set, the operating point the thesis's figures imply there, and
    how much the choice of threshold is worth in this build (held-out against optimistic mean F1)."""
    share = anomalous_share(split)
    op = thesis_operating_point("mnist", share)
    return (
        f"**The F1 baseline and the threshold.** On this test set {share:.1%} of the images are anomalies, so "
        f"flagging every image already scores F1 {op['f1_all_anomalous']:.3f}; the thesis's mean F1 of "
        f"{op['f1']:.4f} is {op['f1'] - op['f1_all_anomalous']:+.3f} above that. Its precision of "
        f"{op['precision']:.2%} at a recall of {op['recall']:.2%} implies that about {op['fpr']:.1%} of the normal "
        f"test digits were flagged, {'a stricter' if op['fpr'] < 0.05 else 'a looser'} operating point than the "
        f"5% our held-out quantile aims for (an equal-variance binormal ROC curve through that point has AUROC "
        f"{op['binormal_auroc']:.3f}). Whether the thesis's threshold was set without test labels is not stated; "
        f"the gap between our held-out and optimistic columns ({summary['mean']['f1_heldout']:.3f} vs "
        f"{summary['mean']['f1_optimistic']:.3f} mean F1 here) shows how much that choice alone can be worth.")


def cifar10_pca_note(run: OneClassResult) -> str:
    """CIFAR-10: which way the PCA baseline ranks the test images (its AUROC against 0.5)."""
    pca_auroc = run.baseline["auroc"]
    return (f"The PCA baseline's AUROC here is {pca_auroc:.3f}: "
            + ("below 0.5, so reconstruction error ranks the *normal* cars above the anomalies (presumably because "
               "detailed car images are harder to reconstruct than smooth skies, seas and fields); flipping the "
               "score's sign would help, but nobody could know that without test labels." if pca_auroc < 0.5 else
               "above 0.5, so reconstruction error alone carries some signal on this split."))


def cifar10_thesis_note(split: Split, run: OneClassResult) -> str:
    """CIFAR-10: the AUROC the thesis's precision and recall imply, beside Berg et al.'s and this build's."""
    share = anomalous_share(split)
    op = thesis_operating_point("cifar10", share)
    berg = THESIS["cifar10"]["berg2020_auroc"]
    return (
        f"**What the thesis's figures imply.** With {share:.0%} of the test images anomalous, the thesis's "
        f"precision {op['precision']:.2%} and recall {op['recall']:.2%} mean that about {op['fpr']:.1%} of the "
        f"normal test cars were flagged. An equal-variance binormal ROC curve through that operating point has "
        f"AUROC {op['binormal_auroc']:.2f}, against the {berg:.2f} Berg et al. measured for their score on the same "
        f"split and the {run.metrics[PRIMARY]['auroc']:.2f} of this build's primary score. An F1 of "
        f"{op['f1']:.3f} on this split therefore needs a score that ranks cars far better than the published AUROC "
        f"suggests; the thesis does not report an AUROC or say how its threshold was set, so the two cannot be "
        f"reconciled from the text. The trivial all-anomalous classifier scores F1 {op['f1_all_anomalous']:.3f} "
        f"here.")


def mvtec_f1_note(split: Split) -> str:
    """MVTec AD: the all-anomalous F1 at the whole test set's defect share against the thesis's F1, and the
    share of this build's test set."""
    counts, share_all, share_here = MVTEC_AD_TEST_COUNTS, mvtec_test_share(), anomalous_share(split)
    op = thesis_operating_point("mvtec", share_all)
    return (
        f"**The F1 baseline.** MVTec AD's test set holds {counts['defective']:,} defective and {counts['good']:,} "
        f"good images, {share_all:.1%} defective. If the thesis's 100 test images per category kept that share, "
        f"calling every image defective would score F1 {op['f1_all_anomalous']:.3f}, "
        f"{'more' if op['f1_all_anomalous'] > op['f1'] else 'less'} than the thesis's reported {op['f1']:.3f}; "
        f"its precision {op['precision']:.2%} and recall {op['recall']:.2%} would then mean that about "
        f"{op['fpr']:.0%} of the good images were flagged. On this build's {split.name} test set the share is "
        f"{share_here:.1%} and the all-anomalous F1 is {2 * share_here / (1 + share_here):.3f}. The thesis does "
        f"not state its test sets' class balance or how its threshold was set, which is why the tables here lead "
        f"with AUROC and the all-anomalous row.")


def floor_note(ops: dict) -> str:
    """The thesis's F1 on each experiment relative to the all-anomalous F1 (ops: experiment -> operating point,
    see `thesis_operating_point`), and the CIFAR-10 binormal AUROC beside Berg et al.'s."""
    above = {e: op["f1"] - op["f1_all_anomalous"] for e, op in ops.items()}
    return ("Measured against the floor, the three results look different: the thesis's F1 is "
            + "; ".join(f"{above[e]:+.3f} relative to the all-anomalous F1 on {EXPERIMENT_NAMES[e]}" for e in above)
            + f". For CIFAR-10, the binormal AUROC of {ops['cifar10']['binormal_auroc']:.2f} implied by the "
            f"thesis's operating point compares with the {THESIS['cifar10']['berg2020_auroc']:.2f} that Berg et "
            "al. measured for their score on the same split.")


def floor_verdict(ops: dict) -> str:
    """Where the thesis's F1 clears the all-anomalous floor and where not, and what it leaves unreported."""
    passes = [e for e in ops if ops[e]["f1"] > ops[e]["f1_all_anomalous"]]
    fails = [e for e in ops if e not in passes]
    return ("Applied to the thesis: its reported F1 is above the all-anomalous floor on "
            + (", ".join(EXPERIMENT_NAMES[e] for e in passes) or "none of the three")
            + (f" and below it on {', '.join(EXPERIMENT_NAMES[e] for e in fails)} (for MVTec AD if its test "
               "images kept the defect share of MVTec AD's whole test set)" if fails else "")
            + ". It does not say how its thresholds were chosen, reports no threshold-free metric and no baseline, "
            "and gives one seed per experiment; the tables of this book answer each of these questions for the "
            "budgets it was run with.")


def quantile_note(quantiles: pd.DataFrame, metrics: dict) -> str:
    """How far F1 and the false-positive rate move over the threshold quantiles (`quantile_study`), beside the
    optimistic and all-anomalous F1 and the AUROC of a run's metrics for one variant."""
    return (f"Across these quantiles the F1 ranges from {quantiles['F1'].min():.3f} to {quantiles['F1'].max():.3f} "
            f"and the false-positive rate from {quantiles['FPR'].min():.1%} to {quantiles['FPR'].max():.1%}. The "
            f"best threshold on the test set reaches F1 {metrics['best_test_threshold_optimistic']['f1']:.3f}; "
            f"flagging everything gives {metrics['trivial_all_anomalous']['f1']:.3f}. The AUROC, "
            f"{metrics['auroc']:.3f}, does not depend on any of these choices.")


def balance_note(balance: pd.DataFrame) -> str:
    """F1, all-anomalous F1 and AUROC from the lowest to the highest anomalous share (`class_balance_study`)."""
    lo, hi = balance.index.min(), balance.index.max()
    return (f"From {lo:.0%} to {hi:.0%} anomalies the F1 at the fixed threshold moves from "
            f"{balance.loc[lo, 'F1']:.3f} to {balance.loc[hi, 'F1']:.3f} and the all-anomalous F1 from "
            f"{balance.loc[lo, 'F1 all anomalous']:.3f} to {balance.loc[hi, 'F1 all anomalous']:.3f}, while the "
            f"AUROC stays between {balance['AUROC'].min():.3f} and {balance['AUROC'].max():.3f} (it varies only "
            "through the random draws). A protocol whose test set is 90% anomalous flatters F1; in a factory, "
            "where defects are rare, the same detector's precision would be far lower.")


def contamination_note(contamination: pd.DataFrame, profile: Profile) -> str:
    """PCA's and the GAN's AUROC from clean to the most contaminated training set (`contamination_study`)."""
    c0, c1 = contamination.index.min(), contamination.index.max()
    gan = contamination["GAN AUROC (L_n)"].dropna()
    return (f"With {c1:.0%} of the training images contaminated the PCA baseline's AUROC goes from "
            f"{contamination.loc[c0, 'PCA AUROC']:.3f} to {contamination.loc[c1, 'PCA AUROC']:.3f}, and the GAN's "
            f"(L_n) from {gan.iloc[0]:.3f} to {gan.iloc[-1]:.3f}"
            + (" (in the smoke profile these differences are noise)." if profile.name == "smoke" else "."))


def _against_pca(c: dict, score: str, margin: float) -> str:
    """'L_n (mean AUROC 0.850 against PCA's 0.955) is ahead of PCA on 2 of 10 rows (...), behind on 6 (...) and
    within 0.01 on 2 (...)' from a `pca_comparison`."""
    n = len(c["gan"])
    # (rows, how the first group names PCA, how a later one says it)
    groups = [(c[key], first, later) for key, first, later in
              (("ahead", "ahead of PCA", "ahead"), ("behind", "behind PCA", "behind"),
               ("level", f"within {margin:.2f} of PCA", f"within {margin:.2f}")) if c[key]]
    parts = [f"{first} on {len(rows)} of {n} row(s) ({row_names(rows)})" if i == 0
             else f"{later} on {len(rows)} ({row_names(rows)})" for i, (rows, first, later) in enumerate(groups)]
    return (f"{score} (mean AUROC {np.mean(list(c['gan'].values())):.3f} against PCA's "
            f"{np.mean(list(c['pca'].values())):.3f}) is " + ", ".join(parts[:-1])
            + (" and " if len(parts) > 1 else "") + parts[-1])


def gan_pca_note(summary: dict, margin: float = 0.01) -> str:
    """For one experiment's summary: on which rows (normal classes, averaged over seeds) the thesis primary L_n
    and the score `selected` on synthetic defects rank test images better than PCA by more than `margin`
    AUROC, on which they are behind it, and the rows where PCA beats both; then the same for the later
    `ensemble` rule where the runs have it (it is not counted among the GAN scores above)."""
    runs = summary["runs"]
    seeds, profile = len({r["config"]["seed"] for r in runs}), summary["profile"]["name"]
    thesis = pca_comparison(summary, PRIMARY, margin)
    text = (f"**{EXPERIMENT_NAMES[summary['experiment']]}** ({profile} profile, {seeds} seed(s), "
            f"{len(thesis['gan'])} row(s)): " + _against_pca(thesis, "the thesis primary L_n", margin) + "; ")
    if not has_selected(summary):
        text += NO_SELECTED[0].lower() + NO_SELECTED[1:]
    else:
        selected = pca_comparison(summary, SELECTED, margin)
        text += _against_pca(selected, "the selected score", margin) + ". "
        both = [k for k in thesis["behind"] if k in selected["behind"]]
        ahead = [k for k in thesis["gan"] if k in thesis["ahead"] or k in selected["ahead"]]
        text += (f"PCA is ahead of both on {len(both)} row(s) ({row_names(both)})" if both
                 else "PCA is ahead of both on no row") + "; "
        text += (f"at least one GAN score beats it on {len(ahead)} row(s) ({row_names(ahead)})." if ahead
                 else "no GAN score beats it on any row.")
        if all(ENSEMBLE in r["metrics"] for r in runs):  # a later rule: said as such
            ensemble = pca_comparison(summary, ENSEMBLE, margin)
            text += (" " + _against_pca(ensemble, "The mean of the candidates' z-scores", margin)
                     + "; it is a rule added after the test results were read, not fixed in advance.")
    if profile == "smoke":
        text += " (Smoke profile: these numbers only show that the code runs.)"
    return text


def _choice(study: dict, default: str, margins: dict[str, float]) -> str:
    """'`none`', '`none` (a tie of ..., so the default)' or '`pixel` (by 0.004 over `none`, which the profiles
    keep)': what the planted defects chose, from a study's per-setting validation AUROCs."""
    chosen = study["chosen"]
    if study.get("tied"):
        return f"`{chosen}` (a tie of {', '.join(study['tied'])}, so the default)"
    if chosen != default:
        return f"`{chosen}` (by {margins[chosen] - margins[default]:.3f} over `{default}`, which the profiles keep)"
    return f"`{chosen}`"


def _option_line(title: str, study: dict) -> str:
    """One bullet of `studies_note` for an option study: the choice, then the selected score's test AUROCs."""
    from .display import option_study_table

    table = option_study_table(study)
    chose = table["AUROC on synthetic defects (chose)"].to_dict()
    test = ", ".join(f"{k} {v:.3f}" for k, v in table["test AUROC, selected"].items())
    return (f"- **{title}**: chosen on the synthetic defects: {_choice(study, table.index[0], chose)}; test AUROC "
            f"of the selected score, which chose nothing: {test}.")


def studies_note(profile: str = "cpu", out_dir=None) -> str:
    """One bullet per committed study of ways past the thesis (results/<profile>/studies), from its numbers:
    what the planted defects chose and what the test set says of every setting."""
    from .display import PATCH_ROWS, augment_study_table, patch_study_table, planted_set, studies_dir

    folder, lines = studies_dir(profile, out_dir), []
    read = lambda path: json.loads(path.read_text())  # noqa: E731
    options = {"activation_mnist": "generator nonlinearity, MNIST", "latent_norm_mnist": "pixel norm of z, MNIST",
               "latent_norm_cifar10": "pixel norm of z, CIFAR-10"}
    for stem, title in options.items():
        if (folder / f"{stem}.json").is_file():
            lines.append(_option_line(title, read(folder / f"{stem}.json")))
    augment = folder / "augment_mvtec_bottle_64.json"
    if augment.is_file():
        study = read(augment)
        table = augment_study_table(study)
        chose = table[f"AUROC on {planted_set(study)} (chose)"].to_dict()
        test = ", ".join(f"{k} {v:.3f}" for k, v in table["test AUROC"].items())
        seeds = study.get("seeds", [0])
        lines.append(f"- **DiffAugment, MVTec AD bottle 64x64** (seed{'s' if len(seeds) > 1 else ''} "
                     f"{', '.join(map(str, seeds))}): chosen on the {planted_set(study)}: "
                     f"{_choice(study, 'none', chose)}; test image AUROC, which chose nothing: {test}.")
    for size in (128, 256):
        path = folder / f"patch_mvtec_bottle_{size}.json"
        if path.is_file():
            t = patch_study_table(read(path))["image AUROC"]
            patch, whole, pca = (t[PATCH_ROWS[k][0]] for k in ("selected", "whole_image_64", "pca_whole_image"))
            lines.append(f"- **32x32 patches, MVTec AD bottle scored at {size}x{size}**: test image AUROC "
                         f"{patch:.3f}, against {whole:.3f} for the whole-image 64x64 GAN and {pca:.3f} for PCA "
                         f"at {size}x{size}.")
    for experiment in ("mvtec", "mnist"):
        path = folder / f"selection_{experiment}.json"
        if path.is_file():
            m = read(path)
            std, small = m["mean"]["standard"], m["mean"]["small"]
            lines.append(f"- **small planted defects for the choice, {EXPERIMENT_NAMES[experiment]}** ({m['n_runs']} "
                         f"runs, a rule added after the test results were read): ties {std['ties']} -> "
                         f"{small['ties']}; mean test AUROC of the chosen candidate {std['test_auroc_of_chosen']:.3f} "
                         f"-> {small['test_auroc_of_chosen']:.3f}.")
    if not lines:
        return f"*No studies committed for the {profile} profile.*"
    return f"Committed studies ({profile} profile, one seed unless the chapter says more):\n\n" + "\n".join(lines)
