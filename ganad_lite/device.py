"""Device choice, native bf16 support and a short description of the hardware a run used."""
from __future__ import annotations

import os
import platform

import torch

_KNOWN = ("cuda", "mps", "cpu")


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """Return the device to train on: the one asked for, else CUDA, then Apple MPS, then CPU."""
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        dev = None
    if dev is None or dev.type not in _KNOWN:
        raise ValueError(f"unknown device {device!r}: use one of 'auto', 'cuda', 'cuda:N', 'mps' or 'cpu'")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA GPU; pass device='cpu' or 'auto'")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' was asked for but this machine has no Apple MPS backend; use 'cpu' or 'auto'")
    return dev


def hardware_info(device: torch.device | None = None) -> dict:
    """What ran the job: device name, CPU threads, torch version. Stored with every result."""
    device = device or pick_device()
    info = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    threads = f"{info['threads']} torch thread" + ("s" if info["threads"] != 1 else "")
    info["summary"] = info.get("gpu") or f"CPU ({info['cpu_count']} cores, {threads})"
    return info


def cpu_has_bf16() -> bool:
    """True if oneDNN runs bf16 natively on this CPU (AVX512-BF16 or AMX); emulated bf16 would be slower."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
