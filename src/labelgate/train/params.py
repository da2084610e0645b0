"""The training stages' settings (params.yaml section `train`), read by the `train` run (train.run), its fine-tuning
loop (train.loop) and the stages that train more runs (learning-curve, audit-reference)."""

from __future__ import annotations

from dataclasses import dataclass

from labelgate.config import check_range
from labelgate.train.device import DEVICES, MAX_SEED, PRECISIONS


#: The settings that change what wrong labels cost the fine-tuned model: the expected accuracy loss is calibrated for
#: their packaged values (the TrainParams defaults, bench/calibration/finetune_truth.py); seeds, devices, precision,
#: threads and batching for speed do not change it.
LEARNING_SETTINGS = ("model", "max_length", "epochs", "batch_size", "learning_rate", "weight_decay", "warmup_ratio",
                     "max_grad_norm", "freeze_embeddings", "freeze_layers")


@dataclass(frozen=True)
class TrainParams:
    """Fine-tuning settings (params.yaml section `train`). The defaults fit the demo grid on a 2-core CPU."""

    model: str = "minilm"  # `minilm` (offline registry package) or any local path / hub name for from_pretrained
    max_length: int = 64  # tokens per text after truncation
    epochs: int = 1  # on a GPU, or with more time: 3
    batch_size: int = 16  # small batches, many steps: one CPU epoch learns more than with 32
    eval_batch_size: int = 128  # inference batch on the test set
    learning_rate: float = 4e-4  # high because only the top layers train; with freeze_layers 0 use ~5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1  # share of optimiser steps with a linear warm-up; then linear decay to 0
    max_grad_norm: float = 1.0  # gradient clipping; 0 turns it off
    freeze_embeddings: bool = True  # the embeddings hold half of MiniLM's weights; their dense AdamW update is slow
    freeze_layers: int = 4  # lowest transformer layers kept frozen, in eval mode (MiniLM has 6; 0 = train all)
    bucket_pool: int = 50  # length bucketing: sort by length inside pools of this many batches
    seeds: tuple[int, ...] = (0, 1, 2)  # the seeds DVC's matrix runs (each run gets one via --seed)
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto | fp32 | bf16 autocast; auto: bf16 where the hardware runs it natively
    num_threads: int = 0  # torch intra-op threads; 0 keeps torch's default (one per core)

    def __post_init__(self):
        object.__setattr__(self, "seeds", tuple(int(s) for s in (self.seeds or ())))
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError("model must be a non-empty string")
        check_range("max_length", self.max_length, 8, 4096)
        check_range("epochs", self.epochs, 1, 100)
        check_range("batch_size", self.batch_size, 1, 4096)
        check_range("eval_batch_size", self.eval_batch_size, 1, 16384)
        check_range("learning_rate", self.learning_rate, 1e-7, 1.0)
        check_range("weight_decay", self.weight_decay, 0.0, 1.0)
        check_range("warmup_ratio", self.warmup_ratio, 0.0, 1.0)
        check_range("max_grad_norm", self.max_grad_norm, 0.0)
        check_range("freeze_layers", self.freeze_layers, 0, 128)
        check_range("bucket_pool", self.bucket_pool, 1)
        check_range("num_threads", self.num_threads, 0, 1024)
        if not self.seeds:
            raise ValueError("seeds needs at least one seed")
        for seed in self.seeds:
            check_range("seeds", seed, 0, MAX_SEED)
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be unique, got {list(self.seeds)}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")


def uncalibrated_settings(params: TrainParams) -> list[str]:
    """The learning settings of `params` that differ from the packaged ones the accuracy-loss calibration was fitted
    with, as 'epochs 3 (calibrated: 1)'; empty when they are the same."""
    packaged = TrainParams()
    return [f"{name} {getattr(params, name)} (calibrated: {getattr(packaged, name)})" for name in LEARNING_SETTINGS
            if getattr(params, name) != getattr(packaged, name)]
