"""Two-dimensional toy GANs for the theory chapters.

Small MLP generators and critics on mixtures of Gaussians in the plane, trained with the four objectives the
book compares: the original minimax loss ("saturating"), the non-saturating loss, WGAN with weight clipping
("wgan_clip") and WGAN-GP ("wgan_gp"). The gradient penalty is the package's own
(`ganad_lite.losses.critic_loss` / `gradient_penalty`), so the toy exercises the same code as the image model.
Everything runs on the CPU in seconds and is deterministic for a given seed (and thread count).
Points are float32 tensors of shape (N, 2) in plane units; critics map (N, 2) -> (N, 1).

Modules: data (mixtures, mode coverage, the optimal discriminator), nets (networks, losses, gradients),
training (the two training loops and their records) and cache (trained runs kept in the run cache, GANAD_RUNS,
so a rebuilt chapter reads them; `cache=False` trains again).
"""
from .data import (gaussian_mixture, grid_centers, grid_of_gaussians, mode_coverage, optimal_discriminator,
                   ring_centers, ring_of_gaussians)
from .nets import (LOSSES, check_loss, clip_weights, critic_gradient_norms, critic_objective, critic_surface,
                   generator_gradient_norm, generator_loss, layer_gradient_norms, mlp)
from .training import (TOY_STEPS, ToyCriticRun, ToyRun, default_steps, one_thread, train_toy_critic,
                       train_toy_gan)

__all__ = [
    "LOSSES", "TOY_STEPS", "ToyCriticRun", "ToyRun", "check_loss", "clip_weights", "critic_gradient_norms",
    "critic_objective", "critic_surface", "default_steps", "gaussian_mixture", "generator_gradient_norm",
    "generator_loss", "grid_centers", "grid_of_gaussians", "layer_gradient_norms", "mlp", "mode_coverage",
    "one_thread", "optimal_discriminator", "ring_centers", "ring_of_gaussians", "train_toy_critic",
    "train_toy_gan",
]
