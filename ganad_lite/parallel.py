"""Several one-class models trained in lockstep in one process (e.g. the ten MNIST digits at once).

K models of the same architecture are stacked along the channel axis: every Conv2d and ConvTranspose2d of
the K copies becomes one grouped convolution (groups = K) and every Linear one batched matmul, so model k's
activations live in channel group k and never mix with another model's. One critic step and one generator
step then update all K models with one sequence of (K times wider) kernels instead of K sequences.

Each model keeps its own weights, Adam state, random stream (batches, z, eps) and epoch schedule, so the
numbers are those of training the models one by one with `Trainer.train`, up to floating-point rounding
(grouped kernels sum in another order). A model that reaches its epochs leaves the stack and the others go on.

    trainers = [Trainer(config.replace(seed=s), device) for s in seeds]
    train_lockstep(trainers, [split_k.train for split_k in splits])     # trains all of them in place
"""
from __future__ import annotations

import math
import time
from typing import Sequence

import torch
from torch import nn

from .models import Crop, Reshape
from .training import LOSS_NAMES, Trainer, TrainingDiverged, check_images

# Config fields that must agree for models to share one stack (seed and epochs may differ).
SHARED_FIELDS = ("image_shape", "latent_dim", "ngf", "ndf", "batch_size", "n_critic", "gp_weight", "lr", "betas",
                 "encoder_weight", "amp", "channels_last")


class GroupedLinear(nn.Module):
    """K independent Linear layers: (N, K * in) -> (N, K * out), weight (K, out, in), bias (K, out)."""

    def __init__(self, groups: int, in_features: int, out_features: int):
        super().__init__()
        self.groups, self.in_features, self.out_features = groups, in_features, out_features
        self.weight = nn.Parameter(torch.empty(groups, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(groups, out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        x = x.reshape(n, self.groups, self.in_features).transpose(0, 1)          # (K, N, in)
        y = torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2))  # (K, N, out)
        return y.transpose(0, 1).reshape(n, self.groups * self.out_features)

    def extra_repr(self) -> str:
        return f"groups={self.groups}, in_features={self.in_features}, out_features={self.out_features}"


def _stack(tensors: Sequence[torch.Tensor], how: str) -> torch.Tensor:
    return torch.stack(list(tensors)) if how == "stack" else torch.cat(list(tensors))


def _unstack(tensor: torch.Tensor, k: int, how: str) -> list[torch.Tensor]:
    return list(tensor.unbind(0)) if how == "stack" else list(tensor.chunk(k, 0))


def stack_sequential(models: Sequence[nn.Sequential]) -> tuple[nn.Sequential, list[tuple[str, str]]]:
    """One channel-grouped Sequential computing K same-architecture Sequentials side by side.

    Input and output of model k occupy channel (or feature) group k: e.g. K critics take (N, K * C, H, W)
    and return (N, K). Returns the stacked module and, per stacked parameter in order, (name, how) where
    how is "cat" (concatenated along dim 0: convolution weights and biases) or "stack" (a new dim 0: Linear).
    The stacked weights are copies of the models' weights.
    """
    k = len(models)
    layers, layout = [], []
    for i, proto in enumerate(models[0]):
        group = [m[i] for m in models]
        if isinstance(proto, nn.Linear):
            new = GroupedLinear(k, proto.in_features, proto.out_features)
            how = "stack"
        elif isinstance(proto, (nn.Conv2d, nn.ConvTranspose2d)):
            if proto.groups != 1 or proto.bias is None:
                raise ValueError(f"layer {i} ({proto}): only ungrouped convolutions with bias can be stacked")
            kw = dict(kernel_size=proto.kernel_size, stride=proto.stride, padding=proto.padding,
                      dilation=proto.dilation, groups=k)
            if isinstance(proto, nn.ConvTranspose2d):
                new = nn.ConvTranspose2d(k * proto.in_channels, k * proto.out_channels,
                                         output_padding=proto.output_padding, **kw)
            else:
                new = nn.Conv2d(k * proto.in_channels, k * proto.out_channels, **kw)
            how = "cat"
        elif isinstance(proto, Reshape):
            c, *rest = proto.shape
            new = Reshape(k * c, *rest)
            how = None
        elif isinstance(proto, (nn.ReLU, nn.Sigmoid, nn.Flatten, Crop, nn.Identity)):
            new, how = proto, None
        else:
            raise ValueError(f"layer {i} ({type(proto).__name__}) cannot be stacked; supported: Linear, Conv2d, "
                             "ConvTranspose2d, ReLU, Sigmoid, Flatten, Reshape, Crop")
        if how is not None:
            p0 = next(proto.parameters())
            new = new.to(device=p0.device, dtype=p0.dtype)
            with torch.no_grad():
                for name in ("weight", "bias"):
                    getattr(new, name).copy_(_stack([getattr(m, name) for m in group], how))
                    layout.append((f"{i}.{name}", how))
        layers.append(new)
    return nn.Sequential(*layers), layout


@torch.no_grad()
def unstack_into(stacked: nn.Sequential, layout: list[tuple[str, str]], models: Sequence[nn.Sequential]) -> None:
    """Copy the stacked weights back into the K models (in place)."""
    params = dict(stacked.named_parameters())
    for name, how in layout:
        for m, part in zip(models, _unstack(params[name], len(models), how)):
            m.get_parameter(name).copy_(part)


def _stack_adam(opt: torch.optim.Adam, stacked_params: list[nn.Parameter], layouts: list[str],
                per_model: list[torch.optim.Adam]) -> None:
    """Load the K optimizers' Adam moments into `opt`, whose parameters are the stacked ones (same order)."""
    model_params = [[p for g in o.param_groups for p in g["params"]] for o in per_model]
    for j, (sp, how) in enumerate(zip(stacked_params, layouts)):
        states = [o.state.get(ps[j]) for o, ps in zip(per_model, model_params)]
        if all(not s for s in states):
            continue
        steps = {float(s["step"]) for s in states}
        if len(steps) != 1:
            raise ValueError(f"models at different optimizer steps ({sorted(steps)}) cannot share a lockstep stack; "
                             "train them from the same step (e.g. all fresh)")
        opt.state[sp] = {"step": states[0]["step"].clone(),
                         "exp_avg": _stack([s["exp_avg"] for s in states], how),
                         "exp_avg_sq": _stack([s["exp_avg_sq"] for s in states], how)}


def _unstack_adam(opt: torch.optim.Adam, stacked_params: list[nn.Parameter], layouts: list[str],
                  per_model: list[torch.optim.Adam]) -> None:
    k = len(per_model)
    model_params = [[p for g in o.param_groups for p in g["params"]] for o in per_model]
    for j, (sp, how) in enumerate(zip(stacked_params, layouts)):
        state = opt.state.get(sp)
        if not state:
            continue
        avg, avg_sq = _unstack(state["exp_avg"], k, how), _unstack(state["exp_avg_sq"], k, how)
        for i, (o, ps) in enumerate(zip(per_model, model_params)):
            o.state[ps[j]] = {"step": state["step"].clone(), "exp_avg": avg[i].clone(), "exp_avg_sq": avg_sq[i].clone()}


class _Stack:
    """G, D, E and both optimizers of the active models, stacked."""

    def __init__(self, trainers: list[Trainer]):
        self.trainers = trainers
        self.k = len(trainers)
        c = trainers[0].config
        self.G, lay_g = stack_sequential([t.generator for t in trainers])
        self.D, lay_d = stack_sequential([t.critic for t in trainers])
        self.E, lay_e = stack_sequential([t.encoder for t in trainers])
        self.layouts = {"generator": lay_g, "critic": lay_d, "encoder": lay_e}
        if trainers[0]._channels_last:
            for m in (self.G, self.D, self.E):
                m.to(memory_format=torch.channels_last)
        for m in (self.G, self.D, self.E):
            m.train()
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr, betas=c.betas)
        self.opt_g = torch.optim.Adam([*self.G.parameters(), *self.E.parameters()], lr=c.lr, betas=c.betas)
        self._opt_layouts = {"d": [h for _, h in lay_d], "g": [h for _, h in lay_g + lay_e]}
        _stack_adam(self.opt_d, list(self.D.parameters()), self._opt_layouts["d"], [t.opt_d for t in trainers])
        _stack_adam(self.opt_g, [*self.G.parameters(), *self.E.parameters()], self._opt_layouts["g"],
                    [t.opt_g for t in trainers])

    def write_back(self) -> None:
        """Weights and Adam state back into each model's own trainer."""
        for name, stacked in (("generator", self.G), ("critic", self.D), ("encoder", self.E)):
            unstack_into(stacked, self.layouts[name], [t.models[name] for t in self.trainers])
        _unstack_adam(self.opt_d, list(self.D.parameters()), self._opt_layouts["d"], [t.opt_d for t in self.trainers])
        _unstack_adam(self.opt_g, [*self.G.parameters(), *self.E.parameters()], self._opt_layouts["g"],
                      [t.opt_g for t in self.trainers])

    # -- the two steps, for K models at once; losses come back per model, shape (K,) --------------------------
    def critic_step(self, real: torch.Tensor, z: torch.Tensor, eps: torch.Tensor, gp_weight: float):
        """real (N, K*C, H, W) float; z (N, K*N_z); eps (N, K). Same loss as losses.critic_loss, per model."""
        n, k = real.shape[0], self.k
        with self.trainers[0]._autocast():
            with torch.no_grad():
                fake = self.G(z).to(real.dtype)  # bf16 under autocast
            # x_hat = eps * real + (1 - eps) * fake, with model k's eps on channel group k
            x_hat = torch.lerp(fake.unflatten(1, (k, -1)), real.unflatten(1, (k, -1)), eps.view(n, k, 1, 1, 1))
            x_hat = x_hat.flatten(1, 2).requires_grad_(True)
            scores = self.D(torch.cat([real, fake])).float()                       # (2N, K)
            wasserstein = scores[:n].mean(0) - scores[n:].mean(0)                  # (K,)
            (grad,) = torch.autograd.grad(self.D(x_hat).sum(), x_hat, create_graph=True)
            norms = grad.unflatten(1, (k, -1)).flatten(2).float().norm(2, dim=2)  # (N, K)
            penalty = ((norms - 1.0) ** 2).mean(0)                                 # (K,)
            loss = -wasserstein + gp_weight * penalty
        self.opt_d.zero_grad(set_to_none=True)
        loss.sum().backward()  # model k's weights only see model k's loss
        self.opt_d.step()
        return loss.detach(), wasserstein.detach(), penalty.detach()

    def generator_step(self, z: torch.Tensor, encoder_weight: float):
        """z (N, K*N_z). Same loss as losses.generator_losses, per model."""
        k = self.k
        self.D.requires_grad_(False)
        try:
            with self.trainers[0]._autocast():
                fake = self.G(z)
                adversarial = -self.D(fake).float().mean(0)                                   # (K,)
                diff = (fake - self.G(self.E(fake))).abs().float()
                encoder = diff.unflatten(1, (k, -1)).mean((0, 2, 3, 4))                     # (K,)
                loss = adversarial + encoder_weight * encoder
            self.opt_g.zero_grad(set_to_none=True)
            loss.sum().backward()
            self.opt_g.step()
        finally:
            self.D.requires_grad_(True)
        return adversarial.detach(), encoder.detach()


def check_lockstep(trainers: Sequence[Trainer]) -> None:
    """Raise ValueError unless the trainers can share one stack (same architecture, settings and device)."""
    if not trainers:
        raise ValueError("train_lockstep needs at least one trainer")
    c0, d0 = trainers[0].config, trainers[0].device
    for i, t in enumerate(trainers[1:], 1):
        diff = [f for f in SHARED_FIELDS if getattr(t.config, f) != getattr(c0, f)]
        if diff:
            raise ValueError(f"trainer {i} differs from trainer 0 in {diff}; lockstep models may differ only in "
                             "seed and epochs (train the others separately)")
        if t.device != d0:
            raise ValueError(f"trainer {i} is on {t.device}, trainer 0 on {d0}; put all on one device")


def train_lockstep(trainers: Sequence[Trainer], datasets: Sequence[torch.Tensor], epochs: int | Sequence[int] | None = None,
                   *, progress: bool = True) -> list[Trainer]:
    """Train K trainers on K image sets at once, as K separate `Trainer.train` calls would (same numbers up to
    rounding), with all K models in one stack of grouped kernels.

    datasets[k]: model k's normal training images, uint8 (N_k, C, H, W) or float in [0, 1]. epochs: one for all,
    one per model, or None (each config's epochs). Each trainer ends with its trained weights, Adam state,
    history, epoch_log and epoch/step counts; train_seconds grows by the wall time of the steps it took part in.
    Not done here (use `Trainer.train` for them): checkpoints, resuming a partial epoch, validation AUROC.
    """
    from tqdm.auto import tqdm

    trainers = list(trainers)
    check_lockstep(trainers)
    if len(datasets) != len(trainers):
        raise ValueError(f"got {len(trainers)} trainers but {len(datasets)} datasets; pass one image set per trainer")
    c = trainers[0].config
    device = trainers[0].device
    targets = [t.config.epochs for t in trainers] if epochs is None else \
        [int(epochs)] * len(trainers) if isinstance(epochs, int) else [int(e) for e in epochs]
    if len(targets) != len(trainers):
        raise ValueError(f"epochs has {len(targets)} entries for {len(trainers)} trainers")
    data = []
    for i, images in enumerate(datasets):
        images = check_images(images, c.image_shape, f"training images of model {i}")
        if images.shape[0] < 2:
            raise ValueError(f"model {i}: training needs at least 2 images, got {images.shape[0]}")
        d = images.to(device)
        data.append(d if d.dtype == torch.uint8 else d.float())
    for i, t in enumerate(trainers):
        if t._perm is not None and t._pos > 0:
            raise ValueError(f"trainer {i} stopped inside an epoch; finish it with Trainer.train first")
    steps = [t.steps_per_epoch(d.shape[0]) for t, d in zip(trainers, data)]
    remaining = max(max(0, e - t.epoch) * s for t, e, s in zip(trainers, targets, steps))  # lockstep iterations
    bar = tqdm(total=remaining, disable=not progress, unit="G-step", desc=f"{len(trainers)} models in lockstep")
    acc = [torch.zeros(len(LOSS_NAMES), device=device) for _ in trainers]
    n_acc = [0] * len(trainers)
    try:
        while True:
            active = [i for i, t in enumerate(trainers) if t.epoch < targets[i]]
            if not active:
                break
            stack = _Stack([trainers[i] for i in active])
            try:
                while all(trainers[i].epoch < targets[i] for i in active):
                    t0 = time.perf_counter()
                    _lockstep_iteration(stack, [trainers[i] for i in active], [data[i] for i in active],
                                        [acc[i] for i in active])
                    dt = time.perf_counter() - t0
                    for i in active:
                        t = trainers[i]
                        t.train_seconds += dt
                        t._pos += 1
                        t.step += 1
                        n_acc[i] += 1
                        if n_acc[i] == c.log_every or t._pos == steps[i]:
                            _log(t, acc[i] / n_acc[i], steps[i])
                            acc[i].zero_()
                            n_acc[i] = 0
                        if t._pos == steps[i]:
                            t.epoch += 1
                            t._perm, t._pos = None, 0
                            t.epoch_log.append({"epoch": t.epoch, "step": t.step, "seconds": round(t.train_seconds, 3)})
                    bar.update(1)
            finally:
                stack.write_back()
    finally:
        bar.close()
    for t in trainers:
        for m in t.models.values():
            m.eval()
    return trainers


def _lockstep_iteration(stack: _Stack, trainers: list[Trainer], data: list[torch.Tensor], acc: list[torch.Tensor]):
    """n_critic critic steps and one generator step for every active model, drawing from each model's own stream
    in the order `Trainer.train` does (epoch permutation, then per critic step z and eps, then z)."""
    c = trainers[0].config
    b = c.batch_size
    for t, d in zip(trainers, data):
        if t._perm is None:
            t._perm, t._pos = t._epoch_indices(d.shape[0]), 0
    for j in range(c.n_critic):
        real = torch.cat([t._prepare(d[t._perm[t._pos][j]]) for t, d in zip(trainers, data)], dim=1)
        z, eps = [], []
        for t in trainers:
            z.append(t._z(b))
            eps.append(torch.rand(b, device=t.device, generator=t.rng))
        if trainers[0]._channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        d_loss, wasserstein, penalty = stack.critic_step(real, torch.cat(z, 1), torch.stack(eps, 1), c.gp_weight)
    adversarial, encoder = stack.generator_step(torch.cat([t._z(b) for t in trainers], 1), c.encoder_weight)
    losses = torch.stack([d_loss, wasserstein, penalty, adversarial, encoder], 1).float()  # (K, 5)
    for a, row in zip(acc, losses):
        a += row


def _log(t: Trainer, means: torch.Tensor, steps: int) -> None:
    """The same history entry as Trainer._log (a host sync), without a progress bar."""
    values = means.tolist()
    if not all(math.isfinite(v) for v in values):
        bad = [k for k, v in zip(LOSS_NAMES, values) if not math.isfinite(v)]
        raise TrainingDiverged(f"non-finite {', '.join(bad)} at generator step {t.step} (epoch {t.epoch + 1}, seed "
                               f"{t.config.seed}) in lockstep training. Lower lr or check the inputs lie in [0, 1].")
    t.history.append({"epoch": round(t.epoch + t._pos / steps, 4), "step": t.step,
                      **{k: round(v, 6) for k, v in zip(LOSS_NAMES, values)}})
