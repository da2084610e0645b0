"""Where and how a run computes: the device, the precision, torch's thread count and the seeds.

The device is picked at run time (`auto` takes CUDA when torch sees a GPU), so a GPU needs no code change.
`precision: auto` runs the forward pass in bfloat16 autocast (weights and optimiser stay fp32) where the hardware
computes bf16 natively (CPUs with AVX512-BF16 or AMX, GPUs with bf16 support), else fp32. The same seed and the
same thread count give identical probabilities on a CPU; on a GPU, deterministic kernels are requested.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from labelgate.errors import BadInputError, ConfigError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
MAX_SEED = 2**32 - 1  # NumPy's seed range


def select_device(name: str = "auto"):
    """`auto`: CUDA when torch sees a GPU, else CPU. `cuda` without a GPU is an error, not a silent fallback."""
    import torch

    if name not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise BadInputError("params.yaml", "train.device is 'cuda' but torch sees no GPU; use 'auto' or 'cpu'")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and torch.cuda.device_count() > 1:  # parallel runs (dvc queue -j N): one GPU each
        from labelgate.gpu_claim import claim_gpu

        return torch.device("cuda", claim_gpu(torch.cuda.device_count()))
    return torch.device(name)


def resolve_precision(precision: str, device) -> str:
    """`auto` -> `bf16` where `device` computes bfloat16 natively, else `fp32`; other values pass through."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    import torch

    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if _cpu_has_native_bf16() else "fp32"
    return "fp32"


def _cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX-BF16 in the CPU flags (Linux); without them bf16 is emulated and slower than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def autocast(device, precision: str):
    """bfloat16 autocast on `device` for `bf16`; no context change for `fp32`."""
    import torch

    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def set_seed(seed: int, *, device=None) -> None:
    """Seed Python, NumPy and torch (CPU and every GPU) with transformers.set_seed; deterministic kernels on a GPU.

    The seed must lie in [0, 2**32 - 1] (NumPy's range). On a GPU, torch is asked for deterministic algorithms
    with a warning (not an error) where an operation has none.
    """
    import torch
    from transformers import set_seed as seed_everything

    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"seed must lie in [0, {MAX_SEED}], got {seed}")
    if device is not None and getattr(device, "type", "cpu") == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)
    seed_everything(seed)


def prefer_passive_omp_wait() -> None:
    """Let waiting OpenMP threads sleep instead of spin, unless OMP_WAIT_POLICY is set already.

    On a CPU shared with other jobs, spinning threads wait for a descheduled sibling at every parallel region
    (measured in bench/train_throughput.md). OpenMP reads the variable when torch loads it, so call this before
    the first `import torch` of the process (the CLI does); later it has no effect.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def set_threads(num_threads: int) -> int:
    """Fix torch's intra-op thread count (0 keeps the default); returns the count in use."""
    import torch

    if num_threads > 0:
        torch.set_num_threads(num_threads)
    return torch.get_num_threads()
