"""ganad_lite.config: every TrainConfig field checked when the config is made."""
import json

import numpy as np
import pytest
import torch

from ganad_lite.config import ConfigError, TrainConfig


def test_defaults_and_normalised_types():
    c = TrainConfig(image_shape=torch.Size([3, 64, 64]), batch_size=np.int64(25), lr=np.float32(0.5),
                    betas=[0, 0.9], gp_weight=10, seed=np.uint8(7), amp=np.bool_(True))
    assert c.image_shape == (3, 64, 64) and c.betas == (0.0, 0.9) and c.lr == 0.5 and c.amp is True
    assert type(c.batch_size) is int and type(c.seed) is int and type(c.gp_weight) is float
    assert json.loads(json.dumps(c.to_dict()))["image_shape"] == [3, 64, 64]  # plain Python values only
    assert TrainConfig.from_dict(c.to_dict()) == c
    assert TrainConfig(gp_weight=10).model_key() == TrainConfig().model_key()  # 10 and 10.0 are one setting
    assert TrainConfig(epochs=0).epochs == 0 and TrainConfig(gp_weight=0.0).gp_weight == 0.0
    assert TrainConfig(augment="translation,color").augment == TrainConfig(augment=["translation", "color"]).augment


@pytest.mark.parametrize("field, value, message", [
    ("batch_size", 2.5, r"batch_size must be an integer, got 2.5 \(float\); pass a whole number \(e.g. 2\)"),
    ("batch_size", True, r"batch_size must be an integer, got True: pass a number, not True/False"),
    ("epochs", 3.0, r"epochs must be an integer, got 3.0"),
    ("latent_dim", "128", r"latent_dim must be an integer, got '128' \(str\)"),
    ("ngf", 0, r"ngf must be an integer >= 1, got 0"),
    ("ndf", -4, r"ndf must be an integer >= 1"),
    ("n_critic", None, r"n_critic must be an integer, got None"),
    ("log_every", 0, r"log_every must be an integer >= 1"),
    ("epochs", -1, r"epochs must be an integer >= 0"),
    ("seed", -1, r"seed must be an integer in \[0, 4294967295\], got -1"),
    ("seed", 2 ** 40, r"seed must be an integer in \[0, 4294967295\]"),
    ("seed", False, r"seed must be an integer, got False"),
    ("lr", 0.0, r"lr must be a number, finite and > 0 \(the thesis uses 1e-4\); got 0.0"),
    ("lr", float("nan"), r"lr must be a number, finite and > 0"),
    ("lr", float("inf"), r"lr must be a number, finite and > 0"),
    ("lr", "1e-4", r"lr must be a number"),
    ("gp_weight", -1.0, r"gp_weight must be a number, finite and >= 0"),
    ("gp_weight", float("inf"), r"gp_weight must be a number, finite and >= 0"),
    ("encoder_weight", float("nan"), r"encoder_weight must be a number, finite and >= 0"),
    ("betas", (0.5, 1.0), r"betas\[1\] must be a number, in \[0, 1\)"),
    ("betas", (-0.1, 0.9), r"betas\[0\] must be a number, in \[0, 1\)"),
    ("betas", (0.9,), r"betas must be two numbers \(beta1, beta2\)"),
    ("betas", 0.9, r"betas must be two numbers"),
    ("betas", (True, 0.9), r"betas\[0\] must be a number"),
    ("image_shape", (2, 28, 28), r"image_shape \(2, 28, 28\): C must be 1 \(grey\) or 3 \(RGB\)"),
    ("image_shape", (1, 28), r"image_shape must be \(C, H, W\), e.g. \(1, 28, 28\)"),
    ("image_shape", "1x28x28", r"image_shape must be \(C, H, W\)"),
    ("image_shape", (1, 28.5, 28), r"image_shape\[1\] must be an integer, got 28.5"),
    ("image_shape", (1, 0, 28), r"image_shape\[1\] must be an integer >= 1"),
    ("image_shape", (True, 28, 28), r"image_shape\[0\] must be an integer, got True"),
    ("init", "xavier", r"init must be 'he' or 'torch', got 'xavier'"),
    ("init", None, r"init must be 'he' or 'torch', got None"),
    ("amp", 1, r"amp must be True or False, got 1"),
    ("channels_last", "yes", r"channels_last must be True or False"),
    ("compile", None, r"compile must be True or False"),
    ("encoder_mode", "joint", r"encoder_mode must be one of \('berg', 'izif', 'berg\+izif'\), got 'joint'"),
    ("izif_steps", 2.5, r"izif_steps must be an integer, got 2.5"),
    ("izif_steps", 0, r"izif_steps must be an integer >= 1"),
    ("izif_kappa", float("nan"), r"izif_kappa must be a number, finite and >= 0"),
    ("augment", 5, r"augment takes operations from \('translation', 'color', 'cutout'\), as a tuple"),
    ("augment", ("color", "blur"), r"augment takes operations from"),
    ("augment", {"color"}, r"augment takes operations from"),
    ("augment", [["color"]], r"augment takes operations from"),
])
def test_every_field_is_checked(field, value, message):
    with pytest.raises(ConfigError, match=r"TrainConfig\." + message):
        TrainConfig(**{field: value})
    with pytest.raises(ValueError):  # a ValueError, as before, for callers that catch that
        TrainConfig().replace(**{field: value})


def test_from_dict_checks_too():
    d = TrainConfig().to_dict()
    with pytest.raises(ConfigError, match="TrainConfig.batch_size must be an integer"):
        TrainConfig.from_dict({**d, "batch_size": 12.5})
    with pytest.raises(ConfigError, match=r"unknown TrainConfig fields \['batchsize'\]"):
        TrainConfig.from_dict({**d, "batchsize": 12})
    with pytest.raises(ConfigError, match="needs a dict of fields, got list"):
        TrainConfig.from_dict([1, 2])


def test_generator_activation_is_checked_and_keeps_old_keys_at_its_default():
    base = TrainConfig()
    assert base.replace(generator_activation="relu").model_key() == base.model_key()
    assert base.replace(generator_activation="leaky_relu").model_key() != base.model_key()
    with pytest.raises(ConfigError, match="generator_activation must be one of"):
        TrainConfig(generator_activation="tanh")


def test_latent_norm_is_checked_and_keeps_old_keys_at_its_default():
    base = TrainConfig()
    assert base.replace(latent_norm="none").model_key() == base.model_key()
    assert base.replace(latent_norm="pixel").model_key() != base.model_key()
    with pytest.raises(ConfigError, match="latent_norm must be one of"):
        TrainConfig(latent_norm="batch")
