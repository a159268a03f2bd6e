"""The score variants every experiment reports on one split, and the choice among them without test labels.

The thesis method is the first block (the joint `berg` encoder; L_n, L_o and their mixes). The rest goes past
it: f-AnoGAN's critic-feature residual and izif encoders, and structural (SSIM, gradient-magnitude) maps of
the berg+izif reconstruction reduced to an image score. `selected` is the experiments' primary score: the
candidate with the best AUROC on held-out normal images with planted synthetic defects, never on test data.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..defects import defect_validation_set
from ..metrics import auroc
from ..scoring import Scores
from ..structural import reduce_map
from .scorecache import cached_score_terms


@dataclass(frozen=True)
class Variant:
    """One image score: which encoder reconstructs the query, and which term of its Scores is read."""

    label: str
    encoder: str = "berg"        # "berg" (joint, the thesis), "izif" or "berg+izif"
    term: str = "mix"            # "mix" (lambda L_n + (1 - lambda) L_o), "feature", "izif" or "map"
    weight: float = 1.0          # lambda of a mix
    standardized: bool = False   # a mix of z-scored terms
    map: str | None = None       # "residual", "ssim" or "gms" for term="map"
    reduce: str = "mean"         # how a map becomes an image score (structural.reduce_map)
    thesis: bool = False         # part of the thesis method

    def image_scores(self, scores: Scores) -> np.ndarray:
        """Scores (N,) of this variant from the Scores of its encoder; higher = more anomalous."""
        if self.term == "mix":
            return scores.anomaly_score(self.weight, self.standardized)
        if self.term == "feature":
            return scores.feature
        if self.term == "izif":
            return scores.izif_score()
        maps = torch.from_numpy(scores.map(self.map))
        return reduce_map(maps, self.reduce).numpy()


VARIANTS: dict[str, Variant] = {
    "residual": Variant("L_n alone (thesis primary)", thesis=True),
    "origin": Variant("L_o alone", weight=0.0, thesis=True),
    "source_mix": Variant("source mix, λ = 0.05", weight=0.05, thesis=True),
    "standardized_mix": Variant("standardised mix, λ = 0.5", weight=0.5, standardized=True, thesis=True),
    "feature": Variant("critic-feature residual (berg E)", term="feature"),
    "izif_score": Variant("f-AnoGAN score (berg E)", term="izif"),
    "izif": Variant("f-AnoGAN score (izif E)", encoder="izif", term="izif"),
    "berg+izif": Variant("f-AnoGAN score (berg+izif E)", encoder="berg+izif", term="izif"),
    "ssim": Variant("SSIM map, mean (berg+izif E)", encoder="berg+izif", term="map", map="ssim"),
    "ssim_max": Variant("SSIM map, smoothed max (berg+izif E)", encoder="berg+izif", term="map", map="ssim",
                        reduce="smooth_max"),
    "gms": Variant("gradient-magnitude map, mean (berg+izif E)", encoder="berg+izif", term="map", map="gms"),
    "gms_max": Variant("gradient-magnitude map, smoothed max (berg+izif E)", encoder="berg+izif", term="map",
                       map="gms", reduce="smooth_max"),
}
CANDIDATES = ("berg+izif", "ssim", "ssim_max", "gms", "gms_max")  # what `selected` chooses from
SELECTED = "selected"
SELECTED_SMALL = "selected_small"  # the same rule on defects.small_defect_validation_set: added later, see the chapters
ENSEMBLE = "ensemble"  # the mean of the candidates' z-scores, no choice at all: added later, see the chapters
ENCODERS = ("berg", "izif", "berg+izif")
# the map each pixel-level metric reads, per variant that has one
PIXEL_MAPS = {"residual": "residual", "ssim": "ssim", "ssim_max": "ssim", "gms": "gms", "gms_max": "gms"}


def variant_label(name: str, selected_from: str | None = None) -> str:
    if name == ENSEMBLE:
        return "mean of the candidates' z-scores on held-out normals, a rule added after the test results were read"
    if name in (SELECTED, SELECTED_SMALL):
        what = "selected on synthetic defects" if name == SELECTED else "selected on small synthetic defects"
        return what + (f": {VARIANTS[selected_from].label}" if selected_from else "")
    return VARIANTS[name].label


def score_all(detector, images, structural: bool = True, **kwargs) -> dict[str, Scores]:
    """Scores of `images` under every encoder the variants use (berg+izif with structural maps)."""
    return {e: cached_score_terms(detector, images, e, structural=structural and e == "berg+izif", **kwargs)
            for e in ENCODERS}


def ensemble_scores(test: dict[str, Scores], normal: dict[str, Scores], members=CANDIDATES
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The mean over `members` of each variant's image score, z-scored with the mean and standard deviation of
    that score on the held-out normals: (T,) for the test Scores and (V,) for the held-out ones, per encoder in
    `test` and `normal`. No label is read and nothing is chosen. A member that is constant on the held-out
    normals has no scale and is left out."""
    z_test, z_normal = [], []
    for name in members:
        v = VARIANTS[name]
        t, n = (np.asarray(v.image_scores(s[v.encoder]), np.float64) for s in (test, normal))
        mean, std = float(np.mean(n)), float(np.std(n))
        if std > 0:
            z_test.append((t - mean) / std)
            z_normal.append((n - mean) / std)
    if not z_test:
        raise ValueError(f"every member of the ensemble {list(members)} is constant on the held-out normals: "
                         "there is no scale to z-score with (too few held-out images, or an untrained model)")
    return np.mean(z_test, 0), np.mean(z_normal, 0)


def best_ties(values: dict[str, float]) -> list[str]:
    """Every key whose value equals the best one (to 1e-9): more than one means the choice was a tie."""
    best = max(values.values())
    return [k for k, v in values.items() if abs(v - best) < 1e-9]


def select_variant(detector, normal_images, seed: int = 0, planted=defect_validation_set
                   ) -> tuple[str, dict[str, float]]:
    """The candidate with the best AUROC on held-out normals, half of them with planted defects, and every
    candidate's AUROC there. Uses no test image and no test label. planted(normal_images, seed) -> (images,
    labels, masks) makes the labelled set (defects.small_defect_validation_set is a harder one)."""
    images, labels, _ = planted(normal_images, seed)
    labels = labels.cpu().numpy()
    encoders = {VARIANTS[c].encoder for c in CANDIDATES}  # only what the candidates read
    scores = {e: cached_score_terms(detector, images, e, structural=e == "berg+izif", keep_maps=True)
              for e in encoders}
    values = {name: auroc(labels, VARIANTS[name].image_scores(scores[VARIANTS[name].encoder]))
              for name in CANDIDATES}
    return max(values, key=values.get), values
