"""Lockstep training of K one-class models (ganad_lite.parallel.train_lockstep) against K `Trainer.train` runs.

Both train the same K models (seeds 0..K-1, MNIST-sized random images, one short epoch each) and reach the
same weights up to rounding (tests/test_parallel.py checks that); this script times them round-robin and
reports critic images/s over all K models and the speed-up of lockstep over one-by-one.

    python benchmarks/bench_lockstep.py                         # K = 10 at width 16, K = 4 at width 64
    python benchmarks/bench_lockstep.py --models 10 --widths 64 --iterations 2
"""
from __future__ import annotations

import torch

from _common import (MATMUL_VARIANT, Report, base_parser, count_flops, describe_matmul, fmt, interleaved, matmul_gflops,
                     matmul_variant, setup)

from ganad_lite.config import TrainConfig
from ganad_lite.parallel import train_lockstep
from ganad_lite.training import Trainer


def make_images(n: int, shape, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)


def bench(width: int, k: int, args, device, report: Report, mm_rate: float) -> dict:
    shape = (args.channels, args.size, args.size)
    c = TrainConfig(image_shape=shape, ngf=width, ndf=width, batch_size=args.batch, channels_last=args.channels_last)
    n_images = c.batch_size * c.n_critic * args.iterations
    data = [make_images(n_images, shape, seed).to(device) for seed in range(k)]
    solo = [Trainer(c.replace(seed=s), device) for s in range(k)]
    lock = [Trainer(c.replace(seed=s), device) for s in range(k)]

    def one_by_one():
        for t, d in zip(solo, data):
            t.train(d, epochs=t.epoch + 1, progress=False)

    def lockstep():
        train_lockstep(lock, data, epochs=lock[0].epoch + 1, progress=False)

    probe = Trainer(c, device)
    real = probe.prepare(data[0][:c.batch_size])
    flops_iter = c.n_critic * count_flops(lambda: probe.critic_step(real)) + count_flops(
        lambda: probe.generator_step(c.batch_size))
    mm_fn, mm_flops = matmul_variant(device, mm_rate)
    times = interleaved({"one by one": one_by_one, "lockstep": lockstep, MATMUL_VARIANT: mm_fn}, device, args.repeats)
    mm_rate = mm_flops / times.pop(MATMUL_VARIANT)["median_s"] / 1e9  # under the same load
    images = k * n_images
    rows = {}
    for name, t in times.items():
        rate = flops_iter * args.iterations * k / t["median_s"] / 1e9
        rows[name] = {"seconds_median": t["median_s"], "seconds_all": t["times_s"], "images_per_s": images / t["median_s"],
                      "gflops_per_s": rate, "fraction_of_matmul": rate / mm_rate}
    speedup = times["one by one"]["median_s"] / times["lockstep"]["median_s"]
    report.print(f"\n-- {k} models, width {width}, image {shape}, batch {c.batch_size}, {args.iterations} generator "
                 f"iterations each (one epoch), channels_last={c.channels_last}; median of {args.repeats}; fp32 "
                 f"torch.mm in the same rounds {fmt(mm_rate)} GFLOP/s --")
    for name, r in rows.items():
        report.print(f"{name:12s} {r['seconds_median']:8.2f} s  {fmt(r['images_per_s']):>8s} critic images/s  "
                     f"{fmt(r['gflops_per_s']):>7s} GFLOP/s ({100 * r['fraction_of_matmul']:.0f}% of matmul)")
    report.print(f"lockstep speed-up over one by one: {speedup:.2f}x")
    return {"width": width, "models": k, "matmul_in_rounds_gflops": mm_rate, "image_shape": shape, "iterations": args.iterations, "rows": rows,
            "speedup": speedup, "flops_per_iteration_per_model": flops_iter}


def main():
    p = base_parser(__doc__.splitlines()[0], "lockstep.json")
    p.add_argument("--widths", type=int, nargs="+", default=[16, 64])
    p.add_argument("--models", type=int, nargs="+", default=[10, 4], help="K per width (one value: all widths)")
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--iterations", type=int, default=1, help="generator iterations per model per timed epoch")
    p.add_argument("--channels-last", action="store_true")
    p.set_defaults(repeats=2)
    args = p.parse_args()
    device = setup(args)
    report = Report("lockstep training of K one-class models", args, device)
    report.header()
    mm = matmul_gflops(device)
    report.print(describe_matmul(mm))
    ks = args.models * len(args.widths) if len(args.models) == 1 else args.models
    results = [bench(w, k, args, device, report, mm["gflops"]) for w, k in zip(args.widths, ks)]
    report.record.update({"matmul": mm, "results": results})
    report.save(args.out)


if __name__ == "__main__":
    main()
