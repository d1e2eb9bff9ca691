"""Model FLOPs counted analytically from layer shapes (one multiply-add = 2 FLOPs).

A forward pass with hooks records each LSTM / convolution / linear layer's input and output shapes; the
FLOPs follow from the layer formulas, not from a profiler:

* LSTM, per layer, direction and time step: 4 gates × (input + hidden) × hidden multiply-adds, plus ~10·hidden
  element-wise ops (sigmoids, tanh, cell update).
* Conv: output elements × (in_channels / groups) × kernel size multiply-adds.
* Linear: batch × in × out multiply-adds.

Training costs ≈ 3× the forward FLOPs (backward = gradients w.r.t. inputs and weights, each ≈ forward).
"""

from __future__ import annotations

import math

import torch
from torch import nn

TRAIN_FACTOR = 3.0


def lstm_flops(lstm: nn.LSTM, batch: int, steps: int) -> float:
    dirs = 2 if lstm.bidirectional else 1
    h = lstm.hidden_size
    total = 0.0
    for layer in range(lstm.num_layers):
        inp = lstm.input_size if layer == 0 else h * dirs
        per_step = 2 * 4 * h * (inp + h) + 10 * h
        total += dirs * per_step * steps * batch
    return total


def _conv_flops(m: nn.modules.conv._ConvNd, out: torch.Tensor) -> float:
    k = math.prod(m.kernel_size)
    return 2.0 * out.numel() * (m.in_channels // m.groups) * k


def forward_flops(model: nn.Module, sample: torch.Tensor) -> float:
    """FLOPs of one forward pass of ``model`` on ``sample`` (B, T, C), counted from the shapes it produces."""
    total = [0.0]
    hooks = []

    def on_lstm(m: nn.LSTM, args: tuple, _out: object) -> None:
        x = args[0]
        b, t = (x.shape[0], x.shape[1]) if m.batch_first else (x.shape[1], x.shape[0])
        total[0] += lstm_flops(m, b, t)

    def on_conv(m: nn.modules.conv._ConvNd, _args: tuple, out: torch.Tensor) -> None:
        total[0] += _conv_flops(m, out)

    def on_linear(m: nn.Linear, args: tuple, _out: object) -> None:
        total[0] += 2.0 * args[0].numel() / m.in_features * m.in_features * m.out_features

    for mod in model.modules():
        if isinstance(mod, nn.LSTM):
            hooks.append(mod.register_forward_hook(on_lstm))
        elif isinstance(mod, nn.modules.conv._ConvNd):
            hooks.append(mod.register_forward_hook(on_conv))
        elif isinstance(mod, nn.Linear):
            hooks.append(mod.register_forward_hook(on_linear))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(sample)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return total[0]


def train_flops_per_sample(model: nn.Module, window: int, channels: int) -> float:
    """Training FLOPs (forward + backward) for one window of ``window`` × ``channels``."""
    x = torch.zeros(1, window, channels, device=next(model.parameters()).device)
    return TRAIN_FACTOR * forward_flops(model, x)
