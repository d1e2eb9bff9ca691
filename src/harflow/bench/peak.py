"""Peak throughput with cross-stream batching against the same server with batching off (max batch 1),
measured in one run: ``harflow loadtest --serve-model RUN_DIR --compare-batching --speeds 10,20,30,45``.

A server's peak is the most windows/s it answers over a sweep of offered loads, not its throughput at one
load: past its peak, an open-loop server spends its time parsing chunks it can only answer with ``busy``, and
throughput falls. The two servers are run alternately at each load so that drift in a shared machine's speed
hits both alike; each run starts a fresh server.
"""

from __future__ import annotations

import argparse
import copy
import os
from collections.abc import Callable
from pathlib import Path

SWEEP_KEYS = ("windows_per_s", "p50_ms", "p99_ms", "errors", "busy", "dropped", "offline_agreement")


def parse_speeds(text: str) -> list[float]:
    """``"10,20,30"`` → ``[10.0, 20.0, 30.0]``; a clear error for anything else."""
    try:
        speeds = [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--speeds takes comma-separated numbers, got {text!r}") from None
    if not speeds or any(s <= 0 for s in speeds):
        raise argparse.ArgumentTypeError(f"--speeds needs one or more positive numbers, got {text!r}")
    return speeds


def compare_batching(a: argparse.Namespace, run_once: Callable[[argparse.Namespace, int], dict]) -> dict:
    """Sweep ``a.speeds`` (or ``a.speed``) with max batch ``a.max_batch`` (default 64) and 1; report each
    server's peak run and the ratio of the peaks (plotted to ``a.plot`` if given)."""
    speeds = a.speeds or [a.speed]
    batched_mb = a.max_batch or 64
    from rich.console import Console

    console = Console(stderr=True)
    sweep: list[dict] = []
    best: dict[int, dict] = {}
    for i, speed in enumerate(speeds):
        for mb in (batched_mb, 1):
            run_a = copy.copy(a)
            run_a.speed = speed
            console.log(f"[{2 * i + (mb == 1) + 1}/{2 * len(speeds)}] speed {speed:g}x, max batch {mb}")
            res = run_once(run_a, mb)
            row = {"speed": speed, "max_batch": mb, "offered_windows_per_s": offered(res)}
            row.update({k: res.get(k) for k in SWEEP_KEYS})
            sweep.append(row)
            console.log(
                f"    {res['windows_per_s']:.0f} windows/s of {row['offered_windows_per_s']:.0f} offered, "
                f"busy {res['busy']}, errors {res['errors']}"
            )
            if mb not in best or res["windows_per_s"] > best[mb]["windows_per_s"]:
                best[mb] = res
    out = {
        "batched": best[batched_mb],
        "unbatched": best[1],
        "speedup_windows_per_s": best[batched_mb]["windows_per_s"] / max(best[1]["windows_per_s"], 1e-9),
        "speeds": speeds,
        "sweep": sweep,
    }
    if a.plot:
        out["plot"] = str(plot_sweep(out, Path(a.plot)))
    return out


def offered(res: dict) -> float:
    """Windows/s the devices offered: every window of the samples they sent (open loop sends on schedule,
    whatever the replies), over the time they spent sending."""
    return res["expected_windows"] / res["send_span_s"]


def plot_sweep(res: dict, path: Path) -> Path:
    """Answered vs offered windows/s for both servers; the peaks marked. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    top = 0.0
    for mb, label in ((res["batched"]["max_batch"], "batched"), (1, "unbatched")):
        rows = [r for r in res["sweep"] if r["max_batch"] == mb]
        rows.sort(key=lambda r: r["offered_windows_per_s"])
        x = [r["offered_windows_per_s"] for r in rows]
        y = [r["windows_per_s"] for r in rows]
        top = max(top, *x, *y)
        (line,) = ax.plot(x, y, "o-", label=f"{label} (max batch {mb}), peak {max(y):.0f}/s")
        i = max(range(len(y)), key=y.__getitem__)
        ax.plot([x[i]], [y[i]], "*", ms=14, color=line.get_color())
    ax.plot([0, top], [0, top], ":", color="grey", label="answered = offered")
    b = res["batched"]
    ax.set(
        xlabel="offered windows/s",
        ylabel="answered windows/s",
        title=f"{b['backend']} backend, {b['devices']} devices: "
        f"peak ratio {res['speedup_windows_per_s']:.2f}x",
        xlim=(0, top * 1.05),
        ylim=(0, top * 1.05),
    )
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path
