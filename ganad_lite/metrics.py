"""Detection metrics, a thin layer over scikit-learn. Anomalies are the positive class (label 1)."""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from sklearn import metrics as skm


class MetricsError(ValueError):
    """Labels or scores a metric cannot use (wrong length, NaN, one class only): the message names the fix."""


def _numbers(values, name: str) -> np.ndarray:
    """values as a flat float64 array; non-numeric or complex values and NaN or infinities are MetricsErrors."""
    a = np.asarray(values)
    if a.dtype.kind not in "biuf":  # bool, int, uint, float: anything else has no order or loses a part
        raise MetricsError(f"{name} must be real numbers, got an array of dtype {a.dtype}")
    a = a.astype(np.float64).ravel()
    if not np.isfinite(a).all():
        raise MetricsError(f"{name} contain NaN or infinite values; check the model and its inputs")
    return a


def _arrays(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """Labels as 0/1 ints and scores as float64, both flat and of one length."""
    y, s = _numbers(labels, "labels"), _numbers(scores, "scores")
    if y.shape != s.shape:
        raise MetricsError(f"labels and scores differ in length: {y.shape[0]} vs {s.shape[0]}")
    if not np.isin(y, (0, 1)).all():
        raise MetricsError(f"labels must be 0 (normal) or 1 (anomaly), found {np.unique(y)[:5].tolist()}")
    return y.astype(int), s


def decide(scores, threshold: float) -> np.ndarray:
    """The one decision rule of the package: anomalous iff score > threshold (the reader's alpha).

    scores: anomaly scores of any shape, finite real numbers; threshold: a finite number in the scores'
    units. Returns booleans of the scores' shape. A NaN score or threshold is a MetricsError, never a
    silent "normal".
    """
    if isinstance(threshold, (bool, np.bool_)):
        raise MetricsError(f"threshold (alpha) must be a number, got {threshold!r}")
    try:
        threshold = float(threshold)
    except (TypeError, ValueError, OverflowError):
        raise MetricsError(f"threshold (alpha) must be a number, got {threshold!r}") from None
    if not np.isfinite(threshold):
        raise MetricsError(f"threshold (alpha) must be finite, got {threshold}; take one from held-out normal "
                           "scores, e.g. metrics.quantile_threshold(normal_scores, 0.95)")
    shape = np.shape(scores)
    return (_numbers(scores, "scores") > threshold).reshape(shape)


def _both_classes(y: np.ndarray) -> bool:
    return 0 < y.sum() < len(y)


def precision_recall_f1(labels, scores, threshold: float) -> dict:
    """Precision, recall and F1 of the decision `score > threshold`, plus the confusion counts."""
    y, s = _arrays(labels, scores)
    pred = decide(s, threshold).astype(int)
    p, r, f, _ = skm.precision_recall_fscore_support(y, pred, average="binary", zero_division=0)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    return {"threshold": float(threshold), "precision": float(p), "recall": float(r), "f1": float(f),
            "tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn)}


def auroc(labels, scores) -> float:
    """Area under the ROC curve; NaN if only one class is present (for per-epoch monitoring on small sets:
    a reported result goes through `evaluate`, which refuses such a test set)."""
    y, s = _arrays(labels, scores)
    return float(skm.roc_auc_score(y, s)) if _both_classes(y) else float("nan")


def average_precision(labels, scores) -> float:
    """Average precision (area under the precision-recall curve); NaN if only one class is present."""
    y, s = _arrays(labels, scores)
    return float(skm.average_precision_score(y, s)) if _both_classes(y) else float("nan")


def quantile_threshold(normal_scores, quantile: float = 0.95) -> float:
    """Threshold at a quantile of held-out NORMAL scores: the default, it uses no test labels.

    quantile 0.95 flags about 5% of normal images as anomalous.
    """
    s = _numbers(normal_scores, "held-out normal scores")
    if s.size == 0:
        raise MetricsError("quantile_threshold needs held-out normal scores, got none")
    if isinstance(quantile, (bool, np.bool_)) or not isinstance(quantile, (int, float, np.number)) \
            or not 0.0 <= quantile <= 1.0:
        raise MetricsError(f"quantile must be a number in [0, 1] (0.95 flags about 5% of normals), got {quantile!r}")
    return float(np.quantile(s, quantile))


def best_f1_threshold(labels, scores) -> float:
    """The test threshold with the best F1. OPTIMISTIC: it is chosen with the test labels."""
    y, s = _arrays(labels, scores)
    p, r, t = skm.precision_recall_curve(y, s)
    f1 = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0.0)[:-1]
    # precision_recall_curve predicts "score >= t"; our rule is "score > threshold", so step just below t.
    return float(np.nextafter(t[int(np.argmax(f1))], -np.inf))


def trivial_baseline(labels) -> dict:
    """Precision / recall / F1 of calling every image anomalous (what an F1 must beat)."""
    y = np.asarray(labels).ravel().astype(int)
    p = float(y.mean()) if len(y) else 0.0
    return {"precision": p, "recall": 1.0 if y.sum() else 0.0, "f1": 2 * p / (1 + p) if p > 0 else 0.0}


def roc_curve(labels, scores):
    y, s = _arrays(labels, scores)
    fpr, tpr, thr = skm.roc_curve(y, s)
    return fpr, tpr, thr


def pixel_auroc(masks, maps) -> float:
    """ROC AUC over all pixels: masks (N, H, W) or (N, 1, H, W) in {0, 1}, maps the same shape of scores."""
    m, a = np.asarray(masks).reshape(-1), np.asarray(maps, dtype=np.float64).reshape(-1)
    if m.shape != a.shape:
        raise MetricsError(f"masks and maps differ in size: {np.asarray(masks).shape} vs {np.asarray(maps).shape}")
    return auroc(m > 0, a)


def au_pro(masks, maps, fpr_limit: float = 0.3) -> float:
    """Area under the per-region-overlap curve up to a false-positive rate of `fpr_limit`, normalised to [0, 1].

    Bergmann et al. (2020): each connected defect region counts equally, whatever its size. For every
    threshold, PRO is the mean over regions of the fraction of the region above threshold, and FPR the
    fraction of defect-free pixels above threshold. masks (N, H, W) or (N, 1, H, W); maps the same shape.
    """
    masks = np.asarray(masks).reshape(np.asarray(maps).shape).astype(bool)
    maps = np.asarray(maps, dtype=np.float64)
    masks, maps = masks.reshape(-1, *masks.shape[-2:]), maps.reshape(-1, *maps.shape[-2:])
    region_weight = np.zeros(maps.shape, dtype=np.float64)  # 1 / (n_regions * region size) on defect pixels
    n_regions = 0
    labelled = []
    for m in masks:
        lab, n = ndimage.label(m)
        labelled.append((lab, n))
        n_regions += n
    if n_regions == 0:
        return float("nan")
    for i, (lab, n) in enumerate(labelled):
        if n:
            sizes = np.bincount(lab.ravel())
            region_weight[i][lab > 0] = 1.0 / (n_regions * sizes[lab[lab > 0]])
    ok = ~masks
    fp_weight = ok / ok.sum()
    order = np.argsort(-maps.ravel(), kind="stable")
    scores = maps.ravel()[order]
    fpr = np.cumsum(fp_weight.ravel()[order])
    pro = np.cumsum(region_weight.ravel()[order])
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores) != 0), scores.size - 1]  # one point per distinct threshold
    fpr, pro = np.r_[0.0, fpr[last_of_tie]], np.r_[0.0, pro[last_of_tie]]
    fpr, pro = np.clip(fpr, 0, 1), np.clip(pro, 0, 1)
    keep = fpr <= fpr_limit
    x, y = fpr[keep], pro[keep]
    if x[-1] < fpr_limit and keep.sum() < fpr.size:  # close the curve at fpr_limit by linear interpolation
        j = keep.sum()
        y_lim = pro[j - 1] + (pro[j] - pro[j - 1]) * (fpr_limit - fpr[j - 1]) / max(fpr[j] - fpr[j - 1], 1e-12)
        x, y = np.r_[x, fpr_limit], np.r_[y, y_lim]
    return float(skm.auc(x, y) / fpr_limit)


def evaluate(labels, scores, normal_scores, quantile: float = 0.95) -> dict:
    """Everything a results table needs, for one score.

    labels (T,) in {0, 1} (1 = anomaly) and scores (T,) of the test images; normal_scores: scores of held-out
    normal images (never test images) for the label-free threshold. The test set must hold both classes
    (AUROC, average precision and the best test threshold need them): MetricsError otherwise.
    """
    y, s = _arrays(labels, scores)
    if not _both_classes(y):
        have = "no images" if len(y) == 0 else f"only {'anomalous' if y.all() else 'normal'} images ({len(y)})"
        raise MetricsError(f"the test set holds {have}: AUROC and the F1 thresholds need both normal (0) and "
                           "anomalous (1) test images; use a test split with both classes")
    t_val = quantile_threshold(normal_scores, quantile)
    t_best = best_f1_threshold(y, s)
    return {
        "auroc": auroc(y, s),
        "average_precision": average_precision(y, s),
        "heldout_threshold": {"quantile": quantile, **precision_recall_f1(y, s, t_val)},
        "best_test_threshold_optimistic": precision_recall_f1(y, s, t_best),
        "trivial_all_anomalous": trivial_baseline(y),
        "n_test": int(len(y)), "n_anomalous": int(y.sum()),
    }
