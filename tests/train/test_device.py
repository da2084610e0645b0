"""labelgate.train.device: precision resolution and seeding."""

from __future__ import annotations

import pytest

from labelgate.errors import ConfigError
from labelgate.train.device import MAX_SEED, _cpu_has_native_bf16, resolve_precision, set_seed


@pytest.mark.slow
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


@pytest.fixture
def gpu_locks(tmp_path, monkeypatch):
    from labelgate import gpu_claim

    monkeypatch.setenv(gpu_claim.LOCK_DIR_ENV, str(tmp_path / "locks"))
    gpu_claim.release_gpus()
    yield
    gpu_claim.release_gpus()


def test_select_device_and_precision(gpu_locks, monkeypatch):
    import torch

    from labelgate.train.device import select_device

    assert select_device("auto").type in ("cpu", "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert select_device("auto") == torch.device("cuda")  # one GPU: nothing to claim
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert select_device("cuda") == torch.device("cuda", 0)
    assert select_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", torch.device("cuda", 0)) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", torch.device("cuda", 0)) == "fp32"
    assert resolve_precision("bf16", torch.device("cuda", 0)) == "bf16"


def test_cuda_without_gpu_fails_fast(monkeypatch):
    import torch

    from labelgate.errors import BadInputError
    from labelgate.train.device import select_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(BadInputError, match="no GPU"):
        select_device("cuda")
