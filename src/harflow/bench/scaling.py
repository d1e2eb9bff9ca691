"""Speedup and scaling efficiency from measured throughputs.

Definitions (throughput-based, so they hold for any step count):

* speedup(N) = samples/s with N workers ÷ samples/s of the 1-worker baseline (same device, engine,
  batch rule).
* strong scaling keeps the *global* batch fixed: efficiency = speedup ÷ N against the 1-worker run with the
  same global batch (ideal: N workers finish the same work N times faster).
* weak scaling keeps the *per-worker* batch fixed: efficiency = throughput(N) ÷ (N · throughput(1)) against
  the 1-worker run with the same per-worker batch (ideal: step time stays constant as workers are added).
* independent: N single-process trainers that never communicate, run side by side (the sum of their
  throughputs). No data-parallel engine can beat it on the same machine: it is the ceiling the weak-scaling
  figure should be read against.

An efficiency is ``None`` when the matching 1-worker run was not measured.
"""

from __future__ import annotations

from collections.abc import Iterable
from statistics import median
from typing import Any


def speedup(samples_per_s: float, baseline_samples_per_s: float) -> float:
    if baseline_samples_per_s <= 0:
        raise ValueError(f"baseline throughput must be positive, got {baseline_samples_per_s}")
    return samples_per_s / baseline_samples_per_s


def efficiency(samples_per_s: float, workers: int, baseline_samples_per_s: float) -> float:
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    return speedup(samples_per_s, baseline_samples_per_s) / workers


def throughput(global_batch: int, step_seconds: Iterable[float]) -> float:
    """samples/s from per-step wall times: the median step (robust to the odd slow step of a shared box)."""
    s = list(step_seconds)
    if not s:
        raise ValueError("no timed steps")
    m = median(s)
    if m <= 0:
        raise ValueError(f"median step time must be positive, got {m}")
    return global_batch / m


def _series_key(run: dict[str, Any]) -> tuple:
    return (run["device"], run["engine"], run.get("model", "lstm"), run.get("container", "host"))


def annotate(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill ``speedup``, ``strong_scaling_efficiency`` and ``weak_scaling_efficiency`` of every run in place.

    Baselines are 1-worker (nproc·nnodes = 1) runs of the same series (device, engine, model, container).
    ``speedup`` is taken against the baseline of the matching batch rule (strong: same global batch; weak:
    same per-worker batch); a weak-series run with no such baseline falls back to the other one.
    """
    base_global: dict[tuple, float] = {}
    base_worker: dict[tuple, float] = {}
    for r in runs:
        if r["nproc"] * r["nnodes"] == 1:
            k = _series_key(r)
            base_global.setdefault((*k, r["global_batch"]), r["samples_per_s"])
            base_worker.setdefault((*k, r["per_worker_batch"]), r["samples_per_s"])
    for r in runs:
        k, n = _series_key(r), r["nproc"] * r["nnodes"]
        g = base_global.get((*k, r["global_batch"]))
        w = base_worker.get((*k, r["per_worker_batch"]))
        r["strong_scaling_efficiency"] = efficiency(r["samples_per_s"], n, g) if g else None
        r["weak_scaling_efficiency"] = efficiency(r["samples_per_s"], n, w) if w else None
        first, second = (w, g) if r.get("scaling") in ("weak", "independent") else (g, w)
        base = first or second
        r["speedup"] = speedup(r["samples_per_s"], base) if base else None
    return runs


def comm_fraction(comm_s: float, step_s: float) -> float:
    """Share of the step spent in gradient communication (clipped to [0, 1])."""
    if step_s <= 0:
        raise ValueError(f"step time must be positive, got {step_s}")
    return min(1.0, max(0.0, comm_s / step_s))


def regime(comm_frac: float, threshold: float = 0.5) -> str:
    """Communication-bound when the gradient exchange takes at least ``threshold`` of a step."""
    return "communication-bound" if comm_frac >= threshold else "compute-bound"
