"""The serving-capacity section of the bench report: the curve of ``harflow loadtest --capacity`` files
(devices → p50/p95/p99 latency, server and generator CPU) as a figure and a table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harflow.bench.document import Doc
from harflow.bench.figures import _save, plt


def figure(docs: list[dict[str, Any]], path: Path) -> Path:
    fig, (lat, cpu) = plt.subplots(1, 2, figsize=(11, 4.2))
    target = None
    for d in docs:
        for r in d["runs"]:
            c = r["curve"]
            n = [s["devices"] for s in c]
            name = f"{d['_label']} · {r['clients']} · {r['workers']} worker(s)"
            line = lat.plot(n, [s["p99_ms"] for s in c], "o-", label=f"{name} p99")[0]
            lat.plot(n, [s["p50_ms"] for s in c], "s:", color=line.get_color(), label=f"{name} p50")
            cpu.plot(
                n, [s["server_cpu_cores"] for s in c], "o-", color=line.get_color(), label=f"{name} server"
            )
            cpu.plot(
                n, [s["generator_cpu_cores"] for s in c], "^--", color=line.get_color(), label="generator"
            )
            target = r["p99_target_ms"]
    if target:
        lat.axhline(target, color="k", lw=1, ls="--", label=f"target p99 {target:g} ms")
    lat.set(xlabel="devices (50 Hz)", ylabel="latency (ms)", yscale="log", title="Latency vs devices")
    cpu.set(xlabel="devices (50 Hz)", ylabel="CPU (cores)", title="CPU of server and load generator")
    for ax in (lat, cpu):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6)
    return _save(fig, path)


def add_section(doc: Doc, docs: list[dict[str, Any]], out: Path) -> None:
    doc.h(1, "Serving capacity")
    doc.p(
        "Largest number of real-time 50 Hz devices one server holds with p99 under the target and no errors, "
        "drops or busy answers (`harflow loadtest --capacity`). Server and load generator share the machine: "
        "the load average is next to every step."
    )
    doc.image(figure(docs, out / "capacity.png").name, "Latency and CPU vs devices")
    doc.table(
        ["clients", "capacity", "environment", "workers", "target p99 (ms)"],
        [
            [
                r["clients"],
                str(r["capacity_devices"]),
                d["_label"],
                str(r["workers"]),
                f"{r['p99_target_ms']:g}",
            ]
            for d in docs
            for r in d["runs"]
        ],
    )
    doc.table(
        [
            "clients",
            "devices",
            "p50 / p95 / p99 (ms)",
            "errors / drops / busy",
            "server cores",
            "server µs/window",
            "generator cores",
            "load avg",
            "holds",
        ],
        [
            [
                r["clients"],
                str(s["devices"]),
                f"{s['p50_ms']:.1f} / {s['p95_ms']:.1f} / {s['p99_ms']:.1f}",
                f"{s['errors']} / {s['dropped']} / {s['busy']}",
                f"{s['server_cpu_cores']:.2f}",
                f"{s['server_cpu_us_per_window']:.0f}",
                f"{s['generator_cpu_cores']:.2f}",
                "–".join(f"{x:g}" for x in s["load_avg_1m"]),
                "yes" if s["holds"] else "no",
            ]
            for d in docs
            for r in d["runs"]
            for s in r["curve"]
        ],
    )
