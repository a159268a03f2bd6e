import pytest
import torch

from ganad_lite.config import TrainConfig
from ganad_lite.models import build_critic, build_encoder, build_generator
from ganad_lite.parallel import stack_sequential, train_lockstep, unstack_into
from ganad_lite.training import Trainer

TINY = TrainConfig(image_shape=(1, 16, 16), latent_dim=16, ngf=8, ndf=8, batch_size=10, n_critic=2, epochs=2,
                   log_every=1)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 16, 16)])
def test_stacked_models_compute_each_model(shape):
    torch.manual_seed(0)
    k, n = 3, 4
    gens = [build_generator(shape, 16, 8) for _ in range(k)]
    crits = [build_critic(shape, 8) for _ in range(k)]
    encs = [build_encoder(shape, 16, 8) for _ in range(k)]
    z = torch.randn(n, k, 16)
    x = torch.rand(n, k, *shape)
    g, _ = stack_sequential(gens)
    d, _ = stack_sequential(crits)
    e, _ = stack_sequential(encs)
    with torch.no_grad():
        out_g = g(z.flatten(1)).unflatten(1, (k, shape[0]))       # (N, K, C, H, W)
        out_d = d(x.flatten(1, 2))                                 # (N, K)
        out_e = e(x.flatten(1, 2)).unflatten(1, (k, 16))           # (N, K, 16)
        for i in range(k):
            assert torch.allclose(out_g[:, i], gens[i](z[:, i]), atol=1e-5)
            assert torch.allclose(out_d[:, i:i + 1], crits[i](x[:, i]), atol=1e-5)
            assert torch.allclose(out_e[:, i], encs[i](x[:, i]), atol=1e-5)


def test_unstack_round_trip():
    torch.manual_seed(1)
    crits = [build_critic((1, 16, 16), 8) for _ in range(2)]
    stacked, layout = stack_sequential(crits)
    with torch.no_grad():
        for p in stacked.parameters():
            p.add_(1.0)
    unstack_into(stacked, layout, crits)
    again, _ = stack_sequential(crits)
    for a, b in zip(stacked.parameters(), again.parameters()):
        assert torch.equal(a, b)


def _images(sizes, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (n, 1, 16, 16), generator=g, dtype=torch.uint8) for n in sizes]


def test_lockstep_gives_the_numbers_of_one_by_one_training():
    # different data sizes -> 2, 3 and 4 generator steps per epoch: models leave the stack at different times
    data = _images((40, 60, 80))
    seeds = (0, 1, 2)
    solo = [Trainer(TINY.replace(seed=s), "cpu").train(d, progress=False) for s, d in zip(seeds, data)]
    lock = train_lockstep([Trainer(TINY.replace(seed=s), "cpu") for s in seeds], data, progress=False)
    for a, b in zip(solo, lock):
        assert (a.epoch, a.step, len(a.history)) == (b.epoch, b.step, len(b.history))
        assert [e["step"] for e in a.epoch_log] == [e["step"] for e in b.epoch_log]
        for ha, hb in zip(a.history, b.history):
            assert ha["epoch"] == hb["epoch"] and ha["step"] == hb["step"]
            for key in ("critic_loss", "wasserstein", "penalty", "encoder_loss"):
                assert ha[key] == pytest.approx(hb[key], abs=1e-5), key
            # -D(G(z)) includes the critic's output bias, whose gradient is zero up to rounding; Adam turns that
            # rounding noise into steps of up to lr, so this bias (and only it) may differ by lr per critic step.
            assert ha["generator_loss"] == pytest.approx(hb["generator_loss"], abs=TINY.lr * 2 * a.step * TINY.n_critic)
        # Adam divides a gradient by its running RMS, so an element whose gradient is zero up to rounding (the
        # critic's output bias; the weights and bias of a channel whose ReLUs are all dead) moves by up to lr per
        # step on rounding noise alone. Such elements must be rare: at least 97% of each model's parameters agree
        # to 1e-5 (a real difference in data, z, eps or gradients moves nearly all of them).
        for name in a.models:
            diffs = [(p - q).abs().flatten() for p, q in zip(a.models[name].parameters(), b.models[name].parameters())]
            assert float((torch.cat(diffs) > 1e-5).float().mean()) <= 0.03, name
        sa, sb = a.opt_g.state_dict()["state"], b.opt_g.state_dict()["state"]
        for i in sa:
            assert float(sa[i]["step"]) == float(sb[i]["step"])
            assert torch.allclose(sa[i]["exp_avg"], sb[i]["exp_avg"], atol=1e-6)


def test_lockstep_checks_its_inputs():
    a = Trainer(TINY, "cpu")
    with pytest.raises(ValueError, match="ngf"):
        train_lockstep([a, Trainer(TINY.replace(ngf=4), "cpu")], _images((20, 20)), progress=False)
    with pytest.raises(ValueError, match="datasets"):
        train_lockstep([a], _images((20, 20)), progress=False)
    with pytest.raises(ValueError, match="shape"):
        train_lockstep([a], [torch.zeros(20, 1, 28, 28, dtype=torch.uint8)], progress=False)
    b = Trainer(TINY, "cpu")
    b.critic_augment = lambda x: x.flip(-1)
    with pytest.raises(ValueError, match="critic_augment"):
        train_lockstep([a, b], _images((20, 20)), progress=False)
    a.train(_images((20,))[0], epochs=1, progress=False)
    a.epoch_batches(20)
    a.record_step(torch.zeros(5))  # one step into its second epoch
    with pytest.raises(ValueError, match="stopped inside an epoch"):
        train_lockstep([a], _images((20,)), progress=False)


# -- mixed precision: the gradient-penalty check (ganad_lite.losses.autocast_penalty_check) ---------------------
def test_autocast_penalty_check():
    from ganad_lite.losses import autocast_penalty_check

    torch.manual_seed(0)
    critic = build_critic((1, 16, 16), 8)
    real, fake, eps = torch.rand(6, 1, 16, 16), torch.rand(6, 1, 16, 16), torch.rand(6)
    off = autocast_penalty_check(critic, real, fake, eps, dtype=None)  # autocast off on both paths: identical
    assert all(v == 0.0 for v in off.values()), off
    bf16 = autocast_penalty_check(critic, real, fake, eps)  # CPU autocast: close to fp32, but not equal
    assert 0.0 < bf16["grad"] < 0.1 and bf16["loss"] < 0.05, bf16
    assert set(bf16) == {"loss", "wasserstein", "penalty", "penalty_abs", "grad"}


def test_critic_and_generator_losses_under_bf16_autocast():
    """Under autocast the generator returns bf16 images while real batches are fp32 (CPU autocast shows it);
    the losses come back in fp32 and close to their fp32 values."""
    from ganad_lite.losses import critic_loss, generator_losses

    torch.manual_seed(0)
    g, d, e = build_generator((1, 16, 16), 16, 8), build_critic((1, 16, 16), 8), build_encoder((1, 16, 16), 16, 8)
    real, eps, z = torch.rand(6, 1, 16, 16), torch.rand(6), torch.randn(6, 16)
    ref_gen = generator_losses(g, d, e, z)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with torch.no_grad():
            fake = g(z)
        assert fake.dtype == torch.bfloat16
        out = critic_loss(d, real, fake, eps)
        gen = generator_losses(g, d, e, z)
    out["loss"].backward()
    gen["loss"].backward()
    ref = critic_loss(d, real, fake.float(), eps)  # fp32 on the same generated images
    assert all(v.dtype == torch.float32 for v in [*out.values(), *gen.values()])
    value = lambda parts, key: float(parts[key].detach())  # noqa: E731
    assert value(out, "wasserstein") == pytest.approx(value(ref, "wasserstein"), rel=0.01)
    # the penalty, mean (|grad| - 1)^2, goes through the input gradient and its double backward in bf16, and a
    # small value magnifies their rounding: 10% off on a CPU with native bf16, 17% on one that emulates it
    assert value(out, "penalty") == pytest.approx(value(ref, "penalty"), rel=0.25)
    for key in gen:
        assert value(gen, key) == pytest.approx(value(ref_gen, key), rel=0.03), key


# -- torch.compile of the forwards without double backward (Trainer.compile) ----------------------------------
def test_compiled_trainer_matches_eager():
    real = _images((10,))[0].float() / 255
    eager, compiled = Trainer(TINY, "cpu"), Trainer(TINY, "cpu").compile(backend="eager")
    for t in (eager, compiled):
        t.out = [t.critic_step(real), t.generator_step(10)]
    for a, b in zip(eager.out, compiled.out):
        for key in a:
            assert torch.allclose(a[key], b[key], atol=1e-6), key
    for p1, p2 in zip(eager.generator.parameters(), compiled.generator.parameters()):
        assert torch.allclose(p1, p2, atol=1e-6)
