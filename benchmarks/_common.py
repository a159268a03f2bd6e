"""Shared helpers of the benchmark scripts: hardware header, matmul rate, FLOP counts, timing, peak memory, output.

Plain Python, no test framework. Every script prints its figures and writes the same record as JSON (and the
printout as .txt) under results/benchmarks/ unless --out says otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from ganad_lite.device import hardware_info, pick_device  # noqa: E402


class Report:
    """Collects printed lines and a JSON record; `save` writes both next to each other."""

    def __init__(self, name: str, args: argparse.Namespace, device: torch.device):
        self.name, self.device, self.lines = name, device, []
        self.record = {"benchmark": name, "command": " ".join([Path(sys.executable).name, *sys.argv]),
                       "args": {k: _relative(v) for k, v in vars(args).items() if not k.startswith("_")},
                       "started": time.strftime("%Y-%m-%d %H:%M:%S"), "hardware": machine_header(device)}

    def print(self, *parts) -> None:
        line = " ".join(str(p) for p in parts)
        print(line, flush=True)
        self.lines.append(line)

    def header(self) -> None:
        h = self.record["hardware"]
        self.print(f"== {self.name} ==")
        self.print(f"hardware: {h['summary']} | device {h['device']} | torch {h['torch']} | threads {h['threads']} | "
                   f"cpu {h['cpu']} x{h['cpu_count']} | load average (1 min) at start {h['load_average_start']}")

    def save(self, out: str | Path) -> Path:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        self.record["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        self.record["hardware"]["load_average_end"] = load_average()
        out.write_text(json.dumps(self.record, indent=2, default=_jsonable) + "\n")
        out.with_suffix(".txt").write_text("\n".join(self.lines) + "\n")
        print(f"wrote {out} and {out.with_suffix('.txt')}")
        return out


def _relative(value):
    """Paths inside the repository are recorded relative to it (records carry no machine paths)."""
    if isinstance(value, str) and value.startswith(str(ROOT)):
        return os.path.relpath(value, ROOT)
    return value


def _jsonable(x):
    if isinstance(x, torch.Tensor):
        return x.tolist()
    if isinstance(x, (torch.device, torch.dtype, Path)):
        return str(x)
    return float(x)


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def machine_header(device: torch.device) -> dict:
    info = hardware_info(device)
    info["load_average_start"] = load_average()
    info["platform"] = platform.platform()
    if device.type == "cuda":
        info["tf32_matmul"] = torch.backends.cuda.matmul.allow_tf32
        info["tf32_cudnn"] = torch.backends.cudnn.allow_tf32
    return info


def base_parser(description: str, default_out: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--out", default=str(ROOT / "results" / "benchmarks" / default_out),
                   help="JSON output path; the printout goes next to it as .txt")
    p.add_argument("--repeats", type=int, default=3, help="timed repetitions per variant (median reported)")
    return p


def setup(args) -> torch.device:
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return device


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Wall seconds of one call of fn, synchronising the device before and after."""
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def interleaved(variants: dict[str, Callable[[], object]], device: torch.device, repeats: int,
                warmup: int = 1) -> dict[str, dict]:
    """Time each variant `repeats` times, round-robin (A B C A B C ...), so that a change in machine load
    hits all variants alike. Returns per variant: median, min and all times in seconds."""
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in variants}
    for _ in range(repeats):
        for k, fn in variants.items():
            times[k].append(timed(fn, device))
    return {k: {"median_s": statistics.median(v), "min_s": min(v), "times_s": [round(t, 5) for t in v]}
            for k, v in times.items()}


def matmul_gflops(device: torch.device, sizes=(512, 1024, 2048), min_seconds: float = 0.3, repeats: int = 5) -> dict:
    """fp32 torch.mm rate in GFLOP/s (2 n^3 per n x n product) for a few sizes, each timed `repeats` times.

    `gflops` -- the reference rate of every "% of matmul" figure -- is the fastest rate reached (best timing
    of the best size): on a machine shared with other jobs the best timing is the one least disturbed, and
    the fractions of it quoted for the loops (median timings) are on the conservative side."""
    per_size = {}
    for n in sizes:
        a = torch.randn(n, n, device=device)
        b = torch.randn(n, n, device=device)
        torch.mm(a, b)
        t = timed(lambda: torch.mm(a, b), device)
        reps = max(1, int(min_seconds / max(t, 1e-6)))

        def run():
            for _ in range(reps):
                torch.mm(a, b)

        rates = [2 * n ** 3 * reps / timed(run, device) / 1e9 for _ in range(repeats)]
        per_size[n] = {"median": statistics.median(rates), "best": max(rates), "products_per_timing": reps}
    return {"gflops": max(r["best"] for r in per_size.values()),
            "gflops_median": max(r["median"] for r in per_size.values()), "per_size": per_size, "dtype": "float32",
            "tf32": bool(device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32)}


MATMUL_VARIANT = "fp32 torch.mm (in-round reference)"


def matmul_variant(device: torch.device, rate_gflops: float, n: int = 1024, seconds: float = 0.3):
    """A timed variant for `interleaved`: k products of n x n fp32 matrices, about `seconds` long at the given
    rate. Timed in the same rounds as the loops, it gives the matmul rate under the same machine load.
    Returns (callable, FLOPs per call)."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    k = max(1, int(seconds * rate_gflops * 1e9 / (2 * n ** 3)))

    def run():
        for _ in range(k):
            torch.mm(a, b)

    return run, 2 * n ** 3 * k


class _FlopCounter(TorchDispatchMode):
    """Sums torch.utils.flop_counter's per-op formulas (mm, addmm, bmm, convolution and their backward ops)
    over every op dispatched. Unlike FlopCounterMode it keeps no per-module tally, whose backward hooks
    refuse `autograd.grad` taken with respect to a module's own leaf input (the reference loop's penalty)."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs (2 per multiply-add) of the matmuls and convolutions run by fn, forward and backward (any order)."""
    with _FlopCounter() as counter:
        fn()
    return int(counter.total)


def forward_flops(module: torch.nn.Module, example: torch.Tensor) -> int:
    with torch.no_grad():
        return count_flops(lambda: module(example))


def reset_peak_memory(device: torch.device) -> None:
    """CUDA: reset the allocator's peak. CPU (Linux): reset the process's peak RSS (ru_maxrss) to the current
    RSS by writing 5 to /proc/self/clear_refs, so that the next reading is the peak of what runs after this."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass  # not Linux: ru_maxrss stays the peak since the process started


def peak_memory_mib(device: torch.device) -> dict:
    """CUDA: max_memory_allocated since the last reset. CPU: the process's peak resident set since the last
    reset -- VmHWM of /proc/self/status on Linux (the value ru_maxrss reports for this process, but without the
    parent's peak that a child started by fork + exec inherits), else resource.getrusage's ru_maxrss."""
    if device.type == "cuda":
        return {"kind": "cuda max_memory_allocated", "mib": torch.cuda.max_memory_allocated(device) / 2 ** 20}
    try:
        with open("/proc/self/status") as f:
            hwm = next(line for line in f if line.startswith("VmHWM:"))
        return {"kind": "process peak RSS (VmHWM)", "mib": int(hwm.split()[1]) / 1024}
    except (OSError, StopIteration):
        rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        return {"kind": "process peak RSS (ru_maxrss)", "mib": rss_kib / 1024}


def describe_matmul(mm: dict) -> str:
    sizes = ", ".join(f"{n}: best {r['best']:.1f} / median {r['median']:.1f}" for n, r in mm["per_size"].items())
    return f"fp32 torch.mm rate {mm['gflops']:.1f} GFLOP/s (fastest timing; per size n x n, GFLOP/s: {sizes})"


def fmt(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}"
