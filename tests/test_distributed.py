import os
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ganad_lite.config import TrainConfig
from ganad_lite.distributed import DistributedTrainer, spread_runs
from ganad_lite.parallel import train_lockstep
from ganad_lite.training import Trainer

CONFIG = TrainConfig(image_shape=(1, 16, 16), latent_dim=16, ngf=8, ndf=8, batch_size=8, n_critic=2, epochs=2,
                     log_every=1, seed=3)
N_IMAGES = 48  # 3 generator steps per epoch


def _images() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (N_IMAGES, 1, 16, 16), generator=g, dtype=torch.uint8)


def _ddp_worker(rank: int, world: int, init_file: str, out_dir: str):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        t = DistributedTrainer(CONFIG, "cpu")
        t.train(_images(), progress=False, checkpoint_path=os.path.join(out_dir, "ddp.pt"))
        torch.save({"history": t.history, "models": {k: m.state_dict() for k, m in t.models.items()}},
                   os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_ddp_two_processes_follow_one_process(tmp_path):
    """gloo, 2 processes x 4 images = the one-process run on batches of 8 (same indices, z, eps)."""
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    torch.set_num_threads(1)
    solo = Trainer(CONFIG, "cpu").train(_images(), progress=False)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert len(r0["history"]) == len(solo.history) == 2 * 3
    assert r0["history"] == r1["history"]  # losses are all-reduced: every rank logs the same numbers
    # Tolerance: rounding differs (half batches, averaged gradients). The critic's output bias gets a zero
    # gradient up to rounding, which Adam turns into steps of up to lr; -D(G(z)) includes that bias.
    bias_tol = CONFIG.lr * 2 * CONFIG.n_critic * solo.step
    for ha, hb in zip(solo.history, r0["history"]):
        assert ha["step"] == hb["step"]
        for key in ("critic_loss", "wasserstein", "penalty", "encoder_loss"):
            assert hb[key] == pytest.approx(ha[key], abs=1e-5, rel=1e-4), key
        assert hb["generator_loss"] == pytest.approx(ha["generator_loss"], abs=bias_tol)
    last_bias = f"{len(solo.critic) - 1}.bias"
    for name, module in solo.models.items():
        for key, value in module.state_dict().items():
            for r in (r0, r1):  # both ranks hold the same weights, equal to the one-process weights
                tol = bias_tol if (name, key) == ("critic", last_bias) else 1e-5
                assert torch.allclose(r["models"][name][key], value, atol=tol), (name, key)
    # rank 0 wrote a checkpoint that resumes as an ordinary one-process run
    resumed = Trainer.from_checkpoint(tmp_path / "ddp.pt", "cpu")
    assert resumed.epoch == 2 and resumed.step == solo.step


def _weights(trainer) -> dict[str, torch.Tensor]:
    return {f"{k}.{n}": p.detach().clone() for k, m in trainer.models.items() for n, p in m.named_parameters()}


def test_three_trainers_take_the_same_first_steps(tmp_path):
    """Trainer, the lockstep stack and DDP share one step and one loss: from the same seed, 3 generator steps
    give the same weights, bit for bit where the kernels are the same (lockstep K = 1: groups=1 convolutions;
    DDP on one process: gradients averaged over 1). Lockstep K = 2 runs grouped convolutions, which sum in
    another order: there the weights agree to rounding."""
    config = CONFIG.replace(epochs=1)  # 48 images, batch 8, n_critic 2: 3 generator steps
    images, other = _images(), torch.randint(0, 256, (N_IMAGES, 1, 16, 16), dtype=torch.uint8,
                                             generator=torch.Generator().manual_seed(1))
    solo = Trainer(config, "cpu").train(images, progress=False)
    k1 = train_lockstep([Trainer(config, "cpu")], [images], progress=False)[0]
    k2 = train_lockstep([Trainer(config, "cpu"), Trainer(config.replace(seed=4), "cpu")], [images, other],
                        progress=False)[0]
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'init'}", rank=0, world_size=1)
    try:
        ddp = DistributedTrainer(config, "cpu").train(images, progress=False)
    finally:
        dist.destroy_process_group()
    assert solo.step == k1.step == k2.step == ddp.step == 3
    w = _weights(solo)
    for exact in (k1, ddp):
        assert exact.history == solo.history
        assert all(torch.equal(w[k], v) for k, v in _weights(exact).items())
    for a, b in zip(solo.history, k2.history):
        assert a == pytest.approx(b, abs=1e-5)
    assert all(torch.allclose(w[k], v, rtol=0, atol=1e-6) for k, v in _weights(k2).items())


def test_distributed_trainer_needs_a_process_group():
    with pytest.raises(RuntimeError, match="process group"):
        DistributedTrainer(CONFIG, "cpu")


def _square_on(item, device):
    return {"item": item, "square": item * item, "device": device, "pid": os.getpid()}


def _sleep_then_square(item, device):
    time.sleep(item["sleep"])
    return _square_on(item["n"], device)


def test_spread_runs_over_worker_processes():
    out = spread_runs(_square_on, [1, 2, 3], ["cpu", "cpu"], threads_per_worker=1)
    assert [o["square"] for o in out] == [1, 4, 9]
    assert len({o["pid"] for o in out}) <= 2 and os.getpid() not in {o["pid"] for o in out}


def test_spread_runs_gives_the_next_item_to_the_free_worker():
    # a long first item keeps one worker busy: the other takes every short item after it (round-robin would
    # have queued items 2 and 4 behind the long one)
    items = [{"n": 0, "sleep": 6.0}] + [{"n": n, "sleep": 0.0} for n in range(1, 6)]
    out = spread_runs(_sleep_then_square, items, ["cpu", "cpu"], threads_per_worker=1)
    assert [o["square"] for o in out] == [n * n for n in range(6)]
    assert out[0]["pid"] not in {o["pid"] for o in out[1:]}
    assert len({o["pid"] for o in out[1:]}) == 1
    assert spread_runs(_square_on, [4], ["cpu"])[0]["pid"] == os.getpid()  # one device: in process
