"""Speedup / efficiency / regime math from synthetic timings."""

from __future__ import annotations

import math

import pytest

from harflow.bench import scaling
from harflow.bench.batchsize import classify
from tests.bench.conftest import make_run


def test_throughput_is_batch_over_median_step() -> None:
    # one slow outlier step must not move the median
    assert scaling.throughput(64, [0.1, 0.1, 0.1, 5.0, 0.1]) == pytest.approx(640.0)
    with pytest.raises(ValueError, match="no timed steps"):
        scaling.throughput(64, [])


def test_speedup_and_efficiency() -> None:
    assert scaling.speedup(1500, 1000) == pytest.approx(1.5)
    assert scaling.efficiency(1500, 2, 1000) == pytest.approx(0.75)
    assert scaling.efficiency(4000, 4, 1000) == pytest.approx(1.0)  # perfect linear scaling
    with pytest.raises(ValueError):
        scaling.speedup(1, 0)
    with pytest.raises(ValueError):
        scaling.efficiency(1, 0, 1)


def test_annotate_strong_and_weak_series() -> None:
    runs = scaling.annotate(
        [
            make_run(1, 1000.0),
            make_run(2, 1500.0, "strong"),
            make_run(2, 1800.0, "weak"),
            make_run(1, 1200.0, batch=128),  # 1 worker at the weak run's global batch
        ]
    )
    base, strong, weak, big = runs
    assert base["speedup"] == pytest.approx(1.0)
    assert base["strong_scaling_efficiency"] == pytest.approx(1.0)
    # strong: same global batch (64) as the baseline → 1500 / 1000 / 2
    assert strong["speedup"] == pytest.approx(1.5)
    assert strong["strong_scaling_efficiency"] == pytest.approx(0.75)
    assert strong["weak_scaling_efficiency"] is None  # no 1-worker run with per-worker batch 32
    # weak: per-worker batch 64 like the baseline → 1800 / (2 · 1000)
    assert weak["weak_scaling_efficiency"] == pytest.approx(0.9)
    assert weak["speedup"] == pytest.approx(1.8)
    # ...and strong efficiency against the 1-worker run at global batch 128
    assert weak["strong_scaling_efficiency"] == pytest.approx(1800 / 1200 / 2)
    assert big["speedup"] == pytest.approx(1.0)  # a baseline is its own reference
    assert all(math.isfinite(r["speedup"]) for r in runs)


def test_annotate_keeps_series_apart() -> None:
    cpu = make_run(1, 1000.0)
    gpu = make_run(1, 20000.0, device="cuda")
    gpu2 = make_run(2, 36000.0, "strong", device="cuda")
    scaling.annotate([cpu, gpu, gpu2])
    assert gpu2["speedup"] == pytest.approx(1.8)  # against the GPU baseline, not the CPU one


def test_comm_fraction_and_regime() -> None:
    assert scaling.comm_fraction(0.02, 0.1) == pytest.approx(0.2)
    assert scaling.comm_fraction(0.2, 0.1) == 1.0  # clipped
    assert scaling.regime(0.2) == "compute-bound"
    assert scaling.regime(0.6) == "communication-bound"


def test_batch_size_regimes() -> None:
    batches = [32, 64, 128, 256, 512, 1024]
    steps = [1000, 500, 260, 180, 170, None]
    reg = classify(batches, steps)
    assert reg[1] == "perfect scaling"  # halved: slope -1
    assert reg[2] == "perfect scaling"  # slope log2(260/500) = -0.94
    assert reg[3] == "diminishing returns"  # slope -0.53
    assert reg[4] == "maximal parallelism"  # slope -0.08
    assert reg[5] == "maximal parallelism"  # never reached
    assert reg[0] == "perfect scaling"  # the start of a perfectly scaling curve
    assert classify([32, 64], [100, 95])[0] == "reference"  # flat from the start: no claim about B=32


def _rank(rank: int, world: int, compute_s: float, comm_s: float = 0.002) -> dict:
    step = {"data": 0.001, "forward_backward": compute_s, "comm": comm_s, "optimizer": 0.001}
    return {
        "rank": rank,
        "world_size": world,
        "per_worker_batch": 64,
        "model": "lstm",
        "model_config": {},
        "backend": "gloo",
        "threads": 1,
        "comm_method": "no_sync_difference",
        "peak_mem_mb": 400.0,
        "peak_mem_kind": "max_rss",
        "flops_per_sample": 9e6,
        "window": 128,
        "train_windows": 1000,
        "steps": [{**step, "step": compute_s + comm_s + 0.002 + 0.001 * (rank + 1)} for _ in range(5)],
    }


def test_aggregate_reports_per_rank_compute_and_the_slowest_rank_sets_the_pace() -> None:
    from harflow.bench.trainbench import aggregate

    cfg = {"device": "cpu", "engine": "ddp", "nnodes": 1, "nproc": 2, "scaling": "weak", "global_batch": 128}
    rec = aggregate([_rank(1, 2, 0.045), _rank(0, 2, 0.030)], cfg)
    assert rec["rank_compute_ms"] == pytest.approx([32.0, 47.0])
    assert rec["compute_imbalance"] == pytest.approx(47 / 32)
    assert rec["step_ms"]["step"] == pytest.approx((0.045 + 0.002 + 0.002 + 0.002) * 1e3)


def test_merge_rounds_takes_the_median_round_and_per_round_speedups() -> None:
    from harflow.bench.trainbench import imbalance_notes, merge_rounds

    recs = []
    for rnd, (one, two) in enumerate([(1000, 1900), (800, 1200), (1100, 1650)]):
        recs += [
            {**make_run(1, one), "round": rnd, "compute_imbalance": 1.0},
            {**make_run(2, two, "weak"), "round": rnd, "compute_imbalance": 1.0 + rnd / 4},
        ]
    merged = {r["nproc"]: r for r in scaling.annotate(merge_rounds(recs))}
    assert merged[1]["samples_per_s"] == 1000 and merged[2]["samples_per_s"] == 1650
    assert merged[2]["samples_per_s_rounds"] == [1900, 1200, 1650]
    # each round against its own baseline, not the medians against each other
    assert merged[2]["speedup_rounds"] == pytest.approx([1.9, 1.5, 1.5])
    assert merged[2]["speedup"] == pytest.approx(1.65)
    assert merged[2]["rounds"] == 3
    notes = imbalance_notes(list(merged.values()))
    assert len(notes) == 1 and "1×2 weak" in notes[0] and "1.00–1.50 over 3 round(s)" in notes[0]
    assert imbalance_notes([{**merged[2], "compute_imbalance_rounds": [1.02, 1.05]}]) == []


def test_independent_workers_add_up_and_count_against_the_per_worker_baseline() -> None:
    from harflow.bench.trainbench import aggregate_independent

    cfg = {"device": "cpu", "engine": "ddp", "nnodes": 1, "nproc": 2, "scaling": "independent"}
    rec = aggregate_independent([_rank(0, 1, 0.030), _rank(0, 1, 0.036)], {**cfg, "global_batch": 128})
    one = [64 / (c + 0.002 + 0.002 + 0.001) for c in (0.030, 0.036)]
    assert rec["samples_per_s"] == pytest.approx(sum(one))
    assert rec["global_batch"] == 128 and rec["comm_fraction"] == 0
    assert rec["compute_imbalance"] == pytest.approx(38 / 32)
    runs = scaling.annotate([make_run(1, 2000.0), make_run(1, 1000.0, batch=32), rec])
    assert runs[2]["speedup"] == pytest.approx(sum(one) / 2000.0)  # same per-worker batch (64), not global
