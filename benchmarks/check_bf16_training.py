"""Does bf16 autocast train as well as fp32? One MNIST digit, both ways, same seed: time, losses, test AUROC.

bf16 autocast (TrainConfig.amp) runs on CUDA and on CPUs with native bf16 (AVX512-BF16 / AMX). This trains the
same one-class model in fp32 and in bf16 and compares training time and the residual / origin AUROC on the
digit's test set (uses the real MNIST when GANAD_DATA points at it, else the shipped sample).

    python benchmarks/check_bf16_training.py --digit 0 --profile cpu
"""
from __future__ import annotations

import time

import torch

from _common import Report, base_parser, setup

from ganad_lite.data import mnist_protocol
from ganad_lite.detector import GANAD
from ganad_lite.device import cpu_has_bf16
from ganad_lite.metrics import auroc


def build_parser():
    p = base_parser(__doc__.splitlines()[0], "bf16_training.json")
    p.add_argument("--digit", type=int, default=0)
    p.add_argument("--profile", default="cpu")
    p.add_argument("--epochs", type=int, default=None, help="default: the profile's MNIST epochs")
    p.add_argument("--max-test", type=int, default=2000, help="test images scored (stratified)")
    return p


def main():
    args = build_parser().parse_args()
    device = setup(args)
    report = Report("bf16 autocast vs fp32 training", args, device)
    report.header()
    if device.type == "cpu" and not cpu_has_bf16():
        report.print("this CPU has no native bf16: TrainConfig.amp stays fp32 here; nothing to compare")
        report.save(args.out)
        return
    split = mnist_protocol(args.digit).subsample(max_test=args.max_test)
    report.print(f"data: {split!r}")
    runs = {}
    for amp in (False, True):
        overrides = {"amp": amp} if args.epochs is None else {"amp": amp, "epochs": args.epochs}
        det = GANAD.from_profile((1, 28, 28), "mnist", args.profile, device=device, cache_dir=False, progress=False,
                                 **overrides)
        t0 = time.perf_counter()
        det.fit(split.train)
        seconds = time.perf_counter() - t0
        s = det.score_terms(split.test, keep_maps=False)
        last = det.history[-1]
        runs["bf16" if amp else "fp32"] = {
            "train_seconds": seconds, "auroc_residual": auroc(split.test_labels, s.residual),
            "auroc_origin": auroc(split.test_labels, s.origin), "last_losses": last, "config": det.config.to_dict()}
        r = runs["bf16" if amp else "fp32"]
        report.print(f"{'bf16' if amp else 'fp32'}: train {seconds:.1f} s, AUROC residual {r['auroc_residual']:.4f}, "
                     f"origin {r['auroc_origin']:.4f}; last logged W {last['wasserstein']:.3f}, penalty "
                     f"{last['penalty']:.4f}, encoder {last['encoder_loss']:.4f}")
    report.print(f"bf16 speed-up {runs['fp32']['train_seconds'] / runs['bf16']['train_seconds']:.2f}x")
    report.record.update({"split": repr(split), "runs": runs})
    report.save(args.out)


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
