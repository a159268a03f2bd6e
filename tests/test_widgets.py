import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from ganad_lite import metrics, widgets
from ganad_lite.explorer_figures import (FLAG_COLOR, OUTCOMES, PASS_COLOR, _mosaic, explorer_figure,
                                         explorer_state, pick_tiles)
from ganad_lite.scoring import Scores, Standardizer
from ganad_lite.widgets import slider_range, static_explorer, threshold_explorer

pytest.importorskip("ipywidgets")

DPI = 20  # tiny figures: the tests check states and artists, not pixels


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


def _images(n, seed=2):
    return np.random.default_rng(seed).integers(0, 256, (n, 1, 6, 6), dtype=np.uint8)


def _tensor(k):
    """k float tiles (k, 1, 4, 4) in [0, 1]."""
    return torch.rand(k, 1, 4, 4, generator=torch.Generator().manual_seed(0))


def _explorer(s, y, n=None, **kwargs):
    return threshold_explorer(s, y, n, images=_images(len(y)), dpi=DPI, **kwargs).explorer


def _drawn_counts(fig):
    return {t.get_gid(): int(t.get_text().split()[0]) for ax in fig.axes for t in ax.texts if t.get_gid()}


def _tile_outcomes(fig):
    (ax,) = [ax for ax in fig.axes if ax.get_gid() == "image_grid"]
    return [t.get_text() for t in ax.texts]


def _count_mixes(monkeypatch, scores):
    calls = []
    mix = scores.anomaly_score
    monkeypatch.setattr(scores, "anomaly_score", lambda *a, **k: calls.append(a) or mix(*a, **k))
    return calls


# -- the state and its figure --------------------------------------------------------------------------------
def test_every_panel_is_drawn_from_one_state():
    s, y = _scores()
    state = explorer_state(s.anomaly_score(0.3), y, weight=0.3, threshold=-0.6)
    pick = pick_tiles(y, 8)
    fig = explorer_figure(state, _tensor(8), pick, dpi=DPI)
    expected = metrics.precision_recall_f1(y, s.anomaly_score(0.3), -0.6)
    assert state.counts == expected
    np.testing.assert_array_equal(state.flagged, metrics.decide(s.anomaly_score(0.3), -0.6))
    assert _drawn_counts(fig) == {k: expected[k] for k in ("tn", "fp", "fn", "tp")}
    assert _tile_outcomes(fig) == list(OUTCOMES[y[pick], state.flagged[pick].astype(int)])
    assert state.trivial["f1"] == pytest.approx(2 * 0.75 / 1.75)


def test_pick_is_half_and_half_and_fixed():
    _, y = _scores()
    pick = pick_tiles(y, 16)
    assert (y[pick] == 0).sum() == 8 and (y[pick] == 1).sum() == 8 and len(set(pick)) == 16
    np.testing.assert_array_equal(pick, pick_tiles(y, 16))
    short = np.r_[np.zeros(3), np.ones(30)].astype(int)  # 3 normals: anomalies fill the rest
    assert list(short[pick_tiles(short, 16)]) == [0] * 3 + [1] * 13


def test_mosaic_frames_flagged_tiles():
    canvas, pitch_h, pitch_w = _mosaic(_tensor(4), np.array([True, False, True, False]), ncol=2)
    assert canvas.shape == (2 * pitch_h, 2 * pitch_w, 3)
    corner = lambda i: canvas[(i // 2) * pitch_h + pitch_h - 4 - 2 * 2, (i % 2) * pitch_w]  # noqa: E731
    np.testing.assert_allclose(corner(0), matplotlib.colors.to_rgb(FLAG_COLOR))
    np.testing.assert_allclose(corner(1), matplotlib.colors.to_rgb(PASS_COLOR))


def test_slider_range_spans_all_and_no_decisions():
    # two steps below the smallest score (every image flagged) up to the largest (none flagged: a > alpha)
    assert slider_range([2.0, 3.0, 5.0]) == pytest.approx((2.0 - 2 * 3.0 / 500, 5.0, 3.0 / 500))
    # a current alpha outside the scores stays in range
    assert slider_range([2.0, 3.0], keep=7.0) == pytest.approx((2.0 - 2 * 5.0 / 500, 7.0, 5.0 / 500))
    # constant scores still give a usable slider: a span of 1e-3 of the value
    assert slider_range([1.0, 1.0]) == pytest.approx((1.0 - 2 * 1e-3 / 500, 1.0, 1e-3 / 500))


# -- the live explorer ---------------------------------------------------------------------------------------
def test_lambda_moves_the_decisions_at_a_fixed_alpha():
    s, y = _scores()
    n = _normals()
    s.standardizer = Standardizer.fit(n)
    ex = _explorer(s, y, n, standardized=True, weight=0.05)
    alpha = ex.threshold_slider.value
    assert alpha == pytest.approx(metrics.quantile_threshold(ex.normal_scores.anomaly_score(0.05, True), 0.95))
    before = ex.state.flagged.copy()
    ex.weight_slider.value = 0.9
    assert ex.threshold_slider.value == alpha and ex.state.threshold == alpha  # alpha kept in score units
    np.testing.assert_array_equal(ex.state.flagged, metrics.decide(s.anomaly_score(0.9, True), alpha))
    assert (ex.state.flagged != before).sum() >= 3
    assert ex.state.counts == metrics.precision_recall_f1(y, s.anomaly_score(0.9, True), alpha)
    assert f"{int(ex.state.flagged.sum())} of 80 flagged" in ex.summary.value


def test_alpha_range_covers_the_current_scores_without_moving_alpha():
    s, y = _scores()
    n = _normals()
    ex = _explorer(s, y, n)
    alpha = ex.threshold_slider.value  # ~ -0.93: the scale of L_o
    ex.weight_slider.value = 1.0       # the score is now L_n ~ 3e-3: every image lies above alpha
    both = np.r_[s.anomaly_score(1.0), n.anomaly_score(1.0)]
    assert ex.threshold_slider.value == alpha and ex.threshold_slider.min < alpha
    assert ex.threshold_slider.max == pytest.approx(both.max())
    assert ex.state.flagged.all()


def test_reanchor_button_and_follow_checkbox_use_the_heldout_quantile():
    s, y = _scores()
    n = _normals()
    ex = _explorer(s, y, n, quantile=0.9)
    ex.weight_slider.value = 0.6
    ex.reanchor_button.click()
    heldout = np.quantile(n.anomaly_score(0.6), 0.9)
    assert ex.threshold_slider.value == pytest.approx(heldout)
    assert ex.threshold_slider.max == pytest.approx(np.r_[s.anomaly_score(0.6), n.anomaly_score(0.6)].max())
    ex.follow_box.value = True
    ex.weight_slider.value = 0.2
    assert ex.threshold_slider.value == pytest.approx(np.quantile(n.anomaly_score(0.2), 0.9))
    np.testing.assert_array_equal(ex.state.flagged, metrics.decide(s.anomaly_score(0.2), ex.threshold_slider.value))


def test_one_mix_per_move(monkeypatch):
    s, y = _scores()
    n = _normals()
    ex = _explorer(s, y, n)
    calls = _count_mixes(monkeypatch, s)
    ex.weight_slider.value = 0.4
    assert calls == [(0.4, False)]
    ex.threshold_slider.value = ex.threshold_slider.min  # alpha moves reuse the mix
    ex.reanchor_button.click()
    assert len(calls) == 1


def test_standardised_toggle_reanchors_in_the_new_units():
    s, y = _scores()
    n = _normals()
    s.standardizer = Standardizer.fit(n)
    ex = _explorer(s, y, n)
    ex.standardized_box.value = True
    n_std = Scores(n.residual, n.origin, n.z, standardizer=s.standardizer).anomaly_score(0.05, standardized=True)
    assert ex.threshold_slider.value == pytest.approx(np.quantile(n_std, 0.95))
    assert "re-anchored" in ex.summary.value


def test_without_heldout_normals_alpha_starts_at_the_median():
    s, y = _scores()
    ex = _explorer(s, y)
    assert ex.reanchor_button is None and ex.follow_box is None
    assert ex.threshold_slider.value == pytest.approx(np.median(s.anomaly_score(0.05)))
    ex.threshold_slider.value = ex.threshold_slider.min
    c = ex.state.counts
    assert (c["fn"], c["tn"]) == (0, 0) and c["f1"] == pytest.approx(ex.state.trivial["f1"])


def test_stored_reconstructions_stand_in_for_missing_images():
    s, y = _scores()
    s.recon = _images(len(y)).astype(np.float32) / 255
    ex = threshold_explorer(s, y, dpi=DPI).explorer
    assert ex.caption == "reconstructions of test images" and ex.tiles.shape == (16, 1, 6, 6)
    s.recon = None
    with pytest.raises(ValueError, match="images="):
        threshold_explorer(s, y)


def test_bad_inputs_are_named():
    s, y = _scores()
    with pytest.raises(ValueError, match="labels"):
        _explorer(s, y[:-1])
    with pytest.raises(TypeError, match="Scores"):
        threshold_explorer(s.anomaly_score(), y)
    with pytest.raises(TypeError, match="held-out"):
        threshold_explorer(s, y, normal_scores=np.zeros(3))
    with pytest.raises(ValueError, match="79 images but 80 scores"):
        threshold_explorer(s, y, images=_images(79))
    with pytest.raises(ValueError, match="fit_standardizer"):
        _explorer(s, y, standardized=True)


# -- the pre-rendered explorer -------------------------------------------------------------------------------
def test_static_explorer_frames_cover_the_grid_with_alpha_in_score_units(monkeypatch):
    s, y = _scores()
    n = _normals()
    s.standardizer = Standardizer.fit(n)
    panels, draw = [], widgets.explorer_figure

    def recorded(*args, **kwargs):  # the axes' names of every frame drawn
        fig = draw(*args, **kwargs)
        panels.append([ax.get_gid() for ax in fig.axes])
        return fig

    monkeypatch.setattr(widgets, "explorer_figure", recorded)
    box = static_explorer(s, y, n, images=_images(len(y)), weights=(0.05, 0.9), quantiles=(0.5, 0.9), dpi=DPI)
    w_slider, alpha_stack, kind = box.children[:3]
    outer = box.children[-1]
    pngs = [img.value for m in outer.children for i in m.children for img in i.children]
    assert len(pngs) == len(box.frame_states) == len(panels) == 2 * 2 * 2   # kinds x lambdas x alphas
    assert all(p[:4] == b"\x89PNG" for p in pngs) and len(set(pngs)) == 8
    assert all("image_grid" in gids for gids in panels)
    # raw kind: alpha is the same number for both lambdas, so the decisions differ with lambda alone
    grid = [metrics.quantile_threshold(n.anomaly_score(0.05), q) for q in (0.5, 0.9)]
    raw = box.frame_states[:4]
    assert [(st.weight, st.threshold) for st in raw] == [(0.05, grid[0]), (0.05, grid[1]),
                                                         (0.9, grid[0]), (0.9, grid[1])]
    for low, high in ((raw[0], raw[2]), (raw[1], raw[3])):
        np.testing.assert_array_equal(high.flagged, metrics.decide(s.anomaly_score(0.9), high.threshold))
        assert (low.flagged != high.flagged).any()
    # links run in the browser: lambda -> 2 stacks, each kind's alpha slider -> its 2 stacks, kind -> 2
    assert len(box.links) == 2 + 2 * 2 + 2
    sources = {id(link.source[0]) for link in box.links}
    assert sources == {id(w_slider), id(kind), *(id(a) for a in alpha_stack.children)}
    assert [a.options[1][0] for a in alpha_stack.children][0] == f"{grid[1]:.4g}"
    assert w_slider.index == 0 and alpha_stack.children[0].index == 1  # nearest to lambda 0.05, quantile 0.95


def test_static_explorer_takes_alphas_for_one_kind_of_terms():
    s, y = _scores()
    box = static_explorer(s, y, images=_images(len(y)), weights=(0.0, 0.5), alphas=(-0.9, -0.4),
                          standardized=False, dpi=DPI)
    assert [(st.weight, st.threshold) for st in box.frame_states] == [(0.0, -0.9), (0.0, -0.4), (0.5, -0.9),
                                                                      (0.5, -0.4)]
    assert len(box.children) == 4  # lambda, alpha, note, frames: no kind toggle
    s.standardizer = Standardizer.fit(_normals())
    with pytest.raises(ValueError, match="units of one score"):
        static_explorer(s, y, images=_images(len(y)), alphas=(0.0,))


def test_static_explorer_rejects_bad_grid():
    s, y = _scores()
    with pytest.raises(ValueError, match="quantiles"):
        static_explorer(s, y, images=_images(len(y)), quantiles=(95,))
    with pytest.raises(ValueError, match="lambda"):
        static_explorer(s, y, images=_images(len(y)), weights=(0.0, 2.0))
