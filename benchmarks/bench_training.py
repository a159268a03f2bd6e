"""Training speed: the package's WGAN-GP + encoder loop against a plain reference loop, in one run.

Measured per width (ngf = ndf; 64 is the thesis width, 16 the `cpu` profile's):
  * critic step (with gradient penalty) and generator + encoder step, in images/s;
  * one full generator iteration (n_critic critic steps + 1 generator step) inside a short `Trainer.train`
    epoch, against the reference loop's iteration (DataLoader batches, .item() every step), in images/s
    (critic images: an epoch is one pass of the data through the critic);
  * the ratio package / reference, the achieved GFLOP/s (FLOPs counted with FlopCounterMode on one step) and
    its fraction of the fp32 matmul rate measured in the same run; peak memory per loop (CPU: peak RSS of a
    fresh process; CUDA: max_memory_allocated);
  * one batched critic call on [real; fake; x_hat] against three separate calls (the same critic step otherwise).

The reference loop is written the way common PyTorch WGAN-GP ports do it: a torch DataLoader over a Dataset
with a per-image ToTensor transform, three separate critic calls, `.item()` on every loss every step, and the
generator output recomputed for the encoder loss. Variants are timed round-robin so that load changes on a
shared machine hit them alike; medians are reported.

    python benchmarks/bench_training.py                      # defaults: a couple of minutes on 2 cores
    python benchmarks/bench_training.py --widths 64 --repeats 5 --size 32 --channels 3
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from _common import (MATMUL_VARIANT, Report, base_parser, count_flops, describe_matmul, fmt, interleaved, load_average,
                     matmul_gflops, matmul_variant, peak_memory_mib, reset_peak_memory, setup, sync)

from ganad_lite.config import TrainConfig
from ganad_lite.device import cpu_has_bf16
from ganad_lite.losses import gradient_penalty, interpolate
from ganad_lite.models import build_critic, build_encoder, build_generator
from ganad_lite.training import Trainer


# -- the reference loop ------------------------------------------------------------------------------------------
class ImageArrayDataset(Dataset):
    """uint8 images (N, H, W, C) held as NumPy, converted one at a time like torchvision's ToTensor."""

    def __init__(self, images_nhwc: np.ndarray):
        from torchvision.transforms import ToTensor
        self.images, self.to_tensor = images_nhwc, ToTensor()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return self.to_tensor(self.images[i])  # (C, H, W) float in [0, 1]


class ReferenceLoop:
    """WGAN-GP + encoder training as common ports write it (see the module docstring)."""

    def __init__(self, config: TrainConfig, images_nchw: torch.Tensor, device: torch.device):
        c = self.config = config
        self.device = device
        torch.manual_seed(c.seed)
        self.G = build_generator(c.image_shape, c.latent_dim, c.ngf, c.init).to(device)
        self.D = build_critic(c.image_shape, c.ndf, c.init).to(device)
        self.E = build_encoder(c.image_shape, c.latent_dim, c.ndf, c.init).to(device)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr, betas=c.betas)
        self.opt_g = torch.optim.Adam([*self.G.parameters(), *self.E.parameters()], lr=c.lr, betas=c.betas)
        data = ImageArrayDataset(images_nchw.permute(0, 2, 3, 1).numpy())
        self.loader = DataLoader(data, batch_size=c.batch_size, shuffle=True, drop_last=True,
                                 pin_memory=device.type == "cuda")
        self.batches = iter(self.loader)
        self.log: list[dict] = []

    def next_batch(self) -> torch.Tensor:
        try:
            x = next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            x = next(self.batches)
        return x.to(self.device)

    def gradient_penalty(self, real, fake):
        alpha = torch.rand(real.shape[0], 1, 1, 1, device=self.device)
        x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        d_hat = self.D(x_hat)
        grad = torch.autograd.grad(d_hat, x_hat, grad_outputs=torch.ones_like(d_hat), create_graph=True,
                                   retain_graph=True)[0]
        return ((grad.view(grad.shape[0], -1).norm(2, dim=1) - 1) ** 2).mean()

    def critic_step(self, real=None):
        for p in self.D.parameters():
            p.requires_grad = True
        real = self.next_batch() if real is None else real
        self.D.zero_grad()
        z = torch.randn(real.shape[0], self.config.latent_dim, device=self.device)
        fake = self.G(z).detach()
        d_real = self.D(real).mean()
        d_fake = self.D(fake).mean()
        gp = self.gradient_penalty(real, fake)
        loss = d_fake - d_real + self.config.gp_weight * gp
        loss.backward()
        self.opt_d.step()
        self.log.append({"d_loss": loss.item(), "wasserstein": (d_real - d_fake).item(), "gp": gp.item()})

    def generator_step(self, n=None):
        for p in self.D.parameters():
            p.requires_grad = False
        n = n or self.config.batch_size
        self.G.zero_grad()
        self.E.zero_grad()
        z = torch.randn(n, self.config.latent_dim, device=self.device)
        adversarial = -self.D(self.G(z)).mean()
        fake = self.G(z)  # recomputed for the encoder loss
        encoder = (fake - self.G(self.E(fake))).abs().mean()
        loss = adversarial + self.config.encoder_weight * encoder
        loss.backward()
        self.opt_g.step()
        self.log.append({"g_loss": loss.item(), "adversarial": adversarial.item(), "encoder": encoder.item()})

    def iteration(self):
        for _ in range(self.config.n_critic):
            self.critic_step()
        self.generator_step()


def critic_loss_three_calls(critic: nn.Module, real, fake, eps, gp_weight: float = 10.0):
    """The package's critic loss from three critic calls: real, fake and x_hat."""
    fake = fake.detach()
    x_hat = interpolate(real, fake, eps).requires_grad_(True)
    d_real, d_fake = critic(real).float(), critic(fake).float()
    penalty, _ = gradient_penalty(critic, x_hat)
    wasserstein = d_real.mean() - d_fake.mean()
    return {"loss": -wasserstein + gp_weight * penalty, "wasserstein": wasserstein, "penalty": penalty}


def critic_loss_one_call(critic: nn.Module, real, fake, eps, gp_weight: float = 10.0):
    """The critic loss from one critic call on [real; fake; x_hat] (3N images). The input gradient and the
    double backward then run over all 3N rows (2N of them zero), so it costs 1.5x the arithmetic."""
    n = real.shape[0]
    fake = fake.detach()
    x_hat = interpolate(real, fake, eps).requires_grad_(True)
    scores = critic(torch.cat([real, fake, x_hat])).float()
    penalty, _ = gradient_penalty(critic, x_hat, scores[2 * n:])
    wasserstein = scores[:n].mean() - scores[n:2 * n].mean()
    return {"loss": -wasserstein + gp_weight * penalty, "wasserstein": wasserstein, "penalty": penalty}


def critic_loss_two_calls(critic: nn.Module, real, fake, eps, gp_weight: float = 10.0):
    """The critic loss from one call on [real; fake] (2N) and one on x_hat (N): the same arithmetic as three calls."""
    n = real.shape[0]
    fake = fake.detach()
    x_hat = interpolate(real, fake, eps).requires_grad_(True)
    scores = critic(torch.cat([real, fake])).float()
    penalty, _ = gradient_penalty(critic, x_hat)
    wasserstein = scores[:n].mean() - scores[n:].mean()
    return {"loss": -wasserstein + gp_weight * penalty, "wasserstein": wasserstein, "penalty": penalty}


CRITIC_LOSSES = {"2 calls [real; fake] + [x_hat]": critic_loss_two_calls, "1 call [real; fake; x_hat]": critic_loss_one_call, "3 calls": critic_loss_three_calls}


# -- measurements ------------------------------------------------------------------------------------------------
def make_images(n: int, image_shape, seed: int = 0) -> torch.Tensor:
    """Random uint8 images (N, C, H, W): the speed of these loops does not depend on the pixel values."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *image_shape), generator=g, dtype=torch.uint8)


class CriticLossTrainer(Trainer):
    """The package's trainer with another way of computing the same critic loss (see CRITIC_LOSSES)."""

    def __init__(self, config, device, loss_fn):
        super().__init__(config, device)
        self.loss_fn = loss_fn

    def critic_loss(self, real, fake, eps):
        return self.loss_fn(self.critic, real, fake, eps, self.config.gp_weight)


def bench_width(width: int, args, device, report: Report, mm_rate: float) -> dict:
    shape = (args.channels, args.size, args.size)
    c = TrainConfig(image_shape=shape, ngf=width, ndf=width, batch_size=args.batch, log_every=args.log_every)
    b, k = c.batch_size, c.n_critic
    n_images = b * k * args.iterations  # one short epoch = `iterations` generator iterations
    images = make_images(n_images, shape)
    data = images.to(device)
    real_u8 = data[:b]

    # channels-last is a CUDA-only option of the package (on CPU the Trainer ignores it)
    layouts = ["nchw", "channels_last"] if device.type == "cuda" and not args.no_channels_last else ["nchw"]
    pkgs = {lay: Trainer(c.replace(channels_last=lay == "channels_last"), device) for lay in layouts}
    best = layouts[-1]
    if getattr(args, "amp", False) and (device.type == "cuda" or cpu_has_bf16()):  # bf16 autocast
        pkgs[f"{best}, bf16"] = Trainer(c.replace(channels_last=best == "channels_last", amp=True), device)
    if getattr(args, "compile", False):  # torch.compile of G, E and the frozen critic; compiles in the warm-up
        pkgs[f"{best}, compiled"] = Trainer(c.replace(channels_last=best == "channels_last"), device).compile()
    alt = {name: CriticLossTrainer(c.replace(channels_last=best == "channels_last"), device, fn)
           for name, fn in CRITIC_LOSSES.items()}
    ref = ReferenceLoop(c, images, device)
    ref_real = ref.next_batch()

    # FLOPs of one step each (2 per multiply-add), counted on the package and the reference
    p0 = pkgs["nchw"]
    flops = {"package_critic": count_flops(lambda: p0.critic_step(p0.prepare(real_u8))),
             "package_generator": count_flops(lambda: p0.generator_step(b)),
             "reference_critic": count_flops(lambda: ref.critic_step(ref_real)),
             "reference_generator": count_flops(lambda: ref.generator_step())}
    for name, tr in alt.items():
        flops[f"critic loss {name}"] = count_flops(lambda: tr.critic_step(tr.prepare(real_u8)))
    flops["package_iteration"] = k * flops["package_critic"] + flops["package_generator"]
    flops["reference_iteration"] = k * flops["reference_critic"] + flops["reference_generator"]

    def pkg_critic(tr):
        return lambda: [tr.critic_step(tr.prepare(data[i * b:(i + 1) * b])) for i in range(args.steps)]

    def pkg_gen(tr):
        return lambda: [tr.generator_step(b) for _ in range(args.steps)]

    def pkg_epoch(tr):
        return lambda: tr.train(data, epochs=tr.epoch + 1, progress=False)

    # (timed callable, images per call, FLOPs per call)
    step_variants, work = {}, {}
    for lay, tr in pkgs.items():
        step_variants[f"package[{lay}] critic"] = pkg_critic(tr)
        work[f"package[{lay}] critic"] = (b * args.steps, flops["package_critic"] * args.steps)
    for name, tr in alt.items():
        step_variants[f"package[{best}, {name}] critic"] = pkg_critic(tr)
        work[f"package[{best}, {name}] critic"] = (b * args.steps, flops[f"critic loss {name}"] * args.steps)
    step_variants["reference critic"] = lambda: [ref.critic_step() for _ in range(args.steps)]
    work["reference critic"] = (b * args.steps, flops["reference_critic"] * args.steps)
    for lay, tr in pkgs.items():
        step_variants[f"package[{lay}] generator"] = pkg_gen(tr)
        work[f"package[{lay}] generator"] = (b * args.steps, flops["package_generator"] * args.steps)
    step_variants["reference generator"] = lambda: [ref.generator_step() for _ in range(args.steps)]
    work["reference generator"] = (b * args.steps, flops["reference_generator"] * args.steps)
    for lay, tr in pkgs.items():
        step_variants[f"package[{lay}] train epoch"] = pkg_epoch(tr)
        work[f"package[{lay}] train epoch"] = (b * k * args.iterations, flops["package_iteration"] * args.iterations)
    step_variants["reference train epoch"] = lambda: [ref.iteration() for _ in range(args.iterations)]
    work["reference train epoch"] = (b * k * args.iterations, flops["reference_iteration"] * args.iterations)

    mm_fn, mm_flops = matmul_variant(device, mm_rate)
    step_variants[MATMUL_VARIANT] = mm_fn
    reset_peak_memory(device)
    times = interleaved(step_variants, device, args.repeats)
    mm_rate = mm_flops / times.pop(MATMUL_VARIANT)["median_s"] / 1e9  # under the same load as the loops
    rows = {}
    for name, t in times.items():
        n_img, f = work[name]
        rows[name] = {"seconds_median": t["median_s"], "seconds_all": t["times_s"], "images_per_s": n_img / t["median_s"],
                      "gflops_per_s": f / t["median_s"] / 1e9, "fraction_of_matmul": f / t["median_s"] / 1e9 / mm_rate,
                      "flops_per_call": f}
    ratios = {}
    for kind in ("critic", "generator", "train epoch"):
        ref_ips = rows[f"reference {kind}"]["images_per_s"]
        for lay in pkgs:
            ratios[f"package[{lay}] / reference, {kind}"] = rows[f"package[{lay}] {kind}"]["images_per_s"] / ref_ips
    for name in alt:
        ratios[f"package critic loss / {name}, critic step [{best}]"] = (
            rows[f"package[{best}] critic"]["images_per_s"] / rows[f"package[{best}, {name}] critic"]["images_per_s"])
    report.print(f"\n-- width {width} (ngf = ndf), image {shape}, batch {b}, n_critic {k}; timings: median of "
                 f"{args.repeats} round-robin repeats of {args.steps} steps / {args.iterations}-iteration epochs --")
    report.print(f"fp32 torch.mm 1024 x 1024 timed in the same rounds: {fmt(mm_rate)} GFLOP/s (the '% of mm' reference)")
    report.print(f"{'variant':52s} {'s/call':>8s} {'images/s':>10s} {'GFLOP/s':>9s} {'% of mm':>8s}")
    for name, r in rows.items():
        report.print(f"{name:52s} {r['seconds_median']:8.3f} {fmt(r['images_per_s']):>10s} "
                     f"{fmt(r['gflops_per_s']):>9s} {100 * r['fraction_of_matmul']:7.1f}%")
    for name, v in ratios.items():
        report.print(f"ratio {name:62s} {v:6.2f}x")
    report.print(f"FLOPs per step: package critic {flops['package_critic'] / 1e9:.2f} G, generator "
                 f"{flops['package_generator'] / 1e9:.2f} G; reference critic {flops['reference_critic'] / 1e9:.2f} G, "
                 f"generator {flops['reference_generator'] / 1e9:.2f} G")
    out = {"width": width, "matmul_in_rounds_gflops": mm_rate, "image_shape": shape, "batch_size": b, "n_critic": k, "flops": flops, "rows": rows,
           "ratios": ratios, "best_layout": best}
    if device.type == "cuda":
        out["peak_memory_all_variants"] = peak_memory_mib(device)
    return out


def memory_probe(args, device) -> dict:
    """Run in a fresh process: build one loop, run 2 iterations, report peak memory (--_probe package|reference).

    The peak is reset just before the loop is built, so it covers the models, optimizers, data and 2 iterations."""
    shape = (args.channels, args.size, args.size)
    width = args.widths[0]
    c = TrainConfig(image_shape=shape, ngf=width, ndf=width, batch_size=args.batch,
                    channels_last=args._probe == "package_cl")
    images = make_images(c.batch_size * c.n_critic * 2, shape)
    reset_peak_memory(device)
    before = peak_memory_mib(device)["mib"]
    if args._probe.startswith("package"):
        tr = Trainer(c, device)
        tr.train(images, epochs=1, progress=False)
    else:
        ref = ReferenceLoop(c, images, device)
        for _ in range(2):
            ref.iteration()
    sync(device)
    peak = peak_memory_mib(device)
    return {"variant": args._probe, "width": width, "peak_mib": peak["mib"], "kind": peak["kind"],
            "before_mib": before}


def build_parser():
    p = base_parser(__doc__.splitlines()[0], "training.json")
    p.add_argument("--widths", type=int, nargs="+", default=[64, 16], help="ngf = ndf values (64: the thesis)")
    p.add_argument("--size", type=int, default=28, help="image size H = W")
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--steps", type=int, default=2, help="steps per timed call of the step benchmarks")
    p.add_argument("--iterations", type=int, default=2, help="generator iterations in the timed epoch")
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--no-channels-last", action="store_true", help="skip the channels-last package variant")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument("--amp", action="store_true",
                   help="add a bf16-autocast package variant (CUDA, or a CPU with native bf16)")
    p.add_argument("--compile", action="store_true", help="add a Trainer.compile() package variant")
    p.add_argument("--_probe", default=None, help=argparse.SUPPRESS)
    return p


def main():
    args = build_parser().parse_args()
    device = setup(args)
    if args._probe:
        print(json.dumps(memory_probe(args, device)))
        return
    report = Report("training speed: package loop vs reference loop", args, device)
    report.header()
    mm = matmul_gflops(device)
    report.print(describe_matmul(mm))
    results = [bench_width(w, args, device, report, mm["gflops"]) for w in args.widths]
    mm_end = matmul_gflops(device)
    report.print(f"\nat the end (load average {load_average()}): {describe_matmul(mm_end)}; "
                 "each table's '% of mm' uses the torch.mm rate timed in its own rounds")
    memory = []
    if not args.no_memory:
        report.print("\n-- peak memory, one fresh process per loop (2 generator iterations) --")
        for w in args.widths:
            for variant in ("package", "package_cl", "reference"):
                if variant == "package_cl" and (args.no_channels_last or device.type != "cuda"):
                    continue
                cmd = [sys.executable, __file__, "--_probe", variant, "--widths", str(w), "--size", str(args.size),
                       "--channels", str(args.channels), "--batch", str(args.batch), "--device", str(device)]
                if args.threads:
                    cmd += ["--threads", str(args.threads)]
                res = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
                memory.append(res)
                report.print(f"width {w:3d} {variant:11s} peak {fmt(res['peak_mib'])} MiB, "
                             f"{fmt(res['peak_mib'] - res['before_mib'])} MiB above the {fmt(res['before_mib'])} MiB "
                             f"before the loop was built ({res['kind']})")
    report.record.update({"matmul": mm, "matmul_end": mm_end, "widths": results, "memory": memory})
    report.save(args.out)


if __name__ == "__main__":
    main()
