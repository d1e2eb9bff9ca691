"""Training entry point — the same code for every launch.

One process::

    harflow train --model lstm --epochs 60 --out runs/lstm

Data-parallel on one machine (DDP, gloo on CPU / NCCL on CUDA)::

    harflow train --nproc-per-node 2 --out runs/ddp2
    torchrun --standalone --nproc-per-node 2 -m harflow.train --out runs/ddp2

Several machines (run on each node; node 0 hosts the c10d rendezvous)::

    torchrun --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d --rdzv-endpoint NODE0:29400 \\
        --rdzv-id job1 -m harflow.train --out /shared/runs/job1

Horovod::

    horovodrun -np 2 -H localhost:2 --gloo python -m harflow.train --engine horovod --out runs/hvd2
"""

from __future__ import annotations

import argparse
import logging
import sys

from harflow.train.args import add_train_args, config_from_args
from harflow.train.engine import LaunchError
from harflow.train.trainer import train


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m harflow.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_train_args(p)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        train(config_from_args(a))
    except (LaunchError, ValueError) as e:
        print(f"harflow train: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
