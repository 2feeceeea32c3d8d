"""Shared test settings: one torch thread (CI has 2 cores), deterministic seeds."""

from __future__ import annotations

import os

import pytest
import torch

torch.set_num_threads(int(os.environ.get("AUTOSNN_TEST_THREADS", "1")))


@pytest.fixture
def firing():
    """Make a model's neurons fire in eval mode: random BatchNorm affine and statistics
    (at initialisation almost nothing spikes, which proves nothing)."""

    def apply(model: torch.nn.Module, seed: int = 1) -> torch.nn.Module:
        g = torch.Generator().manual_seed(seed)
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.weight.data = torch.rand(n, generator=g) * 2 + 0.5
                m.bias.data = torch.randn(n, generator=g) * 0.5 + 0.3
                m.running_mean.data = torch.randn(n, generator=g) * 0.01
                m.running_var.data = torch.rand(n, generator=g) * 0.01 + 0.005
        return model.eval()

    return apply
