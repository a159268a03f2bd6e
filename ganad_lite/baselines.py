"""A simple learned baseline on the same splits: PCA reconstruction error (scikit-learn)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.decomposition import PCA


def _flat(images) -> np.ndarray:
    x = images.numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    return x.reshape(len(x), -1)


@dataclass
class PCABaseline:
    """Fit a PCA on normal images; score = mean squared reconstruction error; map = per-pixel squared error."""

    n_components: int = 32
    seed: int = 0

    def fit(self, images) -> "PCABaseline":
        x = _flat(images)
        self.shape_ = tuple(images.shape[1:])
        self.pca_ = PCA(n_components=min(self.n_components, *x.shape), random_state=self.seed).fit(x)
        return self

    def reconstruction_error(self, images) -> tuple[np.ndarray, np.ndarray]:
        """Image scores (N,) and residual maps (N, H, W) averaged over channels."""
        x = _flat(images)
        err = (x - self.pca_.inverse_transform(self.pca_.transform(x))) ** 2
        return err.mean(1), err.reshape(len(x), *self.shape_).mean(1)
