"""Latent search and the hybrid in the variants tables: scored on a fixed, label-stratified part of the test set.

A search costs `search_steps` x `search_restarts` generator passes per image, so every run scores at most
SEARCH_TEST test images (stratified by label, drawn with the run's seed) and SEARCH_VAL held-out normals for the
threshold; each row says on how many images it was measured. The scores are cached in the run folder, keyed by
the images, the weights and the search settings, so a rebuild does not search again.
"""
from __future__ import annotations

from ..detector import data_fingerprint
from ..metrics import evaluate
from ..scoring import Scores
from .protocol import QUANTILE
from .scorecache import load_scores, save_scores, weights_hash
from .variants import Variant

SEARCH_TEST = 300  # test images a run searches for (all of a smaller test set)
SEARCH_VAL = 100   # held-out normals it searches for, for the label-free threshold
SEARCH_VARIANTS: dict[str, Variant] = {
    "search": Variant("latent search: L_n (no encoder)", encoder="search"),
    "hybrid": Variant("hybrid, search from the berg+izif E: f-AnoGAN score", encoder="berg+izif", term="izif"),
}


def cached_search_scores(detector, images, variant: str, steps: int, restarts: int, seed: int) -> Scores:
    """Scores (no maps) of `images` by the variant's method (its name: "search" or "hybrid"), from the run folder
    when they were made before."""
    v = SEARCH_VARIANTS[variant]
    encoder = detector.encoders.get(v.encoder, detector.trainer.encoder) if v.encoder != "search" else None
    kwargs = (dict(search_steps=steps, search_restarts=restarts) if variant == "search"
              else dict(hybrid_steps=steps))
    key = "-".join([variant, data_fingerprint(images), weights_hash(detector.generator, detector.critic,
                                                                   *([encoder] if encoder is not None else [])),
                    f"{steps}x{restarts}", str(seed)])
    path = None if detector.run_dir is None else detector.run_dir / f"scores-{key}.npz"
    if path is not None and path.is_file():
        return load_scores(path, variant)
    s = detector.score_terms(images, method=variant, encoder=None if encoder is None else v.encoder,
                             keep_maps=False, seed=seed, **kwargs)
    if path is not None:
        save_scores(path, s)
    return s


def search_metrics(detector, split, steps: int, restarts: int, seed: int = 0) -> dict[str, dict]:
    """evaluate(...) of every SEARCH_VARIANTS row on at most SEARCH_TEST test images (label-stratified, drawn
    with `seed`) with its threshold from at most SEARCH_VAL held-out normals; n_test in each says how many."""
    part = split.subsample(max_test=min(SEARCH_TEST, len(split.test)), max_val=min(SEARCH_VAL, len(split.val)),
                           seed=seed + 11)
    labels = part.test_labels.numpy()
    metrics = {}
    for name, v in SEARCH_VARIANTS.items():
        test, normal = (cached_search_scores(detector, x, name, steps, restarts, seed) for x in (part.test, part.val))
        metrics[name] = evaluate(labels, v.image_scores(test), v.image_scores(normal), QUANTILE)
        metrics[name].update(encoder=v.encoder, weight=v.weight, standardized=v.standardized, search_steps=steps,
                             search_restarts=restarts if name == "search" else 0)
    return metrics
