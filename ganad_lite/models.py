"""Generator, critic and encoder, built from the image shape (C, H, W).

28x28 follows the thesis exactly (with the 8 -> 7 crop of the WGAN-GP reference MNIST generator);
power-of-two sizes from 16 to 256 use the same 5x5 kernels with one stride-2 stage per doubling.
No normalisation layers anywhere: the gradient penalty is taken per sample.
Every weight starts from He initialisation (see `he_init_`), as in the WGAN-GP reference code, unless
init="torch" asks for PyTorch's layer defaults.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .config import INITS

SUPPORTED_SIZES = (28, 16, 32, 64, 128, 256)


class Reshape(nn.Module):
    """(N, c*h*w) -> (N, c, h, w)."""

    def __init__(self, *shape: int):
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class PixelNorm(nn.Module):
    """z / sqrt(mean(z^2) + eps) per sample (N, N_z): every code at unit RMS, so G reads only its direction."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z * torch.rsqrt(z.square().mean(1, keepdim=True) + self.eps)


class Crop(nn.Module):
    """Keep the top-left size x size pixels: (N, c, 8, 8) -> (N, c, 7, 7) in the 28x28 generator."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, : self.size, : self.size]

    def extra_repr(self) -> str:
        return f"size={self.size}"


def check_image_shape(image_shape) -> tuple[int, int, int]:
    """Validate (C, H, W) and return it as a tuple of ints."""
    try:
        c, h, w = (int(s) for s in image_shape)
    except (TypeError, ValueError):
        raise ValueError(f"image_shape must be (C, H, W), got {image_shape!r}") from None
    if c not in (1, 3):
        raise ValueError(f"image_shape {image_shape}: C must be 1 (grey) or 3 (RGB)")
    if h != w or h not in SUPPORTED_SIZES:
        raise ValueError(
            f"image_shape {image_shape}: images must be square with H = W in {SUPPORTED_SIZES}; "
            "resize them first (the data loaders take a size argument)")
    return c, h, w


def _n_down(size: int) -> int:
    """Number of stride-2 stages that take size down to 4x4 (28 -> 14 -> 7 -> 4 is three)."""
    return 3 if size == 28 else int(math.log2(size // 4))


def _trunk(image_shape, ndf: int) -> tuple[nn.Sequential, int]:
    """Conv(5, stride 2, pad 2) + ReLU stages down to 4x4; returns the trunk and its flat output size."""
    c, size, _ = check_image_shape(image_shape)
    layers, ch_in = [], c
    for i in range(_n_down(size)):
        ch_out = ndf * min(2 ** i, 8)
        layers += [nn.Conv2d(ch_in, ch_out, 5, stride=2, padding=2), nn.ReLU(inplace=True)]
        ch_in = ch_out
    layers.append(nn.Flatten())
    return nn.Sequential(*layers), ch_in * 4 * 4


def he_init_(module: nn.Module) -> nn.Module:
    """He (Kaiming) uniform initialisation in place: weights with std sqrt(2 / fan_in), zero biases.

    fan_in counts the inputs that reach one output: in_features for Linear, in_channels * k * k for
    Conv2d and in_channels * k * k / stride^2 for ConvTranspose2d. PyTorch's default draws weights with
    std 1 / sqrt(3 fan_in), about 2.4x smaller per layer; through the generator's four ReLU layers the
    image then barely depends on z at the start (std over z about 0.005 of the [0, 1] range at width 16,
    against 0.05 with He), and on some MNIST digits training never recovers from that near-constant start.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            if isinstance(layer, nn.Linear):
                fan_in = layer.in_features
            else:
                k = layer.kernel_size[0] * layer.kernel_size[1]
                fan_in = layer.in_channels * k
                if isinstance(layer, nn.ConvTranspose2d):
                    fan_in /= layer.stride[0] * layer.stride[1]
            bound = math.sqrt(3.0) * math.sqrt(2.0 / fan_in)  # uniform(-b, b) has std b / sqrt(3)
            nn.init.uniform_(layer.weight, -bound, bound)
            nn.init.zeros_(layer.bias)
    return module


def initialise_(module: nn.Module, init: str = "he") -> nn.Module:
    """Apply the named scheme in place: "he" (he_init_) or "torch" (keep PyTorch's layer defaults)."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}: choose one of {INITS}")
    return he_init_(module) if init == "he" else module


def build_critic(image_shape, ndf: int = 64, init: str = "he") -> nn.Sequential:
    """Critic D: images (N, C, H, W) in [0, 1] -> unbounded scores (N, 1)."""
    trunk, flat = _trunk(image_shape, ndf)
    return initialise_(nn.Sequential(*trunk, nn.Linear(flat, 1)), init)


def build_encoder(image_shape, latent_dim: int = 128, ndf: int = 64, init: str = "he") -> nn.Sequential:
    """Encoder E: the critic's trunk with a final Linear to the latent space, (N, C, H, W) -> (N, latent_dim)."""
    trunk, flat = _trunk(image_shape, ndf)
    return initialise_(nn.Sequential(*trunk, nn.Linear(flat, latent_dim)), init)


def build_generator(image_shape, latent_dim: int = 128, ngf: int = 64, init: str = "he",
                    activation: str = "relu", latent_norm: str = "none") -> nn.Sequential:
    """Generator G: z (N, latent_dim) -> images (N, C, H, W) in [0, 1] (sigmoid output).

    activation: "relu" (the thesis) or "leaky_relu" (slope 0.2), after every hidden layer.
    latent_norm: "none" (the thesis) or "pixel" (a PixelNorm first: G(c z) = G(z) for every c > 0).
    """
    c, size, _ = check_image_shape(image_shape)
    if activation not in ("relu", "leaky_relu"):
        raise ValueError(f"activation must be 'relu' or 'leaky_relu', got {activation!r}")
    if latent_norm not in ("none", "pixel"):
        raise ValueError(f"latent_norm must be 'none' or 'pixel', got {latent_norm!r}")
    relu = ((lambda: nn.ReLU(inplace=True)) if activation == "relu"  # noqa: E731
            else (lambda: nn.LeakyReLU(0.2, inplace=True)))
    first = [PixelNorm()] if latent_norm == "pixel" else []
    if size == 28:  # the thesis generator: 4 -> 8 (crop 7) -> 11 -> 28
        return initialise_(nn.Sequential(
            *first, nn.Linear(latent_dim, 4 * 4 * 4 * ngf), relu(), Reshape(4 * ngf, 4, 4),
            nn.ConvTranspose2d(4 * ngf, 2 * ngf, 5), relu(), Crop(7),
            nn.ConvTranspose2d(2 * ngf, ngf, 5), relu(),
            nn.ConvTranspose2d(ngf, c, 8, stride=2), nn.Sigmoid()), init)
    n = _n_down(size)
    ch = ngf * min(2 ** (n - 1), 8)
    layers = [*first, nn.Linear(latent_dim, 4 * 4 * ch), relu(), Reshape(ch, 4, 4)]
    for i in range(n - 1, 0, -1):  # 4 -> 8 -> ... -> size / 2
        ch_out = ngf * min(2 ** (i - 1), 8)
        layers += [nn.ConvTranspose2d(ch, ch_out, 5, stride=2, padding=2, output_padding=1), relu()]
        ch = ch_out
    layers += [nn.ConvTranspose2d(ch, c, 5, stride=2, padding=2, output_padding=1), nn.Sigmoid()]
    return initialise_(nn.Sequential(*layers), init)


def latent_dim_of(generator: nn.Sequential) -> int:
    """N_z of a generator built by build_generator: the input width of its first Linear."""
    return next(m for m in generator if isinstance(m, nn.Linear)).in_features


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def layer_table(module: nn.Sequential, input_shape: tuple[int, ...]) -> list[dict]:
    """Run one example through `module` and list each layer with its output shape and parameter count.

    input_shape excludes the batch dimension, e.g. (128,) for a generator or (1, 28, 28) for a critic.
    """
    rows, x = [], torch.zeros(1, *input_shape)
    with torch.no_grad():
        for i, layer in enumerate(module):
            x = layer(x)
            rows.append({"index": i, "layer": repr(layer), "output_shape": tuple(x.shape[1:]),
                         "parameters": count_parameters(layer)})
    return rows
