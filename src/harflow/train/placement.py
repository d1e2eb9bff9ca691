"""Where data-parallel ranks run on a CPU node: each local rank on its own cores, and the process group's
communication threads ahead of the compute thread on them.

Why (measured on the 2-vCPU VM this project is developed on, ``perf sched`` and ``perf record``): a DDP step
waits for gloo's threads at the gradient all-reduce, and the waits came in whole scheduler ticks (4 ms at
``HZ=250``): steps of ~32 or ~36 ms where the computation alone takes ~30 ms.

- Woken while the rank's compute thread was running, gloo_tcp_loop waited for the next tick.
- Woken while one of the rank's own pt_gloo_runloop threads was running, it preempted that thread. When
  the preempted thread held the connection's lock, gloo's loop skips the event and polls again (a
  ``try_lock`` in ``Pair::handleEvents``): it spun in ``epoll_wait`` until the tick let the lock holder
  back on the CPU, while the peer rank's CPU sat idle.

So on a rank with CPUs of its own:

- pinning rank *i* to its share of the CPUs keeps the ranks (and their gloo threads) apart;
- the threads ``init_process_group`` (or ``hvd.init``) created become SCHED_BATCH: a woken BATCH thread
  never preempts another thread, so it cannot preempt a lock holder;
- the compute thread (the caller) becomes SCHED_IDLE, which the kernel preempts for any woken non-idle
  thread at once: the comm threads still get the CPU without waiting for the tick.

Real-time priorities get the same order but are unsafe: with the runloop threads above the loop thread,
a run livelocked at once (a runloop thread spinning for the loop thread it had preempted).

The launch applies it, right after starting the process group: :func:`harflow.train.launch.start_engine`.
``--no-place-ranks`` (``TrainConfig.place_ranks``) or the environment variable ``HARFLOW_CPU_PLACEMENT=0``
turns all of it off.

Measured: `harflow bench train --nproc 1,2 --threads 1 --scaling weak --steps 40 --repeat 5`, 5 runs
alternating with the previous scheme (a 0.1 ms EEVDF slice for the comm threads, everything else normal):
2 × 1 speedup median 1.87× (1.85–1.94, all five ≥ 1.8×) against 1.79× (1.68–1.84); this scheme won all 5
pairs.
"""

from __future__ import annotations

import os
from typing import Any


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


def prioritize_communication(comm_tids: set[int]) -> dict[str, Any]:
    """Let the process group's threads take the CPU from the compute thread (the caller) the moment they
    wake, and never from each other: comm threads become SCHED_BATCH, the caller SCHED_IDLE.

    Call only on a rank pinned to its own CPUs, where the caller competes with little but its own comm
    threads (an unpinned SCHED_IDLE thread would lose its CPU to any other process). The caller stays
    normal when no comm thread could be changed: SCHED_IDLE alone lets the comm threads preempt one
    another again. Returns what was done, for the run's record."""
    done = 0
    for tid in comm_tids:
        try:
            os.sched_setscheduler(tid, os.SCHED_BATCH, os.sched_param(0))
            done += 1
        except (OSError, AttributeError):
            continue  # the thread has exited, or the platform has no such policy
    compute = "normal"
    if done:
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            compute = "idle"
        except (OSError, AttributeError):
            pass
    return {"comm_threads_batch": done, "compute_thread": compute}


def place(local_rank: int, local_world: int, threads: int | None, comm_tids: set[int]) -> dict[str, Any]:
    """Pin this rank (every thread, including the comm threads just started) to its share of the CPUs, and
    if that worked put ``comm_tids`` ahead of the compute thread. Returns the run's record of it."""
    cpus = pin_local_rank(local_rank, local_world, threads)
    record: dict[str, Any] = {"cpus": cpus}
    if cpus:  # only a rank with CPUs of its own (see prioritize_communication)
        record.update(prioritize_communication(comm_tids))
    return record


def restore_compute_thread() -> None:
    """Back to SCHED_OTHER once the process group is gone (best effort: work after training, such as
    writing results, must not run at idle priority)."""
    try:
        if os.sched_getscheduler(0) == os.SCHED_IDLE:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    except (OSError, AttributeError):
        pass
