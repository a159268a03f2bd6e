"""Runs of an experiment in worker processes (one torch thread each) against one process with every thread.

`run_mnist` on a CPU trains the runs whose GAN the run cache lacks in `run_workers` processes and then reads
them back (experiments/runs.py). This times K MNIST digits (the whole run: GAN, izif encoders, scoring, latent
search) both ways, each into an empty run cache, and checks that both give the same weights and metrics:
worker processes are only worth it if they change nothing but the time.

    GANAD_DATA=<folder with mnist.npz> python benchmarks/bench_workers.py --digits 0,1,2,3 --epochs 2
"""
from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from _common import Report, base_parser, setup

from ganad_lite.checkpoint import load_checkpoint
from ganad_lite.experiments.runs import run_mnist, run_workers
from ganad_lite.profiles import get_profile


def build_parser():
    p = base_parser(__doc__.splitlines()[0], "workers_cpu.json")
    p.add_argument("--digits", default="0,1,2,3", help="comma-separated digits, one run each")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--epochs", type=int, default=2, help="MNIST epochs of each run (the profile's step floor is off)")
    p.add_argument("--workers", type=int, default=None, help="default: one per torch thread (run_workers)")
    return p


def _weights(cache: Path) -> dict[str, dict[str, torch.Tensor]]:
    """run folder name -> GAN state of every run in a run cache."""
    return {ckpt.parent.name: load_checkpoint(ckpt)["models"] for ckpt in sorted(cache.glob("*/checkpoint.pt"))}


def main():
    args = build_parser().parse_args()
    device = setup(args)
    report = Report("worker processes vs one process", args, device)
    report.header()
    base = get_profile(args.profile)
    profile = dataclasses.replace(base, epochs={**base.epochs, "mnist": args.epochs}, min_steps={})
    digits = [int(d) for d in args.digits.split(",")]
    workers = run_workers(len(digits), device, args.workers)
    report.print(f"{len(digits)} MNIST digits, {args.profile} profile at {args.epochs} epoch(s); {workers} workers "
                 f"of {max(1, torch.get_num_threads() // workers)} thread(s) against 1 process of "
                 f"{torch.get_num_threads()} thread(s)")
    if workers < 2:
        report.print("one worker on this machine: nothing to compare")
        report.save(args.out)
        return
    results, seconds, caches = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, n in (("one process", 1), ("workers", workers)):
            caches[name] = Path(tmp) / name.replace(" ", "_")
            t0 = time.perf_counter()
            results[name] = run_mnist(profile, digits=digits, seeds=[0], cache_dir=caches[name], device=device,
                                      progress=False, workers=n)
            seconds[name] = time.perf_counter() - t0
            report.print(f"{name}: {seconds[name]:.1f} s ({seconds[name] / len(digits):.1f} s a digit)")
        one, many = _weights(caches["one process"]), _weights(caches["workers"])
        gap = max((a - b).abs().max().item() for run in one for model in one[run]
                  for a, b in zip(one[run][model].values(), many[run][model].values()))
    same_runs = sorted(one) == sorted(many)
    metrics = [(r.metrics, s.metrics) for r, s in zip(results["one process"].runs, results["workers"].runs)]
    same_metrics = all(a[v]["auroc"] == b[v]["auroc"] for a, b in metrics for v in a if "auroc" in a[v])
    report.print(f"same run folders: {same_runs}; largest weight difference: {gap:.3g}; every AUROC equal: "
                 f"{same_metrics}")
    report.print(f"speed-up of the workers: {seconds['one process'] / seconds['workers']:.2f}x")
    report.record.update(seconds=seconds, workers=workers, max_weight_difference=gap, same_metrics=same_metrics,
                         same_runs=same_runs, digits=digits, epochs=args.epochs)
    report.save(args.out)


if __name__ == "__main__":
    main()
