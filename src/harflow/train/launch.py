"""Starting a training process: its engine, then — on a CPU node — where the rank runs.

Every training entry point (:mod:`harflow.train.__main__` through the trainer, :mod:`harflow.bench.worker`)
starts here::

    with start_engine(cfg) as engine:
        ...

which does, in this order:

1. note this process's threads;
2. construct the engine (:func:`harflow.train.engine.make_engine`), which starts the process group —
   torch.distributed's gloo/NCCL or ``hvd.init`` — and with it the group's communication threads;
3. CPU placement (:mod:`harflow.train.placement`, which says why and what it measured), only on a CPU run
   with more than one rank and ``cfg.place_ranks`` on (``--no-place-ranks``; the environment variable
   ``HARFLOW_CPU_PLACEMENT=0`` turns it off too, whatever the config says): pin this rank to its local share
   of the CPUs, and put the threads step 2 started ahead of the compute thread. The record of it is
   ``engine.placement`` (runs write it to their results).

On leaving: a barrier when the body succeeded, the group shut down (see ``Engine.__exit__``), and the compute
thread back at normal priority.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from harflow.train import placement
from harflow.train.config import TrainConfig
from harflow.train.engine import Engine, make_engine


def placement_wanted(cfg: TrainConfig) -> bool:
    """Whether this process's launch places its rank (if the run turns out multi-rank and on CPU)."""
    return cfg.place_ranks and placement.enabled()


@contextlib.contextmanager
def start_engine(cfg: TrainConfig) -> Iterator[Engine]:
    """The engine for ``cfg``, its process group started and this rank placed (see the module docstring)."""
    place = placement_wanted(cfg)
    # only the threads the group starts go ahead of compute, so they are told apart from the ones before
    before = placement.thread_ids() if place else set()
    engine = make_engine(cfg.engine, cfg.device, cfg.backend)
    try:
        with engine:
            if place and engine.device.type == "cpu" and engine.world_size > 1:
                comm = placement.thread_ids() - before
                engine.placement = placement.place(
                    engine.local_rank, engine.local_world_size, cfg.threads, comm
                )
            yield engine
    finally:
        placement.restore_compute_thread()  # after the group: work after training must not run idle
