#!/usr/bin/env python3
"""Does normalising z in the generator (pixel norm) give the origin term L_o its signal? Measured without test labels.

Berg et al.'s generator scales every code to unit RMS before its first layer, so G reads only the direction of
z and the encoder's output norm is free. Whether L_o = -||E(Q)|| / sqrt(N_z) separates anomalies then is an
empirical question. This trains the detectors of chapters 06 (MNIST, the ten digits) and 07 (CIFAR-10
automobile) with `TrainConfig.latent_norm` "none" (the thesis; the committed runs, from the run cache) and
"pixel", and judges each setting as the other studies do: the selected score's AUROC on held-out normals with
planted synthetic defects. The test AUROCs of the selected score, L_n, L_o and the source mix are recorded
beside and choose nothing. Writes results/<profile>/studies/latent_norm_<experiment>.json (profile, hardware,
seed, command) for each experiment.

Usage: GANAD_DATA=<datasets> python scripts/latent_norm_study.py [--profile cpu] [--experiments mnist,cifar10]
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import time

from augment_study import choose, study_row  # the same row and the same rule as the augmentation study
from ganad_lite import get_profile, hardware_info
from ganad_lite.experiments import make_split, results_dir, run_one

SETTINGS = ("none", "pixel")
KEYS = {"mnist": list(range(10)), "cifar10": ["automobile"]}
TERMS = {"residual": "test_auroc_L_n", "origin": "test_auroc_L_o", "source_mix": "test_auroc_source_mix"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--experiments", default="mnist,cifar10")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    profile, experiments = get_profile(args.profile), args.experiments.split(",")
    unknown = sorted(set(experiments) - set(KEYS))
    if unknown:
        parser.error(f"unknown experiment(s) {unknown}: choose from {sorted(KEYS)}")
    folder = results_dir() / profile.name / "studies"
    folder.mkdir(parents=True, exist_ok=True)  # checked before any training starts
    for experiment in experiments:
        t0, rows = time.perf_counter(), {name: [] for name in SETTINGS}
        for key in KEYS[experiment]:
            split = make_split(experiment, key, profile, seed=args.seed)
            for name in SETTINGS:
                run = run_one(split, experiment, profile, args.seed, progress=False, monitor=False,
                              overrides={"latent_norm": name})
                row = {"normal_class": key, **study_row(run),
                       **{label: run.metrics[v]["auroc"] for v, label in TERMS.items()}}
                rows[name].append(row)
                print(f"{experiment} {key}, latent_norm {name}: validation AUROC {row['validation_auroc']:.3f}, "
                      f"test AUROC {row['test_auroc']:.3f} (L_n {row['test_auroc_L_n']:.3f}, "
                      f"L_o {row['test_auroc_L_o']:.3f})", flush=True)
        summary = {"study": "pixel norm of z in the generator", "experiment": experiment, "seeds": [args.seed],
                   "profile": profile.as_dict(), "hardware": hardware_info(), "settings": list(SETTINGS),
                   "chosen_by": "mean validation AUROC of the selected score (held-out normals + planted "
                                "synthetic defects); a tie keeps the default, none",
                   **choose(rows, default="none"), "rows": rows,
                   "wall_seconds": round(time.perf_counter() - t0, 1), "date": datetime.date.today().isoformat(),
                   "command": "python scripts/latent_norm_study.py " + " ".join(argv or sys.argv[1:])}
        out = folder / f"latent_norm_{experiment}.json"
        out.write_text(json.dumps(summary, indent=1) + "\n")
        print(f"{experiment}: chosen on validation data: {summary['chosen']}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
