"""Trained toys kept on disk, so that a rebuilt chapter reads a run instead of training it again.

A run is keyed by every setting of its training function, the bytes of its point sets and the source of the
toy code and the losses; a change to any of them trains again. Files live in the run cache (GANAD_RUNS) under
`toy/`, written atomically and read with weights_only=True.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import losses
from ..checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from . import nets


@lru_cache(maxsize=1)
def _code_hash() -> str:
    from ..runcache import source_hash
    from . import training  # imported here: training imports this module

    return source_hash((training, nets, losses))


def toy_run_path(kind: str, settings: dict, *points: torch.Tensor) -> Path:
    """Where the run of `kind` ("gan" or "critic") with these settings on these point sets is kept."""
    from ..runcache import data_fingerprint, default_cache_dir

    h = hashlib.sha1(json.dumps(settings, sort_keys=True).encode())
    for p in points:
        h.update(data_fingerprint(p).encode())
    h.update(_code_hash().encode())
    return default_cache_dir() / "toy" / f"{kind}-{settings['loss']}-{h.hexdigest()[:16]}.pt"


def _mlp_shape(m: nn.Sequential) -> list[int]:
    """(in_dim, out_dim, hidden, depth) of an `nets.mlp`."""
    linear = [layer for layer in m if isinstance(layer, nn.Linear)]
    return [linear[0].in_features, linear[-1].out_features, linear[0].out_features, len(linear) - 1]


def save_toy_run(path: Path, run) -> None:
    """Write a ToyRun or ToyCriticRun: networks as (shape, state dict), arrays as tensors."""
    state = {}
    for f in dataclasses.fields(run):
        value = getattr(run, f.name)
        if isinstance(value, nn.Module):
            value = {"mlp": _mlp_shape(value), "state": value.state_dict()}
        elif isinstance(value, list) and value and isinstance(value[0], np.ndarray):
            value = {"arrays": [torch.from_numpy(a) for a in value]}
        state[f.name] = value
    save_checkpoint({"toy_run": state}, path)


def load_toy_run(path: Path, cls):
    """The run `save_toy_run` wrote to `path`, as an instance of `cls`; None when the file is unreadable."""
    try:
        state = load_checkpoint(path)["toy_run"]
    except (CheckpointError, KeyError):
        return None  # a damaged or foreign file: train again (and overwrite it)
    for name, value in state.items():
        if isinstance(value, dict) and "mlp" in value:
            module = nets.mlp(*value["mlp"])
            module.load_state_dict(value["state"])
            state[name] = module
        elif isinstance(value, dict) and "arrays" in value:
            state[name] = [t.numpy() for t in value["arrays"]]
    state["settings"]["betas"] = tuple(state["settings"]["betas"])
    return cls(**state)
