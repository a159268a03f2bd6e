#!/usr/bin/env python3
"""Make the README's figure from a real run: the pipeline on MNIST digit 0, with the run's facts beside it.

Trains (or loads from the run cache) a detector with the chosen profile on the MNIST one-class split of
digit 0, scores the test images, and draws two normal and two anomalous queries through the pipeline with
the threshold taken from held-out normal images. Writes the PNG and, next to it, a JSON file stating the
profile, seed, hardware, data source and the test AUROCs, so the figure can be checked and remade.

Usage: python scripts/make_readme_figure.py [--profile cpu] [--out docs/pipeline.png]
(`make figures`; set GANAD_DATA to a folder with mnist.npz for the complete dataset).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from ganad_lite import GANAD, get_profile, hardware_info, metrics, viz  # noqa: E402
from ganad_lite.data import load_split  # noqa: E402

WEIGHT = 0.5  # lambda of the standardised score shown in the figure


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu", help="compute profile (smoke, cpu, full); default cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("docs/pipeline.png"))
    args = parser.parse_args(argv)

    profile = get_profile(args.profile)
    split = load_split("mnist", 0, seed=args.seed, profile=profile)
    det = GANAD.from_profile(split, "mnist", profile=profile, seed=args.seed)
    det.fit(split.train, normal=split.val)
    test, val = det.score_terms(split.test, keep_recon=True), det.score_terms(split.val)
    y = split.test_labels.numpy()
    score, normal = test.anomaly_score(WEIGHT, standardized=True), val.anomaly_score(WEIGHT, standardized=True)
    threshold = metrics.quantile_threshold(normal, 0.95)
    pick = [*(y == 0).nonzero()[0][:2], *(y == 1).nonzero()[0][:2]]
    hw = hardware_info(det.trainer.device)
    title = (f"MNIST, normal digit 0: {profile.name} profile, seed {args.seed}, {split.meta['source']} data; "
             f"standardised score, $\\lambda$ = {WEIGHT}, $\\alpha$ = held-out 95% quantile")
    fig = viz.pipeline_figure(split.test[pick], test.recon[pick], test.maps[pick], score[pick], threshold,
                              labels=y[pick], title=title,
                              score_label="$\\tilde a = \\lambda \\tilde L_n + (1-\\lambda) \\tilde L_o$")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90, bbox_inches="tight")
    facts = {
        "profile": profile.name, "seed": args.seed, "hardware": hw["summary"], "torch": hw["torch"],
        "data": {k: split.meta.get(k) for k in ("dataset", "normal_class", "source", "n_train", "n_val", "n_test",
                                                "n_test_anomalous")},
        "train_seconds": round(det.train_seconds, 1), "epochs": det.config.epochs, "width": det.config.ngf,
        "test_auroc": {"residual": metrics.auroc(y, test.residual), "origin": metrics.auroc(y, test.origin),
                       "raw_lambda_0.05": metrics.auroc(y, test.anomaly_score(0.05)),
                       f"standardised_lambda_{WEIGHT}": metrics.auroc(y, score)},
        "heldout_threshold": threshold,
        "at_heldout_threshold": metrics.precision_recall_f1(y, score, threshold),
        "all_anomalous_baseline": metrics.trivial_baseline(y),
        "command": "python scripts/make_readme_figure.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    args.out.with_suffix(".json").write_text(json.dumps(facts, indent=2, default=float) + "\n")
    print(json.dumps(facts, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
