"""``harflow bench study``: the whole CPU study on this machine in one command.

Host: environment fingerprint, roof, ``bench train`` with 1..N workers (strong + weak scaling, and N
independent workers as the ceiling). Container:
the same ``bench train`` inside the project image (``podman run … harflow bench train …`` writing into a
mounted results directory; its fingerprint sees ``/run/.containerenv``). Then one report over every
results file in the output directory (so GPU, accuracy and batch-size results committed there are included).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from rich.console import Console

import harflow
from harflow.bench import schema
from harflow.bench.fingerprint import fingerprint
from harflow.bench.launch import horovod_available
from harflow.bench.roof import measure
from harflow.bench.trainbench import TrainBench
from harflow.bench.trainbench import run as run_train

console = Console()
PKG = Path(harflow.__file__).resolve().parent
REPO = PKG.parents[1]  # the checkout, when harflow is installed editable from src/


def podman_base() -> list[str]:
    """podman with the project's container config (scripts/podman.sh) from a checkout, else podman."""
    wrapper = REPO / "scripts" / "podman.sh"
    return ["bash", str(wrapper)] if wrapper.is_file() else ["podman"]


def podman_image_exists(image: str) -> tuple[bool, str]:
    if not shutil.which("podman"):
        return False, "podman is not installed (see the container setup: `make image`)"
    p = subprocess.run(
        [*podman_base(), "image", "exists", image], capture_output=True, text=True, timeout=120
    )
    if p.returncode:
        return False, f"image {image} does not exist (build it with `make image`)"
    return True, ""


def _image_package_dir(image: str) -> str | None:
    p = subprocess.run(
        [
            *podman_base(),
            "run",
            "--rm",
            "--entrypoint",
            "python3",
            image,
            "-c",
            "import harflow, os; print(os.path.dirname(harflow.__file__))",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return p.stdout.strip().splitlines()[-1] if p.returncode == 0 and p.stdout.strip() else None


def container_command(
    image: str, results: Path, cache: Path, args: list[str], overlay: tuple[Path, str] | None = None
) -> list[str]:
    """``podman run`` of ``harflow bench …`` in the project image (its entrypoint is ``harflow``), results
    written to a mounted directory; ``overlay`` mounts this checkout's package over the image's copy so
    host and container run the same bench code."""
    cmd = [
        *podman_base(),
        "run",
        "--rm",
        "--no-healthcheck",  # the image's check is for `serve`; without systemd podman only logs errors
        "--shm-size=1g",
        "-v",
        f"{results.resolve()}:/results",
        "-v",
        f"{cache.resolve()}:/data",
        "-e",
        "HARFLOW_CACHE_DIR=/data",
    ]
    if overlay:
        cmd += ["-v", f"{overlay[0].resolve()}:{overlay[1]}:ro"]
    return [*cmd, image, "bench", *args]


def _host(out: Path, sfx: str, fp: dict, bench: TrainBench, dry_run: bool) -> None:
    schema.write(out / f"env-host{sfx}.json", schema.new_document("env", fp, [], tag="host"))
    console.rule("roof (host)")
    roof = measure("cpu", quick=dry_run)
    schema.write(out / f"roof-cpu-host{sfx}.json", schema.new_document("roof", fp, [roof], tag="host"))
    console.print(
        f"GEMM {roof['gemm_flops'] / 1e9:.1f} GFLOP/s, "
        f"copy {roof['mem_bandwidth_bytes_per_s'] / 1e9:.1f} GB/s"
    )
    console.rule("bench train (host)")
    run_train(bench, out / f"train-cpu-host{sfx}.json")


def _container(out: Path, sfx: str, image: str, bench: TrainBench) -> int:
    console.rule(f"bench train (container {image})")
    args = [
        "train",
        "--nproc",
        ",".join(map(str, bench.nproc)),
        "--steps",
        str(bench.steps),
        "--warmup",
        str(bench.warmup),
        "--tag",
        "podman",
        "--out",
        f"/results/train-cpu-podman{sfx}.json",
    ]
    if bench.subjects:
        args += ["--subjects", bench.subjects]
    # the image runs as uid 10001: give it world-writable scratch dirs, copy its results out after
    scratch = Path(tempfile.mkdtemp(prefix="harflow-bench-ctr-"))
    res, cache = scratch / "results", scratch / "data"
    for d in (res, cache):
        d.mkdir()
        d.chmod(0o777)
    try:
        inside = _image_package_dir(image)
        overlay = (PKG, inside) if inside and (REPO / "src" / "harflow").is_dir() else None
        if overlay:
            console.print(f"[dim]running this checkout's harflow ({PKG}) over the image's {inside}[/]")
            args += [
                "--note",
                f"code: this checkout's harflow mounted over the image's {inside} (same code as host)",
            ]
        cmd = container_command(image, res, cache, args, overlay)
        console.print("[dim]$ " + " ".join(cmd) + "[/]")
        p = subprocess.run(cmd, timeout=1500)
        if p.returncode:
            console.print(f"[red]container bench exited {p.returncode}[/]")
            return p.returncode
        for f in res.glob("*.json"):
            schema.write(out / f.name, schema.load(f))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


def run_study(
    out: Path,
    container: str = "auto",
    image: str = "localhost/harflow:latest",
    nproc: list[int] | None = None,
    steps: int = 40,
    dry_run: bool = False,
) -> int:
    """Host roof + bench train, the same in the image (``container``: auto|yes|no|only), report."""
    from harflow.bench.report import build_report

    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    sfx = "-dry" if dry_run else ""
    bench = TrainBench(
        nproc=nproc or [1, 2],
        steps=3 if dry_run else steps,
        warmup=1 if dry_run else 5,
        subjects="1,3,5,2" if dry_run else None,
        tag="host",
        independent=True,  # N non-communicating workers: the ceiling the report compares DDP against
        # Horovod (the seed paper's engine) joins the host runs when `make horovod` has built it
        engines=["ddp", "horovod"] if horovod_available() else ["ddp"],
    )
    if len(bench.engines) == 1:
        console.print("[yellow]Horovod is not installed here (`make horovod`): DDP only[/]")
    if container != "only":
        _host(out, sfx, fingerprint(), bench, dry_run)
    notes: list[str] = []
    ok, why = podman_image_exists(image) if container != "no" else (False, "--container no")
    if container != "no" and not ok:
        msg = f"container run skipped: {why}"
        if container in ("yes", "only"):
            console.print(f"[red]{msg}[/]")
            return 2
        console.print(f"[yellow]{msg}[/]")
        notes.append(msg)
    if ok and (rc := _container(out, sfx, image, bench)):
        return rc
    console.rule("report")
    files = sorted(f for f in out.glob("*.json") if dry_run == f.stem.endswith("-dry"))
    for p in build_report(files, out / f"report{sfx}"):
        console.print(f"wrote {p}")
    console.print(
        f"study done in {time.perf_counter() - t0:.0f}s" + (f" ({'; '.join(notes)})" if notes else "")
    )
    return 0
