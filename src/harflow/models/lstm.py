"""The seed paper's recognizer: stacked LSTM over raw samples → last hidden state → linear."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from harflow.models.registry import register_model


@dataclass
class LSTMConfig:
    hidden_size: int = 64
    num_layers: int = 2
    dropout: float = 0.2
    bidirectional: bool = True
    # samples fed to the LSTM per time step: 1 is the classic per-sample LSTM; k>1 stacks k consecutive
    # samples into one step (k-times fewer recurrent steps, the main cost on CPU)
    frame: int = 4


@register_model("lstm")
class LSTMClassifier(nn.Module):
    Config = LSTMConfig

    def __init__(self, in_channels: int, num_classes: int, window: int, cfg: LSTMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        if window % cfg.frame:
            raise ValueError(f"lstm: window of {window} samples is not a multiple of frame={cfg.frame}")
        self.lstm = nn.LSTM(
            in_channels * cfg.frame,
            cfg.hidden_size,
            num_layers=cfg.num_layers,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
            bidirectional=cfg.bidirectional,
            batch_first=True,
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden_size * (2 if cfg.bidirectional else 1), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cfg.frame > 1:
            b, t, c = x.shape
            x = x.reshape(b, t // self.cfg.frame, self.cfg.frame * c)
        _, (h, _) = self.lstm(x)
        # h: (layers * directions, B, H); the top layer's final state of each direction
        last = torch.cat([h[-2], h[-1]], dim=1) if self.cfg.bidirectional else h[-1]
        return self.head(self.drop(last))
