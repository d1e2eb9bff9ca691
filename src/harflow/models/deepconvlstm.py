"""DeepConvLSTM (Ordóñez & Roggen, Sensors 2016): 4 temporal conv layers per channel, 2 LSTM layers."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from harflow.models.registry import register_model


@dataclass
class DeepConvLSTMConfig:
    filters: int = 64
    kernel_size: int = 5
    conv_layers: int = 4
    hidden_size: int = 128
    lstm_layers: int = 2
    dropout: float = 0.5


# 20 epochs, not 40: a step costs about 16 times the LSTM's (112 recurrent steps of a 384-wide input after
# convolutions that are compute-bound already), so 40 epochs would take over 15 minutes on 2 cores
@register_model("deepconvlstm", epochs=20)
class DeepConvLSTM(nn.Module):
    Config = DeepConvLSTMConfig

    def __init__(self, in_channels: int, num_classes: int, window: int, cfg: DeepConvLSTMConfig) -> None:
        super().__init__()
        if window <= cfg.conv_layers * (cfg.kernel_size - 1):
            raise ValueError(f"deepconvlstm: window of {window} samples is too short for its convolutions")
        layers: list[nn.Module] = []
        for i in range(cfg.conv_layers):
            # (k, 1) kernels convolve along time only, each sensor channel on its own, as in the paper
            layers += [nn.Conv2d(1 if i == 0 else cfg.filters, cfg.filters, (cfg.kernel_size, 1)), nn.ReLU()]
        self.conv = nn.Sequential(*layers)
        self.drop = nn.Dropout(cfg.dropout)
        self.lstm = nn.LSTM(
            cfg.filters * in_channels,
            cfg.hidden_size,
            num_layers=cfg.lstm_layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.lstm_layers > 1 else 0.0,
        )
        self.head = nn.Linear(cfg.hidden_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.conv(x.unsqueeze(1))  # (B, F, T', C)
        b, f, t, c = z.shape
        z = z.permute(0, 2, 1, 3).reshape(b, t, f * c)
        out, _ = self.lstm(self.drop(z))
        return self.head(self.drop(out[:, -1]))
