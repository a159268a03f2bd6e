"""Scores of a run kept in its run folder, so that a rebuild reads them instead of scoring the images again.

A cached file is keyed by everything the scores depend on: the images, the weights of the generator, critic and
encoder (none for a latent search), the scoring method and options, the device and mixed precision, and the
source of the modules that compute them (scoring, structural maps, models) with the torch and kornia versions.
Any change to one of them gives a new key, so a stale file is never read; writing a new file deletes the one it
replaces (the same images and options scored with older weights or code).
"""
from __future__ import annotations

import hashlib
import json
import zipfile
from functools import lru_cache
from pathlib import Path

import kornia
import numpy as np
import torch

from .. import models, scoring, structural
from ..checkpoint import atomic_write
from ..runcache import data_fingerprint, source_hash
from ..scoring import Scores

ARRAYS = ("residual", "origin", "z", "maps", "recon", "feature", "pixel_error")  # the Scores fields kept
MAPS = ("ssim", "gms")                                                          # its structural maps


def weights_hash(*modules) -> str:
    """Short hash of the parameter and buffer names and values of `modules`."""
    h = hashlib.sha1()
    for m in modules:
        for name, t in m.state_dict().items():
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


def _short(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:12]


@lru_cache(maxsize=1)
def code_hash() -> str:
    """Short hash of the source that turns weights and images into scores, and of the libraries it calls."""
    return source_hash((scoring, structural, models), (torch, kornia))


def save_scores(path: Path, scores: Scores) -> None:
    """Write every array of `scores` to `path` (.npz, atomically: a half-written file is never read)."""
    arrays = {k: getattr(scores, k) for k in ARRAYS if getattr(scores, k) is not None}
    arrays.update({f"map_{k}": v for k, v in (scores.structural or {}).items()})
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load_scores(path: Path, method: str, standardizer=None) -> Scores | None:
    """The Scores that `save_scores` wrote to `path`; None when the file is unreadable (then score again)."""
    try:
        with np.load(path) as f:
            kept = {k: f[k] for k in ARRAYS if k in f.files}
            maps = {k: f[f"map_{k}"] for k in MAPS if f"map_{k}" in f.files} or None
        return Scores(**kept, method=method, standardizer=standardizer, structural=maps)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, TypeError):  # damaged, or not written here
        return None


def cached_score_terms(detector, images, encoder: str | None = "berg", method: str = "encoder",
                       **options) -> Scores:
    """`detector.score_terms(images, method, encoder, **options)`, read from the run folder when the same images
    were scored the same way by the same weights and code before (and written there if not). A detector
    without a run folder scores every time. encoder: None for a latent search, which uses none. options:
    keyword arguments of `score_images`, plain values (they are part of the key)."""
    if detector.run_dir is None:
        return detector.score_terms(images, method=method, encoder=encoder, **options)
    t = detector.trainer
    used = [t.generator, t.critic] + ([detector.encoders.get(encoder, t.encoder)] if encoder else [])
    where = f"{t.device.type}-amp{detector.config.amp}"  # a GPU's (bf16) scores are not the CPU's
    asked = _short(f"{method}{encoder}{json.dumps(options, sort_keys=True)}{where}")
    state = _short(weights_hash(*used) + code_hash())
    what = [encoder] if method == "encoder" else [method] + ([encoder] if encoder else [])  # the file's name
    stem = f"scores-{'-'.join(what).replace('+', '_')}-{data_fingerprint(images)}-{asked}"
    path = detector.run_dir / f"{stem}-{state}.npz"
    if path.is_file() and (kept := load_scores(path, method, detector.standardizer)) is not None:
        return kept
    s = detector.score_terms(images, method=method, encoder=encoder, **options)
    save_scores(path, s)
    for stale in detector.run_dir.glob(f"{stem}-*.npz"):  # the same question asked of older weights or code
        if stale != path:
            stale.unlink(missing_ok=True)
    return s
