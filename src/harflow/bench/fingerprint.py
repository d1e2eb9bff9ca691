"""Where a benchmark ran: host, container or Kubernetes pod, CPU/GPU, limits, library versions, threads.

Stored in every results file so a report can group CPU vs GPU and container vs host runs by what was
measured rather than by what a file name claims.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

from harflow.train.engine import usable_cores

SA_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def detect_environment(root: str | Path = "/", env: dict[str, str] | None = None) -> tuple[str, str | None]:
    """("host"|"container"|"kubernetes", runtime or None) from marker files, cgroup paths and env vars.

    ``root`` lets a test point the probe at a fake tree; the live call reads the real one.
    """
    env = dict(os.environ) if env is None else env
    root = Path(root)
    cgroup = _read(root / "proc/1/cgroup") or ""
    runtime = None
    if (root / "run/.containerenv").exists():
        runtime = "podman"
    elif (root / ".dockerenv").exists():
        runtime = "docker"
    elif "libpod" in cgroup:
        runtime = "podman"
    elif "docker" in cgroup:
        runtime = "docker"
    elif "containerd" in cgroup or "cri-o" in cgroup or "crio" in cgroup:
        runtime = "cri"
    elif env.get("container"):  # systemd-nspawn, podman and others set it for PID 1
        runtime = env["container"]
    if (
        env.get("KUBERNETES_SERVICE_HOST")
        or (root / SA_TOKEN.relative_to("/")).exists()
        or "kubepods" in cgroup
    ):
        return "kubernetes", runtime or "cri"
    return ("container", runtime) if runtime else ("host", None)


def cpu_model() -> str:
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        if line.lower().startswith(("model name", "hardware", "cpu model")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def cpu_quota(root: str | Path = "/") -> float | None:
    """CPUs allowed by the cgroup (v2 ``cpu.max`` or v1 CFS quota); None when unlimited."""
    root = Path(root)
    v2 = _read(root / "sys/fs/cgroup/cpu.max")
    if v2:
        fields = v2.split()
        quota, period = fields[0], fields[1] if len(fields) > 1 else "100000"
        return None if quota == "max" else int(quota) / int(period)
    q = _read(root / "sys/fs/cgroup/cpu/cpu.cfs_quota_us") or _read(
        root / "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us"
    )
    p = _read(root / "sys/fs/cgroup/cpu/cpu.cfs_period_us") or _read(
        root / "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us"
    )
    if q and p and int(q) > 0:
        return int(q) / int(p)
    return None


def memory_limit_mb(root: str | Path = "/") -> float | None:
    root = Path(root)
    for f in ("sys/fs/cgroup/memory.max", "sys/fs/cgroup/memory/memory.limit_in_bytes"):
        v = (_read(root / f) or "").strip()
        if v and v != "max" and int(v) < 1 << 60:  # v1 reports "unlimited" as a huge number
            return int(v) / 2**20
    return None


def _gpus() -> list[dict[str, Any]]:
    import torch

    out: list[dict[str, Any]] = []
    if not torch.cuda.is_available():
        return out
    driver = None
    if shutil.which("nvidia-smi"):
        try:
            driver = (
                subprocess.run(
                    ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                    capture_output=True,
                    text=True,
                    timeout=20,
                )
                .stdout.split("\n")[0]
                .strip()
                or None
            )
        except (OSError, subprocess.SubprocessError):
            driver = None
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        out.append(
            {
                "index": i,
                "name": p.name,
                "memory_mb": p.total_memory / 2**20,
                "capability": f"{p.major}.{p.minor}",
                "driver": driver,
            }
        )
    return out


def fingerprint() -> dict[str, Any]:
    """The environment fingerprint of this process (see the module docstring)."""
    import psutil
    import torch
    import torch.distributed as dist

    environment, runtime = detect_environment()
    nccl = None
    if torch.cuda.is_available():
        try:
            v = torch.cuda.nccl.version()
            nccl = ".".join(str(x) for x in v) if isinstance(v, tuple) else str(v)
        except Exception:  # NCCL missing from this build: report None, do not fail the benchmark
            nccl = None
    affinity = usable_cores()
    threads = {
        "torch_num_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
    }
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        threads[k] = os.environ.get(k)
    markers = [m for m in ("/.dockerenv", "/run/.containerenv", str(SA_TOKEN)) if Path(m).exists()]
    return {
        "environment": environment,
        "markers": markers,
        "container_runtime": runtime,
        "hostname": socket.gethostname(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count() or 1,
        "cpu_affinity": affinity,
        "cpu_quota": cpu_quota(),
        "memory_total_mb": psutil.virtual_memory().total / 2**20,
        "memory_limit_mb": memory_limit_mb(),
        "gpu": _gpus(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "nccl": nccl,
        "gloo": bool(dist.is_available() and dist.is_gloo_available()),
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "threads": threads,
    }


def label(fp: dict[str, Any]) -> str:
    """Short human name of an environment, e.g. ``container (podman) · 2 CPU``."""
    env = fp["environment"] + (f" ({fp['container_runtime']})" if fp.get("container_runtime") else "")
    cpus = fp.get("cpu_quota") or fp.get("cpu_affinity")
    return f"{env} · {cpus:g} CPU" + (f" · {fp['gpu'][0]['name']}" if fp.get("gpu") else "")
