"""The chapters' pandas tables, built from run summaries (live or committed) so both read the same.

All metric values are fractions in [0, 1]; a blank cell (NaN) is a figure that does not exist for that row.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..metrics import auroc, decide
from ..profiles import get_profile
from .search import SEARCH_VARIANTS
from .variants import ENSEMBLE, SELECTED, SELECTED_SMALL, variant_label
from .protocol import (PRIMARY, THESIS, THESIS_HARDWARE, THESIS_PROTOCOL, THESIS_WIDTH, VARIANTS,
                       thesis_operating_point)

if TYPE_CHECKING:
    from .runs import OneClassResult

HELDOUT = "held-out threshold (no test labels)"
OPTIMISTIC = "best test threshold (optimistic)"
REPORTED = "thesis (threshold not stated)"


# columns in the units of an anomaly score (e.g. L_n ~ 0.007), not fractions: shown to 4 significant digits
SCORE_COLUMNS = ("mean score", "threshold")


def style_table(df, precision: int = 3):
    """A table formatted for the book: `precision` decimals, blank cells shown as a dash, whole-number columns
    beyond [0, 1] (counts such as n_test: every metric here is a fraction) without decimals, columns in score
    units (SCORE_COLUMNS) to 4 significant digits, numbers in the index as written (0.02), and a compact font
    and padding so that ten number columns fit the text column."""
    counts = [c for c in df.columns if _is_count(df[c])]
    scores = [c for c in df.columns if c in SCORE_COLUMNS]
    return (df.style.format(precision=precision, na_rep="–")
            .format("{:,.0f}", subset=counts, na_rep="–")
            .format("{:.4g}", subset=scores, na_rep="–")
            .format_index(lambda v: f"{v:g}" if isinstance(v, float) else v)  # a share: 0.9, not 0.900000
            .set_table_styles([{"selector": "th, td", "props": "font-size: 0.85em; padding: 0.15em 0.45em;"}]))


def _is_count(column) -> bool:
    """Whether a column holds counts: numbers, all whole, some above 1 (a fraction never is)."""
    import pandas as pd

    values = pd.to_numeric(column, errors="coerce").dropna()
    if len(values) < len(column.dropna()) or not len(values) or column.dtype == bool:
        return False
    return bool((values == values.round()).all() and (values > 1).any())


def run_label(run: dict) -> str:
    """Row label of a run summary: "digit 3", "automobile", "bottle 28x28 (thesis)"."""
    meta = run["meta"]
    if meta["dataset"] == "mnist":
        return f"digit {meta['normal_class']}"
    if meta["dataset"] == "cifar10":
        return str(meta["normal_class"])
    synthetic = " [synthetic]" if meta.get("source") == "synthetic" else ""
    return f"{meta['normal_class']}{synthetic} {meta['size']}x{meta['size']} ({meta['mode']})"


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
    (optimistic), the all-anomalous baseline, the PCA baseline, pixel metrics (MVTec) and the thesis's figures."""
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


# Views of `results_table` narrow enough for the page: {column of results_table: (group, label) shown}.
BASELINE_COLUMNS = {("GAN", "AUROC"): ("AUROC", "GAN"), ("GAN", "AUROC sd (seeds)"): ("AUROC", "GAN sd (seeds)"),
                    ("PCA baseline", "AUROC"): ("AUROC", "PCA"), ("GAN", "AP"): ("AP", "GAN"),
                    ("PCA baseline", "AP"): ("AP", "PCA"), (HELDOUT, "F1"): ("F1", "GAN held-out"),
                    ("PCA baseline", "F1 held-out"): ("F1", "PCA held-out"),
                    ("all anomalous", "F1"): ("F1", "all anomalous")}
THESIS_COLUMNS = {(g, k): (g, k) for g in (HELDOUT, OPTIMISTIC, REPORTED) for k in ("P", "R", "F1")}
PIXEL_COLUMNS = {("pixel level", "AUROC"): ("pixel AUROC", "GAN"), ("pixel level", "PCA AUROC"): ("pixel AUROC", "PCA"),
                 ("pixel level", "AU-PRO"): ("AU-PRO", "GAN"), ("pixel level", "PCA AU-PRO"): ("AU-PRO", "PCA")}


def _view(df, columns: dict):
    """The columns of `df` named in `columns` (those it has), relabelled, without the rows they leave empty."""
    import pandas as pd

    present = [c for c in columns if c in df.columns]
    view = df[present].dropna(how="all")
    view.columns = pd.MultiIndex.from_tuples([columns[c] for c in present])
    return view


def baselines_table(summary: dict, variant: str = PRIMARY):
    """The GAN against the baselines, one row per run (averaged over seeds) and the mean: AUROC and AP of the
    GAN and of PCA, and F1 of both at their held-out thresholds beside the all-anomalous F1."""
    return _view(results_table(summary, variant, thesis=False), BASELINE_COLUMNS)


def thesis_table(summary: dict, variant: str = PRIMARY):
    """P/R/F1 at the held-out threshold and at the best test threshold (optimistic) beside the thesis's figures,
    one row per run and the mean, and for MVTec the thesis's category mean (its cells only)."""
    return _view(results_table(summary, variant), THESIS_COLUMNS)


def pixel_table(summary: dict, variant: str = PRIMARY):
    """Pixel AUROC and AU-PRO of the GAN's maps and of PCA's, per run and the mean (runs with masks: MVTec). A
    summary without pixel metrics is a ValueError."""
    df = results_table(summary, variant, thesis=False)
    if ("pixel level", "AUROC") not in df.columns:
        raise ValueError("these runs have no pixel metrics (only MVTec AD runs have masks): use baselines_table")
    return _view(df, PIXEL_COLUMNS)


def variants_table(summary: dict):
    """One row per score variant: its encoder, whether it is the thesis's, and AUROC, AP, F1 at the held-out
    threshold and F1 at the best test threshold, averaged over the runs (pixel AUROC and AU-PRO where the runs
    have masks); for CIFAR-10 Berg et al.'s AUROC for that score. The last row is the primary score beyond the
    thesis, `selected` on synthetic defects (which candidate it picked is counted in its label), then the same
    rule on small planted defects where the runs have it (added after the test results were read: not fixed in
    advance), and the mean of the candidates' z-scores (`ensemble`, added later too) where the runs have it."""
    import pandas as pd

    rows = {}
    runs = summary["runs"]
    for v in [*VARIANTS, *SEARCH_VARIANTS, SELECTED, SELECTED_SMALL, ENSEMBLE]:
        ms = [r["metrics"][v] for r in runs if v in r["metrics"]]
        if not ms:
            continue
        mean = lambda f: float(np.mean([f(m) for m in ms]))  # noqa: E731
        variant = VARIANTS.get(v) or SEARCH_VARIANTS.get(v)
        if variant:
            label, encoder = variant.label, variant.encoder
        elif v == ENSEMBLE:
            label, encoder = variant_label(v), ms[0]["encoder"]
        else:
            label, encoder = _selected_label(runs, v), "chosen"
        if v in SEARCH_VARIANTS:  # measured on part of the test set: say how much
            label += f" (on {_count_range([m['n_test'] for m in ms])} test images a run)"
        row = {"encoder": encoder,
               "thesis": bool(variant and variant.thesis),
               "AUROC": mean(lambda m: m["auroc"]), "AP": mean(lambda m: m["average_precision"]),
               "F1 held-out": mean(lambda m: m["heldout_threshold"]["f1"]),
               "F1 optimistic": mean(lambda m: m["best_test_threshold_optimistic"]["f1"])}
        for key, name in (("pixel_auroc", "pixel AUROC"), ("au_pro", "AU-PRO")):
            if all(key in m for m in ms):
                row[name] = mean(lambda m: m[key])
        if summary["experiment"] == "cifar10":
            row["Berg et al. AUROC"] = THESIS["cifar10"]["berg2020_auroc_by_score"].get(v, np.nan)
        rows[label] = row
    df = pd.DataFrame(rows).T
    df.index.name = f"score (mean over {len(runs)} run(s))"
    return df


def _count_range(counts: list[int]) -> str:
    """'300' or '83-300': the counts of a row's runs."""
    low, high = min(counts), max(counts)
    return f"{low:,}" if low == high else f"{low:,}-{high:,}"


def _selected_label(runs: list[dict], variant: str = SELECTED) -> str:
    """'selected on synthetic defects (ssim_max 2, gms 1)': how often each candidate was chosen; for
    SELECTED_SMALL 'selected on small synthetic defects, a rule added later (...)'."""
    picks: dict[str, int] = {}
    for r in runs:
        name = r["metrics"].get(variant, {}).get("selected_from")
        picks[name] = picks.get(name, 0) + 1
    what = "selected on synthetic defects" if variant == SELECTED else \
        "selected on small synthetic defects, a rule added after the test results were read"
    return f"{what} (" + ", ".join(f"{k} {n}" for k, n in sorted(picks.items())) + ")"


def overview_table(summaries: dict):
    """One row per (experiment, profile) summary: mean AUROC of the primary score and of PCA; mean F1 at the
    held-out and at the optimistic threshold, the all-anomalous F1 and the thesis's F1; the number of runs and
    the wall time in whole seconds (the hardware, too wide a column for the page, is said under the table)."""
    import pandas as pd

    rows = {}
    for (experiment, profile), s in summaries.items():
        ms = [r["metrics"][PRIMARY] for r in s["runs"]]
        mean = lambda f: float(np.mean([f(m) for m in ms]))  # noqa: E731
        rows[(experiment, profile)] = {
            ("AUROC", "GAN"): mean(lambda m: m["auroc"]),
            ("AUROC", "PCA"): float(np.mean([r["pca_baseline"]["auroc"] for r in s["runs"]])),
            ("F1", "held-out"): mean(lambda m: m["heldout_threshold"]["f1"]),
            ("F1", "optimistic"): mean(lambda m: m["best_test_threshold_optimistic"]["f1"]),
            ("F1", "all anomalous"): mean(lambda m: m["trivial_all_anomalous"]["f1"]),
            ("F1", "thesis"): THESIS[experiment]["f1"] / 100,
            ("budget", "runs"): len(s["runs"]), ("budget", "wall time (s)"): round(s["wall_seconds"])}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    df.index.names = ["experiment", "profile"]
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


def operating_point_table(shares: dict):
    """One row per experiment at the anomalous share p of its test set (shares: experiment -> p): the
    all-anomalous F1, the thesis's P, R and F1, the false-positive rate they imply and the AUROC of the
    equal-variance binormal ROC curve through that operating point (see `thesis_operating_point`)."""
    import pandas as pd

    rows = {}
    for e, share in shares.items():
        op = thesis_operating_point(e, share)
        rows[e] = {"anomalous share p": share, "F1 all anomalous": op["f1_all_anomalous"], "thesis P": op["precision"],
                   "thesis R": op["recall"], "thesis F1": op["f1"], "implied false-positive rate": op["fpr"],
                   "binormal AUROC through that point": op["binormal_auroc"]}
    return pd.DataFrame(rows).T


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
