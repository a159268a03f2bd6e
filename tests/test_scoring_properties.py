"""Property tests of the scoring API: any array of any shape, dtype and value range is scored, decided and
evaluated as documented, or refused with a ValueError (the package's own kinds: ScoringError, MetricsError,
DataError, ... all subclass it) whose message names the problem. Never another exception, never a NaN score."""
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn import metrics as skm

from ganad_lite import metrics
from ganad_lite.models import build_encoder, build_generator
from ganad_lite.scoring import Scores, Standardizer, score_images

SHAPE = (1, 16, 16)  # the smallest image the builders make
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

torch.manual_seed(0)
GENERATOR, ENCODER = build_generator(SHAPE, 4, 4).eval(), build_encoder(SHAPE, 4, 4).eval()
NORMAL = score_images(GENERATOR, ENCODER, torch.rand(6, *SHAPE, generator=torch.Generator().manual_seed(1)))
STATS = Standardizer.fit(NORMAL)

any_dtype = st.one_of(hnp.scalar_dtypes(), st.just(np.dtype(object)))
any_array = hnp.arrays(any_dtype, hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=4))
image_dtype = st.sampled_from([np.uint8, np.int64, np.uint16, np.bool_, np.float16, np.float32, np.float64])
image_shaped = st.builds(lambda n, c: (n, c, *SHAPE[1:]), st.integers(0, 3), st.sampled_from([1, 3]))
image_like = hnp.arrays(image_dtype, image_shaped)  # full value ranges: NaN, infinities, 0..255 floats, ...
batch_shape = st.integers(1, 3).map(lambda n: (n, *SHAPE))
uint8_images = hnp.arrays(np.uint8, batch_shape)
anything = st.one_of(st.floats(0, 1), st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=3),
                     hnp.arrays(np.float64, st.integers(0, 2)))
number_dtype = st.sampled_from([np.float64, np.float32, np.int64, np.bool_])


def finite(size) -> st.SearchStrategy:
    return hnp.arrays(np.float64, size, elements=st.floats(-1e6, 1e6))


numbers = st.one_of(hnp.arrays(number_dtype, st.integers(0, 12)), finite(st.integers(0, 12)))  # NaN, inf in the first


@st.composite
def labelled_sets(draw):
    """(labels, scores, normal scores) as `evaluate` documents them: both classes, finite scores."""
    n = draw(st.integers(2, 12))
    labels = draw(hnp.arrays(st.sampled_from([np.int64, np.bool_, np.float32]), n, elements=st.integers(0, 1)))
    labels[:2] = [0, 1]
    return labels, draw(finite(n)), draw(finite(st.integers(1, 5)))


def refused(call):
    """Run call(); a refusal must be a ValueError with a message. Returns the result, or None if refused."""
    try:
        return call()
    except ValueError as err:
        assert str(err), "a refusal must say why"
        return None


@FAST
@given(st.one_of(any_array, image_like, uint8_images))
def test_score_images_scores_or_refuses_any_array(images):
    s = refused(lambda: score_images(GENERATOR, ENCODER, images))
    if s is None:
        return
    assert images.shape[1:] == SHAPE and len(s) == images.shape[0] >= 1
    assert np.isfinite(s.residual).all() and np.isfinite(s.origin).all() and s.maps.shape == (len(s), 16, 16)


@FAST
@given(uint8_images, st.sampled_from([np.float16, np.float32, np.float64]), st.sampled_from(["<", ">"]))
def test_score_images_scores_every_valid_batch_alike(images, float_dtype, byte_order):
    as_uint8 = score_images(GENERATOR, ENCODER, images.astype(images.dtype.newbyteorder(byte_order)))
    as_float = score_images(GENERATOR, ENCODER, (images / 255).astype(np.dtype(float_dtype).newbyteorder(byte_order)))
    assert np.isfinite(as_uint8.residual).all() and np.isfinite(as_uint8.origin).all()
    tol = 1e-2 if float_dtype == np.float16 else 1e-5  # float16 keeps 11 bits of the pixel values
    np.testing.assert_allclose(as_float.origin, as_uint8.origin, rtol=tol, atol=tol)


@FAST
@given(weight=anything, standardized=st.booleans(), threshold=anything)
def test_scores_methods_take_any_weight_and_threshold(weight, standardized, threshold):
    s = Scores(NORMAL.residual, NORMAL.origin, NORMAL.z, standardizer=STATS)
    score = refused(lambda: s.anomaly_score(weight, standardized))
    if score is None:
        assert not (isinstance(weight, (int, float)) and not isinstance(weight, bool) and 0 <= weight <= 1)
        return
    assert score.shape == (len(s),) and np.isfinite(score).all()
    flagged = refused(lambda: s.decide(threshold, weight, standardized))
    if flagged is not None:
        np.testing.assert_array_equal(flagged, score.astype(np.float64) > float(threshold))


@FAST
@given(scores=st.one_of(any_array, numbers), threshold=st.one_of(st.floats(-1e6, 1e6), anything))
def test_decide_decides_or_refuses(scores, threshold):
    flagged = refused(lambda: metrics.decide(scores, threshold))
    if flagged is None:
        return
    values = scores.astype(np.float64)
    assert np.isfinite(values).all() and np.isfinite(float(threshold))  # a NaN is never decided "normal"
    assert flagged.dtype == bool and flagged.shape == scores.shape
    np.testing.assert_array_equal(flagged, values > float(threshold))


@FAST
@given(labelled_sets())
def test_evaluate_reports_documented_test_sets(test_set):
    labels, scores, normal = test_set
    report = metrics.evaluate(labels, scores, normal)
    assert report["auroc"] == pytest.approx(skm.roc_auc_score(labels.astype(int), scores))
    assert (report["n_test"], report["n_anomalous"]) == (len(labels), int(labels.sum()))
    assert report["heldout_threshold"]["threshold"] == pytest.approx(np.quantile(normal, 0.95))


@FAST
@given(st.tuples(st.one_of(any_array, numbers), st.one_of(any_array, numbers), st.one_of(any_array, numbers)))
def test_evaluate_reports_or_refuses_any_arrays(arrays):
    labels, scores, normal = arrays
    report = refused(lambda: metrics.evaluate(labels, scores, normal))
    if report is None:
        return
    y = labels.astype(np.float64).ravel()
    assert set(np.unique(y)) == {0.0, 1.0}  # both classes: AUROC is defined
    assert 0.0 <= report["auroc"] <= 1.0 and report["n_test"] == y.size == scores.size
    assert np.isfinite(scores.astype(np.float64)).all() and np.isfinite(normal.astype(np.float64)).all()


@FAST
@given(residual=numbers, origin=numbers)
def test_standardizer_fits_or_refuses(residual, origin):
    n = min(len(residual), len(origin))
    terms = Scores(residual[:n], origin[:n], np.zeros((n, 4)))
    stats = refused(lambda: Standardizer.fit(terms))
    if stats is None:
        return
    terms.standardizer = stats
    z = terms.anomaly_score(0.5, standardized=True)
    assert n >= 2 and np.abs(z).max() <= np.sqrt(n - 1) * (1 + 1e-6)  # Samuelson: no blow-up from a ~0 spread
