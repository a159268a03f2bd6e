"""The discussion chapter's studies: F1 under other class balances, thresholds at other quantiles, and
training on normals contaminated with anomalies. Each returns a DataFrame."""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np
import torch

from .. import data as gdata
from ..baselines import PCABaseline
from ..metrics import auroc, precision_recall_f1, quantile_threshold, trivial_baseline
from ..profiles import get_profile
from .protocol import PRIMARY
from .runs import make_split, run_one

if TYPE_CHECKING:
    from .runs import OneClassResult

GAN_FRACTIONS = (0.0, 0.1)  # contamination shares the study trains a GAN at (the book's prefill trains them too)


def class_balance_study(labels, scores, threshold: float, shares=(0.1, 0.3, 0.5, 0.7, 0.9), draws: int = 20,
                        seed: int = 0):
    """F1 at a FIXED threshold, the trivial F1 and AUROC when the test set is resampled to other anomaly shares.

    For each share the largest test subset with that share is drawn `draws` times without replacement; the
    detector and its threshold never change, only the class balance of what it is scored on. Returns a
    DataFrame indexed by the anomalous share (means over the draws)."""
    import pandas as pd

    y, s = np.asarray(labels).astype(int), np.asarray(scores, dtype=float)
    normal, anomalous = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    rng = np.random.default_rng(seed)
    rows = {}
    for share in shares:
        n = int(min(len(normal) / (1 - share), len(anomalous) / share))
        n_a = int(round(share * n))
        recs = []
        for _ in range(draws):
            idx = np.r_[rng.choice(normal, n - n_a, replace=False), rng.choice(anomalous, n_a, replace=False)]
            prf = precision_recall_f1(y[idx], s[idx], threshold)
            recs.append((prf["precision"], prf["recall"], prf["f1"], trivial_baseline(y[idx])["f1"],
                         auroc(y[idx], s[idx])))
        rows[share] = dict(zip(("P", "R", "F1", "F1 all anomalous", "AUROC"), np.mean(recs, axis=0)), n_test=n)
    df = pd.DataFrame(rows).T
    df.index.name = "anomalous share of test"
    return df


def quantile_study(run: OneClassResult, variant: str = PRIMARY, quantiles=(0.5, 0.8, 0.9, 0.95, 0.99, 1.0)):
    """P/R/F1 on the test set at thresholds taken as quantiles of the held-out normal scores (no test labels),
    with the share of test normals flagged (false-positive rate)."""
    import pandas as pd

    y, s = run.labels, run.variant_scores(variant)
    normal = run.variant_scores(variant, normal=True)
    rows = {}
    for q in quantiles:
        prf = precision_recall_f1(y, s, quantile_threshold(normal, q))
        rows[q] = {"threshold": prf["threshold"], "P": prf["precision"], "R": prf["recall"], "F1": prf["f1"],
                   "FPR": prf["fp"] / max(prf["fp"] + prf["tn"], 1)}
    df = pd.DataFrame(rows).T
    df.index.name = "quantile of held-out normal scores"
    return df


def contaminate(split, pool, fraction: float, seed: int = 0):
    """A copy of `split` whose training and held-out images have `fraction` of them replaced by anomalies drawn
    from `pool` (uint8 (P, C, H, W) images of other classes, never test images); the test set is unchanged."""
    if not 0 <= fraction < 1:
        raise ValueError(f"contamination fraction must lie in [0, 1), got {fraction}")
    rng = np.random.default_rng([seed, 3])
    parts = []
    for x in (split.train, split.val):
        k = int(round(fraction * len(x)))
        if k > len(pool):
            raise ValueError(f"{k} contaminating images asked for, but the pool holds only {len(pool)}")
        x = x.clone()
        x[rng.choice(len(x), k, replace=False)] = pool[torch.from_numpy(rng.choice(len(pool), k, replace=False))]
        parts.append(x)
    meta = copy.deepcopy(split.meta) | {"contamination": fraction}
    name = f"{split.name}_contaminated{fraction:g}" if fraction else split.name
    return gdata.Split(parts[0], parts[1], split.test, split.test_labels, split.test_masks, split.test_types, name,
                       meta)


def contaminated(split, digit: int, fraction: float, seed: int = 0, root=None):
    """`contaminate` an MNIST split of normal digit `digit` with the other digits' training images."""
    ds = gdata.load_mnist(root)
    return contaminate(split, ds.x_train[ds.y_train != digit], fraction, seed)


def contamination_study(digit: int = 0, fractions=(0.0, 0.02, 0.05, 0.1), gan_fractions=GAN_FRACTIONS, profile=None,
                        seed: int = 0, root=None, progress: bool = True, cache_dir=None, device=None):
    """MNIST digit `digit` trained on normals contaminated with other digits' TRAINING images: test AUROC of
    the PCA baseline for every fraction and of the GAN (L_n and the source mix) for `gan_fractions`.
    The held-out slice is contaminated at the same rate (it comes from the same unlabelled pool)."""
    import pandas as pd

    p = get_profile(profile)
    split = make_split("mnist", digit, p, seed, root)
    ds = gdata.load_mnist(root)
    pool = ds.x_train[ds.y_train != digit]
    y = split.test_labels.numpy()
    rows = {}
    for f in sorted(set(fractions) | set(gan_fractions)):
        s = contaminate(split, pool, f, seed)
        pca = PCABaseline(seed=seed).fit(s.train)
        row = {"PCA AUROC": auroc(y, pca.reconstruction_error(s.test)[0])}
        if f in gan_fractions:
            r = run_one(s, "mnist", p, seed, progress=progress, cache_dir=cache_dir, device=device)
            row.update({"GAN AUROC (L_n)": r.metrics[PRIMARY]["auroc"],
                        "GAN AUROC (source mix)": r.metrics["source_mix"]["auroc"],
                        "GAN F1 held-out (L_n)": r.metrics[PRIMARY]["heldout_threshold"]["f1"]})
        rows[f] = row
    df = pd.DataFrame(rows).T
    df.index.name = "share of anomalies in training"
    return df
