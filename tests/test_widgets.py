import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from ganad_lite import metrics
from ganad_lite.scoring import Scores, Standardizer
from ganad_lite.widgets import explorer_figure, explorer_state, slider_range, threshold_explorer

pytest.importorskip("ipywidgets")


def _scores(n_normal=20, n_anomalous=60, seed=0):
    """Hand-made scores with the source's scales: L_n ~ 1e-3, L_o ~ -1; anomalies have both terms larger."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n_normal), np.ones(n_anomalous)].astype(int)
    residual = rng.normal(3e-3, 4e-4, y.size) + 1.5e-3 * y
    origin = -1.0 + rng.normal(0, 0.05, y.size) + 0.08 * y
    return Scores(residual, origin, rng.normal(size=(y.size, 4))), y


def _normals(seed=1, n=30):
    rng = np.random.default_rng(seed)
    return Scores(rng.normal(3e-3, 4e-4, n), -1.0 + rng.normal(0, 0.05, n), rng.normal(size=(n, 4)))


def _drawn_counts(fig):
    return {t.get_gid(): int(t.get_text().split()[0]) for ax in fig.axes for t in ax.texts if t.get_gid()}


def test_confusion_counts_drawn_equal_metrics():
    s, y = _scores()
    state = explorer_state(s, y, weight=0.3, threshold=-0.6)
    fig = explorer_figure(s, y, 0.3, -0.6, state=state)
    expected = metrics.precision_recall_f1(y, s.anomaly_score(0.3), -0.6)
    assert _drawn_counts(fig) == {k: expected[k] for k in ("tn", "fp", "fn", "tp")}
    assert state["counts"] == expected
    assert state["trivial"]["f1"] == pytest.approx(2 * 0.75 / 1.75)


def test_heldout_threshold_is_a_quantile_of_normals_only():
    s, y = _scores()
    n = _normals()
    state = explorer_state(s, y, 0.05, 0.0, normal_scores=n, quantile=0.9)
    assert state["heldout_threshold"] == pytest.approx(np.quantile(n.anomaly_score(0.05), 0.9))
    assert state["heldout"] == metrics.precision_recall_f1(y, s.anomaly_score(0.05), state["heldout_threshold"])


def test_slider_range_spans_all_and_no_decisions():
    lo, hi, step = slider_range([2.0, 3.0, 5.0])
    assert lo < 2.0 and hi == 5.0 and step == pytest.approx(3.0 / 500)
    lo, hi, _ = slider_range([1.0, 1.0])  # constant scores still give a usable slider
    assert lo < hi


def test_alpha_range_follows_lambda():
    s, y = _scores()
    n = _normals()
    box = threshold_explorer(s, y, n, dpi=30)
    ex = box.explorer
    both = lambda w: np.r_[s.anomaly_score(w), n.anomaly_score(w)]  # noqa: E731
    assert ex.threshold_slider.max == pytest.approx(both(0.05).max())
    assert ex.threshold_slider.min < both(0.05).min()
    assert ex.threshold_slider.value == pytest.approx(np.quantile(n.anomaly_score(0.05), 0.95))  # held-out default
    ex.weight_slider.value = 1.0   # now the score is L_n: values ~ 1e-3, far above the old range
    assert ex.threshold_slider.max == pytest.approx(both(1.0).max())
    assert both(1.0).min() - 0.01 < ex.threshold_slider.min < both(1.0).min()
    assert ex.threshold_slider.min <= ex.threshold_slider.value <= ex.threshold_slider.max
    ex.weight_slider.value = 0.0   # back down to L_o ~ -1
    assert ex.threshold_slider.max == pytest.approx(both(0.0).max())


def test_lambda_change_keeps_share_flagged_and_redraws():
    s, y = _scores()
    ex = threshold_explorer(s, y, dpi=30).explorer
    before = float(np.mean(ex.state["score"] > ex.state["threshold"]))
    png = ex.image.value
    ex.weight_slider.value = 0.7
    after = float(np.mean(s.anomaly_score(0.7) > ex.threshold_slider.value))
    assert abs(after - before) <= 2 / len(y)
    assert ex.image.value != png and ex.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert ex.state["counts"] == metrics.precision_recall_f1(y, s.anomaly_score(0.7), ex.threshold_slider.value)


def test_threshold_slider_updates_metrics_and_summary():
    s, y = _scores()
    ex = threshold_explorer(s, y, dpi=30).explorer
    ex.threshold_slider.value = ex.threshold_slider.min  # everything flagged: the trivial baseline
    c = ex.state["counts"]
    assert (c["fn"], c["tn"]) == (0, 0) and c["f1"] == pytest.approx(ex.state["trivial"]["f1"])
    assert f"F1 {c['f1']:.3f}" in ex.summary.value


def test_standardised_toggle_and_heldout_button():
    s, y = _scores()
    n = _normals()
    s.standardizer = Standardizer.fit(n)
    ex = threshold_explorer(s, y, n, dpi=30).explorer
    assert not ex.standardized_box.disabled
    ex.standardized_box.value = True
    n_std = Scores(n.residual, n.origin, n.z, standardizer=s.standardizer).anomaly_score(0.05, standardized=True)
    assert ex.threshold_slider.max == pytest.approx(np.r_[s.anomaly_score(0.05, standardized=True), n_std].max())
    ex.heldout_button.click()
    assert ex.threshold_slider.value == pytest.approx(ex.state["heldout_threshold"], abs=ex.threshold_slider.step)


def test_standardised_needs_statistics():
    s, y = _scores()
    assert threshold_explorer(s, y, dpi=30).explorer.standardized_box.disabled
    with pytest.raises(ValueError, match="fit_standardizer"):
        threshold_explorer(s, y, standardized=True)


def test_bad_inputs_are_named():
    s, y = _scores()
    with pytest.raises(ValueError, match="labels"):
        threshold_explorer(s, y[:-1])
    with pytest.raises(TypeError, match="Scores"):
        threshold_explorer(s.anomaly_score(), y)
    with pytest.raises(TypeError, match="held-out"):
        threshold_explorer(s, y, normal_scores=np.zeros(3))


def test_static_explorer_grid_and_client_side_links():
    from ganad_lite.widgets import static_explorer

    s, y = _scores()
    n = _normals()
    s.standardizer = Standardizer.fit(n)
    box = static_explorer(s, y, n, weights=(0.0, 1.0), quantiles=(0.5, 0.9), dpi=20)
    w_slider, q_slider, kind = box.children[:3]
    outer = box.children[-1]
    assert len(outer.children) == 2                                   # raw, standardised
    assert all(len(m.children) == 2 and all(len(i.children) == 2 for i in m.children) for m in outer.children)
    pngs = [img.value for m in outer.children for i in m.children for img in i.children]
    assert len(set(pngs)) == 8 and all(p[:4] == b"\x89PNG" for p in pngs)
    # one link from the toggle, one per lambda stack, one per alpha stack: all run in the browser
    assert len(box.links) == 1 + 2 + 4
    targets = {(id(link.source[0]), link.target[1]) for link in box.links}
    assert targets == {(id(kind), "selected_index"), (id(w_slider), "selected_index"), (id(q_slider), "selected_index")}
    # the initial frame is the one the controls point at
    assert w_slider.value == 0.0 and q_slider.value == 0.9
    assert all(i.selected_index == 1 for m in outer.children for i in m.children)


def test_static_explorer_rejects_bad_grid():
    from ganad_lite.widgets import static_explorer

    s, y = _scores()
    with pytest.raises(ValueError, match="quantiles"):
        static_explorer(s, y, quantiles=(95,))
