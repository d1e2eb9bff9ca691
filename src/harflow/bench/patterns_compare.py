"""What ``harflow bench patterns-e2e`` compares: the service's daily metrics against the simulation's ground
truth per person-day, its alerts against the label-level run's on the same cohort, and the recognition of
the streamed windows against the true activity (the confusion that explains the differences)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from harflow.patterns.cohort import Cohort
from harflow.patterns.fine_structure import ACTIVITIES, TRANSITIONS

# per person-day: (name in the report, how to read it from a daily record)
MINUTES = {
    "walking_min": lambda d: d.get("active_min"),  # WALKING and stairs: the active class
    "walking_only_min": lambda d: 60 * (d.get("hours") or {}).get("WALKING", 0.0),
    "sedentary_min": lambda d: d.get("sedentary_min"),
    "lying_min": lambda d: d.get("lying_min"),
    "upright_min": lambda d: d.get("upright_min"),
    "recorded_min": lambda d: 60 * d["recorded_h"] if d.get("recorded_h") is not None else None,
}
BAR = 0.10
DAY_TOLERANCE = 1  # days: a daily alert's onset may move by this much and still be the same alert
MINUTE_TOLERANCE = 30  # minutes: the same for an online alarm's onset


def compare_days(truth: list[dict], measured: list[dict], bar: float = BAR) -> dict:
    """Per person-day and metric: true and measured minutes and the relative error; the summary per metric
    over the valid (≥ 16 h) days: median and p90 of |relative error|, the fraction within ``bar``."""
    got = {(d["person"], d["date"]): d for d in measured}
    rows = []
    for t in truth:
        m = got.get((t["person"], t["date"]), {})
        row = {"person": t["person"], "date": t["date"], "valid": bool(t.get("valid"))}
        for name, read in MINUTES.items():
            tv, mv = read(t), read(m) if m else None
            row[name] = {"true": _num(tv), "measured": _num(mv), "rel_error": _rel(tv, mv)}
        rows.append(row)
    return {
        "bar": bar,
        "days": rows,
        "summary": _summary(rows, bar, valid_only=True),
        "summary_all_days": _summary(rows, bar, valid_only=False),
    }


def _summary(rows: list[dict], bar: float, valid_only: bool) -> dict:
    out = {}
    for name in MINUTES:
        err = np.array(
            [
                r[name]["rel_error"]
                for r in rows
                if (r["valid"] or not valid_only) and r[name]["rel_error"] is not None
            ]
        )
        out[name] = {
            "person_days": len(err),
            "median_abs_rel_error": _q(np.abs(err), 50),
            "p90_abs_rel_error": _q(np.abs(err), 90),
            "max_abs_rel_error": float(np.abs(err).max()) if len(err) else None,
            "mean_rel_error": float(err.mean()) if len(err) else None,
            "within_bar": float((np.abs(err) <= bar).mean()) if len(err) else None,
        }
    return out


def _num(v) -> float | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else round(float(v), 3)


def _rel(t, m) -> float | None:
    t, m = _num(t), _num(m)
    if t is None or m is None or t == 0:
        return None
    return round((m - t) / t, 4)


def _q(x: np.ndarray, q: float) -> float | None:
    return float(np.percentile(x, q)) if len(x) else None


def in_days(alerts: Iterable[dict], first: str, last: str) -> list[dict]:
    """The alerts detected from ``first`` to ``last`` (local dates, inclusive)."""
    return [a for a in alerts if first <= a["detected"][:10] <= last]


def _onset_gap(a: str, b: str) -> float:
    """Days between two daily onsets, minutes between two minute-level ones; inf if the kinds differ."""
    if (len(a) > 10) != (len(b) > 10):
        return float("inf")
    if len(a) == 10:
        return abs((pd.Timestamp(a) - pd.Timestamp(b)).days)
    return abs((pd.Timestamp(a) - pd.Timestamp(b)).total_seconds()) / 60


def compare_alerts(label: list[dict], e2e: list[dict]) -> dict:
    """Pairs of the same alert (person, kind, metric, direction; onset within a day, or 30 min for online
    alarms), each used once; what only one side raised is listed."""
    key = ("person", "kind", "metric", "direction")
    unused = list(e2e)
    pairs, label_only = [], []
    for a in label:
        tol = DAY_TOLERANCE if len(a["onset"]) == 10 else MINUTE_TOLERANCE
        cands = [b for b in unused if all(b[k] == a[k] for k in key)]
        best = min(cands, key=lambda b: _onset_gap(a["onset"], b["onset"]), default=None)
        if best is not None and _onset_gap(a["onset"], best["onset"]) <= tol:
            unused.remove(best)
            pairs.append({"label": _brief(a), "e2e": _brief(best), "same_onset": a["onset"] == best["onset"]})
        else:
            label_only.append(_brief(a))
    return {
        "label_alerts": len(label),
        "e2e_alerts": len(e2e),
        "matched": len(pairs),
        "same_onset": sum(p["same_onset"] for p in pairs),
        "pairs": pairs,
        "label_only": label_only,
        "e2e_only": [_brief(b) for b in unused],
        "same_set": not label_only and not unused,
    }


def _brief(a: dict) -> dict:
    return {k: a.get(k) for k in ("person", "kind", "metric", "direction", "onset", "detected", "magnitude")}


def window_truth(cohort: Cohort, person: str, t_mid: np.ndarray) -> np.ndarray:
    """The simulated activity at each instant (``""`` where the person has no data)."""
    sl = cohort.rows(person)
    start, end, act = cohort.start[sl], cohort.end[sl], cohort.activity[sl]
    i = np.searchsorted(start, t_mid, "right") - 1
    ok = (i >= 0) & (t_mid < end[np.clip(i, 0, len(end) - 1)])
    names = np.asarray(ACTIVITIES, dtype=object)
    out = np.full(len(t_mid), "", dtype=object)
    out[ok] = names[act[i[ok]]]
    return out


def confusion(truth: np.ndarray, predicted: np.ndarray, labels: list[str]) -> dict:
    """Rows: the true activity (postural transitions pooled as ``transition``), columns: the model's labels;
    window counts, and per true activity the fraction recognized as itself."""
    trans = {ACTIVITIES[c] for c in TRANSITIONS}
    rows = [*labels, "transition"]
    t = np.array(["transition" if x in trans else x for x in truth], dtype=object)
    keep = t != ""
    frame = pd.crosstab(pd.Categorical(t[keep], categories=rows), pd.Categorical(predicted[keep], labels))
    frame = frame.reindex(index=rows, columns=labels, fill_value=0)
    recall = {
        r: round(float(frame.loc[r, r] / frame.loc[r].sum()), 4)
        for r in labels
        if r in frame.index and frame.loc[r].sum()
    }
    static = [r for r in labels if r in frame.index]
    n = int(frame.loc[static].to_numpy().sum())
    acc = float(np.trace(frame.loc[static, static].to_numpy()) / n) if n else None
    return {
        "rows": rows,
        "columns": labels,
        "counts": frame.to_numpy().tolist(),
        "recall": recall,
        "accuracy_without_transitions": acc,
    }


def plot_days(days: dict, path: Path, title: str) -> Path:
    """True vs measured minutes per person-day (walking, sedentary), the ±10 % band shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    rows = days["days"]
    for ax, name, what in zip(axes, ("walking_min", "sedentary_min"), ("walking", "sedentary"), strict=True):
        pts = [
            (r["person"], r[name]["true"], r[name]["measured"] or 0.0, r["valid"])
            for r in rows
            if r[name]["true"] is not None
        ]
        if not pts:
            continue
        top = max(max(t, m) for _, t, m, _ in pts) * 1.08 or 1.0
        x = np.linspace(0, top, 50)
        ax.fill_between(x, x * (1 - days["bar"]), x * (1 + days["bar"]), color="0.88", label="±10 %")
        ax.plot(x, x, color="0.5", lw=0.8)
        for k, person in enumerate(sorted({p for p, *_ in pts})):
            for valid, marker in ((True, "o"), (False, "x")):
                sel = [(t, m) for p, t, m, v in pts if p == person and v == valid]
                if sel:
                    label = person if valid else f"{person} (< 16 h)"
                    ax.scatter(*zip(*sel, strict=True), marker=marker, s=28, color=f"C{k}", label=label)
        s = days["summary"][name]
        within = s["within_bar"]
        ax.set_title(f"{what}: {within:.0%} of days within 10 %" if within is not None else what)
        ax.set_xlabel("true minutes per day")
        ax.set_ylabel("measured by the service")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def majority(t_start: np.ndarray, labels: np.ndarray, k: int, hop_s: float) -> np.ndarray:
    """Each window's label replaced by the most frequent one among the k windows centred on it (ties keep
    the window's own), within runs of windows without a gap; a candidate rule for the daily metrics."""
    order = np.argsort(t_start, kind="stable")
    t, lab = np.asarray(t_start)[order], np.asarray(labels, dtype=object)[order]
    names, code = np.unique(lab.astype(str), return_inverse=True)
    block = np.concatenate([[0], np.cumsum(np.diff(t) > 1.5 * hop_s)])
    out = code.copy()
    h = k // 2
    for b in np.unique(block):
        idx = np.flatnonzero(block == b)
        onehot = np.zeros((len(idx) + 1, len(names)))
        onehot[np.arange(1, len(idx) + 1), code[idx]] = 1
        cum = np.cumsum(onehot, axis=0)
        lo = np.clip(np.arange(len(idx)) - h, 0, len(idx))
        hi = np.clip(np.arange(len(idx)) + h + 1, 0, len(idx))
        counts = cum[hi] - cum[lo]
        counts[np.arange(len(idx)), code[idx]] += 0.5  # a tie keeps the window's own label
        out[idx] = counts.argmax(axis=1)
    result = np.empty(len(t), dtype=object)
    result[order] = names[out]
    return result


def per_person_recognition(
    truth: np.ndarray, predicted: np.ndarray, who: np.ndarray, labels: list[str]
) -> dict:
    """Per person: windows, accuracy without transitions and recall per true activity."""
    out = {}
    for p in sorted(set(who.tolist())):
        sel = who == p
        c = confusion(truth[sel], predicted[sel], labels)
        out[p] = {"accuracy_without_transitions": c["accuracy_without_transitions"], "recall": c["recall"]}
    return out
