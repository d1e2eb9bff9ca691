"""Matplotlib figures of the bench report (Agg backend: works headless, in containers and CI)."""

from __future__ import annotations

import textwrap
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def series_name(doc: dict[str, Any], run: dict[str, Any]) -> str:
    return f"{doc['_label']} · {run['device']}/{run['engine']} · {run['scaling_series']}"


def _series(train_docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Runs grouped into curves: one per environment, device, engine and batch rule (the 1-worker baseline
    starts both the strong and the weak curve)."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for doc in train_docs:
        present = sorted({r["scaling"] for r in doc["runs"]} - {"baseline"}) or ["strong", "weak"]
        for r in doc["runs"]:
            rules = present if r["scaling"] == "baseline" else [r["scaling"]]
            for rule in rules:
                out[f"{doc['_label']} · {r['device']}/{r['engine']} · {rule}"].append(r)
    return {k: sorted(v, key=lambda r: r["nproc"] * r["nnodes"]) for k, v in out.items() if len(v) > 0}


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def speedup(train_docs: list[dict[str, Any]], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    top = 1
    for name, runs in _series(train_docs).items():
        xs = [r["nproc"] * r["nnodes"] for r in runs]
        ys = [r["speedup"] if r["speedup"] is not None else float("nan") for r in runs]
        top = max(top, *xs)
        ax.plot(xs, ys, "o-", label=name)
    ax.plot([1, top], [1, top], "k--", lw=1, label="ideal (linear)")
    ax.set(xlabel="workers", ylabel="speedup vs 1 worker", title="Speedup (throughput) vs ideal")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def efficiency(train_docs: list[dict[str, Any]], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, runs in _series(train_docs).items():
        per_worker = name.endswith(("weak", "independent"))  # both keep the per-worker batch fixed
        key = "weak_scaling_efficiency" if per_worker else "strong_scaling_efficiency"
        xs = [r["nproc"] * r["nnodes"] for r in runs]
        ys = [r[key] if r[key] is not None else float("nan") for r in runs]
        ax.plot(xs, ys, "o-", label=f"{name} ({key.split('_')[0]})")
    ax.axhline(1.0, color="k", ls="--", lw=1, label="ideal")
    ax.set(
        xlabel="workers",
        ylabel="scaling efficiency",
        title="Strong / weak scaling efficiency",
        ylim=(0, None),
    )
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _cfg_label(doc: dict[str, Any], r: dict[str, Any]) -> str:
    return f"{doc['_label']}\n{r['device']} {r['nnodes']}×{r['nproc']} {r['scaling']} B{r['global_batch']}"


def throughput(train_docs: list[dict[str, Any]], path: Path) -> Path:
    labels, vals, colors = [], [], []
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, doc in enumerate(train_docs):
        for r in doc["runs"]:
            labels.append(_cfg_label(doc, r))
            vals.append(r["samples_per_s"])
            colors.append(palette[i % len(palette)])
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(vals) + 2), 4.5))
    ax.bar(range(len(vals)), vals, color=colors)
    for i, v in enumerate(vals):
        ax.text(i, v, f"{v:.0f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(vals)), labels, fontsize=6, rotation=30, ha="right")
    ax.set(ylabel="samples/s", title="Training throughput per device and environment")
    return _save(fig, path)


def breakdown(train_docs: list[dict[str, Any]], path: Path) -> Path:
    labels, parts = [], defaultdict(list)
    for doc in train_docs:
        for r in doc["runs"]:
            labels.append(_cfg_label(doc, r))
            for k in ("data", "forward_backward", "comm", "optimizer"):
                parts[k].append(r["step_ms"][k])
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(labels) + 2), 4.5))
    bottom = [0.0] * len(labels)
    for k, v in parts.items():
        ax.bar(range(len(labels)), v, bottom=bottom, label=k)
        bottom = [a + b for a, b in zip(bottom, v, strict=True)]
    ax.set_xticks(range(len(labels)), labels, fontsize=6, rotation=30, ha="right")
    ax.set(ylabel="ms per step (median)", title="Step-time breakdown")
    ax.legend(fontsize=7)
    return _save(fig, path)


def time_to_accuracy(acc_docs: list[dict[str, Any]], path: Path) -> Path:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    target = None
    for doc in acc_docs:
        for r in doc["runs"]:
            c = r["curve"]
            name = f"{doc['_label']} · {r['nproc']} worker(s) B{r['global_batch']}"
            a1.plot([p["time_s"] for p in c], [p["val_accuracy"] for p in c], "o-", ms=3, label=name)
            a2.plot([p["epoch"] for p in c], [p["val_accuracy"] for p in c], "o-", ms=3, label=name)
            target = r["target"]
    for ax, xl in ((a1, "training time (s)"), (a2, "epoch")):
        if target is not None:
            ax.axhline(target, color="k", ls="--", lw=1, label=f"target {target}")
        ax.set(xlabel=xl, ylabel="validation accuracy")
        ax.grid(alpha=0.3)
    a1.set_title("Time to accuracy")
    a2.set_title("Epochs to accuracy")
    a2.legend(fontsize=7)
    return _save(fig, path)


REGIME_COLORS = {
    "perfect scaling": "#c8e6c9",
    "diminishing returns": "#fff9c4",
    "maximal parallelism": "#ffcdd2",
}


def batch_size(bs_docs: list[dict[str, Any]], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for doc in bs_docs:
        runs = sorted(doc["runs"], key=lambda r: r["global_batch"])
        for r in runs:
            if r.get("regime") in REGIME_COLORS:
                b = r["global_batch"]
                ax.axvspan(b / 2**0.5, b * 2**0.5, color=REGIME_COLORS[r["regime"]], alpha=0.6, lw=0)
        ok = [r for r in runs if r["steps_to_target"]]
        ax.plot(
            [r["global_batch"] for r in ok], [r["steps_to_target"] for r in ok], "o-", label=doc["_label"]
        )
        if ok:
            b0, s0 = ok[0]["global_batch"], ok[0]["steps_to_target"]
            xs = [r["global_batch"] for r in ok]
            ax.plot(xs, [s0 * b0 / x for x in xs], "k:", lw=1, label="perfect scaling (steps ∝ 1/B)")
    from matplotlib.patches import Patch

    reached = any(r["steps_to_target"] for d in bs_docs for r in d["runs"])
    if not reached:
        ax.text(0.5, 0.5, "no batch size reached the target", ha="center", transform=ax.transAxes)
    ax.set(
        xscale="log",
        yscale="log" if reached else "linear",
        xlabel="global batch size",
        ylabel="steps to target",
        title="Steps to target vs batch size (best LR per batch size)",
    )
    handles, _ = ax.get_legend_handles_labels()
    handles += [Patch(color=c, label=n) for n, c in REGIME_COLORS.items()]
    ax.legend(handles=handles, fontsize=7)
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)


def zoo_recipe(doc: dict[str, Any]) -> str:
    """What a zoo document trained beyond the defaults: its extra `harflow train` flags, or "defaults"."""
    return " ".join(doc.get("settings", {}).get("train_args") or []) or "defaults"


def zoo(zoo_docs: list[dict[str, Any]], path: Path) -> Path:
    """Test accuracy and macro-F1 per model and label set: every seed as a dot, mean ± std as a bar."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    rows = [(doc, s) for doc in zoo_docs for s in doc["summary"]]
    several_envs = len({d["_label"] for d in zoo_docs}) > 1
    labels = [
        f"{s['model']}\n{s['classes']} cl."
        + (f"\n{textwrap.fill(zoo_recipe(d), 16)}" if zoo_recipe(d) != "defaults" else "")
        + (f"\n{d['_label']}" if several_envs else "")
        for d, s in rows
    ]
    for ax, key, title in (
        (axes[0], "test_accuracy", "test accuracy"),
        (axes[1], "test_macro_f1", "test macro-F1"),
    ):
        ax.bar(
            range(len(rows)),
            [s[key]["mean"] for _, s in rows],
            yerr=[s[key]["std"] for _, s in rows],
            color="#90caf9",
            capsize=4,
        )
        for i, (doc, s) in enumerate(rows):
            seeds = [r[key] for r in doc["runs"] if (r["model"], r["classes"]) == (s["model"], s["classes"])]
            ax.plot([i] * len(seeds), seeds, "k.", ms=5)
        lo = min(r[key] for d, _ in rows for r in d["runs"])
        ax.set_ylim(max(0.0, lo - 0.05), 1.0)
        ax.set_xticks(range(len(rows)), labels, fontsize=7)
        ax.set(title=f"{title}: mean ± std over seeds (dots: seeds)")
        ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)
