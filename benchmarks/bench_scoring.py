"""Scoring speed: encoder scoring, the full residual score with maps, and latent search, in images/s.

For each image size (28x28x1 as MNIST, 32x32x3 as CIFAR-10, 64x64x3 as MVTec at 64) and width, the package's
`score_images` is timed (untrained weights: the speed does not depend on them) and set against the
forward-pass arithmetic bound: FLOPs of one E + G forward per image (counted with the FLOP counter) divided
by the fp32 matmul rate measured in the same run. Latent search is set against its own counted FLOPs
(steps x restarts x (G forward + backward)).

    python benchmarks/bench_scoring.py                          # a couple of minutes on 2 cores
    python benchmarks/bench_scoring.py --sizes 28 --widths 64 --images 5000 --repeats 5
"""
from __future__ import annotations

import torch

from _common import (MATMUL_VARIANT, Report, base_parser, count_flops, describe_matmul, fmt, interleaved, matmul_gflops,
                     matmul_variant, setup)

from ganad_lite.models import build_encoder, build_generator
from ganad_lite.scoring import latent_search, minmax_normalize, score_images

CHANNELS = {28: 1, 16: 1, 32: 3, 64: 3, 128: 3, 256: 3}


def bench(size: int, width: int, args, device, report: Report, mm_rate: float) -> dict:
    shape = (CHANNELS[size], size, size)
    torch.manual_seed(0)
    G = build_generator(shape, 128, width).to(device).eval()
    E = build_encoder(shape, 128, width).to(device).eval()
    n = max(args.batch, int(args.images * (28 / size) ** 2))  # fewer images at larger sizes
    n_search = max(1, int(args.search_images * (28 / size) ** 2)) if args.search_images > 0 else 0
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8).to(device)
    q = images[:args.batch].float() / 255
    fwd = count_flops(lambda: G(E(q))) / args.batch  # per image, E + G forward
    search_flops = count_flops(lambda: latent_search(G, q[:n_search], steps=args.search_steps,
                                                     restarts=args.search_restarts)) / n_search if n_search else 0
    variants = {
        "encoder (no maps)": lambda: score_images(G, E, images, batch_size=args.batch, keep_maps=False),
        "encoder + residual maps": lambda: score_images(G, E, images, batch_size=args.batch, keep_maps=True),
        "E + G forward only": lambda: _forward_only(G, E, images, args.batch),
        f"search {args.search_steps} steps x {args.search_restarts}": lambda: score_images(
            G, E, images[:n_search], method="search", batch_size=args.batch, search_steps=args.search_steps,
            search_restarts=args.search_restarts, keep_maps=False),
    }
    if getattr(args, "amp", False) and device.type == "cuda":
        variants["encoder (no maps), bf16"] = lambda: score_images(G, E, images, batch_size=args.batch,
                                                                   keep_maps=False, amp=True)
    if args.search_images <= 0:
        variants = {k: v for k, v in variants.items() if not k.startswith("search")}
    mm_fn, mm_flops = matmul_variant(device, mm_rate)
    variants[MATMUL_VARIANT] = mm_fn
    times = interleaved(variants, device, args.repeats)
    mm_rate = mm_flops / times.pop(MATMUL_VARIANT)["median_s"] / 1e9  # under the same load as the scoring runs
    bound_ips = mm_rate * 1e9 / fwd
    rows = {}
    for name, t in times.items():
        search = name.startswith("search")
        count = n_search if search else n
        ips = count / t["median_s"]
        per_image = search_flops if search else fwd
        rows[name] = {"seconds_median": t["median_s"], "seconds_all": t["times_s"], "images": count,
                      "images_per_s": ips, "gflops_per_s": ips * per_image / 1e9,
                      "time_over_bound": (mm_rate * 1e9 / per_image) / ips}
    report.print(f"\n-- {size}x{size}x{shape[0]}, width {width}: E+G forward {fwd / 1e6:.1f} MFLOP/image; fp32 torch.mm "
                 f"in the same rounds {fmt(mm_rate)} GFLOP/s -> bound {fmt(bound_ips)} images/s; {n} images "
                 f"({n_search} for search), batch {args.batch} --")
    for name, r in rows.items():
        report.print(f"{name:34s} {fmt(r['images_per_s']):>9s} images/s {fmt(r['gflops_per_s']):>7s} GFLOP/s  "
                     f"{r['time_over_bound']:5.2f}x the arithmetic bound")
    return {"size": size, "channels": shape[0], "width": width, "matmul_in_rounds_gflops": mm_rate, "forward_flops_per_image": fwd,
            "search_flops_per_image": search_flops, "bound_images_per_s": bound_ips, "rows": rows}


def minmax_where(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """The earlier minmax_normalize (min and max passes, where + zeros_like), kept here as the comparison."""
    flat = x.flatten(1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    span = hi - lo
    return torch.where(span > eps, (flat - lo) / span.clamp_min(eps), torch.zeros_like(flat)).view_as(x)


def bench_minmax(args, device, report: Report) -> dict:
    """scoring.minmax_normalize (in place, one aminmax pass) against minmax_where, on 500 images 64x64x3."""
    x = torch.rand(500, 3, 64, 64, device=device)
    x[0] = 0.5  # one flat image
    assert torch.equal(minmax_normalize(x), minmax_where(x))
    t = interleaved({"package": lambda: minmax_normalize(x), "where": lambda: minmax_where(x)}, device,
                    max(5, args.repeats))
    ratio = t["package"]["median_s"] / t["where"]["median_s"]
    report.print(f"\nminmax_normalize on 500 x 64x64x3: {1e3 * t['package']['median_s']:.1f} ms, the where / zeros_like "
                 f"version {1e3 * t['where']['median_s']:.1f} ms (same values): {ratio:.2f}x the time")
    return {"package_s": t["package"]["median_s"], "where_s": t["where"]["median_s"], "time_ratio": ratio}


@torch.no_grad()
def _forward_only(G, E, images, batch):
    for s in range(0, images.shape[0], batch):
        G(E(images[s:s + batch].float().div_(255)))


def build_parser():
    p = base_parser(__doc__.splitlines()[0], "scoring.json")
    p.add_argument("--sizes", type=int, nargs="+", default=[28, 32, 64])
    p.add_argument("--widths", type=int, nargs="+", default=[64, 16])
    p.add_argument("--images", type=int, default=1000, help="images per timing at 28x28 (scaled by area)")
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--search-images", type=int, default=10)
    p.add_argument("--search-steps", type=int, default=50)
    p.add_argument("--search-restarts", type=int, default=4)
    p.add_argument("--amp", action="store_true", help="add a bf16-autocast encoder variant (CUDA only)")
    return p


def main():
    args = build_parser().parse_args()
    device = setup(args)
    report = Report("scoring speed", args, device)
    report.header()
    mm = matmul_gflops(device)
    report.print(describe_matmul(mm))
    results = [bench(s, w, args, device, report, mm["gflops"]) for w in args.widths for s in args.sizes]
    minmax = bench_minmax(args, device, report)
    report.record.update({"matmul": mm, "results": results, "minmax_normalize": minmax})
    report.save(args.out)


if __name__ == "__main__":
    main()
