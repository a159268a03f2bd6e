import numpy as np
import pytest
from sklearn import metrics as skm

from ganad_lite import metrics


@pytest.fixture
def labelled():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.3).astype(int)
    s = rng.normal(size=300) + 1.2 * y
    return y, s


def test_threshold_metrics_equal_sklearn(labelled):
    y, s = labelled
    out = metrics.precision_recall_f1(y, s, 0.4)
    pred = s > 0.4
    assert out["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert out["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert out["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert out["tp"] + out["fn"] == y.sum() and out["tp"] + out["fp"] == pred.sum()
    assert metrics.auroc(y, s) == pytest.approx(skm.roc_auc_score(y, s))
    assert metrics.average_precision(y, s) == pytest.approx(skm.average_precision_score(y, s))


def test_best_f1_is_the_maximum(labelled):
    y, s = labelled
    t = metrics.best_f1_threshold(y, s)
    best = metrics.precision_recall_f1(y, s, t)["f1"]
    grid = max(skm.f1_score(y, s > u) for u in np.unique(s))
    assert best == pytest.approx(grid)


def test_quantile_threshold_and_trivial_baseline():
    assert metrics.quantile_threshold(np.arange(101), 0.95) == pytest.approx(95.0)
    y = np.array([1] * 9 + [0])
    base = metrics.trivial_baseline(y)
    assert base == {"precision": 0.9, "recall": 1.0, "f1": pytest.approx(2 * 0.9 / 1.9)}
    with pytest.raises(ValueError, match="held-out normal"):
        metrics.quantile_threshold([])


def test_pixel_auroc():
    masks = np.zeros((2, 4, 4), int)
    masks[0, 1:3, 1:3] = 1
    maps = masks + 0.1 * np.arange(32).reshape(2, 4, 4) / 32
    assert metrics.pixel_auroc(masks, maps) == 1.0
    assert metrics.pixel_auroc(masks, -maps) == 0.0


def test_au_pro_hand_made():
    # One image, two defect regions of different sizes, each counting equally.
    masks = np.zeros((1, 10, 10), int)
    masks[0, 0, 0:2] = 1          # small region: 2 pixels
    masks[0, 5:9, 5:9] = 1        # large region: 16 pixels
    perfect = masks.astype(float)
    assert metrics.au_pro(masks, perfect) == pytest.approx(1.0)
    # Only the small region scores high: the curve goes (0, 0) -> (0, 0.5) -> (1, 1). Closed by linear
    # interpolation at FPR 0.3 (as the MVTec AD evaluation code does): PRO(0.3) = 0.65, so the
    # normalised area is (0.5 + 0.65) / 2 = 0.575.
    half = np.zeros((1, 10, 10))
    half[0, 0, 0:2] = 1.0
    assert metrics.au_pro(masks, half, fpr_limit=0.3) == pytest.approx(0.575, abs=1e-9)
    # A map with no information (constant) flips every pixel at once: the curve is the diagonal, area 0.15.
    assert metrics.au_pro(masks, np.zeros((1, 10, 10))) == pytest.approx(0.15)
    # Random maps flip region and background pixels alike: on average the diagonal again, area 0.15 (the
    # mean of 30 draws has a standard error of about 0.015).
    rng = np.random.default_rng(0)
    rand = np.mean([metrics.au_pro(masks, rng.random((1, 10, 10))) for _ in range(30)])
    assert rand == pytest.approx(0.15, abs=0.045)


def test_evaluate_report_has_every_part(labelled):
    y, s = labelled
    normals = np.random.default_rng(1).normal(size=200)
    rep = metrics.evaluate(y, s, normals, quantile=0.9)
    assert rep["heldout_threshold"]["threshold"] == pytest.approx(np.quantile(normals, 0.9))
    assert rep["best_test_threshold_optimistic"]["f1"] >= rep["heldout_threshold"]["f1"]
    assert set(rep) >= {"auroc", "average_precision", "trivial_all_anomalous", "n_test", "n_anomalous"}


def test_metric_input_errors():
    with pytest.raises(ValueError, match="differ in length"):
        metrics.auroc([0, 1], [0.1])
    with pytest.raises(ValueError, match="NaN"):
        metrics.auroc([0, 1], [0.1, np.nan])


def test_decide_refuses_nan_scores_and_thresholds():
    np.testing.assert_array_equal(metrics.decide([[0.1, 0.6], [0.5, 0.9]], 0.5), [[False, True], [False, True]])
    with pytest.raises(metrics.MetricsError, match="NaN"):
        metrics.decide([np.nan, 1.0], 0.5)  # a NaN score is never a silent "normal"
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(metrics.MetricsError, match="finite"):
            metrics.decide([0.1, 0.2], bad)
    for bad in (True, "high", None, [0.1, 0.2], 10 ** 400):
        with pytest.raises(metrics.MetricsError, match="must be a number"):
            metrics.decide([0.1, 0.2], bad)
    with pytest.raises(metrics.MetricsError, match="real numbers"):
        metrics.decide(np.array([1 + 2j]), 0.5)  # the imaginary part would be dropped


def test_evaluate_needs_both_classes():
    normals = [0.1, 0.2, 0.3]
    for labels, which in (([0, 0, 0], "only normal images"), ([1, 1, 1], "only anomalous images"),
                          ([], "no images")):
        with pytest.raises(metrics.MetricsError, match=f"{which}.*AUROC.*need both"):
            metrics.evaluate(labels, np.arange(len(labels), dtype=float), normals)
    assert np.isnan(metrics.auroc([0, 0, 0], [0.1, 0.2, 0.3]))  # monitoring may see one class: NaN, documented


def test_labels_and_normal_scores_are_checked():
    with pytest.raises(metrics.MetricsError, match=r"labels must be 0 \(normal\) or 1 \(anomaly\), found \[0.0, 0.5"):
        metrics.auroc([0, 0.5, 1], [0.1, 0.2, 0.3])  # 0.5 used to be cast to 0
    with pytest.raises(metrics.MetricsError, match="held-out normal scores contain NaN"):
        metrics.evaluate([0, 1], [0.1, 0.9], [0.1, np.nan])
    with pytest.raises(metrics.MetricsError, match=r"quantile must be a number in \[0, 1\]"):
        metrics.quantile_threshold([0.1, 0.2], 95)
