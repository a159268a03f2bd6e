"""MVTec AD decode cache: decoding a category's files against a cached load, per split and image size.

"decode" is `load_mvtec(..., cache=False)`: every image and mask read and resized with PIL. "cached" is the
default load once the cache exists: a hash of every file's bytes (the cache key), then the cached arrays read.
"hash" is the key alone. Both loads must give the same arrays; the script checks that before timing. Wall time
depends on what else runs on the machine; process CPU time (all threads) less so. Run it with the data root
and a throw-away cache folder (the data root is never written to):

    GANAD_DATA=<datasets folder> GANAD_CACHE=$(mktemp -d) python benchmarks/bench_decode_cache.py
    python benchmarks/bench_decode_cache.py --category bottle --sizes 64 256 --repeats 3
"""
from __future__ import annotations

import os
import statistics
import time

import torch
from _common import Report, base_parser

from ganad_lite.data import find_category, load_mvtec
from ganad_lite.data.mvtec import _fingerprint


def timed_round_robin(variants: dict, repeats: int) -> dict[str, dict]:
    """Median wall and process-CPU seconds of each variant, timed A B C A B C ... so that a change in machine
    load hits all alike. CPU seconds add up the threads and do not count time spent waiting for a core."""
    times = {k: {"wall": [], "cpu": []} for k in variants}
    for _ in range(repeats):
        for k, fn in variants.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            times[k]["wall"].append(time.perf_counter() - wall)
            times[k]["cpu"].append(time.process_time() - cpu)
    return {k: {"wall_s": statistics.median(v["wall"]), "cpu_s": statistics.median(v["cpu"]),
                "wall_times_s": [round(t, 5) for t in v["wall"]]} for k, v in times.items()}


def bench(category: str, split: str, size: int, repeats: int, report: Report) -> dict:
    """Median seconds of decode, cached load and hash for one split at one size, and decode / cached."""
    decoded = load_mvtec(category, split=split, size=size, cache=False)
    load_mvtec(category, split=split, size=size)  # writes the cache file (or finds it)
    cached = load_mvtec(category, split=split, size=size)
    if not all(torch.equal(getattr(decoded, k), getattr(cached, k)) for k in ("images", "masks", "labels")):
        raise SystemExit(f"{category}/{split} at {size}: the cached arrays differ from the decoded ones")
    folder = find_category(category)
    times = timed_round_robin({"decode": lambda: load_mvtec(category, split=split, size=size, cache=False),
                               "cached": lambda: load_mvtec(category, split=split, size=size),
                               "hash": lambda: _fingerprint(folder, split)}, repeats)
    row = {"split": split, "size": size, "images": len(decoded), "times": times,
           "megabytes_hashed": round(_bytes_under(folder, split) / 1e6, 2),
           "ratio_wall": times["decode"]["wall_s"] / times["cached"]["wall_s"],
           "ratio_cpu": times["decode"]["cpu_s"] / times["cached"]["cpu_s"]}
    wall = {k: v["wall_s"] for k, v in times.items()}
    report.print(f"{category:>8} {split:>5} {size:>4} {len(decoded):>6} {row['megabytes_hashed']:>6.1f} "
                 f"{wall['decode']:>9.3f} {wall['cached']:>9.4f} {wall['hash']:>9.4f} {row['ratio_wall']:>7.1f}x "
                 f"{times['decode']['cpu_s']:>9.3f} {times['cached']['cpu_s']:>9.4f} {row['ratio_cpu']:>7.1f}x")
    return row


def _bytes_under(folder, split: str) -> int:
    tops = ["train"] if split == "train" else ["test", "ground_truth"]
    return sum(os.path.getsize(os.path.join(d, f)) for t in tops for d, _, fs in os.walk(folder / t) for f in fs)


def main():
    p = base_parser(__doc__.splitlines()[0], "decode_cache.json")
    p.add_argument("--category", default="bottle")
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    args = p.parse_args()
    report = Report("MVTec decode cache", args, torch.device("cpu"))
    report.header()
    report.print(f"GANAD_DATA={os.environ.get('GANAD_DATA', '(unset)')} GANAD_CACHE="
                 f"{os.environ.get('GANAD_CACHE', '(unset)')}; median of {args.repeats} round-robin repeats; "
                 "MB: bytes hashed; seconds are wall time, then process CPU time (all threads)")
    report.print(f"{'category':>8} {'split':>5} {'size':>4} {'images':>6} {'MB':>6} {'decode s':>9} {'cached s':>9} "
                 f"{'hash s':>9} {'ratio':>8} {'dec. cpu':>9} {'cach. cpu':>9} {'cpu ratio':>8}")
    rows = [bench(args.category, split, size, args.repeats, report) for size in args.sizes
            for split in ("train", "test")]
    for kind in ("wall", "cpu"):
        ratios = [r[f"ratio_{kind}"] for r in rows]
        report.print(f"decode / cached ({kind} time): min {min(ratios):.1f}x, median {statistics.median(ratios):.1f}x")
    report.record["results"] = rows
    report.save(args.out)


if __name__ == "__main__":
    main()
