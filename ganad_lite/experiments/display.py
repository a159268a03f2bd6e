"""Notebook display helpers: what a chapter prints about its data and shows of committed results."""
from __future__ import annotations

from ..profiles import get_profile
from .prose import pca_verdict, thesis_verdict
from .protocol import EXPERIMENTS
from .results import committed_results, load_results, provenance, result_figures
from .tables import overview_table, results_table, style_table


def describe_split(split) -> None:
    """Print a split, where its data came from and the data notice (a fallback, a capped category), if any."""
    print(split)
    print("data source:", split.meta["source"])
    if split.meta["notice"]:
        print("notice:", split.meta["notice"])


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


def show_overview(profiles=("cpu", "full"), out_dir=None) -> dict:
    """Display one overview row per committed (experiment, profile) of `profiles` and name those not committed
    yet; returns the committed summaries keyed by (experiment, profile)."""
    from IPython.display import Markdown, display

    committed = {(e, p): s for e in EXPERIMENTS for p in profiles
                 if (s := load_results(e, p, out_dir)) is not None}
    missing = [f"{e} ({p})" for e in EXPERIMENTS for p in profiles if (e, p) not in committed]
    if committed:
        display(style_table(overview_table(committed)))
    if missing:
        display(Markdown("Not available yet: " + ", ".join(missing) + ". They are made with "
                         "`python -m ganad_lite reproduce --experiment <experiment> --profile <profile>` "
                         "(the full profile on a GPU)."))
    return committed
