"""glibc malloc settings for PyTorch work on CPU, applied in-process by every entry point.

glibc serves large allocations with fresh ``mmap()`` and returns them to the kernel on ``free()``. Its
threshold for that is dynamic: it starts at 128 KiB and only rises when certain free patterns happen. A
training step allocates and frees the same multi-MiB activation buffers every step, and whether those are
recycled in the heap or faulted in afresh each step depends on which way the threshold went early on. Measured
here with the default LSTM, one process, one thread:

- in the slow mode, about 7,000 minor page faults per step, 40 % of the time in the kernel, 48 ms per step;
- with the threshold fixed, 75 faults per step and 31 ms.

Identical processes land in either mode by chance, so one DDP rank could be 1.5× slower than its peer, and
every synchronous step waits for it. jemalloc or tcmalloc through ``LD_PRELOAD`` would have the same effect.
``mallopt`` needs no extra package and works however the process was launched (torchrun, horovodrun, uvicorn,
a container).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# from glibc's malloc.h
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
_applied: bool | None = None


def tune_malloc(
    mmap_threshold: int = 32 << 20, trim_threshold: int = 512 << 20, top_pad: int = 64 << 20
) -> bool:
    """Serve allocations up to ``mmap_threshold`` from the heap, and keep up to ``trim_threshold`` of freed
    heap memory, so per-step buffers are reused instead of page-faulted in again. This only holds on to memory
    the process already peaked at. Returns whether it was applied: not off Linux/glibc, and not when
    ``HARFLOW_MALLOC_TUNING=0``. Idempotent."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if sys.platform != "linux" or os.environ.get("HARFLOW_MALLOC_TUNING", "1").lower() in (
        "0",
        "false",
        "no",
    ):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _applied = all(
        mallopt(k, v) == 1
        for k, v in (
            (M_MMAP_THRESHOLD, mmap_threshold),
            (M_TRIM_THRESHOLD, trim_threshold),
            (M_TOP_PAD, top_pad),
        )
    )
    return _applied


def malloc_tuned() -> bool:
    """Whether :func:`tune_malloc` has been applied in this process (benchmarks record it)."""
    return bool(_applied)
