"""``harflow bench report``: results files → ``report.md`` + ``report.html`` + PNG figures.

Every number in the report is read from the results files (only formatted here), so the report and the
raw JSON cannot disagree. Environments are told apart by their fingerprint (and the optional ``tag``).
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from harflow.bench import figures, schema
from harflow.bench.document import Doc
from harflow.bench.fingerprint import label as fp_label
from harflow.bench.scaling import regime


def _f(v: float | None, fmt: str) -> str:
    return "–" if v is None else format(v, fmt)


def _label(doc: dict[str, Any]) -> str:
    fp = doc["fingerprint"]
    base = fp_label(fp)
    return f"{doc['tag']} [{base}]" if doc.get("tag") and doc["tag"] != fp["environment"] else base


def load_all(paths: list[Path]) -> dict[str, list[dict[str, Any]]]:
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if not paths:
        raise schema.SchemaError("no results files given")
    for p in paths:
        doc = schema.load(p)
        doc["_label"], doc["_path"] = _label(doc), str(p)
        by_kind[doc["kind"]].append(doc)
    return by_kind


def _cfg_key(r: dict[str, Any]) -> str:
    return f"{r['engine']} {r['nnodes']}×{r['nproc']} {r['scaling']} B{r['global_batch']}"


def _side_by_side(doc: Doc, train: list[dict[str, Any]], column: str, what: str) -> None:
    """One row per configuration, one column group per ``column`` value (device, or environment label)."""
    cols: list[str] = []
    cells: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for d in train:
        for r in d["runs"]:
            c = r["device"] if column == "device" else d["_label"]
            key = _cfg_key(r) if column == "device" else f"{r['device']} {_cfg_key(r)}"
            if column == "device":
                key = f"{d['_label']} · {key}"
            if c not in cols:
                cols.append(c)
            cells[key][c] = r
    if len(cols) < 2:
        doc.p(
            f"Only one {what} in these results ({', '.join(cols) or 'none'}): no side-by-side comparison yet."
        )
    header = ["configuration"] + [f"{c}: samples/s · speedup · comm" for c in cols]
    rows = []
    for key, byc in cells.items():
        rows.append(
            [key]
            + [
                f"{byc[c]['samples_per_s']:.0f} · {_f(byc[c]['speedup'], '.2f')} · "
                f"{byc[c]['comm_fraction']:.0%}"
                if c in byc
                else "–"
                for c in cols
            ]
        )
    doc.table(header, rows)


def _doc_roofs(d: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The roofs a train results file measured itself (per device)."""
    return d.get("roofs") or ({d["roof"]["device"]: d["roof"]} if d.get("roof") else {})


def _regime_lines(train: list[dict[str, Any]], roofs: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    lines = []
    for d in train:
        default = [r for r in d["runs"] if r["model"] == "lstm" and not r.get("model_config")]
        multi = [r for r in default if r["nproc"] * r["nnodes"] > 1 and r["scaling"] != "independent"]
        if not multi:
            continue
        top = max(multi, key=lambda r: (r["nproc"] * r["nnodes"], r["scaling"] == "strong"))
        reg = regime(top["comm_fraction"])
        # prefer the (longer) `bench roof` of the same environment, else the quick roof of the bench itself
        roof = roofs.get((d["_label"], top["device"])) or _doc_roofs(d).get(top["device"])
        roof_txt = ""
        if roof:
            frac = top["model_flops_per_s"] / roof["gemm_flops"]
            roof_txt = (
                f" Training reaches {top['model_flops_per_s'] / 1e9:.2f} GFLOP/s of model FLOPs "
                f"(analytic count), **{frac:.1%} of the measured GEMM roof** "
                f"({roof['gemm_flops'] / 1e9:.1f} GFLOP/s)."
            )
        lines.append(
            f"**{d['_label']}, {top['device']}/{top['engine']}:** with "
            f"{top['nproc'] * top['nnodes']} workers "
            f"({top['scaling']} scaling, global batch {top['global_batch']}) gradient communication takes "
            f"**{top['comm_fraction']:.0%}** of a {top['step_ms']['step']:.0f} ms step (measured by "
            f"{top['comm_method']}), so the default LSTM is **{reg}** here (threshold 50%)."
            f" Speedup {_f(top['speedup'], '.2f')}×, strong-scaling efficiency "
            f"{_f(top['strong_scaling_efficiency'], '.0%')}, weak-scaling efficiency "
            f"{_f(top['weak_scaling_efficiency'], '.0%')}." + roof_txt + _ceiling_text(top, default)
        )
    return lines


def _ceiling_text(top: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    """The spread over interleaved rounds, and the no-communication ceiling when it was measured."""
    out = ""
    rounds = [v for v in top.get("speedup_rounds", []) if v is not None]
    if len(rounds) > 1:
        out += (
            f" Over {len(rounds)} interleaved rounds the speedup ranged {min(rounds):.2f}–{max(rounds):.2f}×."
        )
    w = top["nproc"] * top["nnodes"]

    def workers(r: dict[str, Any]) -> int:
        return r["nproc"] * r["nnodes"]

    ind = [r for r in runs if r["scaling"] == "independent" and workers(r) == w]
    # the ceiling keeps the per-worker batch, so it compares with the weak-scaling run of the same engine
    weak = [r for r in runs if r["scaling"] == "weak" and workers(r) == w and r["engine"] == top["engine"]]
    if ind and weak and ind[0].get("speedup") and weak[0].get("speedup"):
        c = ind[0]["speedup"]
        out += (
            f" {w} independent single-process trainers side by side (no communication at all) reach "
            f"{c:.2f}×: the ceiling of any {w}-worker data-parallel engine here; "
            f"{top['engine']}'s weak-scaling run ({weak[0]['speedup']:.2f}×, same per-worker batch) gets "
            f"{weak[0]['speedup'] / c:.0%} of it."
        )
    return out


def build_report(paths: list[Path], out: Path) -> list[Path]:
    kinds = load_all(paths)
    out.mkdir(parents=True, exist_ok=True)
    train, acc, bs = kinds.get("train", []), kinds.get("accuracy", []), kinds.get("batch_size", [])
    roofs: dict[tuple[str, str], dict[str, Any]] = {}
    for d in kinds.get("roof", []):
        for r in d["runs"]:
            roofs[(d["_label"], r["device"])] = r
    doc = Doc("harflow performance study")
    doc.p(
        "Data parallelism and LSTM training performance, measured by `harflow bench` on this hardware. "
        "Inputs: "
        + ", ".join(f"`{os.path.relpath(d['_path'], out)}`" for ds in kinds.values() for d in ds)
        + "."
    )
    if train:
        doc.h(1, "Regime of the default LSTM")
        doc.bullets(_regime_lines(train, roofs) or ["no multi-worker run of the default LSTM in the inputs"])
        doc.h(1, "Scaling")
        doc.image(figures.speedup(train, out / "speedup.png").name, "Speedup vs ideal")
        doc.image(figures.efficiency(train, out / "efficiency.png").name, "Scaling efficiency vs workers")
        doc.image(figures.throughput(train, out / "throughput.png").name, "Throughput per device/environment")
        doc.image(figures.breakdown(train, out / "breakdown.png").name, "Step-time breakdown (median ms)")
        doc.h(2, "All training runs")
        rows = []
        for d in train:
            for r in d["runs"]:
                s = r["step_ms"]
                rows.append(
                    [
                        d["_label"],
                        r["device"],
                        r["engine"],
                        f"{r['nnodes']}×{r['nproc']}",
                        r["scaling"],
                        str(r["global_batch"]),
                        f"{r['samples_per_s']:.1f}",
                        _f(r["speedup"], ".3f"),
                        _f(r["strong_scaling_efficiency"], ".3f"),
                        _f(r["weak_scaling_efficiency"], ".3f"),
                        f"{r['comm_fraction']:.3f}",
                        f"{s['step']:.1f} / {s['data']:.1f} / {s['forward_backward']:.1f} / "
                        f"{s['comm']:.1f} / {s['optimizer']:.1f}",
                        f"{r['peak_mem_mb']:.0f}",
                        _f(r.get("roof_fraction"), ".4f"),
                    ]
                )
        doc.table(
            [
                "environment",
                "device",
                "engine",
                "nodes×procs",
                "scaling",
                "global batch",
                "samples/s",
                "speedup",
                "strong eff",
                "weak eff",
                "comm fraction",
                "step / data / fwd+bwd / comm / opt (ms)",
                "peak MB/worker",
                "roof fraction (quick roof)",
            ],
            rows,
        )
        doc.h(2, "CPU vs GPU")
        _side_by_side(doc, train, "device", "device")
        doc.h(2, "Container vs host")
        _side_by_side(doc, train, "env", "environment")
        notes = [f"{d['_label']}: {n}" for d in train for n in d.get("notes", [])]
        if notes:
            doc.h(2, "Notes from the runs")
            doc.bullets(notes)
    roof_rows = [(d["_label"], r) for d in kinds.get("roof", []) for r in d["runs"]]
    roof_rows += [
        (d["_label"] + " (quick, from bench train)", r) for d in train for r in _doc_roofs(d).values()
    ]
    if roof_rows:
        doc.h(1, "Hardware roof")
        doc.table(
            ["environment", "device", "name", "threads", "GEMM GFLOP/s", "copy bandwidth GB/s"],
            [
                [
                    lab,
                    r["device"],
                    r.get("device_name", r["device"]),
                    str(r.get("threads", "")),
                    f"{r['gemm_flops'] / 1e9:.1f}",
                    f"{r['mem_bandwidth_bytes_per_s'] / 1e9:.2f}",
                ]
                for lab, r in roof_rows
            ],
        )
    if acc:
        doc.h(1, "Learning performance: time to accuracy")
        doc.image(
            figures.time_to_accuracy(acc, out / "time_to_accuracy.png").name, "Validation accuracy vs time"
        )
        doc.table(
            [
                "environment",
                "workers",
                "global batch",
                "target",
                "reached",
                "time to target (s)",
                "epochs to target",
                "best val acc",
            ],
            [
                [
                    d["_label"],
                    str(r["nproc"]),
                    str(r["global_batch"]),
                    f"{r['target']:.3f}",
                    "yes" if r["reached"] else "no",
                    _f(r["time_to_target_s"], ".1f"),
                    str(r["epochs_to_target"] or "–"),
                    _f(r.get("best_val_accuracy"), ".4f"),
                ]
                for d in acc
                for r in d["runs"]
            ],
        )
    if zoo_docs := kinds.get("zoo", []):
        doc.h(1, "Recognition accuracy: every model over seeds")
        doc.p(
            "Each model with its default configuration, trained once per seed on the fixed subject split "
            "(test = the 9 UCI HAR test subjects); mean ± sample std over seeds."
        )
        doc.image(figures.zoo(zoo_docs, out / "zoo.png").name, "Test accuracy and macro-F1 over seeds")
        doc.table(
            [
                "environment",
                "model",
                "training",
                "classes",
                "seeds",
                "test accuracy",
                "test macro-F1",
                "train s",
                "samples/s",
            ],
            [
                [
                    d["_label"],
                    s["model"],
                    figures.zoo_recipe(d),
                    str(s["classes"]),
                    ", ".join(map(str, s["seeds"])),
                    f"{s['test_accuracy']['mean']:.4f} ± {s['test_accuracy']['std']:.4f}",
                    f"{s['test_macro_f1']['mean']:.4f} ± {s['test_macro_f1']['std']:.4f}",
                    f"{s['train_seconds']['mean']:.0f}",
                    f"{s['samples_per_s']:.0f}",
                ]
                for d in zoo_docs
                for s in d["summary"]
            ],
        )
    if bs:
        doc.h(1, "Batch size: steps to target (Shallue et al. 2018)")
        doc.image(figures.batch_size(bs, out / "batch_size.png").name, "Steps to target vs batch size")
        doc.table(
            ["environment", "global batch", "target", "steps to target", "best LR", "regime"],
            [
                [
                    d["_label"],
                    str(r["global_batch"]),
                    f"{r['target']:.3f}",
                    str(r["steps_to_target"] or "–"),
                    _f(r["best_lr"], ".2e"),
                    r.get("regime", "–"),
                ]
                for d in bs
                for r in d["runs"]
            ],
        )
    if kinds.get("serve_capacity"):
        from harflow.bench.capacity_report import add_section

        add_section(doc, kinds["serve_capacity"], out)
    doc.h(1, "Environments (fingerprints)")
    seen = {}
    for ds in kinds.values():
        for d in ds:
            seen.setdefault(d["_label"], d["fingerprint"])
    keys = [
        "environment",
        "container_runtime",
        "markers",
        "cpu_model",
        "cpu_count",
        "cpu_quota",
        "memory_limit_mb",
        "gpu",
        "torch",
        "cuda",
        "nccl",
        "gloo",
    ]
    doc.table(["field", *seen], [[k, *(str(fp.get(k)) for fp in seen.values())] for k in keys])
    md = out / "report.md"
    md.write_text(doc.markdown())
    html = out / "report.html"
    html.write_text(doc.html())
    return [md, html, *sorted(out.glob("*.png"))]
