"""Training on a small set (MVTec-sized: tens of images) with DiffAugment: the generator must not collapse."""
import torch

from ganad_lite import TrainConfig
from ganad_lite.training import Trainer


def _spread(trainer: Trainer) -> float:
    """Mean over pixels of the standard deviation of G(z) across 256 latent draws."""
    with torch.no_grad():
        z = torch.randn(256, trainer.config.latent_dim, generator=torch.Generator().manual_seed(1))
        return float(trainer.generator.eval()(z).std(0).mean())


def test_small_augmented_fit_keeps_the_generator_varied(tiny_images):
    images = tiny_images[:40]
    config = TrainConfig(image_shape=(1, 28, 28), latent_dim=16, ngf=8, ndf=8, batch_size=8, epochs=20, lr=4e-4,
                         augment=("translation", "color"), seed=0)
    trainer = Trainer(config)
    start = _spread(trainer)
    trainer.train(images, progress=False)
    assert trainer.step == 20  # one generator step per epoch: 40 images, 5 critic batches of 8
    # a collapsed generator draws one image for every z (spread near 0); this one keeps a third of its start
    assert _spread(trainer) > max(0.01, start / 3)


def test_augmentation_reaches_the_critic_and_resume_stays_exact(tiny_images, tmp_path):
    config = TrainConfig(image_shape=(1, 28, 28), latent_dim=16, ngf=8, ndf=8, batch_size=8, epochs=2,
                         augment=("translation",), seed=0)
    plain = Trainer(config.replace(augment=())).train(tiny_images[:40], progress=False)
    full = Trainer(config).train(tiny_images[:40], progress=False)
    assert not all(torch.equal(a, b) for a, b in zip(plain.critic.parameters(), full.critic.parameters()))
    ckpt = tmp_path / "ckpt.pt"
    half = Trainer(config.replace(epochs=1)).train(tiny_images[:40], checkpoint_path=ckpt, progress=False)
    resumed = Trainer.from_checkpoint(ckpt, epochs=2).train(tiny_images[:40], progress=False)
    assert half.epoch == 1
    for a, b in zip(full.generator.parameters(), resumed.generator.parameters()):
        assert torch.equal(a, b)  # the augmentation draws from the run's checkpointed stream
