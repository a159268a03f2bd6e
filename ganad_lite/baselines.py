"""A simple learned baseline on the same splits: PCA reconstruction error (scikit-learn)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA

from .images import as_float_images, check_images


def _flat(images, image_shape=None) -> tuple[np.ndarray, tuple[int, ...]]:
    """Checked images (N, C, H, W) -> float32 rows (N, C * H * W) in [0, 1], and their (C, H, W)."""
    x = as_float_images(check_images(images, image_shape).detach().cpu())
    return x.flatten(1).numpy(), tuple(x.shape[1:])


@dataclass
class PCABaseline:
    """Fit a PCA on normal images; score = mean squared reconstruction error; map = per-pixel squared error."""

    n_components: int = 32
    seed: int = 0

    def fit(self, images) -> "PCABaseline":
        x, self.shape_ = _flat(images)
        self.pca_ = PCA(n_components=min(self.n_components, *x.shape), random_state=self.seed).fit(x)
        return self

    def reconstruction_error(self, images) -> tuple[np.ndarray, np.ndarray]:
        """Image scores (N,) and residual maps (N, H, W) averaged over channels."""
        x, _ = _flat(images, self.shape_)
        err = (x - self.pca_.inverse_transform(self.pca_.transform(x))) ** 2
        return err.mean(1), err.reshape(len(x), *self.shape_).mean(1)
