"""A 1-D CNN baseline: conv blocks over time with channels as features, global average pooling."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from harflow.models.registry import register_model


@dataclass
class CNN1DConfig:
    channels: tuple[int, ...] = (64, 128, 128)
    kernel_size: int = 7
    dropout: float = 0.3


@register_model("cnn1d")
class CNN1D(nn.Module):
    Config = CNN1DConfig

    def __init__(self, in_channels: int, num_classes: int, window: int, cfg: CNN1DConfig) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        prev = in_channels
        for i, ch in enumerate(cfg.channels):
            blocks += [
                nn.Conv1d(prev, ch, cfg.kernel_size, padding=cfg.kernel_size // 2),
                nn.BatchNorm1d(ch),
                nn.ReLU(),
            ]
            if i < len(cfg.channels) - 1:
                blocks.append(nn.MaxPool1d(2))
            prev = ch
        self.features = nn.Sequential(*blocks)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.features(x.transpose(1, 2))  # (B, C, T) for Conv1d
        return self.head(self.drop(z.mean(dim=2)))
