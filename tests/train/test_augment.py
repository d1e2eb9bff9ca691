import numpy as np
import pytest
import torch

from harflow.data.normalize import Normalizer
from harflow.train.augment import Augmenter
from harflow.train.config import TrainConfig

CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
NORM = Normalizer((0.8, 0.0, 0.1, 0.0, 0.0, 0.0), (0.4, 0.4, 0.4, 0.4, 0.4, 0.3))


def _raw(x: torch.Tensor) -> torch.Tensor:
    return x * torch.tensor(NORM.std) + torch.tensor(NORM.mean)


def test_defaults_rotate_and_scale_but_add_no_noise():
    cfg = TrainConfig()
    assert (cfg.rotate_deg, cfg.scale_jitter, cfg.noise_std) == (15.0, 0.1, 0.0)
    aug = Augmenter(NORM, CHANNELS, cfg.rotate_deg, 0.0, cfg.noise_std)
    x = torch.randn(32, 128, 6)
    out = _raw(aug(x, torch.Generator().manual_seed(0)))
    raw = _raw(x)
    # a rotation without scaling or noise keeps every sample's vector length in both triads
    for sl in (slice(0, 3), slice(3, 6)):
        assert torch.allclose(out[..., sl].norm(dim=-1), raw[..., sl].norm(dim=-1), atol=1e-4)
    assert not torch.allclose(out, raw, atol=1e-3)


def test_rotation_is_bounded_by_rotate_deg():
    aug = Augmenter(NORM, CHANNELS, rotate_deg=5.0, scale=0.0, noise=0.0)
    x = torch.randn(256, 4, 6)
    raw, out = _raw(x), _raw(aug(x, torch.Generator().manual_seed(1)))
    cos = torch.nn.functional.cosine_similarity(raw[..., :3], out[..., :3], dim=-1).clamp(-1, 1)
    assert float(torch.rad2deg(torch.arccos(cos)).max()) <= 5.0 + 1e-2


@pytest.mark.parametrize("noise", [0.0, 0.05])
def test_noise_is_only_there_when_asked(noise):
    aug = Augmenter(NORM, CHANNELS, rotate_deg=0.0, scale=0.0, noise=noise)
    x = torch.randn(8, 16, 6)
    out = aug(x, torch.Generator().manual_seed(2))
    diff = float((out - x).std())
    if noise:
        assert diff == pytest.approx(noise, rel=0.2)
    else:
        assert np.allclose(out.numpy(), x.numpy(), atol=1e-5)


def test_trainer_and_step_bench_build_the_augmentation_from_the_config():
    from types import SimpleNamespace

    from harflow.bench import worker
    from harflow.train.augment import build_augmenter

    assert {"augment", "rotate_deg", "scale_jitter", "noise_std", "train_hop_s"} <= set(worker.CONFIG_FIELDS)
    data = SimpleNamespace(normalizer=NORM, spec=SimpleNamespace(channels=CHANNELS))
    aug = build_augmenter(TrainConfig(rotate_deg=7.0, scale_jitter=0.2, noise_std=0.01), data)
    assert (aug.rotate_deg, aug.scale, aug.noise) == (7.0, 0.2, 0.01) and len(aug.triads) == 2
    assert build_augmenter(TrainConfig(augment=False), data) is None
