"""labelgate.train.device: precision resolution and seeding."""

from __future__ import annotations

import pytest

from labelgate.errors import ConfigError
from labelgate.train.device import MAX_SEED, _cpu_has_native_bf16, resolve_precision, set_seed


def test_precision():
    import torch

    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    assert resolve_precision("auto", cpu) == ("bf16" if _cpu_has_native_bf16() else "fp32")


def test_same_seed_same_draws():
    import random

    import numpy as np
    import torch

    def draws(seed):
        set_seed(seed)
        return random.random(), np.random.random(), torch.rand(1).item()

    assert draws(MAX_SEED) == draws(MAX_SEED) and draws(3) != draws(4)


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1])
def test_seed_outside_numpy_range_is_a_config_error(seed):
    with pytest.raises(ConfigError, match="seed must lie in"):
        set_seed(seed)
