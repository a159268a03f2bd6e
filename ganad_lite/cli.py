"""Command line: `python -m ganad_lite {train,score,evaluate,reproduce,profiles}` (also `ganad-lite ...`)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from .data import DATASETS


def _split(args):
    """The protocol split named by --dataset / --normal-class / --size, shrunk to the profile's caps."""
    from .data import load_split
    from .profiles import get_profile

    profile = get_profile(args.profile)
    split = load_split(args.dataset, args.normal_class, size=args.size, root=args.data, seed=args.seed,
                       profile=profile)
    return split, profile


def _run_record(args, profile, det, t0) -> dict:
    from .device import hardware_info

    return {"profile": profile.name, "hardware": hardware_info(det.trainer.device), "seed": args.seed,
            "wall_seconds": round(time.perf_counter() - t0, 2), "dataset": args.dataset,
            "normal_class": args.normal_class, "command": " ".join(sys.argv)}


def _train(args) -> int:
    from .detector import GANAD

    t0 = time.perf_counter()
    split, profile = _split(args)
    print(f"profile {profile.name}: {profile.description}")
    print(split, split.meta.get("notice") or "")
    det = GANAD.from_profile(split.image_shape, args.dataset, profile, seed=args.seed, device=args.device,
                             progress=not args.quiet)
    det.fit(split.train, normal=split.val)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    det.save(out / "model.pt")
    record = _run_record(args, profile, det, t0)
    record.update(train_seconds=round(det.train_seconds, 2), loaded_from_cache=det.loaded_from_cache)
    (out / "train.json").write_text(json.dumps(record, indent=1))
    print(f"saved {out / 'model.pt'} ({'loaded from the run cache' if det.loaded_from_cache else 'trained'}; "
          f"{record['hardware']['summary']}; seed {args.seed}; {record['wall_seconds']} s)")
    return 0


def _load_images(path: str):
    """Query images from a .npy/.npz (uint8 (N,C,H,W)/(N,H,W)/(N,H,W,C) or float in [0,1]) or a folder of images."""
    import torch

    p = Path(path)
    if p.is_dir():
        from PIL import Image
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"))
        if not files:
            raise SystemExit(f"error: no .png/.jpg images in {p}")
        arr = np.stack([np.asarray(Image.open(f)) for f in files])
    elif p.suffix == ".npz":
        z = np.load(p)
        key = "x_test" if "x_test" in z else z.files[0]
        arr = z[key]
    elif p.suffix == ".npy":
        arr = np.load(p)
    else:
        raise SystemExit(f"error: {p} is not a folder, .npy or .npz file of images")
    if arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim == 4 and arr.shape[-1] in (1, 3) and arr.shape[1] not in (1, 3):
        arr = arr.transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(arr))


def _score(args) -> int:
    from .detector import GANAD

    det = GANAD.load(args.model, device=args.device)
    images = _load_images(args.images)
    s = det.score_terms(images, method=args.method, keep_maps=False)
    out = {"residual": s.residual.tolist(), "origin": s.origin.tolist(),
           "score": s.anomaly_score(args.weight, args.standardized).tolist(), "weight": args.weight,
           "standardized": args.standardized}
    if args.threshold is not None:
        out["threshold"] = args.threshold
        out["anomalous"] = s.decide(args.threshold, args.weight, args.standardized).tolist()
    text = json.dumps(out)
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote scores of {len(s)} images to {args.out}")
    else:
        print(text)
    return 0


def _evaluate(args) -> int:
    import matplotlib
    matplotlib.use("Agg")
    from . import viz
    from .experiments import run_one

    t0 = time.perf_counter()
    split, profile = _split(args)
    r = run_one(split, args.dataset, profile, args.seed, progress=not args.quiet, device=args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = _run_record(args, profile, r.detector, t0)
    record.update(r.summary())
    (out / "results.json").write_text(json.dumps(record, indent=1, default=str))
    y = r.labels
    pick = np.r_[np.flatnonzero(y == 0)[:4], np.flatnonzero(y == 1)[:4]]
    masks = None if split.test_masks is None else split.test_masks[pick]
    fig = viz.reconstruction_grid(split.test[pick], r.scores.recon[pick], r.scores.maps[pick], masks=masks,
                                  title=f"{r.name} ({profile.name} profile, seed {args.seed})")
    fig.savefig(out / "reconstructions.png", dpi=110, bbox_inches="tight")
    m = r.metrics["residual"]
    print(f"{r.name} [{profile.name}, {record['hardware']['summary']}, seed {args.seed}]: AUROC {m['auroc']:.4f} "
          f"(PCA {r.baseline['auroc']:.4f}); F1 at held-out threshold {m['heldout_threshold']['f1']:.4f} "
          f"vs all-anomalous {m['trivial_all_anomalous']['f1']:.4f}; wrote {out}/results.json, reconstructions.png")
    return 0


def _seed_list(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes comma-separated integers such as 0,1,2, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"--seeds: give each seed once, got {text!r}")
    return seeds


def _reproduce(args) -> int:
    import matplotlib
    matplotlib.use("Agg")
    from .experiments import reproduce

    t0 = time.perf_counter()
    folder = reproduce(args.experiment, args.profile, out_dir=args.out, progress=not args.quiet,
                       root=args.data, device=args.device, seeds=args.seeds)
    summary = json.loads((folder / "results.json").read_text())
    spread = summary.get("headline_by_seed", {}).get("sd")
    spread = f" +- {spread:.4f} (sd over {len(summary['seeds'])} seeds)" if spread is not None else ""
    print(f"{args.experiment} [{summary['profile']['name']}, {summary['hardware']['summary']}]: mean AUROC "
          f"{summary['mean']['auroc']:.4f}{spread} (PCA {summary['mean']['pca_auroc']:.4f}); "
          f"{time.perf_counter() - t0:.0f} s; wrote {folder}")
    return 0


def _profiles(args) -> int:
    from .profiles import get_profile, profile_table

    print(profile_table())
    print(f"\nactive: {get_profile(args.profile).name}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ganad-lite", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, seed=True):
        p.add_argument("--profile", help="smoke | cpu | full (default: $GANAD_PROFILE, else full with CUDA, else cpu)")
        p.add_argument("--device", default=None, help="auto | cpu | cuda | mps (default: auto)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.add_argument("--data", default=None, help="data root (default: $GANAD_DATA, else ~/.cache/ganad_lite)")
        if seed:
            p.add_argument("--seed", type=int, default=0)

    for name, helptext in (("train", "train a detector on one normal class"),
                           ("evaluate", "train (or load from the cache) and evaluate on the protocol's test split")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--dataset", choices=DATASETS, required=True)
        p.add_argument("--normal-class", default=None,
                       help="digit, CIFAR-10 class (index or name) or MVTec category (default: 0, automobile, bottle)")
        p.add_argument("--size", type=int, default=None,
                       help="MVTec image size (default 28, the thesis protocol; other sizes use every image)")
        p.add_argument("--out", default=f"runs/{name}", help="output folder")
        common(p)
    p = sub.add_parser("score", help="score images with a saved model")
    p.add_argument("--model", required=True, help="model.pt written by `train`")
    p.add_argument("--images", required=True, help=".npy / .npz (x_test) / folder of images")
    p.add_argument("--method", default="encoder", choices=("encoder", "search", "hybrid"))
    p.add_argument("--weight", type=float, default=0.05, help="score weight lambda in [0, 1]")
    p.add_argument("--standardized", action="store_true")
    p.add_argument("--threshold", type=float, default=None, help="alpha: anomalous iff score > alpha")
    p.add_argument("--out", default=None, help="write JSON here instead of printing it")
    p.add_argument("--device", default=None)
    p = sub.add_parser("reproduce", help="regenerate a chapter's tables and grids into results/<profile>/<experiment>/")
    p.add_argument("--experiment", choices=DATASETS, required=True)
    p.add_argument("--out", default="results")
    p.add_argument("--seeds", default=None, type=_seed_list,
                   help="comma-separated seeds, e.g. 0 or 0,1,2 (default: the profile's seeds)")
    common(p, seed=False)
    p = sub.add_parser("profiles", help="print the budget table")
    p.add_argument("--profile", default=None)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    handler = {"train": _train, "score": _score, "evaluate": _evaluate, "reproduce": _reproduce,
               "profiles": _profiles}[args.command]
    try:
        return handler(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
