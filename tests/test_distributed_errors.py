"""Ray start-up failures end in one clear line (a UserError: exit status 2), fast."""

from __future__ import annotations

import time

import pytest
import torch

import ray  # noqa: F401  (a required dependency)

from autosnn.campaign import Campaign
from autosnn.distributed import RayEvaluator, RayStartError
from autosnn.errors import UserError
from autosnn.supernet import SpikformerSupernet


@pytest.mark.parametrize("address", ["ray://127.0.0.1:1", "127.0.0.1:1"])
def test_bad_address_fails_fast_with_one_line(address):
    import ray

    campaign = Campaign.from_dict({"space": "digits-tiny", "evaluator": {"kind": "ray", "workers": 2,
                                                                           "address": address}})
    space = campaign.resolve_space()
    t0 = time.perf_counter()
    with pytest.raises(RayStartError) as info:
        RayEvaluator(campaign, space, SpikformerSupernet(space), None, torch.device("cpu"))
    assert time.perf_counter() - t0 < 10
    err = info.value
    assert isinstance(err, UserError) and err.exit_code == 2
    message = str(err)
    assert "\n" not in message and "127.0.0.1:1" in message and "does not answer" in message
    assert not ray.is_initialized()


def test_malformed_address_is_a_user_error():
    from autosnn.distributed.cluster import split_address

    with pytest.raises(RayStartError, match="expected null, 'auto'"):
        split_address("ray://head:port")


def test_importing_autosnn_does_not_import_ray():
    import subprocess
    import sys

    code = "import sys, autosnn, autosnn.distributed; from autosnn.distributed import RayStartError; " \
           "print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
