"""Latent search and the hybrid in the variants tables: scored on a fixed, label-stratified part of the test set.

A search costs `search_steps` x `search_restarts` generator passes per image, so every run scores at most
SEARCH_TEST test images (stratified by label, drawn with the run's seed) and SEARCH_VAL held-out normals for the
threshold; each row says on how many images it was measured. The scores are cached in the run folder (see
scorecache), so a rebuild does not search again.
"""
from __future__ import annotations

from ..metrics import evaluate
from ..scoring import Scores
from .protocol import QUANTILE
from .scorecache import cached_score_terms
from .variants import Variant

SEARCH_TEST = 300  # test images a run searches for (all of a smaller test set)
SEARCH_VAL = 100   # held-out normals it searches for, for the label-free threshold
SEARCH_VARIANTS: dict[str, Variant] = {
    "search": Variant("latent search: L_n (no encoder)", encoder="search"),
    "hybrid": Variant("hybrid, search from the berg+izif E: f-AnoGAN score", encoder="berg+izif", term="izif"),
}


def cached_search_scores(detector, images, variant: str, steps: int, restarts: int, seed: int) -> Scores:
    """Scores (no maps) of `images` by the variant's method (its name: "search" or "hybrid"), from the run folder
    when they were made before (see scorecache)."""
    encoder = SEARCH_VARIANTS[variant].encoder
    kwargs = (dict(search_steps=steps, search_restarts=restarts) if variant == "search"
              else dict(hybrid_steps=steps))
    return cached_score_terms(detector, images, None if encoder == "search" else encoder, method=variant,
                              keep_maps=False, seed=seed, **kwargs)


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
