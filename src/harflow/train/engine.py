"""The data-parallel engine behind the one training loop.

The launch decides: ``torchrun`` sets ``RANK``/``WORLD_SIZE`` and we join a process group (gloo on CPU, NCCL
on CUDA); a plain ``python``/``harflow`` launch is world size 1 with no group; ``--engine horovod`` under
``horovodrun`` uses Horovod's ring all-reduce instead. The trainer only talks to :class:`Engine`.

Constructing an engine only starts its process group; where the rank runs on a CPU node (pinning, thread
priorities) is the launch's part: :func:`harflow.train.launch.start_engine` does both, in that order.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


class LaunchError(RuntimeError):
    """The requested launch cannot work (bad engine, NCCL without CUDA, …)."""


def _env_int(name: str, default: int) -> int:
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else default


def usable_cores() -> int:
    """CPUs this process may run on (its affinity mask, which containers and taskset narrow)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def resolve_device(device: str) -> torch.device:
    if device == "cuda" and not torch.cuda.is_available():
        raise LaunchError("--device cuda asked but CUDA is not available on this machine")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


class Engine:
    """World size 1, or DDP over a torch.distributed process group."""

    name = "ddp"
    # where the gradient all-reduce ends: inside backward (DDP's bucketed hooks), or only in finish_grads
    grads_after_backward = False

    def __init__(
        self,
        device: str = "auto",
        backend: str = "auto",
        timeout_s: float = 300,
    ) -> None:
        self.node_cores = usable_cores()  # the node's, read before the launch pins this rank to its share
        self.placement: dict[str, Any] = {}  # this rank's CPU placement, set by the launch
        self.rank = _env_int("RANK", 0)
        self.world_size = _env_int("WORLD_SIZE", 1)
        self.local_rank = _env_int("LOCAL_RANK", 0)
        self.local_world_size = _env_int("LOCAL_WORLD_SIZE", 1)
        dev = resolve_device(device)
        if dev.type == "cuda":
            dev = torch.device("cuda", self.local_rank % torch.cuda.device_count())
            torch.cuda.set_device(dev)
        self.device = dev
        if backend == "auto":
            backend = "nccl" if dev.type == "cuda" else "gloo"
        if backend == "nccl" and dev.type != "cuda":
            raise LaunchError("backend nccl needs CUDA devices; use gloo (the default on CPU)")
        self.backend = backend
        self.distributed = self.world_size > 1
        if self.distributed and not dist.is_initialized():
            dist.init_process_group(
                backend,
                timeout=datetime.timedelta(seconds=timeout_s),
                device_id=dev if dev.type == "cuda" else None,
            )

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap_model(self, model: nn.Module) -> nn.Module:
        model.to(self.device)
        if not self.distributed:
            return model
        return nn.parallel.DistributedDataParallel(
            model, device_ids=[self.device.index] if self.device.type == "cuda" else None
        )

    def wrap_optimizer(
        self, opt: torch.optim.Optimizer, model: nn.Module, accum_steps: int
    ) -> torch.optim.Optimizer:
        return opt

    def finish_grads(self, opt: torch.optim.Optimizer) -> None:
        """Wait until the gradients are averaged across ranks (DDP's all-reduce ends inside backward)."""

    def optimizer_step(self, opt: torch.optim.Optimizer) -> None:
        """Step on the gradients :meth:`finish_grads` made ready."""
        opt.step()

    @contextlib.contextmanager
    def no_sync(self, model: nn.Module, skip: bool) -> Iterator[None]:
        """Skip the gradient all-reduce on accumulation micro-steps."""
        if skip and isinstance(model, nn.parallel.DistributedDataParallel):
            with model.no_sync():
                yield
        else:
            yield

    def all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.distributed:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def broadcast_object(self, obj: Any) -> Any:
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def all_gather_object(self, obj: Any) -> list[Any]:
        if not self.distributed:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def shutdown(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        """On success, a barrier before shutting down; always shut down.

        A gloo worker thread may still be releasing the last collective's objects (tensors whose Python
        objects are gone; a Python comm-hook callback, which the bench used to register), which takes the
        GIL. If the process reaches interpreter finalization first, Python ends that thread mid-unwind and
        C++ aborts (SIGABRT, "terminate called without an active exception": about 1 bench run in 25, core
        dump analysed; once in a 2-node training run in CI). The barrier waits without the GIL until every
        rank is here, letting it finish.
        Not on an error: a failing rank must not make the others wait."""
        try:
            if exc_type is None:
                self.barrier()
        finally:
            self.shutdown()


class HorovodEngine(Engine):
    """Horovod (the seed paper's engine): ring all-reduce via ``hvd.DistributedOptimizer``. On CPU the launch
    gives its ranks the same placement as DDP's (:func:`harflow.train.launch.start_engine`), applied to the
    threads ``hvd.init`` starts (background loop and gloo)."""

    name = "horovod"
    grads_after_backward = True

    def __init__(
        self,
        device: str = "auto",
        backend: str = "auto",
        timeout_s: float = 300,
    ) -> None:
        self.node_cores = usable_cores()
        self.placement: dict[str, Any] = {}  # this rank's CPU placement, set by the launch
        try:
            import horovod.torch as hvd
        except ImportError as e:
            raise LaunchError(
                f"--engine horovod needs Horovod built against this torch (`make horovod`): {e}"
            ) from e
        self.hvd = hvd
        dev = resolve_device(device)
        hvd.init()
        self.rank, self.world_size = hvd.rank(), hvd.size()
        self.local_rank, self.local_world_size = hvd.local_rank(), hvd.local_size()
        if dev.type == "cuda":
            dev = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(dev)
        self.device = dev
        self.backend = "horovod"
        self.distributed = self.world_size > 1

    def wrap_model(self, model: nn.Module) -> nn.Module:
        model.to(self.device)
        self.hvd.broadcast_parameters(model.state_dict(), root_rank=0)
        return model

    def wrap_optimizer(
        self, opt: torch.optim.Optimizer, model: nn.Module, accum_steps: int
    ) -> torch.optim.Optimizer:
        self.hvd.broadcast_optimizer_state(opt, root_rank=0)
        return self.hvd.DistributedOptimizer(
            opt,
            named_parameters=model.named_parameters(),
            backward_passes_per_step=accum_steps,
            op=self.hvd.Average,
        )

    def finish_grads(self, opt: torch.optim.Optimizer) -> None:
        # Horovod all-reduces asynchronously: the averaged gradients (to clip, to step on) exist only now
        opt.synchronize()  # type: ignore[attr-defined]

    def optimizer_step(self, opt: torch.optim.Optimizer) -> None:
        # finish_grads already synchronized; a second synchronize in step() would all-reduce again
        with opt.skip_synchronize():  # type: ignore[attr-defined]
            opt.step()

    @contextlib.contextmanager
    def no_sync(self, model: nn.Module, skip: bool) -> Iterator[None]:
        yield  # backward_passes_per_step handles accumulation

    def all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.distributed:
            t.copy_(self.hvd.allreduce(t, op=self.hvd.Sum))
        return t

    def broadcast_object(self, obj: Any) -> Any:
        return self.hvd.broadcast_object(obj, root_rank=0) if self.distributed else obj

    def all_gather_object(self, obj: Any) -> list[Any]:
        return self.hvd.allgather_object(obj) if self.distributed else [obj]

    def barrier(self) -> None:
        if self.distributed:
            self.hvd.allreduce(torch.zeros(1), name="barrier")

    def shutdown(self) -> None:
        self.hvd.shutdown()


def make_engine(engine: str, device: str = "auto", backend: str = "auto") -> Engine:
    """The engine named ``engine``, its process group started (CPU placement is not its part: see
    :func:`harflow.train.launch.start_engine`)."""
    if engine == "ddp":
        return Engine(device, backend)
    if engine == "horovod":
        return HorovodEngine(device, backend)
    raise LaunchError(f"unknown engine {engine!r}; choose ddp or horovod")
