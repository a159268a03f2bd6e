"""Notebook display helpers: what a chapter prints about its data, the table of the choices `selected` made, and
what it shows of committed results and studies."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..profiles import get_profile
from .prose import NO_SELECTED, beyond_thesis_verdict, has_selected, pca_verdict, thesis_verdict
from .protocol import EXPERIMENTS, PRIMARY
from .results import committed_results, load_results, provenance, result_figures, results_dir
from .tables import (baselines_table, overview_table, pixel_table, run_label, style_table, thesis_table,
                     variants_table)
from .variants import CANDIDATES, SELECTED

DEFECTS = "AUROC on synthetic defects (held-out normals)"


def describe_split(split) -> None:
    """Print a split, where its data came from and the data notice (a fallback, a capped category), if any."""
    print(split)
    print("data source:", split.meta["source"])
    if split.meta["notice"]:
        print("notice:", split.meta["notice"])


def selection_table(summary: dict):
    """One row per run and seed (the seed in the label when there are several): the candidate `selected` chose,
    every candidate's AUROC on the held-out normals with planted defects (all the choice saw), and the test AUROC
    of the selected score beside the thesis primary L_n's (what the choice did not see; PCA's is in
    `baselines_table`). A summary without `selected` is a ValueError."""
    import pandas as pd

    if not has_selected(summary):
        raise ValueError(NO_SELECTED)
    seeds = {r["config"]["seed"] for r in summary["runs"]}
    rows = {}
    for r in summary["runs"]:
        m = r["metrics"][SELECTED]
        label = run_label(r) + (f", seed {r['config']['seed']}" if len(seeds) > 1 else "")
        rows[label] = {("selected", "candidate"): m["selected_from"],
                       **{(DEFECTS, c): m["selection_auroc"].get(c, np.nan) for c in CANDIDATES},
                       ("test AUROC", "selected"): m["auroc"], ("test AUROC", "L_n"): r["metrics"][PRIMARY]["auroc"]}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    df.index.name = "normal class, seed" if len(seeds) > 1 else f"normal class (seed {min(seeds)})"
    return df


def _has_pixel_metrics(summary: dict) -> bool:
    """Whether every run of a summary has pixel metrics (runs with defect masks: MVTec AD)."""
    return all("pixel_auroc" in r["metrics"][PRIMARY] for r in summary["runs"])


def _show_results(summary: dict) -> None:
    """Display a summary's results in the chapters' three tables: the GAN against the baselines, the pixel
    metrics (runs with masks) and P/R/F1 beside the thesis's figures."""
    from IPython.display import Markdown, display

    display(Markdown("*The GAN against the baselines:*"), style_table(baselines_table(summary)))
    if _has_pixel_metrics(summary):
        display(Markdown("*Localisation (pixel level):*"), style_table(pixel_table(summary)))
    display(Markdown("*Precision, recall and F1 beside the thesis:*"), style_table(thesis_table(summary)))


def _show_beyond(summary: dict, experiment: str, name: str, out_dir) -> None:
    """The committed file's scores beyond the thesis: variants table, choices, verdict and the selected grid."""
    from IPython.display import Image, Markdown, display

    if not has_selected(summary):
        display(Markdown(f"*Beyond the thesis:* {NO_SELECTED}"))
        return
    display(Markdown("**Beyond the thesis.** The candidate list and the map rules were fixed after a probe on "
                     "test labels of seed 0; each run's choice among the candidates used only held-out normals "
                     "with synthetic defects."))
    display(style_table(variants_table(summary)))
    display(style_table(selection_table(summary)))
    display(Markdown(beyond_thesis_verdict(summary)))
    grids = [f for f in result_figures(experiment, name, out_dir) if f.name.startswith("selected_")]
    if grids:
        display(Markdown(f"The selected score's reconstructions and maps (`{grids[0].name}`):"))
        display(Image(filename=str(grids[0])))


def show_committed(experiment: str, profile=None, out_dir=None) -> None:
    """Display (in a notebook) the committed results of every profile bigger than the active one: provenance,
    results tables, verdicts and a reconstruction grid, then the scores beyond the thesis when the file has them
    (a one-line note when it predates them), or a line saying that the results are not available yet."""
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
        _show_results(summary)
        display(Markdown(pca_verdict(summary) + "\n\n" + thesis_verdict(summary)))
        grids = [f for f in result_figures(experiment, name, out_dir) if f.name.startswith("grid_")]
        if grids:
            display(Markdown(f"Reconstructions from that run (`{grids[0].name}`):"))
            display(Image(filename=str(grids[0])))
        _show_beyond(summary, experiment, name, out_dir)


def _hardware_line(summaries: dict) -> str:
    """'Hardware: CPU (...) for mnist (cpu), cifar10 (cpu).': the machines behind (experiment, profile) summaries."""
    where: dict[str, list[str]] = {}
    for (e, p), s in summaries.items():
        where.setdefault(s["hardware"]["summary"], []).append(f"{e} ({p})")
    return "Hardware: " + "; ".join(f"{h} for {', '.join(runs)}" for h, runs in where.items()) + "."


def show_overview(profiles=("cpu", "full"), out_dir=None) -> dict:
    """Display one overview row per committed (experiment, profile) of `profiles` and name those not committed
    yet; returns the committed summaries keyed by (experiment, profile)."""
    from IPython.display import Markdown, display

    committed = {(e, p): s for e in EXPERIMENTS for p in profiles
                 if (s := load_results(e, p, out_dir)) is not None}
    missing = [f"{e} ({p})" for e in EXPERIMENTS for p in profiles if (e, p) not in committed]
    if committed:
        display(style_table(overview_table(committed)), Markdown(_hardware_line(committed)))
    if missing:
        display(Markdown("Not available yet: " + ", ".join(missing) + ". They are made with "
                         "`python -m ganad_lite reproduce --experiment <experiment> --profile <profile>` "
                         "(the full profile on a GPU)."))
    return committed


def studies_dir(profile: str, out_dir=None) -> Path:
    """Where a profile's committed studies are: results/<profile>/studies."""
    return Path(out_dir or results_dir()) / profile / "studies"


def committed_study(path: Path, what: str, command: str) -> dict | None:
    """The committed study at `path` (a JSON file), or None after saying that it is missing and which command
    makes it."""
    from IPython.display import Markdown, display

    if not path.is_file():
        display(Markdown(f"*{what} is not committed yet:* `{command}`."))
        return None
    return json.loads(path.read_text())


def planted_set(study: dict) -> str:
    """The planted defects a committed study chose on, in words ("planted": "small" names the harder set)."""
    return "small synthetic defects" if study.get("planted") == "small" else "synthetic defects"


def choice_sentence(study: dict, best_test: str, best_pixel: str | None = None, what: str = "image AUROC") -> str:
    """What a study chose on the planted defects, and whether the test set (which chose nothing) agrees."""
    best_pixel = best_pixel or best_test
    agree = ("the test set agrees" if best_test == best_pixel == study["chosen"] else
             f"on the test set, which chose nothing, {best_test} has the best {what}"
             + (f" and {best_pixel} the best pixel AUROC" if best_pixel != best_test else ""))
    if study.get("tied"):
        return (f"The planted defects cannot tell {', '.join(study['tied'])} apart (the same AUROC on them), "
                f"so the default stays: **{study['chosen']}** ({agree}).")
    return f"Chosen on the {planted_set(study)}: **{study['chosen']}** ({agree})."


OPTION_COLUMNS = {"validation_auroc": "AUROC on synthetic defects (chose)", "test_auroc": "test AUROC, selected",
                  "test_auroc_L_n": "test AUROC, L_n", "test_auroc_L_o": "test AUROC, L_o",
                  "test_auroc_source_mix": "test AUROC, source mix", "dead_unit_share": "dead ReLU units"}


def option_study_table(study: dict):
    """One row per setting of a committed training-option study (the generator's nonlinearity, the pixel norm
    of z): the mean over its normal classes of what chose (AUROC on planted defects) and of the test figures."""
    import pandas as pd

    rows = {}
    for name, runs in study["rows"].items():
        rows[name] = {label: (float(np.mean(values)) if all(v is not None for v in values) else None)
                      for key, label in OPTION_COLUMNS.items() if key in runs[0]
                      for values in [[r[key] for r in runs]]}
    df = pd.DataFrame.from_dict(rows, orient="index")
    n = len(next(iter(study["rows"].values())))
    df.index.name = f"setting ({n} normal class{'es' if n > 1 else ''}, seed {study['seeds'][0]})"
    return df


def show_option_study(name: str, command: str, profile: str = "cpu", out_dir=None) -> None:
    """Display a committed option study, results/<profile>/studies/<name>.json: provenance, table, choice.
    command: what makes the study, said when it is not committed."""
    from IPython.display import Markdown, display

    path = studies_dir(profile, out_dir) / f"{name}.json"
    if (study := committed_study(path, f"The study `{name}` ({profile} profile)", command)) is None:
        return
    table = option_study_table(study)
    display(Markdown(f"**{profile} profile**, {study['hardware']['summary']}; written {study['date']} by "
                     f"`{study['command']}`."), style_table(table),
            Markdown(choice_sentence(study, table["test AUROC, selected"].idxmax(), what="test AUROC")))
    terms = [c for c in table.columns if c.startswith("test AUROC, ") and c != "test AUROC, selected"]
    if terms:  # the single terms, setting by setting: e.g. whether L_o gains from the pixel norm
        display(Markdown("Test AUROC by term, which chose nothing: " + "; ".join(
            f"{c.removeprefix('test AUROC, ')} " + ", ".join(f"{k} {v:.3f}" for k, v in table[c].items())
            for c in terms) + "."))


def augment_study_table(study: dict):
    """One row per augmentation setting of a committed augmentation study: the mean over its seeds of the
    chosen candidate's AUROC on planted defects (what chose; the first column), the same on the larger planted
    defects where the study recorded it, then the test figures (recorded, choosing nothing)."""
    import pandas as pd

    columns = {"validation_auroc": f"AUROC on {planted_set(study)} (chose)",
               "validation_auroc_large_defects": "AUROC on large synthetic defects", "test_auroc": "test AUROC",
               "test_pixel_auroc_ssim": "test pixel AUROC (SSIM)", "test_au_pro_ssim": "test AU-PRO (SSIM)"}
    first = next(iter(study["rows"].values()))[0]
    rows = {name: {label: float(np.mean([r[key] for r in runs])) for key, label in columns.items() if key in first}
            for name, runs in study["rows"].items()}
    df = pd.DataFrame.from_dict(rows, orient="index")
    seeds = study["seeds"]
    df.index.name = f"DiffAugment (seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))})"
    return df


def show_augment_study(category: str = "bottle", size: int = 64, profile: str = "cpu", out_dir=None) -> None:
    """Display the committed augmentation study of an MVTec AD category: provenance, the table, the choice
    made on planted defects beside what the test set says, and the generated samples of each setting."""
    from IPython.display import Image, Markdown, display

    path = studies_dir(profile, out_dir) / f"augment_mvtec_{category}_{size}.json"
    what = f"The augmentation study of {category} at {size} x {size} ({profile} profile)"
    if (study := committed_study(path, what, f"python scripts/augment_study.py --profile {profile}")) is None:
        return
    table = augment_study_table(study)
    best_test, best_pixel = table["test AUROC"].idxmax(), table["test pixel AUROC (SSIM)"].idxmax()
    hardware = "trained on " + ", ".join(study["trained_on"]) if "trained_on" in study else study["hardware"]["summary"]
    display(Markdown(f"**{profile} profile**, {hardware}; {study['n_train']} training images, "
                     f"{study['epochs']} epochs of {study['generator_steps_per_epoch']} generator step(s); "
                     f"written {study['date']} by `{study['command']}`."), style_table(table))
    display(Markdown(choice_sentence(study, best_test, best_pixel)))
    for png in sorted(path.parent.glob(f"{path.stem}_samples_*.png")):
        setting = png.stem.split("_samples_")[1]
        display(Markdown(f"Generated images, `{setting}`:"), Image(filename=str(png), width=400))


PATCH_ROWS = {  # study key -> (row label, image keys, pixel keys)
    "selected": ("patch GAN, score chosen on synthetic defects", ("auroc", "average_precision"),
                 ("pixel_auroc", "au_pro")),
    "thesis_encoder": ("patch GAN, thesis encoder, L2 residual", ("auroc", "average_precision"),
                       ("pixel_auroc", "au_pro")),
    "pca_patches": ("PCA on the same crops, stitched", ("auroc", "average_precision"), ("pixel_auroc", "au_pro")),
    "pca_whole_image": ("PCA on whole images at this size", ("auroc", "average_precision"),
                        ("pixel_auroc", "au_pro")),
    "whole_image_64": ("whole-image GAN at 64x64 (selected; SSIM map upsampled)", ("auroc", "average_precision"),
                       ("ssim_pixel_auroc", "ssim_au_pro")),
}


def patch_study_table(study: dict):
    """One row per method of a committed patch study: image AUROC, AP, pixel AUROC and AU-PRO at the study's
    size, each the mean over its seeds, and the image AUROC's standard deviation over them."""
    import pandas as pd

    columns = ("image AUROC", "AP", "pixel AUROC", "AU-PRO")
    rows = {}
    for key, (label, image, pixel) in PATCH_ROWS.items():
        values = [[r[key][k] for k in (*image, *pixel)] for r in study["rows"]]
        rows[label] = dict(zip(columns, np.mean(values, axis=0)))
        rows[label]["image AUROC sd"] = float(np.std([v[0] for v in values], ddof=1)) if len(values) > 1 else None
    df = pd.DataFrame.from_dict(rows, orient="index")
    seeds = ", ".join(map(str, study["seeds"]))
    df.index.name = f"{study['category']} at {study['size']}x{study['size']} (seeds {seeds})"
    return df


def patch_verdict(study: dict, table) -> str:
    """What the committed patch study shows, from its numbers: the choices made, and the patch GAN against the
    whole-image GAN and PCA; why a local model misses real defects is said only when both patch models lose."""
    row = lambda key: table.loc[PATCH_ROWS[key][0]]  # noqa: E731
    patch, patch_pca, pca, whole = row("selected"), row("pca_patches"), row("pca_whole_image"), row("whole_image_64")
    chosen = sorted({r["selected_from"] for r in study["rows"]})
    ties = sum(bool(r["tied"]) for r in study["rows"])
    text = (f"Chosen on the synthetic defects: {', '.join(f'`{c}`' for c in chosen)}"
            + (f" (a tie with another candidate in {ties} of {len(study['rows'])} seeds, broken by the candidate "
               "order)" if ties else "") + ". ")
    text += (f"On the test set, which chose nothing, the patch GAN reaches image AUROC {patch['image AUROC']:.3f} "
             f"and pixel AUROC {patch['pixel AUROC']:.3f}, against {whole['image AUROC']:.3f} and "
             f"{whole['pixel AUROC']:.3f} for the whole-image GAN and {pca['image AUROC']:.3f} and "
             f"{pca['pixel AUROC']:.3f} for PCA at {study['size']}x{study['size']}. ")
    if patch["image AUROC"] < whole["image AUROC"] and patch_pca["image AUROC"] < pca["image AUROC"]:
        text += ("Both models that see only a crop, the GAN and PCA alike, fall below their whole-image "
                 "counterparts: a model of local texture reconstructs a contamination or a broken rim as just "
                 "more texture, so the residual stays low where the defect is (the figure below shows it). "
                 "The planted defects, noise, lines and pasted patches, are not plausible textures, which is why "
                 "they rated the patch scores well and could not warn of this.")
    return text


def show_patch_study(category: str = "bottle", size: int = 256, profile: str = "cpu", out_dir=None) -> None:
    """Display a committed patch study (scripts/patch_study.py): provenance, the table, the verdict and the
    figure of maps."""
    from IPython.display import Image, Markdown, display

    path = studies_dir(profile, out_dir) / f"patch_mvtec_{category}_{size}.json"
    what = f"The patch study of {category} at {size} x {size} ({profile} profile)"
    if (study := committed_study(path, what, f"python scripts/patch_study.py --size {size}")) is None:
        return
    table = patch_study_table(study)
    r = study["rows"][0]
    display(Markdown(f"**{profile} profile**, {study['hardware']['summary']}; {r['n_crops']:,} crops of "
                     f"{study['patch']}x{study['patch']} px, {r['generator_steps']:,} generator steps, windows "
                     f"every {study['stride']} px; written {study['date']} by `{study['command']}`."),
            style_table(table), Markdown(patch_verdict(study, table)))
    if path.with_suffix(".png").is_file():
        display(Image(filename=str(path.with_suffix(".png")), width=760))
