"""Typed training configuration."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class TrainConfig:
    model: str = "lstm"
    model_config: dict[str, Any] = field(default_factory=dict)
    data: str = "hapt"
    classes: int = 6
    subjects: list[str] | None = None  # restrict HAPT to these subjects (tiny runs)
    rate_hz: float = 50.0
    window_s: float = 2.56
    hop_s: float = 1.28
    epochs: int = 40
    batch_size: int = 64  # global batch across all workers
    lr: float = 3e-3
    lr_scaling: Literal["none", "linear", "sqrt"] = "none"
    base_batch: int = 64  # the batch size `lr` refers to when scaling
    warmup_epochs: float = 2.0
    weight_decay: float = 1e-2
    label_smoothing: float = 0.0
    augment: bool = True  # random rotation / scaling / noise of training windows
    accum_steps: int = 1
    patience: int = 15
    seed: int = 0
    out: str = "runs/latest"
    threads: int | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    engine: Literal["ddp", "horovod"] = "ddp"
    backend: Literal["auto", "gloo", "nccl"] = "auto"
    resume: bool = False
    max_steps_per_epoch: int | None = None
    snapshot_every: int = 1
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def scaled_lr(self) -> float:
        ratio = self.batch_size / self.base_batch
        return self.lr * {"none": 1.0, "linear": ratio, "sqrt": ratio**0.5}[self.lr_scaling]
