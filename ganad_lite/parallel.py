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

import time
from typing import Sequence

import torch
from torch import nn

from .models import Crop, Reshape
from .steps import GanSteps
from .training import Trainer

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


class _Stack(GanSteps):
    """G, D, E and both optimizers of the active models, stacked; each model's draws come from its own trainer."""

    def __init__(self, trainers: list[Trainer]):
        self.trainers = trainers
        self.groups = len(trainers)
        names = ("generator", "critic", "encoder")
        stacked = [stack_sequential([t.models[name] for t in trainers]) for name in names]
        self.layouts = {name: layout for name, (_, layout) in zip(names, stacked)}
        super().__init__(trainers[0].config, trainers[0].device, *(m for m, _ in stacked))
        self.critic_augment = trainers[0].critic_augment  # check_lockstep: the same for all
        for m in self.models.values():
            m.train()
        lay_g, lay_d, lay_e = self.layouts.values()
        self._opt_layouts = {"d": [h for _, h in lay_d], "g": [h for _, h in lay_g + lay_e]}
        _stack_adam(self.opt_d, list(self.critic.parameters()), self._opt_layouts["d"], [t.opt_d for t in trainers])
        _stack_adam(self.opt_g, self._g_params(), self._opt_layouts["g"], [t.opt_g for t in trainers])

    def _g_params(self) -> list[nn.Parameter]:
        return [*self.generator.parameters(), *self.encoder.parameters()]

    def sample_z(self, n: int) -> torch.Tensor:
        return torch.cat([t.sample_z(n) for t in self.trainers], 1)      # (n, K * N_z)

    def sample_eps(self, n: int) -> torch.Tensor:
        return torch.stack([t.sample_eps(n) for t in self.trainers], 1)  # (n, K)

    def reals(self, data: list[torch.Tensor], batches: list[torch.Tensor]):
        """The n_critic real batches (N, K * C, H, W) of one generator step: batches[k] (n_critic, N) indexes
        data[k], model k's images, and model k's batch fills channel group k."""
        for j in range(self.config.n_critic):
            real = torch.cat([t.prepare(d[b[j]]) for t, d, b in zip(self.trainers, data, batches)], dim=1)
            yield real.contiguous(memory_format=torch.channels_last) if self.channels_last else real

    def write_back(self) -> None:
        """Weights and Adam state back into each model's own trainer."""
        for name, stacked in self.models.items():
            unstack_into(stacked, self.layouts[name], [t.models[name] for t in self.trainers])
        _unstack_adam(self.opt_d, list(self.critic.parameters()), self._opt_layouts["d"],
                      [t.opt_d for t in self.trainers])
        _unstack_adam(self.opt_g, self._g_params(), self._opt_layouts["g"], [t.opt_g for t in self.trainers])


def check_lockstep(trainers: Sequence[Trainer]) -> None:
    """Raise ValueError unless the trainers can share one stack (same architecture, settings and device)."""
    if not trainers:
        raise ValueError("train_lockstep needs at least one trainer")
    t0 = trainers[0]
    for i, t in enumerate(trainers[1:], 1):
        diff = [f for f in SHARED_FIELDS if getattr(t.config, f) != getattr(t0.config, f)]
        if diff:
            raise ValueError(f"trainer {i} differs from trainer 0 in {diff}; lockstep models may differ only in "
                             "seed and epochs (train the others separately)")
        if t.device != t0.device:
            raise ValueError(f"trainer {i} is on {t.device}, trainer 0 on {t0.device}; put all on one device")
        if t.critic_augment is not t0.critic_augment:
            raise ValueError(f"trainer {i} has another critic_augment than trainer 0; lockstep models share one")


def train_lockstep(trainers: Sequence[Trainer], datasets: Sequence[torch.Tensor], epochs: int | Sequence[int] | None = None,
                   *, progress: bool = True) -> list[Trainer]:
    """Train K trainers on K image sets at once, as K separate `Trainer.train` calls would (same numbers up to
    rounding), with all K models in one stack of grouped kernels.

    datasets[k]: model k's normal training images, uint8 (N_k, C, H, W) or float in [0, 1]. epochs: one for all,
    one per model, or None (each config's epochs). Each trainer ends with its trained weights, Adam state,
    history, epoch_log and epoch/step counts; train_seconds grows by the wall time of the steps it took part in.
    Not done here (use `Trainer.train` for them): checkpoints, resuming a partial epoch, per-epoch callbacks.
    """
    from tqdm.auto import tqdm

    trainers = list(trainers)
    check_lockstep(trainers)
    if len(datasets) != len(trainers):
        raise ValueError(f"got {len(trainers)} trainers but {len(datasets)} datasets; pass one image set per trainer")
    targets = [t.config.epochs for t in trainers] if epochs is None else \
        [int(epochs)] * len(trainers) if isinstance(epochs, int) else [int(e) for e in epochs]
    if len(targets) != len(trainers):
        raise ValueError(f"epochs has {len(targets)} entries for {len(trainers)} trainers")
    data = [t.training_data(images, f"training images of model {i}")
            for i, (t, images) in enumerate(zip(trainers, datasets))]
    for i, t in enumerate(trainers):
        if t.epoch_step > 0:
            raise ValueError(f"trainer {i} stopped inside an epoch; finish it with Trainer.train first")
    steps = [t.steps_per_epoch(d.shape[0]) for t, d in zip(trainers, data)]
    remaining = max(max(0, e - t.epoch) * s for t, e, s in zip(trainers, targets, steps))  # lockstep iterations
    bar = tqdm(total=remaining, disable=not progress, unit="G-step", desc=f"{len(trainers)} models in lockstep")
    try:
        while True:
            active = [i for i, t in enumerate(trainers) if t.epoch < targets[i]]
            if not active:
                break
            stack = _Stack([trainers[i] for i in active])
            try:
                while all(trainers[i].epoch < targets[i] for i in active):
                    t0 = time.perf_counter()
                    batches = [trainers[i].epoch_batches(data[i].shape[0])[trainers[i].epoch_step] for i in active]
                    losses = stack.train_step(stack.reals([data[i] for i in active], batches))  # (K, 5)
                    dt = time.perf_counter() - t0
                    for i, row in zip(active, losses):
                        t = trainers[i]
                        t.train_seconds += dt
                        t.record_step(row)
                        if t.epoch_step == steps[i]:
                            t.end_epoch()
                    bar.update(1)
            finally:
                stack.write_back()
    finally:
        bar.close()
    for t in trainers:
        for m in t.models.values():
            m.eval()
    return trainers
