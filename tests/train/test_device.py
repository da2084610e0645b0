"""labelgate.train.device: precision resolution."""

from __future__ import annotations

from labelgate.train.device import _cpu_has_native_bf16, resolve_precision


def test_precision():
    import torch

    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    assert resolve_precision("auto", cpu) == ("bf16" if _cpu_has_native_bf16() else "fp32")

