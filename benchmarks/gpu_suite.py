"""GPU timing suite in one call (sections budgeted to 7 minutes): everything the CPU benchmarks cannot measure.

    python benchmarks/gpu_suite.py --out "$OUT/gpu_suite"            # GANAD_DATA=... for the real images
    python benchmarks/gpu_suite.py --device cpu --quick --out suite_dryrun # a seconds-long dry run of every section

Sections, each written to <out>/<section>.json (+ .txt) and summarised in <out>/suite.json:
  1. amp_check  -- gradient penalty and critic gradients under bf16 autocast against fp32, on a fixed batch;
  2. training   -- package loop vs the reference loop at 28x28 (widths 64 and 16), with channels-last, bf16 and
                   torch.compile variants (bench_training.py);
  3. scoring    -- encoder scoring images/s at 28x28 against the E+G forward bound, fp32 and bf16 (bench_scoring.py);
  4. mnist      -- the full MNIST protocol (ten one-class models, thesis width and epochs, then encoder scores
                   for the 10,000 test images per digit) trained in lockstep, plus lockstep vs one-by-one over
                   one epoch;
  5. cifar10    -- one CIFAR-10 automobile model (32x32x3, thesis width and epochs) and its test scores.
A section that would overrun --budget is shortened (fewer epochs, timed and extrapolated; the JSON says so).
Without the real data (GANAD_DATA) the protocols run on random images with the protocols' image counts:
the timings do not depend on pixel values, and the JSON records which was used.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import bench_scoring
import bench_training
from _common import Report, describe_matmul, matmul_gflops, peak_memory_mib, reset_peak_memory, setup, sync

from ganad_lite.config import TrainConfig
from ganad_lite.losses import autocast_penalty_check
from ganad_lite.models import build_critic
from ganad_lite.parallel import train_lockstep
from ganad_lite.scoring import score_images
from ganad_lite.training import Trainer

# MNIST training images per digit (0..9) and the CIFAR-10 class size: the counts the protocols train on
MNIST_TRAIN_PER_DIGIT = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
MNIST_TEST = 10_000
CIFAR_TRAIN, CIFAR_TEST = 5000, 2000
VAL_FRACTION = 0.1


def random_images(n: int, shape, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)


def mnist_sets(quick: bool) -> tuple[list[torch.Tensor], torch.Tensor, str]:
    """Per-digit training images and the test images: the real protocol if MNIST is there, else random."""
    from ganad_lite.data import load_mnist, mnist_protocol
    try:
        if load_mnist().source == "full":
            splits = [mnist_protocol(d) for d in range(10)]
            train, test = [s.train for s in splits], splits[0].test
            source = "MNIST (full)"
        else:
            raise FileNotFoundError
    except Exception:  # noqa: BLE001 -- no data here: same counts, random pixels
        train = [random_images(n - round(VAL_FRACTION * n), (1, 28, 28), d) for d, n in enumerate(MNIST_TRAIN_PER_DIGIT)]
        test, source = random_images(MNIST_TEST, (1, 28, 28), 99), "random images with the MNIST protocol's counts"
    if quick:
        train, test = [t[:300] for t in train], test[:500]
    return train, test, source


def cifar_sets(quick: bool) -> tuple[torch.Tensor, torch.Tensor, str]:
    from ganad_lite.data import cifar10_protocol, load_cifar10
    try:
        if load_cifar10().source == "full":
            s = cifar10_protocol("automobile")
            train, test, source = s.train, s.test, "CIFAR-10 automobile (full)"
        else:
            raise FileNotFoundError
    except Exception:  # noqa: BLE001
        train = random_images(CIFAR_TRAIN - round(VAL_FRACTION * CIFAR_TRAIN), (3, 32, 32), 0)
        test, source = random_images(CIFAR_TEST, (3, 32, 32), 1), "random images with the CIFAR-10 protocol's counts"
    if quick:
        train, test = train[:300], test[:200]
    return train, test, source


class Suite:
    def __init__(self, args, device):
        self.args, self.device = args, device
        self.t0 = time.perf_counter()
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.summary = {"sections": {}, "args": vars(args)}
        self.channels_last = False  # layout for the protocol runs: set by the training section's measurement

    def left(self) -> float:
        return self.args.budget - (time.perf_counter() - self.t0)

    def section(self, name: str, fn) -> None:
        start = time.perf_counter()
        print(f"\n##### {name} (budget left {self.left():.0f} s) #####", flush=True)
        try:
            result = fn()
            status = "ok"
        except Exception as err:  # noqa: BLE001 -- one failing section must not lose the others
            import traceback
            traceback.print_exc()
            result, status = {"error": f"{type(err).__name__}: {err}"}, "error"
        self.summary["sections"][name] = {"status": status, "seconds": round(time.perf_counter() - start, 1),
                                          "result": result}
        (self.out / "suite.json").write_text(json.dumps(self.summary, indent=2, default=str) + "\n")


def sub_args(module, argv: list[str], out: Path) -> argparse.Namespace:
    """A benchmark script's options: its defaults, then argv."""
    return module.build_parser().parse_args([*argv, "--out", str(out)])


# -- sections ----------------------------------------------------------------------------------------------------
def amp_check(suite: Suite) -> dict:
    dev = suite.device
    torch.manual_seed(0)
    critic = build_critic((1, 28, 28), 64).to(dev)
    g = torch.Generator(device=dev).manual_seed(0)
    real = torch.rand(50, 1, 28, 28, device=dev, generator=g)
    fake = torch.rand(50, 1, 28, 28, device=dev, generator=g)
    eps = torch.rand(50, device=dev, generator=g)
    out = {"bf16_vs_fp32": autocast_penalty_check(critic, real, fake, eps),
           "fp32_vs_fp32": autocast_penalty_check(critic, real, fake, eps, dtype=None),
           "note": "relative differences on one fixed batch, untrained critic of width 64 (28x28)"}
    print(json.dumps(out, indent=2))
    (suite.out / "amp_check.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


def training(suite: Suite) -> dict:
    """Package vs reference at 28x28: width 64 (with the bf16 and, unless --no-compile, torch.compile variants)
    and width 16."""
    q = suite.args.quick
    common = ["--steps", "1" if q else "10", "--iterations", "1" if q else "4", "--repeats", "1" if q else "3",
              "--no-memory", "--amp"]
    runs = [["--widths", "16"]] if q else [["--widths", "64"] + ([] if suite.args.no_compile else ["--compile"]),
                                           ["--widths", "16"]]
    args = sub_args(bench_training, common + runs[0], suite.out / "training.json")
    report = Report("training speed: package loop vs reference loop", args, suite.device)
    report.header()
    mm = matmul_gflops(suite.device)
    report.print(describe_matmul(mm))
    widths = [bench_training.bench_width(a.widths[0], a, suite.device, report, mm["gflops"])
              for a in [args] + [sub_args(bench_training, common + r, suite.out / "training.json") for r in runs[1:]]]
    report.record.update({"matmul": mm, "widths": widths})
    report.save(args.out)
    rows = widths[0]["rows"]
    if "package[channels_last] train epoch" in rows:
        suite.channels_last = (rows["package[channels_last] train epoch"]["images_per_s"]
                               > rows["package[nchw] train epoch"]["images_per_s"])
    return {"matmul_gflops": mm["gflops"], "ratios": {w["width"]: w["ratios"] for w in widths},
            "protocol_layout": "channels_last" if suite.channels_last else "nchw"}


def scoring(suite: Suite) -> dict:
    q = suite.args.quick
    argv = ["--sizes", "28", "--widths", "64", "--images", "1000" if q else "50000", "--batch", "500" if q else "5000",
            "--search-images", "0", "--repeats", "1" if q else "3", "--amp"]
    args = sub_args(bench_scoring, argv, suite.out / "scoring.json")
    report = Report("scoring speed", args, suite.device)
    report.header()
    mm = matmul_gflops(suite.device)
    report.print(describe_matmul(mm))
    results = [bench_scoring.bench(28, 64, args, suite.device, report, mm["gflops"])]
    report.record.update({"matmul": mm, "results": results})
    report.save(args.out)
    return {name: round(r["images_per_s"], 1) for name, r in results[0]["rows"].items()}


def _timed(fn, device) -> float:
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def mnist(suite: Suite) -> dict:
    dev, q = suite.device, suite.args.quick
    train, test, source = mnist_sets(q)
    train = [t.to(dev) for t in train]
    test = test.to(dev)
    width, epochs = (16, 2) if q else (64, 32)
    config = TrainConfig(image_shape=(1, 28, 28), ngf=width, ndf=width, epochs=epochs, channels_last=suite.channels_last)
    out = {"data": source, "width": width, "epochs": epochs, "models": 10, "config": config.to_dict()}
    # lockstep vs one by one, one epoch each (the one-by-one run is the usual per-digit Trainer.train)
    solo = [Trainer(config.replace(seed=d), dev) for d in range(10)]
    t_solo = _timed(lambda: [t.train(x, epochs=1, progress=False) for t, x in zip(solo, train)], dev)
    solo = None  # free the ten models before the lockstep run
    reset_peak_memory(dev)
    lock = [Trainer(config.replace(seed=d), dev) for d in range(10)]
    t_lock1 = _timed(lambda: train_lockstep(lock, train, epochs=1, progress=False), dev)
    out["one_epoch"] = {"one_by_one_s": t_solo, "lockstep_s": t_lock1, "lockstep_speedup": t_solo / t_lock1}
    print(f"one epoch of 10 digits: one by one {t_solo:.1f} s, lockstep {t_lock1:.1f} s "
          f"({t_solo / t_lock1:.2f}x)", flush=True)
    # the rest of the protocol, as far as the budget allows (CIFAR needs about a sixth of the MNIST time)
    reserve = 0.0 if q else 60.0
    affordable = int(max(0, suite.left() - reserve - 30) / max(t_lock1, 1e-6)) + 1
    run_epochs = min(epochs, max(1, affordable))
    t_rest = _timed(lambda: train_lockstep(lock, train, epochs=run_epochs, progress=False), dev) if run_epochs > 1 else 0.0
    t_train = t_lock1 + t_rest
    t_score = _timed(lambda: [score_images(t.generator, t.encoder, test, batch_size=5000, keep_maps=False)
                              for t in lock], dev)
    per_epoch = t_rest / (run_epochs - 1) if run_epochs > 1 else t_lock1
    projected = t_lock1 + per_epoch * (epochs - 1)  # = t_train when every epoch ran
    out.update({"epochs_run": run_epochs, "train_s": t_train, "score_test_s_all_digits": t_score,
                "protocol_s": projected + t_score, "extrapolated": run_epochs < epochs,
                "peak_memory": peak_memory_mib(dev),
                "train_steps_per_digit": [t.step for t in lock]})
    print(f"MNIST protocol ({source}): {run_epochs}/{epochs} epochs of 10 digits in lockstep {t_train:.1f} s, "
          f"scoring 10 x {len(test)} test images {t_score:.1f} s -> protocol {projected + t_score:.1f} s"
          + (" (extrapolated to all epochs)" if run_epochs < epochs else ""), flush=True)
    (suite.out / "mnist.json").write_text(json.dumps(out, indent=2, default=str) + "\n")
    return out


def cifar10(suite: Suite) -> dict:
    dev, q = suite.device, suite.args.quick
    train, test, source = cifar_sets(q)
    train, test = train.to(dev), test.to(dev)
    width, epochs = (16, 2) if q else (64, 50)
    config = TrainConfig(image_shape=(3, 32, 32), ngf=width, ndf=width, epochs=epochs, channels_last=suite.channels_last)
    t = Trainer(config, dev)
    t1 = _timed(lambda: t.train(train, epochs=1, progress=False), dev)
    affordable = int(max(0, suite.left() - 15) / max(t1, 1e-6)) + 1
    run_epochs = min(epochs, max(1, affordable))
    t_rest = _timed(lambda: t.train(train, epochs=run_epochs, progress=False), dev) if run_epochs > 1 else 0.0
    t_score = _timed(lambda: score_images(t.generator, t.encoder, test, batch_size=2000, keep_maps=True), dev)
    per_epoch = t_rest / (run_epochs - 1) if run_epochs > 1 else t1
    projected = t1 + per_epoch * (epochs - 1)  # = the measured time when every epoch ran
    out = {"data": source, "width": width, "epochs": epochs, "epochs_run": run_epochs, "first_epoch_s": t1,
           "train_s": t1 + t_rest, "score_test_s": t_score, "protocol_s": projected + t_score,
           "extrapolated": run_epochs < epochs, "steps": t.step, "config": config.to_dict()}
    print(f"CIFAR-10 ({source}): {run_epochs}/{epochs} epochs {t1 + t_rest:.1f} s, scoring {len(test)} test images "
          f"{t_score:.1f} s -> protocol {projected + t_score:.1f} s", flush=True)
    (suite.out / "cifar10.json").write_text(json.dumps(out, indent=2, default=str) + "\n")
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="folder for the JSON and text results")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--budget", type=float, default=420.0, help="seconds for the whole suite (sections shorten)")
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks that every section runs")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile training variant")
    p.add_argument("--sections", nargs="+", default=["amp_check", "training", "scoring", "mnist", "cifar10"])
    args = p.parse_args()
    device = setup(args)
    suite = Suite(args, device)
    from ganad_lite.device import hardware_info
    suite.summary["hardware"] = hardware_info(device)
    print(f"hardware: {suite.summary['hardware']['summary']} | torch {torch.__version__}", flush=True)
    sections = {"amp_check": amp_check, "training": training, "scoring": scoring, "mnist": mnist, "cifar10": cifar10}
    for name in args.sections:
        suite.section(name, lambda fn=sections[name]: fn(suite))
    suite.summary["total_s"] = round(time.perf_counter() - suite.t0, 1)
    (suite.out / "suite.json").write_text(json.dumps(suite.summary, indent=2, default=str) + "\n")
    print(f"\nsuite finished in {suite.summary['total_s']} s -> {suite.out / 'suite.json'}")


if __name__ == "__main__":
    main()
