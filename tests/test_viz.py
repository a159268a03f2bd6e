import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from ganad_lite import viz


def _images(n=6, c=1, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, size, size), generator=g, dtype=torch.uint8)


def test_image_grid_shows_make_grid_pixels():
    x = _images(6, 3)
    fig = viz.image_grid(x, nrow=3)
    shown = fig.axes[0].images[0].get_array()
    # 2 rows x 3 columns of 8 px tiles with 2 px padding: (2*10+2, 3*10+2, 3), uint8 input scaled to [0, 1]
    assert shown.shape == (22, 32, 3)
    np.testing.assert_allclose(shown[2:10, 2:10], x[0].permute(1, 2, 0).numpy() / 255.0, rtol=1e-6)


def test_image_grid_accepts_numpy_float():
    x = np.random.default_rng(0).random((4, 1, 8, 8)).astype(np.float32)
    fig = viz.image_grid(x, nrow=4, title="t")
    assert isinstance(fig, Figure) and fig.axes[0].get_title() == "t"


@pytest.mark.parametrize("bad, msg", [
    (np.zeros((4, 8, 8)), "add the channel axis"),
    (np.zeros((4, 8, 8, 3), dtype=np.uint8), "channels-last"),
    (np.full((2, 1, 8, 8), 255.0), "must lie in"),
    (np.zeros((2, 1, 8, 8), dtype=np.int32), "uint8"),
])
def test_bad_images_are_named(bad, msg):
    with pytest.raises(ValueError, match=msg):
        viz.image_grid(bad)


def test_reconstruction_grid_rows_and_shared_map_scale():
    x, r = _images(5), _images(5, seed=1)
    maps = torch.rand(5, 8, 8)
    fig = viz.reconstruction_grid(x, r, maps, n=4, title="recon")
    assert [ax.get_ylabel() for ax in fig.axes] == ["input", "reconstruction", "residual map"]
    im = fig.axes[2].images[0]
    assert im.get_clim() == (0.0, pytest.approx(float(maps[:4].max())))
    assert im.get_array().shape == (12, 4 * 10 + 2)  # only the first n=4 images


def test_reconstruction_grid_with_masks_has_overlay_contour():
    x = _images(3)
    masks = torch.zeros(3, 1, 8, 8, dtype=torch.uint8)
    masks[1, 0, 2:5, 2:5] = 1
    fig = viz.reconstruction_grid(x, x, torch.rand(3, 8, 8), masks=masks, captions=["a", "b", "c"])
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert labels == ["input", "reconstruction", "residual map", "mask", "overlay"]
    overlay = fig.axes[4]
    assert len(overlay.images) == 2 and overlay.collections  # image, map on top, mask outline
    assert [t.get_text() for t in overlay.get_xticklabels()] == ["a", "b", "c"]


@pytest.mark.parametrize("size", [8, 28, 64, 256])
def test_reconstruction_grid_keeps_text_size_and_captions_apart(size):
    # the figure is as wide at any image size, so the page never shrinks its labels; captions never meet
    x = torch.rand(8, 3, size, size)
    captions = ["normal"] * 4 + ["anomaly\nbroken large", "anomaly\nbroken small", "anomaly\ncontamination",
                                 "anomaly\nvery_long_defect_name_here"]
    fig = viz.reconstruction_grid(x, x, torch.rand(8, size, size), captions=captions)
    assert fig.get_size_inches()[0] == pytest.approx(viz.LABEL_IN + 8 * viz.TILE_IN)
    fig.canvas.draw()
    labels = fig.axes[-1].get_xticklabels()
    assert labels[4].get_text() == "anomaly\nbroken large" and labels[0].get_fontsize() >= viz.MIN_CAPTION_PT
    boxes = [t.get_window_extent() for t in labels]
    assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:]))
    assert fig.axes[0].yaxis.label.get_fontsize() == 9


def test_wrap_caption_breaks_at_spaces_and_keeps_line_breaks():
    assert viz._wrap_caption("anomaly\nbroken large", 1000, 8) == "anomaly\nbroken large"
    assert viz._wrap_caption("anomaly\nbroken large", 30, 8) == "anomaly\nbroken\nlarge"
    assert viz._wrap_caption("contamination", 5, 8) == "contamination"  # a word wider than the column stays whole
    assert viz._wrap_caption("very_long_name", 50, 8) == "very_long_\nname"  # ... unless it has underscores
    assert viz._wrap_caption("$L_n$=0.5", 5, 8) == "$L_n$=0.5"  # never inside maths
    fig = viz.reconstruction_grid(_images(3), _images(3), torch.rand(3, 8, 8), captions=["", "a b", " "])
    assert [t.get_text() for t in fig.axes[-1].get_xticklabels()] == ["", "a b", ""]  # empty captions are fine


def test_reconstruction_grid_map_padding_is_blank():
    fig = viz.reconstruction_grid(_images(2), _images(2), torch.rand(2, 8, 8))
    grid = fig.axes[2].images[0].get_array()
    assert np.ma.getmaskarray(grid)[0].all() and not np.ma.getmaskarray(grid)[2:10, 2:10].any()


def test_reconstruction_grid_rejects_mismatch():
    with pytest.raises(ValueError, match="differ in number"):
        viz.reconstruction_grid(_images(3), _images(2), torch.rand(3, 8, 8))


def test_training_curves_panels_and_validation():
    history = [{"epoch": e / 2, "step": e, "critic_loss": -e, "wasserstein": e * 0.1, "penalty": 0.01,
                "generator_loss": 0.3, "encoder_loss": 0.05} for e in range(1, 7)]
    epoch_log = [{"epoch": 1, "val_auroc_residual": 0.8, "val_auroc_origin": 0.6},
                 {"epoch": 2, "val_auroc_residual": 0.9, "val_auroc_origin": 0.7}]
    fig = viz.training_curves(history, epoch_log)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 6
    np.testing.assert_allclose(visible[1].lines[0].get_ydata(), [e * 0.1 for e in range(1, 7)])
    assert {t.get_text() for t in visible[5].get_legend().get_texts()} == {"residual", "origin"}
    assert len([ax for ax in viz.training_curves(history).axes if ax.get_visible()]) == 5
    with pytest.raises(ValueError, match="non-empty"):
        viz.training_curves([])


def test_score_histogram_counts_per_class():
    labels = np.array([0] * 10 + [1] * 30)
    scores = np.r_[np.linspace(0, 1, 10), np.linspace(1, 2, 30)]
    fig = viz.score_histogram(scores, labels, threshold=0.9, density=False, reference=0.95, bins=4)
    ax = fig.axes[0]
    edges = np.histogram_bin_edges(scores, bins=4)
    tops = [p.get_path().vertices[:, 1].max() for p in ax.patches]  # one filled step outline per class
    assert tops == [np.histogram(scores[labels == c], edges)[0].max() for c in (0, 1)]
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["normal (n=10)", "anomalous (n=30)"]
    assert [line.get_xdata()[0] for line in ax.lines] == [0.9, 0.95]


def test_roc_plot_auc_and_operating_point():
    labels = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    fig = viz.roc_plot(labels, scores, operating_point=0.3)
    ax = fig.axes[0]
    assert "AUROC 0.750" in ax.get_legend().get_texts()[0].get_text()
    point = ax.lines[1]  # rule score > 0.3: FPR 1/2, TPR 2/2
    assert (point.get_xdata()[0], point.get_ydata()[0]) == (0.5, 1.0)


def test_roc_plot_on_given_axes_returns_its_figure():
    fig = viz.new_figure()
    ax = fig.add_subplot()
    assert viz.roc_plot([0, 1, 1], [0.1, 0.5, 0.9], ax=ax) is fig


def test_pipeline_figure_decisions():
    q = _images(2)
    fig = viz.pipeline_figure(q, q, torch.rand(2, 8, 8), scores=[0.1, 0.9], threshold=0.5, labels=[0, 1])
    texts = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "normal" in texts and "anomaly" in texts and "0.9" in texts


def test_auroc_vs_weight_ends_are_the_single_terms():
    from sklearn.metrics import roc_auc_score

    from ganad_lite.scoring import Scores, Standardizer

    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(20), np.ones(40)].astype(int)
    s = Scores(rng.normal(3e-3, 4e-4, 60) + 1e-3 * y, -1 + rng.normal(0, 0.05, 60) + 0.02 * y, np.zeros((60, 2)))
    fig = viz.auroc_vs_weight(s, y, weights=[0.0, 0.5, 1.0], mark=())
    raw = fig.axes[0].lines[0].get_ydata()
    assert raw[0] == pytest.approx(roc_auc_score(y, s.origin)) and raw[-1] == pytest.approx(roc_auc_score(y, s.residual))
    assert len(fig.axes[0].lines) == 2  # raw curve + chance line: no standardised curve without statistics
    s.standardizer = Standardizer.fit(s.subset(np.flatnonzero(y == 0)))
    assert len(viz.auroc_vs_weight(s, y, weights=[0.0, 1.0], mark=()).axes[0].lines) == 3
