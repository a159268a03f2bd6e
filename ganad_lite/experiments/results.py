"""Results on disk: JSON-ready summaries, where committed results live, and where a summary came from.

Committed results are results/<profile>/<experiment>/results.json (written by `reproduce`) with its PNG
figures beside it; a chapter shows those of every profile bigger than the one it runs in.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .. import data as gdata
from ..profiles import PROFILES, get_profile


def jsonable(obj):
    """`obj` as plain JSON types: arrays and tensors become lists, anything else unknown its str()."""
    return json.loads(json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def scrub_paths(text: str) -> str:
    """Replace this machine's data root and home folder in text meant for committed files by
    `$GANAD_DATA` and `~`, so results say where data came from without naming a machine's folders."""
    root = str(gdata.data_root().resolve())
    if root != "/":
        text = text.replace(root, "$GANAD_DATA")
    return text.replace(str(Path.home()), "~")


def results_dir() -> Path:
    """The results folder: $GANAD_RESULTS, else `results/` in the first folder holding a pyproject.toml found
    walking up from the working directory (a chapter runs in book/), else the one beside the package."""
    if os.environ.get("GANAD_RESULTS"):
        return Path(os.environ["GANAD_RESULTS"])
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "results").is_dir():
            return folder / "results"
    return Path(__file__).resolve().parents[2] / "results"


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
