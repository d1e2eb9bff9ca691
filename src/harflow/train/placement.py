"""Where data-parallel ranks run on a CPU node: each local rank on its own cores, and the process group's
communication threads marked latency-sensitive.

Why (measured on the 2-vCPU VM this project is developed on, `results/train-cpu-host-1thread.json`): a DDP
step waits for gloo's threads at the gradient all-reduce. Woken while the rank's own compute thread is still
running, such a thread waited for the kernel's next scheduler tick (4 ms at ``HZ=250``) about half the time
(``perf sched``: gloo_tcp_loop woken, run 3.3 ms later at the tick). Steps came in two sizes, ~32 ms and
~36 ms, where the computation alone takes ~31 ms. Two changes remove the wait:

- pinning rank *i* to its share of the CPUs keeps the two ranks (and their gloo threads) from landing on
  one core while the other idles;
- a short EEVDF slice request (``sched_setattr`` ``sched_runtime``, Linux ≥ 6.12) on the threads
  ``init_process_group`` created lets them preempt the compute thread when woken, instead of at the tick.

Both are hints: where the kernel or platform lacks them nothing changes. ``HARFLOW_CPU_PLACEMENT=0`` turns
both off.
"""

from __future__ import annotations

import ctypes
import os
import platform

COMM_SLICE_NS = 100_000  # 0.1 ms, the smallest slice the kernel accepts
_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}


def enabled() -> bool:
    return os.environ.get("HARFLOW_CPU_PLACEMENT", "1").lower() not in ("0", "false", "no", "off")


def thread_ids() -> set[int]:
    """Kernel thread ids of this process (empty where /proc is missing)."""
    try:
        return {int(t) for t in os.listdir("/proc/self/task")}
    except OSError:
        return set()


def pin_local_rank(local_rank: int, local_world: int, threads: int | None = None) -> list[int] | None:
    """Restrict this process (every thread it has and will have) to local rank ``local_rank``'s equal share
    of the CPUs it may use. Nothing is pinned when a share would be empty or smaller than an explicit
    ``threads`` request; returns the CPUs, or None."""
    if not hasattr(os, "sched_setaffinity") or local_world < 2:
        return None
    cpus = sorted(os.sched_getaffinity(0))
    share = len(cpus) // local_world
    if share < 1 or (threads is not None and threads > share) or not 0 <= local_rank < local_world:
        return None
    mine = cpus[local_rank * share : (local_rank + 1) * share]
    for tid in thread_ids() or {0}:
        try:
            os.sched_setaffinity(tid, mine)
        except OSError:
            if tid == 0 or tid == os.getpid():
                return None
    return mine


class _SchedAttr(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("sched_policy", ctypes.c_uint32),
        ("sched_flags", ctypes.c_uint64),
        ("sched_nice", ctypes.c_int32),
        ("sched_priority", ctypes.c_uint32),
        ("sched_runtime", ctypes.c_uint64),
        ("sched_deadline", ctypes.c_uint64),
        ("sched_period", ctypes.c_uint64),
        ("sched_util_min", ctypes.c_uint32),
        ("sched_util_max", ctypes.c_uint32),
    ]


def request_short_slice(tids: set[int], slice_ns: int = COMM_SLICE_NS) -> int:
    """Ask for an EEVDF slice of ``slice_ns`` on these threads (policy SCHED_OTHER, nice kept). Returns how
    many threads took it; 0 where the call is unavailable."""
    nr = _SCHED_SETATTR.get(platform.machine())
    if nr is None or not tids:
        return 0
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return 0
    done = 0
    for tid in tids:
        try:
            nice = os.getpriority(os.PRIO_PROCESS, tid)
        except OSError:
            continue  # the thread has exited
        attr = _SchedAttr(size=ctypes.sizeof(_SchedAttr), sched_nice=nice, sched_runtime=slice_ns)
        if libc.syscall(nr, tid, ctypes.byref(attr), 0) == 0:
            done += 1
    return done


def current_slice_ns(tid: int) -> int | None:
    """The slice a thread runs with (``sched_getattr``), for tests and reports; None where unavailable."""
    nr = {"x86_64": 315, "aarch64": 275}.get(platform.machine())
    if nr is None:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    attr = _SchedAttr()
    if libc.syscall(nr, tid, ctypes.byref(attr), ctypes.sizeof(_SchedAttr), 0) != 0:
        return None
    return int(attr.sched_runtime)
