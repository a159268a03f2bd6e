#!/usr/bin/env python3
"""Do the generator's ReLU units die, and does a leaky ReLU help? Measured without test labels.

Trains the detector of chapter 06 (MNIST, one digit normal) with the generator's hidden nonlinearity set to
ReLU (the thesis; the committed runs, loaded from the run cache) and to a leaky ReLU (slope 0.2). Per run it
records the share of the generator's ReLU units that never fire on 1,000 random codes (dead units; a leaky
unit always passes a gradient), and judges the setting as chapter 08's augmentation study does: the selected
score's AUROC on held-out normal digits with planted synthetic defects, test metrics recorded beside, choosing
nothing. Writes results/<profile>/studies/activation_mnist.json with the profile, hardware and seeds.

Usage: GANAD_DATA=<datasets> python scripts/activation_study.py [--profile cpu] [--digits 0,1,...,9]
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import time

import torch
from torch import nn

from augment_study import choose, study_row  # the same row and the same rule as the augmentation study
from ganad_lite import get_profile, hardware_info
from ganad_lite.experiments import make_split, results_dir, run_one

SETTINGS = ("relu", "leaky_relu")


def dead_share(generator: nn.Sequential, latent_dim: int, n: int = 1000) -> float | None:
    """Share of the ReLU units (over every hidden layer) that are 0 for all n random codes, so pass no
    gradient; None for a generator without ReLUs (a leaky unit always passes one)."""
    z = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(0))
    x, dead, total = z.to(next(generator.parameters()).device), 0, 0
    with torch.no_grad():
        for layer in generator[:-1]:
            x = layer(x)
            if isinstance(layer, nn.ReLU):
                never = (x <= 0).all(dim=0)  # (features,) or (channels, H, W): never positive
                dead, total = dead + int(never.sum()), total + never.numel()
    return dead / total if total else None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    profile, digits = get_profile(args.profile), [int(d) for d in args.digits.split(",")]
    out = results_dir() / profile.name / "studies" / "activation_mnist.json"
    out.parent.mkdir(parents=True, exist_ok=True)  # checked before any training starts
    t0, rows = time.perf_counter(), {name: [] for name in SETTINGS}
    for digit in digits:
        split = make_split("mnist", digit, profile, seed=args.seed)
        for name in SETTINGS:
            run = run_one(split, "mnist", profile, args.seed, progress=False, monitor=False,
                          overrides={"generator_activation": name})
            dead = dead_share(run.detector.generator, run.detector.config.latent_dim)
            rows[name].append({"digit": digit, **study_row(run), "dead_unit_share": dead})
            print(f"digit {digit}, {name}: dead units {'-' if dead is None else f'{dead:.1%}'}, validation AUROC "
                  f"{rows[name][-1]['validation_auroc']:.3f}, test AUROC {rows[name][-1]['test_auroc']:.3f}",
                  flush=True)
    summary = {"study": "generator nonlinearity on MNIST", "digits": digits, "seeds": [args.seed],
               "profile": profile.as_dict(), "hardware": hardware_info(),
               "chosen_by": "mean validation AUROC over the digits (held-out normals + planted synthetic "
                            "defects); a tie keeps the default, relu",
               **choose(rows, default="relu"),
               "settings": list(SETTINGS), "rows": rows, "wall_seconds": round(time.perf_counter() - t0, 1),
               "date": datetime.date.today().isoformat(),
               "command": "python scripts/activation_study.py " + " ".join(argv or sys.argv[1:])}
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"chosen on validation data: {summary['chosen']}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
