"""Training-time augmentation of normalized windows, applied in physical units.

Subjects wear the phone at slightly different angles and move with different vigour; small random 3-D
rotations (the same one for the accelerometer and gyroscope triads) and amplitude scaling make the model
robust to that. Added sensor noise is available but off by default: it masks the small postural sway that
tells standing from sitting (see ``TrainConfig.noise_std``). Windows are de-normalized, transformed, and
normalized again with the same statistics, so the checkpoint's normalization stays the single definition.
"""

from __future__ import annotations

import math

import torch

from harflow.data.dataset import WindowedData
from harflow.data.normalize import Normalizer
from harflow.train.config import TrainConfig


def _rotations(n: int, max_deg: float, gen: torch.Generator | None) -> torch.Tensor:
    axis = torch.randn(n, 3, generator=gen)
    axis = axis / axis.norm(dim=1, keepdim=True).clamp_min(1e-8)
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(max_deg)
    k = torch.zeros(n, 3, 3)
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k = k - k.transpose(1, 2)
    s, c = torch.sin(angle)[:, None, None], torch.cos(angle)[:, None, None]
    return torch.eye(3).expand(n, 3, 3) + s * k + (1 - c) * (k @ k)  # Rodrigues


class Augmenter:
    def __init__(
        self,
        norm: Normalizer,
        channels: tuple[str, ...],
        rotate_deg: float,
        scale: float,
        noise: float,
    ) -> None:
        self.mean = torch.tensor(norm.mean, dtype=torch.float32)
        self.std = torch.tensor(norm.std, dtype=torch.float32)
        self.triads = [
            [channels.index(f"{s}_{a}") for a in "xyz"]
            for s in ("acc", "gyro")
            if all(f"{s}_{a}" in channels for a in "xyz")
        ]
        self.rotate_deg, self.scale, self.noise = rotate_deg, scale, noise

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        raw = x * self.std + self.mean
        b = x.shape[0]
        if self.rotate_deg > 0 and self.triads:
            r = _rotations(b, self.rotate_deg, gen)
            for idx in self.triads:
                raw[:, :, idx] = raw[:, :, idx] @ r.transpose(1, 2)
        if self.scale > 0:
            raw = raw * (1 + (torch.rand(b, 1, 1, generator=gen) * 2 - 1) * self.scale)
        out = (raw - self.mean) / self.std
        if self.noise > 0:
            out = out + torch.randn(out.shape, generator=gen) * self.noise
        return out


def build_augmenter(cfg: TrainConfig, data: WindowedData) -> Augmenter | None:
    """The augmentation ``cfg`` asks for, in ``data``'s units; the trainer and the step bench both use it."""
    if not cfg.augment:
        return None
    return Augmenter(data.normalizer, data.spec.channels, cfg.rotate_deg, cfg.scale_jitter, cfg.noise_std)
