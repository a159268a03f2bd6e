import os

import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """No test reaches the network: every host counts as unreachable unless a test says otherwise."""
    from ganad_lite.data import root

    monkeypatch.setattr(root, "reachable", lambda host, port=443: False)


@pytest.fixture
def tiny_images():
    """64 float images (64, 1, 28, 28) in [0, 1]: a bright disc at random positions."""
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    centres = torch.randint(9, 19, (64, 2), generator=g).float()
    d2 = (yy - centres[:, 0, None, None]) ** 2 + (xx - centres[:, 1, None, None]) ** 2
    return torch.exp(-d2 / 20.0)[:, None].clamp(0, 1)
