#!/usr/bin/env python3
"""Does differentiable augmentation help GAN training on a small MVTec AD set? Measured without test labels.

Trains the detector of chapter 08 (MVTec AD bottle, whole images at --size pixels) once per augmentation
setting: none (the committed runs, loaded from the run cache), DiffAugment translation + colour, and the same
with cutout. Each setting is judged on held-out normal images with small planted synthetic defects
(defects.small_defect_validation_set, the data that picks the `selected_small` score), by the best candidate's
AUROC there, averaged over the seeds; the larger planted defects that pick `selected` tied every setting at
1.0, and their figures stay in each row for the record. The test metrics (image AUROC, pixel AUROC, AU-PRO)
are written beside, and choose nothing. Writes
results/<profile>/studies/augment_mvtec_<category>_<size>.json with the profile, hardware and seeds, and
for the first seed a grid of generated images per setting (cutout may teach the generator to draw holes).

Usage: GANAD_DATA=<datasets> python scripts/augment_study.py [--profile cpu] [--seeds 0] [--size 64]
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import time

import torch
from torchvision.utils import save_image

from ganad_lite import get_profile, hardware_info
from ganad_lite.config import generator_steps_per_epoch
from ganad_lite.experiments import make_split, results_dir, run_one
from ganad_lite.experiments.variants import best_ties

SETTINGS = {"none": (), "translation+color": ("translation", "color"),
            "translation+color+cutout": ("translation", "color", "cutout")}


def study_row(run) -> dict:
    """Validation (small planted defects) and test figures of one run's `selected_small` score."""
    chosen, large = run.metrics["selected_small"], run.metrics["selected"]
    on_defects = chosen["selection_auroc"]
    return {"seed": run.detector.config.seed, "selected_from": chosen["selected_from"],
            "validation_auroc": on_defects[chosen["selected_from"]], "validation_by_candidate": on_defects,
            "validation_auroc_large_defects": large["selection_auroc"][large["selected_from"]],
            "test_auroc": chosen["auroc"], "test_average_precision": chosen["average_precision"],
            "test_pixel_auroc_ssim": run.metrics["ssim"].get("pixel_auroc"),
            "test_au_pro_ssim": run.metrics["ssim"].get("au_pro"), "train_seconds": run.seconds["train_total"]}


def choose(rows: dict, default: str = "none") -> dict:
    """The setting with the best mean validation AUROC, and every setting tied with it; ties keep the default."""
    mean = {k: sum(r["validation_auroc"] for r in v) / len(v) for k, v in rows.items()}
    tied = best_ties(mean)
    return {"chosen": default if default in tied else tied[0], "tied": tied if len(tied) > 1 else []}


def save_samples(run, path) -> None:
    """An 8 x 4 grid of generated images G(z) of a run: does an augmentation teach G to draw its artefacts?"""
    g = run.detector.generator
    with torch.no_grad():
        z = torch.randn(32, run.detector.config.latent_dim, generator=torch.Generator().manual_seed(0))
        save_image(g(z.to(next(g.parameters()).device)).float().cpu(), path, nrow=8, padding=1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--category", default="bottle")
    args = parser.parse_args(argv)
    profile, seeds = get_profile(args.profile), [int(s) for s in args.seeds.split(",")]
    out = results_dir() / profile.name / "studies" / f"augment_mvtec_{args.category}_{args.size}.json"
    out.parent.mkdir(parents=True, exist_ok=True)  # checked before any training starts
    t0, rows, trained_on = time.perf_counter(), {}, set()
    for seed in seeds:
        split = make_split("mvtec", (args.category, args.size), profile, seed=seed)
        for name, ops in SETTINGS.items():
            run = run_one(split, "mvtec", profile, seed, progress=False, monitor=False, overrides={"augment": ops})
            rows.setdefault(name, []).append(study_row(run))
            trained_on.add((run.detector.train_hardware or hardware_info())["summary"])  # cached: what trained it
            if seed == seeds[0]:
                save_samples(run, out.with_name(f"{out.stem}_samples_{name.replace('+', '-')}.png"))
            print(f"seed {seed}, augment {name}: validation AUROC {rows[name][-1]['validation_auroc']:.3f}, "
                  f"test AUROC {rows[name][-1]['test_auroc']:.3f}", flush=True)
    cfg = run.detector.config
    summary = {"study": "DiffAugment on a small MVTec AD set", "category": args.category, "size": args.size,
               "profile": profile.as_dict(), "hardware": hardware_info(), "trained_on": sorted(trained_on),
               "seeds": seeds,
               "n_train": len(split.train), "epochs": cfg.epochs,
               "generator_steps_per_epoch": generator_steps_per_epoch(len(split.train), cfg.batch_size, cfg.n_critic),
               "planted": "small",  # defects.small_defect_validation_set: what chose
               "chosen_by": "mean validation AUROC (held-out normals + small planted synthetic defects); "
                            "a tie keeps the default, no augmentation",
               **choose(rows),
               "settings": {k: list(v) for k, v in SETTINGS.items()}, "rows": rows,
               "wall_seconds": round(time.perf_counter() - t0, 1), "date": datetime.date.today().isoformat(),
               "command": "python scripts/augment_study.py " + " ".join(argv or sys.argv[1:])}
    out.write_text(json.dumps(summary, indent=1) + "\n")
    tie = f" (tied on validation data: {', '.join(summary['tied'])})" if summary["tied"] else ""
    print(f"chosen on validation data: {summary['chosen']}{tie}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
