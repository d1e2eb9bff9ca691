"""The device's measured roof: large-GEMM FLOP/s and memory bandwidth (copy of a large tensor).

The train bench divides its analytic model FLOP/s by the GEMM roof: how much of what the hardware can do
the training actually uses.
"""

from __future__ import annotations

import time
from statistics import median
from typing import Any

import torch


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _time(fn, dev: torch.device, repeats: int, min_s: float) -> float:
    """Median seconds of one call, after a warm-up call; repeats until ``min_s`` has passed."""
    fn()
    _sync(dev)
    times: list[float] = []
    t_end = time.perf_counter() + min_s
    while len(times) < repeats or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        _sync(dev)
        times.append(time.perf_counter() - t0)
        if len(times) >= 200:
            break
    return median(times)


def gemm_flops(
    device: str = "cpu", n: int | None = None, dtype: torch.dtype = torch.float32, min_s: float = 1.0
) -> dict[str, Any]:
    dev = torch.device(device)
    n = n or (8192 if dev.type == "cuda" else 2048)
    a = torch.randn(n, n, device=dev, dtype=dtype)
    b = torch.randn(n, n, device=dev, dtype=dtype)
    c = torch.empty(n, n, device=dev, dtype=dtype)
    t = _time(lambda: torch.mm(a, b, out=c), dev, repeats=3, min_s=min_s)
    return {"n": n, "dtype": str(dtype).removeprefix("torch."), "seconds": t, "flops": 2.0 * n**3 / t}


def mem_bandwidth(device: str = "cpu", mb: int | None = None, min_s: float = 1.0) -> dict[str, Any]:
    """Bytes moved per second by ``dst.copy_(src)`` (read + write) of a buffer far larger than caches."""
    dev = torch.device(device)
    mb = mb or (2048 if dev.type == "cuda" else 256)
    n = mb * 2**20 // 4
    src = torch.ones(n, device=dev)
    dst = torch.empty(n, device=dev)
    t = _time(lambda: dst.copy_(src), dev, repeats=5, min_s=min_s)
    return {"mb": mb, "seconds": t, "bytes_per_s": 2.0 * n * 4 / t}


def measure(device: str = "cpu", threads: int | None = None, quick: bool = False) -> dict[str, Any]:
    """One roof run: GEMM FLOP/s and copy bandwidth on ``device`` with ``threads`` CPU threads."""
    if threads:
        torch.set_num_threads(threads)
    min_s = 0.3 if quick else 2.0
    g = gemm_flops(device, n=1024 if quick and device == "cpu" else None, min_s=min_s)
    m = mem_bandwidth(device, mb=64 if quick and device == "cpu" else None, min_s=min_s)
    name = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else "cpu"
    return {
        "device": device.split(":")[0],
        "device_name": name,
        "threads": torch.get_num_threads(),
        "gemm_flops": g["flops"],
        "gemm": g,
        "mem_bandwidth_bytes_per_s": m["bytes_per_s"],
        "copy": m,
    }
