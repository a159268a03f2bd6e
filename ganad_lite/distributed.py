"""Training on several GPUs: one model with DistributedDataParallel, or many one-class runs spread over devices.

1. `DistributedTrainer`: one model, data-parallel over the processes of a `torchrun` job (or any initialised
   process group). Every process draws the same global batch indices, z and eps from the same seeded stream
   and keeps its own slice of the batch, and DDP averages the gradients; since every loss is a mean over the
   batch, the run follows the single-process run on the same global batch (up to rounding).

   The gradient penalty needs a double backward, which DDP does not support through its reducer
   (pytorch/pytorch#63812, #63929). The penalty's input gradient is therefore taken with
   `torch.autograd.grad(..., create_graph=True)` *inside* the DDP-wrapped forward: the Trainer's own critic
   loss (losses.critic_loss) is wrapped in a thin module (`LossModule`) and that module in DDP. Grads taken
   that way with respect to inputs are local (never all-reduced, and the penalty is per sample anyway), and the
   one ordinary `backward()` of the full critic loss then reaches each parameter's gradient accumulator exactly
   once, where DDP's all-reduce hooks fire. The generator loss is wrapped the same way, with G and E as the
   module's parameters (so that G's two uses fall within one DDP forward) and the frozen critic outside it.

       torchrun --nproc_per_node=4 -m ganad_lite.distributed --experiment mnist --normal 3 --out runs/mnist3.pt

2. `spread_runs`: independent runs (e.g. the ten MNIST digits) spread over devices, one worker process per
   device taking the next run whenever it is free.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .config import TrainConfig
from .training import Trainer


class LossModule(nn.Module):
    """A loss function as a module whose parameters are those of `trained`: forward(*inputs) = loss(*inputs).

    DistributedDataParallel wraps this module, so that the whole loss, the penalty's autograd.grad included,
    runs inside the DDP forward; only `trained`'s parameters are in DDP's gradient buckets."""

    def __init__(self, loss: Callable[..., dict], *trained: nn.Module):
        super().__init__()
        self.loss = loss
        self.trained = nn.ModuleList(trained)

    def forward(self, *inputs) -> dict[str, torch.Tensor]:
        return self.loss(*inputs)


class DistributedTrainer(Trainer):
    """A `Trainer` whose steps run data-parallel over an initialised process group (e.g. under torchrun).

    config.batch_size is the global batch; each of the W processes computes on batch_size / W images.
    Every process keeps the full weights, the data and the same random stream (so the epoch permutation, z and
    eps are those of a one-process run); checkpoints are written by rank 0 only and resume on any world size.
    The loop and the losses are the Trainer's: this class only shards the draws and batches, runs the two loss
    hooks inside DDP and averages the logged losses over the processes.
    """

    def __init__(self, config: TrainConfig, device=None, *, find_unused_parameters: bool = False):
        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError("DistributedTrainer needs an initialised process group: run under torchrun, or call "
                               "torch.distributed.init_process_group first (backend 'nccl' on GPUs, 'gloo' on CPU)")
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        if config.batch_size % self.world:
            raise ValueError(f"batch_size {config.batch_size} is not divisible by the {self.world} processes; "
                             f"use a multiple of {self.world}")
        super().__init__(config, device)
        ids = [self.device.index] if self.device.type == "cuda" and self.device.index is not None else None

        def ddp(loss, *trained):
            return DistributedDataParallel(LossModule(loss, *trained), device_ids=ids,
                                           find_unused_parameters=find_unused_parameters)

        self.ddp_critic = ddp(super().critic_loss, self.critic)
        # the critic is frozen in the generator step: only G and E (G used twice, in one forward) are DDP's
        self.ddp_generator = ddp(super().generator_loss, self.generator, self.encoder)

    def _shard(self, x: torch.Tensor) -> torch.Tensor:
        """This process's rows of a global batch (first dim)."""
        b = x.shape[0] // self.world
        return x[self.rank * b:(self.rank + 1) * b]

    def sample_z(self, n: int) -> torch.Tensor:
        """This process's n rows of n * W latents drawn from the stream all processes share."""
        return self._shard(super().sample_z(n * self.world))

    def sample_eps(self, n: int) -> torch.Tensor:
        return self._shard(super().sample_eps(n * self.world))

    def critic_step(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """One critic update on the global batch `real` (N images): this process computes on its N / W rows."""
        return super().critic_step(self._shard(real))

    def generator_step(self, n: int) -> dict[str, torch.Tensor]:
        """One joint G + E update on the global batch of n latents: this process takes n / W of them."""
        return super().generator_step(n // self.world)

    def critic_loss(self, real, fake, eps) -> dict[str, torch.Tensor]:
        return self.ddp_critic(real, fake, eps)  # the backward of its loss all-reduces the critic's gradients

    def generator_loss(self, z) -> dict[str, torch.Tensor]:
        return self.ddp_generator(z)

    def reduce_losses(self, means: torch.Tensor) -> torch.Tensor:
        means = means.clone()
        dist.all_reduce(means)  # mean over processes of per-process means = the global-batch mean
        return means / self.world

    @property
    def writes_checkpoints(self) -> bool:
        return self.rank == 0


# -- spreading independent runs over devices --------------------------------------------------------------------
def available_devices() -> list[str]:
    """Every visible CUDA device ("cuda:0", "cuda:1", ...), else ["cpu"]."""
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return [f"cuda:{i}" for i in range(n)] or ["cpu"]


def _device_worker(fn, device: str, tasks, queue, threads):
    if threads:
        torch.set_num_threads(threads)
    try:
        if device.startswith("cuda"):
            torch.cuda.set_device(torch.device(device))
        for i, item in iter(tasks.get, None):  # None: no items left
            queue.put((i, "ok", fn(item, device)))
    except BaseException as err:  # noqa: BLE001 -- reported to the parent, which raises
        import traceback
        queue.put((-1, "error", f"on {device}: {type(err).__name__}: {err}\n{traceback.format_exc()}"))


def spread_runs(fn: Callable[[Any, str], Any], items: Sequence[Any], devices: Sequence[str] | None = None,
                *, threads_per_worker: int | None = None, progress: str | None = None) -> list[Any]:
    """Run fn(item, device) for every item, one worker process per device entry (a device may be listed twice:
    ["cpu", "cpu"] or a large GPU); each worker takes the next item in order as soon as it is free, so items
    sorted longest first keep every worker busy until the end.

    fn must be a module-level function (it is pickled into spawned workers) and return something picklable
    (e.g. a results dict or a checkpoint path; large tensors are better saved to disk by the worker).
    Returns the results in the order of `items`. With one device, runs in this process. progress: the label of
    a progress bar over finished items (None: no bar).
    """
    from tqdm.auto import tqdm

    devices = [str(d) for d in (devices or available_devices())][:max(len(items), 1)]
    if len(devices) == 1:
        return [fn(item, devices[0]) for item in items]
    ctx = torch.multiprocessing.get_context("spawn")
    tasks, queue = ctx.Queue(), ctx.Queue()
    for task in [*enumerate(items), *[None] * len(devices)]:
        tasks.put(task)
    procs = [ctx.Process(target=_device_worker, args=(fn, dev, tasks, queue, threads_per_worker), daemon=False)
             for dev in devices]
    for p in procs:
        p.start()
    results: dict[int, Any] = {}
    bar = tqdm(total=len(items), desc=progress, unit="run", disable=progress is None)
    try:
        while len(results) < len(items):
            i, status, value = queue.get()
            if status == "error":
                raise RuntimeError(f"a worker failed {value}")
            results[i] = value
            bar.update(1)
    finally:
        bar.close()
        for p in procs:
            p.join(timeout=None if len(results) == len(items) else 1)
            if p.is_alive():
                p.terminate()
    return [results[i] for i in range(len(items))]


# -- torchrun entry point ----------------------------------------------------------------------------------------
def init_from_env() -> torch.device:
    """Initialise the process group from torchrun's environment; returns this process's device."""
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        dist.init_process_group("nccl")
        return torch.device("cuda", local)
    dist.init_process_group("gloo")
    return torch.device("cpu")


def main(argv=None) -> None:
    from .data import DATASETS, load_split
    from .profiles import get_profile

    p = argparse.ArgumentParser(description="Train one model data-parallel under torchrun "
                                            "(torchrun --nproc_per_node=N -m ganad_lite.distributed ...)")
    p.add_argument("--experiment", choices=DATASETS, required=True)
    p.add_argument("--normal", default=None,
                   help="MNIST digit, CIFAR-10 class (index or name) or MVTec category (default 0, automobile, bottle)")
    p.add_argument("--size", type=int, default=None, help="MVTec image size (default 28, the thesis protocol)")
    p.add_argument("--data", default=None, help="data root (default: $GANAD_DATA, else ~/.cache/ganad_lite)")
    p.add_argument("--profile", default=None, help="smoke, cpu or full (default: GANAD_PROFILE or by hardware)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="checkpoint path (written by rank 0)")
    args = p.parse_args(argv)
    device = init_from_env()
    try:
        prof = get_profile(args.profile)
        split = load_split(args.experiment, args.normal, size=args.size, root=args.data, seed=args.seed,
                           profile=prof)
        config = TrainConfig(image_shape=split.image_shape, ngf=prof.width, ndf=prof.width,
                             epochs=args.epochs or prof.epochs_for(args.experiment, len(split.train)), batch_size=prof.batch_size,
                             lr=prof.lr, seed=args.seed)
        trainer = DistributedTrainer(config, device)
        trainer.train(split.train, checkpoint_path=args.out, progress=trainer.rank == 0)
        if trainer.rank == 0:
            print(f"trained {split.name} on {trainer.world} processes in {trainer.train_seconds:.1f} s -> {args.out}")
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
