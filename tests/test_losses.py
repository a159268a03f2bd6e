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
