#!/usr/bin/env python3
"""Do harder planted defects make the choice of the selected score less of a coin toss?

On MVTec AD every committed choice of `selected` was a tie at AUROC 1.000 on the planted defects: ten held-out
good images, five of them with one large defect, leave 25 normal-defect pairs. This scores the same candidates
of the committed runs (loaded from the run cache, nothing is trained) on a harder set made from the same
held-out images, `defects.small_defect_validation_set`: every image untouched plus three copies each with one
small defect (0.2-2% of the image). Per run it records the candidates' AUROC on both sets, the ties, what each
set chooses, and how well each set's ranking of the candidates agrees with their test AUROCs (Spearman's rho),
so the study reads the test set only to judge the two ways of choosing, not to choose. Writes
results/<profile>/studies/selection_<experiment>.json.

Usage: GANAD_DATA=<datasets> python scripts/selection_study.py [--profile cpu] [--experiment mvtec] [--seeds 0,1,2]
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import time

import numpy as np
from scipy.stats import spearmanr

from ganad_lite import get_profile, hardware_info
from ganad_lite.defects import small_defect_validation_set
from ganad_lite.experiments import make_split, results_dir, run_one
from ganad_lite.experiments.runs import mvtec_keys
from ganad_lite.experiments.variants import CANDIDATES, best_ties, select_variant

KEYS = {"mvtec": None, "mnist": list(range(10)), "cifar10": ["automobile"]}


def judge(values: dict[str, float], test: dict[str, float]) -> dict:
    """What a validation set chose, its ties, the chosen candidate's test AUROC and the rank agreement."""
    chosen = max(values, key=values.get)  # the first in CANDIDATES order wins a tie, as in `selected`
    rho = spearmanr([values[c] for c in CANDIDATES], [test[c] for c in CANDIDATES]).statistic
    tied = best_ties(values)
    return {"auroc_by_candidate": values, "chosen": chosen, "tied": tied if len(tied) > 1 else [],
            "test_auroc_of_chosen": test[chosen], "spearman_with_test": None if np.isnan(rho) else float(rho)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--experiment", default="mvtec", choices=sorted(KEYS))
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args(argv)
    profile, seeds = get_profile(args.profile), [int(s) for s in args.seeds.split(",")]
    out = results_dir() / profile.name / "studies" / f"selection_{args.experiment}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    keys = KEYS[args.experiment] or mvtec_keys(profile)
    t0, rows = time.perf_counter(), []
    for key in keys:
        for seed in seeds:
            split = make_split(args.experiment, key, profile, seed)
            run = run_one(split, args.experiment, profile, seed, progress=False, monitor=False)
            test = {c: run.metrics[c]["auroc"] for c in CANDIDATES}
            _, small = select_variant(run.detector, split.val, seed, planted=small_defect_validation_set)
            row = {"run": run.name, "seed": seed, "n_val": len(split.val), "test_auroc_by_candidate": test,
                   "best_on_test": max(test, key=test.get),
                   "standard": judge(run.metrics["selected"]["selection_auroc"], test), "small": judge(small, test)}
            rows.append(row)
            print(f"{run.name} seed {seed}: standard chose {row['standard']['chosen']} "
                  f"(tied {len(row['standard']['tied'])}), small chose {row['small']['chosen']} "
                  f"(tied {len(row['small']['tied'])}); test AUROC {row['standard']['test_auroc_of_chosen']:.3f} "
                  f"vs {row['small']['test_auroc_of_chosen']:.3f}", flush=True)
    mean = lambda f: float(np.mean([f(r) for r in rows]))  # noqa: E731
    summary = {"study": "harder planted defects for the choice of the selected score", "experiment": args.experiment,
               "profile": profile.as_dict(), "hardware": hardware_info(), "seeds": seeds,
               "candidates": list(CANDIDATES), "small_set": "all held-out normals + 3 copies each with one defect "
                                                           "of 0.2-2% of the image",
               "mean": {s: {"ties": sum(bool(r[s]["tied"]) for r in rows),
                            "test_auroc_of_chosen": mean(lambda r: r[s]["test_auroc_of_chosen"]),
                            # runs whose validation AUROCs are all equal have no ranking: left out
                            "spearman_with_test": float(np.mean(rhos)) if (rhos := [
                                r[s]["spearman_with_test"] for r in rows if r[s]["spearman_with_test"] is not None])
                            else None, "runs_with_a_ranking": len(rhos)}
                        for s in ("standard", "small")},
               "n_runs": len(rows), "rows": rows, "wall_seconds": round(time.perf_counter() - t0, 1),
               "date": datetime.date.today().isoformat(),
               "command": "python scripts/selection_study.py " + " ".join(argv or sys.argv[1:])}
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary["mean"]), f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
