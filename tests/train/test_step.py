"""The one training step (trainer and bench): accumulation, smoothing, clipping, timing, no-sync mode."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from harflow.train.config import TrainConfig
from harflow.train.engine import Engine
from harflow.train.step import StepTimer, build_optimizer, device_batches, train_step


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Engine:
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(k, raising=False)
    return Engine("cpu")  # world size 1: no process group


def _data(n: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 5, generator=g), torch.randint(0, 3, (n,), generator=g)


def _batches(X: torch.Tensor, Y: torch.Tensor, size: int):
    idx = itertools.cycle([list(range(i, i + size)) for i in range(0, len(X), size)])
    return device_batches(X, Y, idx, torch.device("cpu"))


def _model() -> nn.Module:
    torch.manual_seed(1)
    return nn.Linear(5, 3)


def test_accumulated_micro_batches_step_like_one_batch(engine: Engine):
    X, Y = _data()
    full, acc = _model(), _model()
    cfg = TrainConfig(max_grad_norm=1e9)
    opt_full = torch.optim.SGD(full.parameters(), lr=0.1)
    opt_acc = torch.optim.SGD(acc.parameters(), lr=0.1)
    a = train_step(full, opt_full, engine, _batches(X, Y, 32), cfg)
    b = train_step(acc, opt_acc, engine, _batches(X, Y, 8), TrainConfig(max_grad_norm=1e9, accum_steps=4))
    for p, q in zip(full.parameters(), acc.parameters(), strict=True):
        torch.testing.assert_close(q, p)
    assert (b.samples, b.correct) == (a.samples, a.correct) == (32, a.correct)
    assert b.loss_sum == pytest.approx(a.loss_sum, rel=1e-5)
    assert a.loss_sum == pytest.approx(F.cross_entropy(_model()(X), Y).item() * 32, rel=1e-5)


def test_label_smoothing_and_clipping_come_from_the_config(engine: Engine):
    X, Y = _data()
    m = _model()
    before = [p.detach().clone() for p in m.parameters()]
    cfg = TrainConfig(label_smoothing=0.2, max_grad_norm=1e-3)
    st = train_step(m, torch.optim.SGD(m.parameters(), lr=1.0), engine, _batches(X, Y, 32), cfg)
    expected = F.cross_entropy(_model()(X), Y, label_smoothing=0.2).item() * 32
    assert st.loss_sum == pytest.approx(expected, rel=1e-5)
    moved = torch.cat([(p - b).flatten() for p, b in zip(m.parameters(), before, strict=True)])
    assert moved.norm().item() == pytest.approx(1e-3, rel=1e-3)  # lr 1 × the clipped gradient


def test_timer_measures_every_phase_and_unsynced_steps_do_not_update(engine: Engine):
    X, Y = _data()
    m = _model()
    opt = build_optimizer(TrainConfig(lr=0.5), m)
    assert opt.param_groups[0]["lr"] == 0.5 and opt.param_groups[0]["weight_decay"] == 1e-2
    timer = StepTimer(torch.device("cpu"))
    before = [p.detach().clone() for p in m.parameters()]
    train_step(m, opt, engine, _batches(X, Y, 8), TrainConfig(), sync_grads=False, timer=timer)
    assert set(timer.times) == {"data", "fwd_bwd"}
    assert all(torch.equal(p, b) for p, b in zip(m.parameters(), before, strict=True))
    train_step(m, opt, engine, _batches(X, Y, 8), TrainConfig(accum_steps=2), timer=timer)
    assert set(timer.times) == {"data", "fwd_bwd", "comm", "optimizer"}
    assert sum(timer.times.values()) == pytest.approx(timer.total)
    assert any(not torch.equal(p, b) for p, b in zip(m.parameters(), before, strict=True))


def test_ema_is_the_running_mean_first_then_exponential() -> None:
    import torch
    from torch import nn

    from harflow.train.config import TrainConfig
    from harflow.train.step import build_ema

    m = nn.Linear(2, 1, bias=False)
    ema = build_ema(TrainConfig(ema_decay=0.5), m)
    seen = []
    for v in (1.0, 2.0, 3.0, 10.0):
        with torch.no_grad():
            m.weight.fill_(v)
        ema.update_parameters(m)
        seen.append(float(ema.module.weight.detach()[0, 0]))
    # mean of 1 and 2; then weight max(1 - 0.5, 1/3) = 0.5 on each new value
    assert seen == [1.0, 1.5, 2.25, 6.125]
    assert build_ema(TrainConfig(ema_decay=0.0), m) is None
