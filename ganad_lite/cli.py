"""Command line: `python -m ganad_lite {train,score,evaluate,reproduce,prefill,profiles}` (also `ganad-lite ...`).

Every error is one line, `error: ...`, naming the problem and the fix: exit status 2 for bad arguments, data,
checkpoints or paths, 1 for faults while running (a diverged training run, an internal error), 130 for
Ctrl-C. `--debug` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from . import cli_types as types
from .checkpoint import CheckpointError, write_json_atomic
from .data import DATASETS, DataFallbackWarning, DataNotFoundError

SOURCES = {"full": "full dataset", "sample": "shipped SAMPLE, not the full dataset",
           "synthetic": "SYNTHETIC stand-in, not real MVTec AD"}
USER_ERRORS = (ValueError, CheckpointError, OSError)  # arguments, data, configs, checkpoints, paths: exit 2


class CommandError(ValueError):
    """An argument or output path that cannot work: the message names the flag and the fix."""


def check_output_folder(path: str | Path, flag: str = "--out") -> Path:
    """`path` as a folder that exists or can be made, and written into: checked now, before any data is read or
    model trained (nothing is created yet)."""
    folder = Path(path)
    probe = folder
    while not probe.exists() and probe != probe.parent:  # the nearest part of the path that exists
        probe = probe.parent
    if not probe.is_dir():
        where = "is a file" if probe == folder else f"lies under {probe}, a file"
        raise CommandError(f"{flag} {folder} {where}, not a folder: pass a folder path")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise CommandError(f"{flag} {folder} cannot be written ({probe} is read-only): pass a writable folder")
    return folder


def _check_run_cache() -> None:
    from .runcache import check_cache_folder, default_cache_dir

    check_cache_folder(default_cache_dir())


def _split(args):
    """The protocol split named by --dataset / --normal-class / --size / --channels, shrunk to the profile's caps."""
    from .data import load_split
    from .profiles import get_profile

    profile = get_profile(args.profile)
    if args.synthetic and args.dataset != "mvtec":
        raise CommandError(f"--synthetic applies to --dataset mvtec only ({args.dataset} falls back to its shipped "
                           "sample on its own): leave it out")
    stand_in = args.synthetic or args.normal_class == "synthetic"
    try:
        split = load_split(args.dataset, args.normal_class, size=args.size, channels=args.channels, root=args.data,
                           seed=args.seed, fallback="synthetic" if stand_in else None, profile=profile)
    except DataNotFoundError as err:
        if args.dataset != "mvtec":
            raise
        raise DataNotFoundError(f"{err} On the command line: put the data there, pass --data, or --synthetic "
                                "for generated stand-in data") from err
    return split, profile


def _data_lines(split) -> list[str]:
    """What the data is: its source, the loaders' notice, and a centre crop of non-square images."""
    meta = split.meta
    lines = [f"data: {split.name} from the {SOURCES.get(meta.get('source'), meta.get('source'))}, "
             f"images {split.image_shape}"]
    if meta.get("notice"):
        lines.append(f"note: {meta['notice']}")
    non_square = [f"{h}x{w}" for h, w in meta.get("native_sizes") or [] if h != w]
    if non_square:
        lines.append(f"note: non-square images (H x W: {', '.join(non_square[:3])}) were centre-cropped to a square "
                     f"before resizing to {meta.get('size')}x{meta.get('size')}")
    return lines


def _run_record(args, profile, det, split, t0) -> dict:
    from .device import hardware_info

    return {"profile": profile.name, "hardware": hardware_info(det.trainer.device), "seed": args.seed,
            "wall_seconds": round(time.perf_counter() - t0, 2), "dataset": args.dataset,
            "normal_class": args.normal_class, "data_source": split.meta.get("source"),
            "data_notice": split.meta.get("notice") or "", "image_shape": list(split.image_shape),
            "command": " ".join(sys.argv)}


def _train(args) -> int:
    from .detector import GANAD

    t0 = time.perf_counter()
    out = check_output_folder(args.out)
    _check_run_cache()
    split, profile = _split(args)
    print(f"profile {profile.name}: {profile.description}")
    print("\n".join(_data_lines(split)))
    det = GANAD.from_profile(split, args.dataset, profile, seed=args.seed, device=args.device,
                             progress=not args.quiet)
    det.fit(split.train, normal=split.val)
    out.mkdir(parents=True, exist_ok=True)
    det.save(out / "model.pt")
    record = _run_record(args, profile, det, split, t0)
    record.update(train_seconds=round(det.train_seconds, 2), loaded_from_cache=det.loaded_from_cache)
    write_json_atomic(out / "train.json", record, indent=1)
    print(f"saved {out / 'model.pt'} ({'loaded from the run cache' if det.loaded_from_cache else 'trained'}; "
          f"data: {record['data_source']}; {record['hardware']['summary']}; seed {args.seed}; "
          f"{record['wall_seconds']} s)")
    return 0


def _score(args) -> int:
    from .detector import GANAD
    from .queries import load_queries

    out_file = Path(args.out) if args.out else None
    if out_file is not None:
        if out_file.is_dir():
            raise CommandError(f"--out {out_file} is a folder: pass a file name, e.g. {out_file / 'scores.json'}")
        check_output_folder(out_file.parent)
    det = GANAD.load(args.model, device=args.device)
    images, names, notes = load_queries(args.images, det.config.image_shape, resize=args.resize)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    s = det.score_terms(images, method=args.method, keep_maps=False)
    out = {"residual": s.residual.tolist(), "origin": s.origin.tolist(),
           "score": s.anomaly_score(args.weight, args.standardized).tolist(), "weight": args.weight,
           "standardized": args.standardized, "files": names, "notes": notes}
    if args.threshold is not None:
        out["threshold"] = args.threshold
        out["anomalous"] = s.decide(args.threshold, args.weight, args.standardized).tolist()
    if out_file is not None:
        write_json_atomic(out_file, out, indent=None)
        print(f"wrote scores of {len(s)} images to {out_file}")
    else:
        print(json.dumps(out))
    return 0


def _evaluate(args) -> int:
    import matplotlib
    matplotlib.use("Agg")
    from . import viz
    from .experiments import run_one

    t0 = time.perf_counter()
    out = check_output_folder(args.out)
    _check_run_cache()
    split, profile = _split(args)
    print("\n".join(_data_lines(split)))
    r = run_one(split, args.dataset, profile, args.seed, progress=not args.quiet, device=args.device)
    out.mkdir(parents=True, exist_ok=True)
    record = _run_record(args, profile, r.detector, split, t0)
    record.update(r.summary())
    write_json_atomic(out / "results.json", record, indent=1, default=str)
    y = r.labels
    pick = np.r_[np.flatnonzero(y == 0)[:4], np.flatnonzero(y == 1)[:4]]
    masks = None if split.test_masks is None else split.test_masks[pick]
    fig = viz.reconstruction_grid(split.test[pick], r.scores.recon[pick], r.scores.maps[pick], masks=masks,
                                  title=f"{r.name} ({profile.name} profile, seed {args.seed})")
    fig.savefig(out / "reconstructions.png", dpi=110, bbox_inches="tight")
    m = r.metrics["residual"]
    print(f"{r.name} [data: {record['data_source']}, {profile.name}, {record['hardware']['summary']}, seed "
          f"{args.seed}]: AUROC {m['auroc']:.4f} (PCA {r.baseline['auroc']:.4f}); F1 at held-out threshold "
          f"{m['heldout_threshold']['f1']:.4f} vs all-anomalous {m['trivial_all_anomalous']['f1']:.4f}; "
          f"wrote {out}/results.json, reconstructions.png")
    return 0


def _reproduce(args) -> int:
    import matplotlib
    matplotlib.use("Agg")
    from .experiments import reproduce

    t0 = time.perf_counter()
    check_output_folder(args.out)
    _check_run_cache()
    if args.sizes and args.experiment != "mvtec":
        raise ValueError("--sizes applies to --experiment mvtec only (MNIST and CIFAR-10 have one image size)")
    sizes = {"sizes": args.sizes} if args.sizes else {}
    folder = reproduce(args.experiment, args.profile, out_dir=args.out, progress=not args.quiet,
                       root=args.data, device=args.device, seeds=args.seeds, workers=args.workers, **sizes)
    summary = json.loads((folder / "results.json").read_text())
    spread = summary.get("headline_by_seed", {}).get("sd")
    spread = f" +- {spread:.4f} (sd over {len(summary['seeds'])} seeds)" if spread is not None else ""
    sources = sorted({str(r.get("meta", {}).get("source")) for r in summary.get("runs", [])})
    print(f"{args.experiment} [data: {', '.join(sources)}, {summary['profile']['name']}, "
          f"{summary['hardware']['summary']}]: mean AUROC {summary['mean']['auroc']:.4f}{spread} "
          f"(PCA {summary['mean']['pca_auroc']:.4f}); {time.perf_counter() - t0:.0f} s; wrote {folder}")
    return 0


def _prefill(args) -> int:
    from .experiments import prefill_book
    from .profiles import get_profile

    _check_run_cache()
    report = prefill_book(args.profile, root=args.data, device=args.device, workers=args.workers,
                          progress=not args.quiet, seeds=args.seeds)
    print(f"prefill ({get_profile(args.profile).name} profile): {report.runs} runs of the book, {report.trained} "
          f"trained and scored now" + (f" in {report.workers} processes" if report.workers > 1 else "")
          + f", the rest read from the run cache; {report.seconds:.0f} s")
    return 0


def _profiles(args) -> int:
    from .profiles import get_profile, profile_table

    print(profile_table())
    print(f"\nactive: {get_profile(args.profile).name}")
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, like every other error of the command line
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ganad-lite", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    debug = _Parser(add_help=False)
    debug.add_argument("--debug", action="store_true", help="show the traceback of an error")

    def common(p, seed=True):
        p.add_argument("--profile", help="smoke | cpu | full (default: $GANAD_PROFILE, else full with CUDA, else cpu)")
        p.add_argument("--device", default=None, help="auto | cpu | cuda | mps (default: auto)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.add_argument("--data", default=None, help="data root (default: $GANAD_DATA, else ~/.cache/ganad_lite)")
        if seed:
            p.add_argument("--seed", type=types.seed, default=0, help="seed of the split and the run, in [0, 2**32 - 1]")

    def workers_flag(p):
        p.add_argument("--workers", default=None, type=types.workers,
                       help="processes that train the runs side by side (default: $GANAD_WORKERS, else one per "
                            "torch thread on a CPU, 1 on a GPU; 1: all in this process)")

    for name, helptext in (("train", "train a detector on one normal class"),
                           ("evaluate", "train (or load from the cache) and evaluate on the protocol's test split")):
        p = sub.add_parser(name, help=helptext, parents=[debug])
        p.add_argument("--dataset", choices=DATASETS, required=True)
        p.add_argument("--normal-class", default=None,
                       help="digit, CIFAR-10 class (index or name) or MVTec category (default: 0, automobile, bottle)")
        p.add_argument("--size", type=types.positive_int, default=None,
                       help="MVTec image size (default 28, the thesis protocol; other sizes use every image)")
        p.add_argument("--channels", type=int, choices=(1, 3), default=None,
                       help="MVTec channels: 1 grey or 3 RGB (default: the category's own)")
        p.add_argument("--synthetic", action="store_true",
                       help="MVTec: use generated stand-in data when the category is not under the data root")
        p.add_argument("--out", default=f"runs/{name}", help="output folder")
        common(p)
    p = sub.add_parser("score", help="score images with a saved model", parents=[debug])
    p.add_argument("--model", required=True, help="model.pt written by `train`")
    p.add_argument("--images", required=True, help=".npy / .npz (x_test) / folder of images")
    p.add_argument("--resize", action="store_true",
                   help="centre-crop and resize folder images of another size to the model's size")
    p.add_argument("--method", default="encoder", choices=("encoder", "search", "hybrid"))
    p.add_argument("--weight", type=types.weight, default=0.05, help="score weight lambda in [0, 1]")
    p.add_argument("--standardized", action="store_true")
    p.add_argument("--threshold", type=types.finite, default=None, help="alpha: anomalous iff score > alpha")
    p.add_argument("--out", default=None, help="write JSON here instead of printing it")
    p.add_argument("--device", default=None)
    p = sub.add_parser("reproduce", help="regenerate a chapter's tables and grids into results/<profile>/<experiment>/",
                       parents=[debug])
    p.add_argument("--experiment", choices=DATASETS, required=True)
    p.add_argument("--out", default="results")
    p.add_argument("--seeds", default=None, type=types.seed_list,
                   help="comma-separated seeds, e.g. 0 or 0,1,2 (default: the profile's seeds)")
    p.add_argument("--sizes", default=None, type=types.size_list,
                   help="MVTec AD only: comma-separated image sizes, e.g. 28 or 28,64 (default: the profile's)")
    workers_flag(p)
    common(p, seed=False)
    p = sub.add_parser("prefill", help="train every run the book's chapters read into the run cache, costliest "
                                      "first, in worker processes (`make book` calls it first)", parents=[debug])
    p.add_argument("--seeds", default=None, type=types.seed_list,
                   help="comma-separated seeds, e.g. 0,1,2 for every run of `reproduce --seeds 0,1,2` "
                        "(default: the profile's seeds)")
    workers_flag(p)
    common(p, seed=False)
    p = sub.add_parser("profiles", help="print the budget table", parents=[debug])
    p.add_argument("--profile", default=None)
    return parser


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _fault_line(err: Exception) -> str:
    """A fault while running: a diverged run says what to change; anything else is an internal error."""
    from .training import TrainingDiverged

    if isinstance(err, TrainingDiverged):
        return _one_line(err)
    return f"{type(err).__name__}: {_one_line(err)} (an internal fault: rerun with --debug for the traceback)"


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    handler = {"train": _train, "score": _score, "evaluate": _evaluate, "reproduce": _reproduce,
               "prefill": _prefill, "profiles": _profiles}[args.command]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataFallbackWarning)  # its notice is printed as a "note:" line
            return handler(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("error: interrupted; a training run resumes from its last checkpoint when started again",
              file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 -- every error becomes one line (the traceback with --debug)
        if args.debug:
            raise
        if isinstance(err, USER_ERRORS):
            print(f"error: {_one_line(err)}", file=sys.stderr)
            return 2
        print(f"error: {_fault_line(err)}", file=sys.stderr)
        return 1
