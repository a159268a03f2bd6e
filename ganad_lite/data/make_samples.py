"""Build the small real MNIST and CIFAR-10 samples shipped in ganad_lite/data/samples/.

    python -m ganad_lite.data.make_samples DATASETS_DIR [--out FOLDER]

DATASETS_DIR holds mnist.npz and a cifar10*.npz bundle (x_train, y_train, x_test, y_test, uint8). The samples
take the first images of each class in the source order (no randomness: a rebuild holds the same arrays).
They keep the bundle format, plus the source indices (``i_train``, ``i_test``).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

MNIST_TRAIN_PER_DIGIT, MNIST_TEST_PER_DIGIT = 400, 200
CIFAR_TRAIN_CLASSES, CIFAR_TRAIN_PER_CLASS, CIFAR_TEST_PER_CLASS = ("automobile",), 500, 80
BUDGET_BYTES = 5_000_000


def first_per_class(y: np.ndarray, per_class: int, classes) -> np.ndarray:
    """Indices (sorted) of the first `per_class` items of each class in `classes`."""
    idx = [np.flatnonzero(y == c)[:per_class] for c in classes]
    for c, i in zip(classes, idx):
        if len(i) < per_class:
            raise SystemExit(f"class {c} has only {len(i)} images; {per_class} needed")
    return np.sort(np.concatenate(idx))


def build(src: Path, out: Path, name: str, train_classes, n_train: int, n_test: int) -> int:
    """Write <out>/<name>_sample.npz from the bundle `src`; returns its size in bytes."""
    with np.load(src, allow_pickle=False) as f:
        d = {k: f[k] for k in f.files}
    names = [str(c) for c in d["class_names"]] if "class_names" in d else [str(i) for i in range(10)]
    train_ids = [names.index(c) if isinstance(c, str) else c for c in train_classes]
    i_train = first_per_class(d["y_train"], n_train, train_ids)
    i_test = first_per_class(d["y_test"], n_test, range(len(names)))
    path = out / f"{name}_sample.npz"
    np.savez_compressed(path, x_train=d["x_train"][i_train], y_train=d["y_train"][i_train].astype(np.uint8),
                        x_test=d["x_test"][i_test], y_test=d["y_test"][i_test].astype(np.uint8),
                        class_names=np.array(names), i_train=i_train, i_test=i_test)
    return path.stat().st_size


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("datasets", type=Path, help="folder with mnist.npz and cifar10*.npz")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "samples")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    cifar = sorted(args.datasets.glob("cifar10*.npz"))
    if not (args.datasets / "mnist.npz").is_file() or not cifar:
        raise SystemExit(f"{args.datasets} must hold mnist.npz and a cifar10*.npz bundle")
    sizes = {"mnist": build(args.datasets / "mnist.npz", args.out, "mnist", range(10),
                            MNIST_TRAIN_PER_DIGIT, MNIST_TEST_PER_DIGIT),
             "cifar10": build(cifar[0], args.out, "cifar10", CIFAR_TRAIN_CLASSES,
                              CIFAR_TRAIN_PER_CLASS, CIFAR_TEST_PER_CLASS)}
    print({k: f"{v:,} bytes" for k, v in sizes.items()}, f"total {sum(sizes.values()):,}")
    if sum(sizes.values()) > BUDGET_BYTES:
        raise SystemExit(f"samples exceed the {BUDGET_BYTES:,}-byte budget")


if __name__ == "__main__":
    main()
