"""One-class anomaly-detection splits (the thesis protocols), one call each.

Every protocol returns a Split: normal training images, a held-out validation slice of normal *training*
images (for thresholds chosen without test labels), and a labelled test set (1 = anomaly). No protocol ever
puts a test image into train or val. All draws are seeded (NumPy generators), so a seed fixes the split.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field

import numpy as np
import torch

from .arrays import ArrayDataset, load_cifar10, load_mnist
from .download import MVTEC_HOST, download_mvtec
from .mvtec import MVTEC_CATEGORIES, find_category, load_category
from .root import DataError, DataNotFoundError, cache_dir, data_root, download_policy, notify
from .synthetic import make_synthetic_mvtec

FULL_CIFAR_TEST_PER_CLASS = 1000
THESIS_MVTEC_TRAIN = 100
THESIS_MVTEC_TEST = 100


@dataclass(repr=False)
class Split:
    """A one-class split.

    train: uint8 (N, C, H, W) normal images; val: uint8 (M, C, H, W) held-out normal training images;
    test: uint8 (T, C, H, W); test_labels: int64 (T,), 1 = anomaly; test_masks: uint8 (T, 1, H, W) in
    {0, 1} or None; test_types: T names (defect type or class name) or None; meta: how it was made.
    """

    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor
    test_labels: torch.Tensor
    test_masks: torch.Tensor | None = None
    test_types: list[str] | None = None
    name: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image in the split."""
        return tuple(self.train.shape[1:])

    def __repr__(self) -> str:
        return (f"Split({self.name!r}, train={len(self.train)}, val={len(self.val)}, test={len(self.test)} "
                f"({int(self.test_labels.sum())} anomalous), image_shape={self.image_shape}, "
                f"source={self.meta.get('source')!r})")

    def subsample(self, max_train: int | None = None, max_test: int | None = None, seed: int = 0,
                  max_val: int | None = None) -> "Split":
        """A smaller copy: at most max_train / max_val random images, and max_test test images drawn
        stratified by label (the anomaly ratio is kept; masks and types stay aligned). None keeps all."""
        rng = np.random.default_rng([seed, 1])
        tr = _pick(len(self.train), max_train, rng)
        va = _pick(len(self.val), max_val, rng)
        te = _stratified(self.test_labels.numpy(), max_test, rng) if max_test is not None else np.arange(len(self.test))
        meta = copy.deepcopy(self.meta)
        meta.update(n_train=len(tr), n_val=len(va), n_test=len(te), n_test_anomalous=int(self.test_labels[te].sum()),
                    subsample=dict(max_train=max_train, max_val=max_val, max_test=max_test, seed=seed))
        return Split(self.train[tr], self.val[va], self.test[te], self.test_labels[te],
                     None if self.test_masks is None else self.test_masks[te],
                     None if self.test_types is None else [self.test_types[i] for i in te], self.name, meta)


def _pick(n: int, k: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of k of n items drawn without replacement (all n if k is None or k >= n)."""
    if k is None or k >= n:
        return np.arange(n)
    if k < 0:
        raise DataError(f"a subsample size must be >= 0, got {k}")
    return np.sort(rng.choice(n, k, replace=False))


def _stratified(labels: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of k items keeping each label's share (largest remainders; every label kept if k allows)."""
    n = len(labels)
    if k >= n:
        return np.arange(n)
    if k < 0:
        raise DataError(f"a subsample size must be >= 0, got {k}")
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * k / n
    take = np.floor(quota).astype(int)
    if k >= len(classes):
        take = np.maximum(take, 1)
    for i in np.argsort(-(quota - take))[: max(0, k - take.sum())]:
        take[i] += 1
    while take.sum() > k:  # only when the minimum of 1 per class overshot
        take[np.argmax(take)] -= 1
    idx = [rng.choice(np.flatnonzero(labels == c), t, replace=False) for c, t in zip(classes, take)]
    return np.sort(np.concatenate(idx))


def _train_val(n: int, val_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split n normal training images into (train, val) index arrays; val has round(val_fraction * n)."""
    if not 0 <= val_fraction < 1:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n_val = int(round(val_fraction * n))
    if n - n_val < 1:
        raise DataError(f"only {n} normal training images: too few to hold out {val_fraction:.0%} for validation")
    perm = rng.permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _meta(dataset: str, normal_class, source: str, notice: str, seed: int, val_fraction: float, split_parts,
          **extra) -> dict:
    train, val, labels = split_parts
    return dict(dataset=dataset, normal_class=normal_class, source=source, notice=notice, seed=seed,
                val_fraction=val_fraction, n_train=len(train), n_val=len(val), n_test=len(labels),
                n_test_anomalous=int(labels.sum()), image_shape=list(train.shape[1:]), **extra)


def _class_index(normal_class: int | str, ds: ArrayDataset) -> int:
    names = ds.class_names
    if isinstance(normal_class, str) and normal_class in names:
        return names.index(normal_class)
    is_int = isinstance(normal_class, (int, np.integer)) and not isinstance(normal_class, bool)
    if is_int and 0 <= normal_class < len(names):
        return int(normal_class)
    raise DataError(f"unknown {ds.name} class {normal_class!r}; valid classes: "
                    + ", ".join(f"{i} {n}" for i, n in enumerate(names)))


def _one_class(ds: ArrayDataset, k: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, val) from the training images of class k; a bundle without them is an error."""
    pool = ds.x_train[ds.y_train == k]
    if len(pool) == 0:
        have = sorted({ds.class_names[i] for i in ds.y_train.unique().tolist()})
        raise DataError(f"the {ds.name} data at {ds.path} has no training images of class {ds.class_names[k]!r} "
                        f"(it holds training images of: {', '.join(have) or 'none'}). Use a normal class it has, "
                        f"or get the full dataset: call load_{ds.name}(download=True) with internet, or put "
                        "torchvision's folder or a complete .npz bundle in the data root (GANAD_DATA).")
    tr, va = _train_val(len(pool), val_fraction, np.random.default_rng([seed, 0]))
    return pool[tr], pool[va]


def mnist_protocol(digit: int, root: str | os.PathLike | None = None, val_fraction: float = 0.1, seed: int = 0,
                   download: bool | None = None) -> Split:
    """MNIST one-class split for digit k: train = every training image of k minus the val slice;
    test = every test image (10,000 on the full data), label 1 iff the digit is not k. Images (1, 28, 28)."""
    ds = load_mnist(root, download)
    k = _class_index(digit, ds)
    train, val = _one_class(ds, k, val_fraction, seed)
    labels = (ds.y_test != k).long()
    meta = _meta("mnist", k, ds.source, ds.notice, seed, val_fraction, (train, val, labels), path=ds.path,
                 protocol=f"train: training images of digit {k} (minus val); test: all test images, "
                          "anomaly = any other digit")
    return Split(train, val, ds.x_test, labels, None, [ds.class_names[i] for i in ds.y_test.tolist()],
                 f"mnist_digit{k}", meta)


def cifar10_protocol(normal_class: int | str = "automobile", n_other: int = 1000, val_fraction: float = 0.1,
                     seed: int = 0, root: str | os.PathLike | None = None, download: bool | None = None) -> Split:
    """CIFAR-10 one-class split: train = the normal class's training images (5,000) minus val; test = all its
    test images (1,000) plus n_other test images drawn uniformly (seeded) from the other classes.

    On the shipped sample (80 test images per class), n_other is scaled by the same ratio (1,000 -> 80) and the
    notice says so; on full data asking for more other-class images than exist is an error.
    """
    ds = load_cifar10(root, download)
    k = _class_index(normal_class, ds)
    train, val = _one_class(ds, k, val_fraction, seed)
    normal_idx = torch.nonzero(ds.y_test == k).flatten().numpy()
    other_idx = torch.nonzero(ds.y_test != k).flatten().numpy()
    if len(normal_idx) == 0:
        raise DataError(f"the {ds.name} data at {ds.path} has no test images of class {ds.class_names[k]!r}")
    notice, want = ds.notice, n_other
    if ds.source == "sample":
        want = min(len(other_idx), int(round(n_other * len(normal_idx) / FULL_CIFAR_TEST_PER_CLASS)))
        notice += (f" The sample's test set has {len(normal_idx)} {ds.class_names[k]} images, so n_other={n_other} "
                   f"is scaled to {want} other-class images.")
    elif n_other > len(other_idx) or n_other < 0:
        raise DataError(f"n_other={n_other} other-class test images asked for, but {ds.path} has only "
                        f"{len(other_idx)}; pass n_other <= {len(other_idx)}")
    drawn = np.random.default_rng([seed, 1]).choice(other_idx, want, replace=False)
    idx = torch.from_numpy(np.sort(np.concatenate([normal_idx, drawn])))
    labels = (ds.y_test[idx] != k).long()
    meta = _meta("cifar10", ds.class_names[k], ds.source, notice.strip(), seed, val_fraction, (train, val, labels),
                 n_other=int(want), path=ds.path,
                 protocol=f"train: training images of {ds.class_names[k]} (minus val); test: all its test images "
                          f"+ {want} drawn from the other classes")
    return Split(train, val, ds.x_test[idx], labels, None, [ds.class_names[i] for i in ds.y_test[idx].tolist()],
                 f"cifar10_{ds.class_names[k]}", meta)


def _download_category(category: str, root, download: bool | None) -> tuple:
    """(folder, "") once ``download_mvtec`` has fetched a missing official category, else (None, why not):
    not allowed by ``download_policy``, or an unasked download that failed. An asked one that fails raises."""
    policy = download_policy(download, MVTEC_HOST)
    if policy == "no":
        return None, ""
    try:
        return download_mvtec(category, root, keep_archive=True), ""  # kept: the next category unpacks from it
    except (DataError, OSError) as err:
        if policy == "asked":
            raise
        return None, f" (downloading it failed: {err})"


def _synthetic_category(category: str, root, failed: str = "") -> tuple:
    """Generate (once) a synthetic stand-in for a missing category in the cache; returns (folder, notice)."""
    folder = make_synthetic_mvtec(cache_dir(root) / "synthetic_mvtec", category, size=128, seed=0)
    notice = (f"MVTec AD category {category!r} not found under {data_root(root)}{failed}: using SYNTHETIC "
              f"stand-in data generated in {folder} (textures/objects with planted scratches, spots, holes and "
              "stains), not real MVTec AD. For the real data call ganad_lite.data.download_mvtec("
              f"{category!r}) online, or download it from https://www.mvtec.com/company/research/datasets/mvtec-ad "
              "(CC BY-NC-SA 4.0) and set GANAD_DATA to the folder holding its category folders.")
    return folder, notice


def mvtec_protocol(category: str = "bottle", mode: str = "thesis", size: int = 28, channels: int | None = None,
                   val_fraction: float = 0.1, seed: int = 0, root: str | os.PathLike | None = None, *,
                   n_train: int | None = None, n_test: int | None = None, fallback: str | None = None,
                   download: bool | None = None) -> Split:
    """MVTec AD one-class split for one category, images (C, size, size), masks aligned.

    channels: 1 or 3; None keeps the category's own count (3 if any of its images is in colour, else 1).
    Non-square images keep their aspect ratio: the shorter side is resized to size and the centre cropped
    (meta["resize"] says so and meta["native_sizes"] lists the sizes found).

    mode="thesis": n_train (default 100) images drawn with the seed from train/good, a val slice of
    round(val_fraction * n_train) other train/good images, and n_test (default 100) test images drawn from
    test/ stratified by good/defect. With the defaults a category with fewer images uses all it has and says so
    (bottle's test split has 83 images); explicit n_train / n_test larger than available are errors.
    mode="full": all train/good images minus the val slice; all test images.
    download: fetch a missing official category with ``download_mvtec`` (True; None: as ``download_policy``
    says, i.e. $GANAD_DOWNLOAD, else only when the MVTec host answers; the archive is kept in the data root).
    fallback=None (the default): a category not found (nor downloaded) is a DataError saying where it was
    looked for. fallback="synthetic": it is replaced by generated stand-in data (with a notice).
    meta["source"] is "full" (the data found under the root) or "synthetic".
    """
    if mode not in ("thesis", "full"):
        raise DataError(f"mode must be 'thesis' or 'full', got {mode!r}")
    if fallback not in (None, "synthetic"):
        raise DataError(f"fallback must be None or 'synthetic', got {fallback!r}")
    source, notice = "full", ""
    try:
        cat_dir = find_category(category, root)
    except DataError as err:  # an unknown name is a DataError, a missing official one a DataNotFoundError
        official = isinstance(err, DataNotFoundError) and category in MVTEC_CATEGORIES
        cat_dir, failed = _download_category(category, root, download) if official else (None, "")
        if cat_dir is None:
            if fallback != "synthetic" or not (official or category == "synthetic"):
                raise
            cat_dir, notice = _synthetic_category(category, root, failed)
            source = "synthetic"
            notify(notice)
    cache_root = data_root(root) if source == "full" else None
    train_set = load_category(cat_dir, "train", size, channels, cache_root=cache_root)
    test_set = load_category(cat_dir, "test", size, channels, cache_root=cache_root)
    depth = max(train_set.images.shape[1], test_set.images.shape[1])  # one split in colour: both in colour
    train_images, test_images = (x.expand(-1, depth, -1, -1) if x.shape[1] < depth else x
                                 for x in (train_set.images, test_set.images))
    notes = []
    if mode == "full":
        tr, va = _train_val(len(train_set), val_fraction, np.random.default_rng([seed, 0]))
        te = np.arange(len(test_set))
    else:
        tr, va, te, notes = _thesis_draw(train_set, test_set, val_fraction, seed, n_train, n_test)
    notice = " ".join([notice] + notes).strip()
    if notes:
        notify(" ".join(notes))
    train, val, test, labels = train_images[tr], train_images[va], test_images[te], test_set.labels[te]
    types = [test_set.defect_types[i] for i in te]
    meta = _meta("mvtec", category, source, notice, seed, val_fraction, (train, val, labels), mode=mode, size=size,
                 channels=depth, path=str(cat_dir), n_available=dict(train=len(train_set), test=len(test_set)),
                 resize=f"shorter side to {size} px (bilinear), centre {size}x{size} crop",
                 native_sizes=sorted(set(train_set.native_sizes) | set(test_set.native_sizes)),
                 test_type_counts={t: types.count(t) for t in sorted(set(types))},
                 protocol=f"{mode}: train and val drawn from train/good; test from test/"
                          + (" (stratified by good/defect)" if mode == "thesis" else ""))
    return Split(train, val, test, labels, test_set.masks[te], types, f"mvtec_{category}_{mode}_{size}", meta)


def _thesis_draw(train_set, test_set, val_fraction: float, seed: int, n_train: int | None, n_test: int | None):
    """Index arrays (train, val, test) and notes for the thesis mode (see mvtec_protocol)."""
    if not 0 <= val_fraction < 1:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}")
    notes, cat = [], train_set.category
    want = THESIS_MVTEC_TRAIN if n_train is None else n_train
    n_val = int(round(val_fraction * want))
    if want < 1 or want + n_val > len(train_set):
        if n_train is not None:
            raise DataError(f"n_train={n_train} plus {n_val} validation images asked for, but {cat}'s train/good "
                            f"has {len(train_set)} images; pass a smaller n_train or mode='full'")
        n_val = int(round(val_fraction * len(train_set)))
        want = len(train_set) - n_val
        notes.append(f"{cat}: train/good has only {len(train_set)} images, so the thesis mode trains on {want} "
                     f"and validates on {n_val} (instead of {THESIS_MVTEC_TRAIN} and "
                     f"{int(round(val_fraction * THESIS_MVTEC_TRAIN))}).")
    if want < 1:
        raise DataError(f"{cat}'s train/good has {len(train_set)} images: too few for training plus validation")
    perm = np.random.default_rng([seed, 0]).permutation(len(train_set))
    tr, va = np.sort(perm[:want]), np.sort(perm[want:want + n_val])
    want_test = THESIS_MVTEC_TEST if n_test is None else n_test
    if want_test > len(test_set) or want_test < 1:
        if n_test is not None:
            raise DataError(f"n_test={n_test} test images asked for, but {cat}'s test/ has {len(test_set)}; "
                            f"pass n_test <= {len(test_set)}")
        notes.append(f"{cat}: test/ has only {len(test_set)} images, so the thesis mode tests on all of them "
                     f"(instead of {THESIS_MVTEC_TEST}).")
        want_test = len(test_set)
    te = _stratified(test_set.labels.numpy(), want_test, np.random.default_rng([seed, 1]))
    return tr, va, te, notes
