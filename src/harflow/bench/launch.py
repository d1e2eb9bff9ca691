"""Start one benchmark configuration for real: torchrun (DDP), horovodrun, or two network-namespace "nodes".

Workers write ``rank<R>.json`` into a run directory; rank 0 prints ``BENCH_PROGRESS i n`` lines that the
caller turns into a progress bar.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harflow.train.engine import usable_cores

_AGENT_LOG = re.compile(r"^[IWE]\d{4} .*torch/distributed/")


def failure_excerpt(lines: list[str], keep: int = 12) -> list[str]:
    """What a failed launch's log says about the failure: the workers' last lines before torchrun's agent
    starts reporting (where a worker's own error, e.g. a C++ abort message, is), then the agent's root cause.
    Plain last lines when the log has no agent report."""
    start = next((k for k, ln in enumerate(lines) if _AGENT_LOG.match(ln)), None)
    if start is None:
        return lines[-keep:]
    root = next((k for k, ln in enumerate(lines) if ln.startswith("Root Cause")), None)
    cause = [ln for ln in lines[root : root + 8] if ln.strip() and not ln.startswith("=")] if root else []
    return [*[ln for ln in lines[:start] if ln.strip()][-keep:], "[torchrun] …", *cause]


class BenchError(RuntimeError):
    """A benchmark configuration could not run; the message says which and why."""


class Skip(Exception):
    """This configuration cannot run here (no CUDA, no Horovod, not root, …); the message says why."""


def load_note(before: tuple[float, ...], after: tuple[float, ...]) -> str:
    """The machine's load around a measurement: timings from a shared, busy machine are flagged as such."""
    busy = before[0] > 1.0
    return (
        f"1-min load average {before[0]:.2f} before and {after[0]:.2f} after the measurement "
        f"on {usable_cores()} cores"
        + (" — other work was running concurrently; treat timings as noisy" if busy else "")
    )


def horovodrun() -> str | None:
    """The horovodrun of this interpreter's environment (the venv need not be activated), else PATH's."""
    sibling = Path(sys.executable).parent / "horovodrun"
    return str(sibling) if sibling.is_file() else shutil.which("horovodrun")


def horovod_available() -> bool:
    return importlib.util.find_spec("horovod") is not None and horovodrun() is not None


@dataclass
class Launch:
    """What to start: one command per node (each node's stdout is watched for progress on node 0)."""

    commands: list[list[str]]
    env: dict[str, str]
    cleanup: list[list[str]] = field(default_factory=list)


def worker_args(
    *,
    per_worker_batch: int,
    steps: int | None,
    epochs: int | None,
    warmup: int,
    device: str,
    engine: str,
    threads: int,
    model: str,
    model_opts: Sequence[str],
    subjects: str | None,
    out_dir: Path,
) -> list[str]:
    a = [
        "-m",
        "harflow.bench.worker",
        "--per-worker-batch",
        str(per_worker_batch),
        "--warmup",
        str(warmup),
        "--device",
        device,
        "--engine",
        engine,
        "--threads",
        str(threads),
        "--model",
        model,
        "--out-dir",
        str(out_dir),
    ]
    a += ["--epochs", str(epochs)] if epochs else ["--steps", str(steps)]
    for o in model_opts:
        a += ["--model-opt", o]
    if subjects:
        a += ["--subjects", subjects]
    return a


def _base_env(threads: int) -> dict[str, str]:
    # restarts/rendezvous hang without it on this torch (recipe); thread env keeps every library at `threads`
    return {
        **os.environ,
        "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "PYTHONUNBUFFERED": "1",
    }


def plan(*, nproc: int, nnodes: int, device: str, engine: str, wargs: list[str], threads: int) -> Launch:
    """The commands for one configuration, or :class:`Skip` with the reason it cannot run here."""
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise Skip(
                "CUDA is not available on this machine (torch "
                f"{torch.__version__}, cuda {torch.version.cuda}); GPU configurations skipped"
            )
        if nproc > torch.cuda.device_count():
            raise Skip(f"{nproc} workers per node but only {torch.cuda.device_count()} CUDA device(s)")
    env = _base_env(threads)
    if engine == "horovod":
        if not horovod_available():
            raise Skip("--engine horovod: Horovod is not installed here (build it with `make horovod`)")
        if nnodes > 1:
            raise Skip("--engine horovod with --nnodes > 1 is not wired into the bench (use ddp)")
        hosts = f"localhost:{nproc}"
        return Launch(
            [
                [
                    horovodrun() or "horovodrun",
                    "-np",
                    str(nproc),
                    "-H",
                    hosts,
                    "--gloo",
                    sys.executable,
                    *wargs,
                ]
            ],
            env,
        )
    if engine != "ddp":
        raise BenchError(f"unknown engine {engine!r}; choose ddp or horovod")
    run = [sys.executable, "-m", "torch.distributed.run"]
    if nnodes == 1:
        return Launch([[*run, "--standalone", f"--nproc-per-node={nproc}", *wargs]], env)
    return _netns_plan(nproc, nnodes, run, wargs, env)


def independent_plan(wargs: list[list[str]], threads: int) -> Launch:
    """N single-process workers side by side, no process group (the ceiling of N-worker data parallelism)."""
    env = {k: v for k, v in _base_env(threads).items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return Launch([[sys.executable, *w] for w in wargs], env)


def _netns_plan(nproc: int, nnodes: int, run: list[str], wargs: list[str], env: dict[str, str]) -> Launch:
    """N "nodes" = N network namespaces on one bridge-less veth star (node 0 in the middle, ≤ 2 nodes)."""
    if nnodes != 2:
        raise Skip(
            f"--nnodes {nnodes}: the bench emulates at most 2 nodes on one machine (two network "
            "namespaces joined by a veth pair)"
        )
    if os.geteuid() != 0:
        raise Skip("--nnodes 2 needs root to create network namespaces")
    if not shutil.which("ip"):
        raise Skip("--nnodes 2 needs iproute2 (`ip`); run `make system-deps`")
    tag = uuid.uuid4().hex[:6]
    ns = [f"hfb{tag}n{i}" for i in range(2)]
    veth = [f"hfb{tag}v{i}" for i in range(2)]
    ips = ["10.231.77.1", "10.231.77.2"]
    setup = [
        ["ip", "netns", "add", ns[0]],
        ["ip", "netns", "add", ns[1]],
        ["ip", "link", "add", veth[0], "type", "veth", "peer", "name", veth[1]],
    ]
    for i in range(2):
        setup += [
            ["ip", "link", "set", veth[i], "netns", ns[i]],
            ["ip", "-n", ns[i], "addr", "add", f"{ips[i]}/24", "dev", veth[i]],
            ["ip", "-n", ns[i], "link", "set", veth[i], "up"],
            ["ip", "-n", ns[i], "link", "set", "lo", "up"],
        ]
    cleanup = [["ip", "netns", "del", n] for n in ns]  # deleting a namespace removes its veth end too
    for cmd in setup:
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode:
            for c in cleanup:
                subprocess.run(c, capture_output=True)
            raise BenchError(f"network namespace setup failed at `{' '.join(cmd)}`: {p.stderr.strip()}")
    commands = []
    for i in range(2):
        commands.append(
            [
                "ip",
                "netns",
                "exec",
                ns[i],
                "env",
                f"GLOO_SOCKET_IFNAME={veth[i]}",
                *run,
                "--nnodes=2",
                f"--nproc-per-node={nproc}",
                f"--rdzv-id=hfb{tag}",
                "--rdzv-backend=c10d",
                f"--rdzv-endpoint={ips[0]}:29400",
                f"--rdzv-conf=is_host={'true' if i == 0 else 'false'}",
                f"--local-addr={ips[i]}",
                *wargs,
            ]
        )
    return Launch(commands, env, cleanup)


def execute(
    launch: Launch,
    log_path: Path,
    on_progress: Callable[[int, int], None] | None = None,
    timeout_s: float = 900,
    stop_when: Callable[[], bool] | None = None,
) -> None:
    """Run the commands to completion (killing them all if one fails or time runs out, and stopping them
    early — successfully — when ``stop_when()`` turns true)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen] = []
    logs = [open(log_path.with_suffix(f".node{i}.log"), "w") for i in range(len(launch.commands))]  # noqa: SIM115
    try:
        for i, cmd in enumerate(launch.commands):
            logs[i].write("$ " + " ".join(cmd) + "\n")
            logs[i].flush()
            procs.append(
                subprocess.Popen(
                    cmd,
                    env=launch.env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    start_new_session=True,
                )
            )
        readers = [
            threading.Thread(target=_pump, args=(p, logs[i], on_progress if i == 0 else None), daemon=True)
            for i, p in enumerate(procs)
        ]
        for t in readers:
            t.start()
        failed = _wait_all(procs, timeout_s, stop_when)
        for t in readers:
            t.join(timeout=10)
        if failed is not None:
            i, rc = failed
            for f in logs:
                f.flush()
            excerpt = failure_excerpt(log_path.with_suffix(f".node{i}.log").read_text().splitlines())
            raise BenchError(
                f"`{' '.join(launch.commands[i][:8])} …` exited {rc}; from "
                f"{log_path.with_suffix(f'.node{i}.log')}:\n" + "\n".join(excerpt)
            )
    finally:
        for p in procs:
            if p.poll() is None:
                _kill(p)
        for f in logs:
            f.close()
        for c in launch.cleanup:
            subprocess.run(c, capture_output=True)


def _pump(p: subprocess.Popen, log, on_progress: Callable[[int, int], None] | None) -> None:
    assert p.stdout is not None
    for line in p.stdout:
        if line.startswith("BENCH_PROGRESS") or "BENCH_PROGRESS" in line:
            parts = line.split("BENCH_PROGRESS", 1)[1].split()
            if on_progress and len(parts) == 2:
                on_progress(int(parts[0]), int(parts[1]))
            continue
        log.write(line)


def _wait_all(
    procs: list[subprocess.Popen], timeout_s: float, stop_when: Callable[[], bool] | None = None
) -> tuple[int, int | str] | None:
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        if stop_when is not None and stop_when():
            for p in procs:
                _kill(p)
            return None
        rcs = [p.poll() for p in procs]
        for i, rc in enumerate(rcs):
            if rc not in (None, 0):
                return i, rc
        if all(rc == 0 for rc in rcs):
            return None
        if time.monotonic() > deadline:
            return 0, f"timeout after {timeout_s:.0f}s"
        time.sleep(0.2)


def _kill(p: subprocess.Popen) -> None:
    """Stop a launcher we started and its workers (its own process group, created by start_new_session)."""
    try:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
