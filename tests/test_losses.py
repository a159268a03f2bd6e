import torch
from torch import nn

from ganad_lite.losses import critic_loss, encoder_loss, generator_losses, gradient_penalty, interpolate


def test_gradient_penalty_matches_hand_computation():
    # A linear critic D(x) = w . x + b has gradient w everywhere: penalty = (||w|| - 1)^2 exactly.
    critic = nn.Sequential(nn.Flatten(), nn.Linear(4, 1))
    with torch.no_grad():
        critic[1].weight.copy_(torch.tensor([[3.0, 0.0, 4.0, 0.0]]))  # ||w|| = 5
    x_hat = torch.rand(6, 1, 2, 2, requires_grad=True)
    penalty, norms = gradient_penalty(critic, x_hat)
    assert torch.allclose(norms, torch.full((6,), 5.0))
    assert torch.isclose(penalty, torch.tensor(16.0))


def test_gradient_penalty_nonlinear_by_finite_differences():
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 1)).double()
    x = torch.rand(2, 1, 2, 2, dtype=torch.float64, requires_grad=True)
    _, norms = gradient_penalty(critic, x)
    h, fd = 1e-6, torch.zeros(2, 4, dtype=torch.float64)
    for i in range(4):
        e = torch.zeros(4, dtype=torch.float64)
        e[i] = h
        plus, minus = x.detach() + e.view(1, 1, 2, 2), x.detach() - e.view(1, 1, 2, 2)
        fd[:, i] = (critic(plus) - critic(minus)).squeeze(1) / (2 * h)
    assert torch.allclose(norms, fd.norm(dim=1), atol=1e-6)


def test_interpolate_per_sample_eps():
    real, fake = torch.ones(3, 1, 2, 2), torch.zeros(3, 1, 2, 2)
    x = interpolate(real, fake, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(x.flatten(1).mean(1), torch.tensor([0.0, 0.5, 1.0]))


def test_critic_loss_equals_separate_calls():
    torch.manual_seed(1)
    critic = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    real, fake, eps = torch.rand(5, 1, 2, 2), torch.rand(5, 1, 2, 2), torch.rand(5)
    out = critic_loss(critic, real, fake, eps, gp_weight=10.0)
    x_hat = interpolate(real, fake, eps).requires_grad_(True)
    gp, _ = gradient_penalty(critic, x_hat)
    expected = critic(fake).mean() - critic(real).mean() + 10.0 * gp
    assert torch.allclose(out["loss"], expected, atol=1e-6)
    assert torch.allclose(out["wasserstein"], critic(real).mean() - critic(fake).mean(), atol=1e-6)


def test_generator_losses_parts():
    torch.manual_seed(2)
    g = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Unflatten(1, (1, 2, 2)))
    d = nn.Sequential(nn.Flatten(), nn.Linear(4, 1))
    e = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    z = torch.randn(7, 3)
    out = generator_losses(g, d, e, z)
    fake = g(z)
    assert torch.allclose(out["adversarial"], -d(fake).mean())
    assert torch.allclose(out["encoder"], (fake - g(e(fake))).abs().mean())
    assert torch.allclose(out["encoder"], encoder_loss(g, e, fake))
    assert torch.allclose(out["loss"], out["adversarial"] + out["encoder"])


def test_generator_losses_weigh_the_encoder_term():
    torch.manual_seed(2)
    g = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Unflatten(1, (1, 2, 2)))
    d, e = nn.Sequential(nn.Flatten(), nn.Linear(4, 1)), nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    out = generator_losses(g, d, e, torch.randn(7, 3), encoder_weight=0.25)
    assert torch.allclose(out["loss"], out["adversarial"] + 0.25 * out["encoder"])


def _stacked_pair(seed: int):
    """Two linear critics on (N, 1, 2, 2) images, and the same two as one critic on (N, 2, 2, 2) -> (N, 2)."""
    torch.manual_seed(seed)
    critics = [nn.Sequential(nn.Flatten(), nn.Linear(4, 1)) for _ in range(2)]
    stacked = nn.Sequential(nn.Flatten(), nn.Linear(8, 2))
    with torch.no_grad():
        stacked[1].weight.zero_()
        for k, c in enumerate(critics):  # block-diagonal: score k sees channel group k only
            stacked[1].weight[k, 4 * k:4 * (k + 1)] = c[1].weight[0]
            stacked[1].bias[k] = c[1].bias[0]
    return critics, stacked


def test_stacked_critic_loss_is_each_models_loss():
    critics, stacked = _stacked_pair(3)
    real, fake, eps = torch.rand(5, 2, 2, 2), torch.rand(5, 2, 2, 2), torch.rand(5, 2)
    out = critic_loss(stacked, real, fake, eps, gp_weight=10.0, groups=2)
    assert all(v.shape == (2,) for v in out.values())
    for k, c in enumerate(critics):
        one = critic_loss(c, real[:, k:k + 1], fake[:, k:k + 1], eps[:, k], gp_weight=10.0)
        for key in out:
            assert torch.allclose(out[key][k], one[key], atol=1e-6), (key, k)
    x_hat = interpolate(real, fake, eps).requires_grad_(True)
    penalty, norms = gradient_penalty(stacked, x_hat, groups=2)
    assert norms.shape == (5, 2) and torch.allclose(penalty, out["penalty"])


def test_stacked_generator_losses_are_each_models_losses():
    torch.manual_seed(4)
    gens = [nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Unflatten(1, (1, 2, 2))) for _ in range(2)]
    encs = [nn.Sequential(nn.Flatten(), nn.Linear(4, 3)) for _ in range(2)]
    critics, stacked_d = _stacked_pair(5)
    z = torch.randn(6, 2, 3)

    def stacked_g(zs):  # (N, 2 * 3) -> (N, 2, 2, 2)
        return torch.cat([g(zs[:, 3 * k:3 * (k + 1)]) for k, g in enumerate(gens)], 1)

    def stacked_e(x):  # (N, 2, 2, 2) -> (N, 2 * 3)
        return torch.cat([e(x[:, k:k + 1]) for k, e in enumerate(encs)], 1)

    out = generator_losses(stacked_g, stacked_d, stacked_e, z.flatten(1), encoder_weight=0.5, groups=2)
    for k in range(2):
        one = generator_losses(gens[k], critics[k], encs[k], z[:, k], encoder_weight=0.5)
        for key in out:
            assert torch.allclose(out[key][k], one[key], atol=1e-6), (key, k)


def test_augment_is_applied_to_every_critic_input():
    # a fixed differentiable augmentation x -> 0.5 x + 0.25 equals the loss on augmented inputs
    critic = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    real, fake, eps = torch.rand(5, 1, 2, 2), torch.rand(5, 1, 2, 2), torch.rand(5)
    aug = lambda x: 0.5 * x + 0.25  # noqa: E731
    out = critic_loss(critic, real, fake, eps, augment=aug)
    ref = critic_loss(critic, aug(real), aug(fake), eps)
    assert all(torch.allclose(out[k], ref[k], atol=1e-6) for k in out)
    g = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Unflatten(1, (1, 2, 2)))
    e = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    z = torch.randn(5, 3)
    gen = generator_losses(g, critic, e, z, augment=aug)
    assert torch.allclose(gen["adversarial"], -critic(aug(g(z))).mean())
    assert torch.allclose(gen["encoder"], encoder_loss(g, e, g(z)))  # the encoder term sees plain images
