"""Alerts scored against the simulator's ground truth (``ground_truth.json``): recall, delay and precision of
change alerts, false alerts on unchanged persons, inactivity time-to-alarm and false alarms, forecast error.
Every function returns plain JSON-ready dicts; :func:`harflow.patterns.plots.plot_report` draws them.

Matching rules (one place, so every number in a report means the same):

* a change alert matches a true change when person, direction and metric agree (night wandering may show
  in ``night_upright_min`` or ``out_of_bed``) and it was detected on or after the true onset; the first such
  alert is the detection (delay = detected - onset, days), later ones are *repeats* (a still-ongoing
  decline after the re-arm), counted apart and not as false;
* an alert after the onset on a metric the change moves as a side effect (``RELATED``: fewer sit-to-stands
  lengthen the sitting bouts) is neither; ``precision_strict`` counts those as false too;
* every other change alert is false; the false-alert rate is per person-month (30.44 days of monitoring) and
  quoted for persons without a change (the bar) and for changed persons apart;
* an inactivity alarm is true when it is raised during an emergency (start ≤ detected ≤ end); the first is
  the detection (time to alarm = detected - start); one raised outside every emergency is false.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable

import numpy as np
import pandas as pd

from harflow.patterns.alerts import Alert

ALIASES = {"night_wandering": ("night_upright_min", "out_of_bed")}
# metrics a change moves as a side effect (fewer sit-to-stands with the same sitting time make longer bouts):
# an alert there is neither the detection nor false; precision is quoted with and without them
RELATED = {
    "fewer_sit_to_stand": ("sedentary_bout_mean_min", "sedentary_bouts"),
    "longer_sedentary_bouts": ("sit_to_stand", "sedentary_bouts", "sedentary_min", "upright_min"),
    "walking_step": ("upright_min", "walking_bouts", "sedentary_min"),
    "walking_ramp": ("upright_min", "walking_bouts", "sedentary_min"),
    "later_wake": ("last_active",),
}
DAYS_PER_MONTH = 30.44
CHANGE_KINDS = ("step_change", "drift")
ONLINE_KINDS = ("inactivity", "routine_deviation")
RATIO_KINDS = ("walking_step", "walking_ramp", "fewer_sit_to_stand", "longer_sedentary_bouts")
# effect-size bin edges per kind (the simulator draws sizes uniformly over these ranges); others: terciles
EFFECT_BINS = {
    "walking_step": (0.2, 0.3, 0.4, 0.5),
    "fewer_sit_to_stand": (0.2, 0.3, 0.4, 0.5),
    "longer_sedentary_bouts": (0.3, 0.5, 0.75, 1.0),
    "walking_ramp": (0.005, 0.01, 0.015, 0.02),
    "later_wake": (45.0, 60.0, 90.0, 120.0),
    "night_wandering": (15.0, 30.0, 45.0, 60.0),
}


def _stats(x: list[float]) -> dict:
    if not x:
        return {"n": 0, "median": None, "p90": None, "mean": None}
    a = np.asarray(x, float)
    return {
        "n": len(a),
        "median": float(np.median(a)),
        "p90": float(np.quantile(a, 0.9)),
        "mean": float(a.mean()),
    }


def effect(change: dict) -> float:
    return float(change["rate_per_day"] if change.get("shape") == "ramp" else change["size"])


def is_fraction(change: dict) -> bool:
    unit = change.get("unit")
    return unit == "fraction" if unit else change["kind"] in RATIO_KINDS


def _bin_labels(kind: str, values: list[float]) -> list[str]:
    edges = EFFECT_BINS.get(kind)
    if edges is None:
        edges = tuple(np.quantile(values, [0, 1 / 3, 2 / 3, 1])) if values else (0.0, 1.0)
    inner = np.asarray(edges[1:-1])
    idx = np.searchsorted(inner, values, side="right")
    return [f"{edges[i]:g}-{edges[i + 1]:g}" for i in idx]


def match_changes(
    alerts: Iterable[Alert], truth: dict
) -> tuple[list[dict], list[Alert], list[Alert], list[Alert]]:
    """(one row per true change with its detection or None, false alerts, repeats, side effects)."""
    by_person: dict[str, list[Alert]] = defaultdict(list)
    for a in alerts:
        if a.kind in CHANGE_KINDS:
            by_person[a.person].append(a)
    rows, false, repeats, side_effects = [], [], [], []
    for p in truth["persons"]:
        mine = sorted(by_person.pop(p["person"], []), key=lambda a: (a.detected, a.metric))
        ch = p.get("change")
        if not ch:
            false += mine
            continue
        onset = pd.Timestamp(ch["onset"])
        metrics = {ch["metric"], *ALIASES.get(ch["kind"], ())}
        hits = [
            a
            for a in mine
            if a.metric in metrics and a.direction == ch["direction"] and pd.Timestamp(a.detected) >= onset
        ]
        related = set(RELATED.get(ch["kind"], ()))
        side = [
            a for a in mine if a not in hits and a.metric in related and pd.Timestamp(a.detected) >= onset
        ]
        false += [a for a in mine if a not in hits and a not in side]
        side_effects.extend(side)
        first = hits[0] if hits else None
        repeats += hits[1:]
        rows.append(
            {
                "person": p["person"],
                "kind": ch["kind"],
                "shape": ch.get("shape", "step"),
                "effect": effect(ch),
                "fraction": is_fraction(ch),
                "delay": (pd.Timestamp(first.detected) - onset).days if first else None,
                "onset_error": (pd.Timestamp(first.onset) - onset).days if first else None,
                "alert_kind": first.kind if first else None,
                "magnitude": first.magnitude if first else None,
            }
        )
    for rest in by_person.values():  # alerts for persons the truth does not know
        false += rest
    return rows, false, repeats, side_effects


def _recall(rows: list[dict], within: tuple[int, ...]) -> dict:
    out = {"n": len(rows)}
    for w in within:
        out[f"within_{w}d"] = _frac([r["delay"] is not None and r["delay"] <= w for r in rows])
    out["ever"] = _frac([r["delay"] is not None for r in rows])
    return out


def _frac(flags: list[bool]) -> float | None:
    return float(np.mean(flags)) if flags else None


def score_changes(alerts: Iterable[Alert], truth: dict, within: tuple[int, ...] = (7, 14, 21, 28)) -> dict:
    alerts = list(alerts)
    rows, false, repeats, side = match_changes(alerts, truth)
    days = float(truth["days"])
    unchanged = {p["person"] for p in truth["persons"] if not p.get("change")}
    changed = {p["person"] for p in truth["persons"] if p.get("change")}
    false_unchanged = [a for a in false if a.person in unchanged]
    false_changed = [a for a in false if a.person in changed]
    tp = sum(r["delay"] is not None for r in rows)
    by_kind: dict = {}
    for kind in sorted({r["kind"] for r in rows}):
        sel = [r for r in rows if r["kind"] == kind]
        labels = _bin_labels(kind, [r["effect"] for r in sel])
        by_kind[kind] = {
            "recall": _recall(sel, within),
            "by_effect": {
                b: _recall([r for r, lab in zip(sel, labels, strict=True) if lab == b], within)
                for b in sorted(set(labels), key=lambda x: float(x.split("-")[0]))
            },
            "delay_days": _stats([r["delay"] for r in sel if r["delay"] is not None]),
        }
    step_bar = [r for r in rows if r["shape"] == "step" and r["fraction"] and r["effect"] >= 0.3]
    ramp_bar = [r for r in rows if r["shape"] == "ramp" and r["effect"] >= 0.01 - 1e-12]
    det = [r for r in rows if r["delay"] is not None]
    n_unchanged = max(len(unchanged) * days / DAYS_PER_MONTH, 1e-9)
    n_changed = max(len(changed) * days / DAYS_PER_MONTH, 1e-9)
    return {
        "changes": len(rows),
        "recall": _recall(rows, within),
        "by_kind": by_kind,
        "delay_days": _stats([r["delay"] for r in det]),
        "onset_error_days": _stats([abs(r["onset_error"]) for r in det]),
        "kind_agreement": _frac([(r["alert_kind"] == "drift") == (r["shape"] == "ramp") for r in det]),
        "precision": tp / (tp + len(false)) if tp + len(false) else None,
        "precision_strict": tp / (tp + len(false) + len(side)) if tp + len(false) + len(side) else None,
        "repeats": len(repeats),
        "side_effects": len(side),
        "false_alerts": len(false),
        "false_per_person_month_unchanged": len(false_unchanged) / n_unchanged,
        "false_per_person_month_changed": len(false_changed) / n_changed,
        "false_by_metric_unchanged": {
            m: sum(a.metric == m for a in false_unchanged)
            for m in sorted({a.metric for a in false_unchanged})
        },
        "bars": {
            "step_fraction_ge_30pct_within_7d": _recall(step_bar, (7,)).get("within_7d"),
            "step_fraction_ge_30pct_n": len(step_bar),
            "step_fraction_ge_30pct_by_kind_within_7d": {
                k: _recall([r for r in step_bar if r["kind"] == k], (7,)).get("within_7d")
                for k in sorted({r["kind"] for r in step_bar})
            },
            "ramp_ge_1pct_within_21d": _recall(ramp_bar, (21,)).get("within_21d"),
            "ramp_ge_1pct_n": len(ramp_bar),
        },
        "rows": rows,
    }


def score_inactivity(alerts: Iterable[Alert], truth: dict, days: float | None = None) -> dict:
    """Emergencies detected, time to alarm, by posture and by duration, and false alarms per person-day.
    ``days``: monitored days per person (default: the truth's ``days``). ``inactivity`` and
    ``routine_deviation`` alarms both count as the alarm for an emergency; false ones are given per kind."""
    tz = truth.get("tz")
    by_person: dict[str, list[Alert]] = defaultdict(list)
    for a in alerts:
        if a.kind in ONLINE_KINDS:
            by_person[a.person].append(a)
    rows, false = [], defaultdict(int)
    for p in truth["persons"]:
        ems = [
            (_local(e["start"], tz), _local(e["end"], tz), str(e.get("posture", e.get("class", "?"))).lower())
            for e in p.get("emergencies", [])
        ]
        first: dict[int, float] = {}
        for a in sorted(by_person.pop(p["person"], []), key=lambda a: a.detected):
            t = pd.Timestamp(a.detected)
            inside = [k for k, (s, e, _) in enumerate(ems) if s <= t <= e]
            if not inside:
                false[a.kind] += 1
            elif inside[0] not in first:
                first[inside[0]] = (t - ems[inside[0]][0]).total_seconds() / 60
        for k, (s, e, posture) in enumerate(ems):
            hours = (e - s).total_seconds() / 3600
            rows.append({"posture": posture, "hours": hours, "delay": first.get(k)})
    for rest in by_person.values():
        for a in rest:
            false[a.kind] += 1
    person_days = len(truth["persons"]) * float(days if days is not None else truth["days"])

    def summary(sel: list[dict]) -> dict:
        got = [r["delay"] for r in sel if r["delay"] is not None]
        return {
            "emergencies": len(sel),
            "detected": _frac([r["delay"] is not None for r in sel]),
            **_stats(got),
        }

    bins = ((0, 2), (2, 4), (4, 24))
    return {
        **summary(rows),
        "time_to_alarm_min": _stats([r["delay"] for r in rows if r["delay"] is not None]),
        "by_posture": {
            c: summary([r for r in rows if r["posture"] == c]) for c in sorted({r["posture"] for r in rows})
        },
        "by_hours": {f"{a}-{b}h": summary([r for r in rows if a <= r["hours"] < b]) for a, b in bins},
        "false_per_person_day": sum(false.values()) / max(person_days, 1e-9),
        "false_per_person_day_by_kind": {k: false[k] / max(person_days, 1e-9) for k in ONLINE_KINDS},
        "person_days": person_days,
        "rows": rows,
    }


def _local(iso: str, tz: str | None) -> pd.Timestamp:
    """Ground-truth instant -> local wall clock (naive), the frame of the alert strings."""
    t = pd.Timestamp(iso)
    if t.tzinfo is not None:
        t = (t.tz_convert(tz) if tz else t).tz_localize(None)
    return t


def report(
    changes: dict | None = None,
    inactivity: dict | None = None,
    forecast: dict | None = None,
    meta: dict | None = None,
) -> dict:
    """One JSON-ready report from the scores above (``meta``: seeds, cohort size, timings, configs)."""
    out: dict = {"meta": meta or {}}
    if changes is not None:
        out["changes"] = changes
    if inactivity is not None:
        out["inactivity"] = inactivity
    if forecast is not None:
        out["forecast"] = forecast
    out = _json_ready(out)
    json.dumps(out, allow_nan=False)  # fail here, not in a reader, if something is not JSON
    return out


def _json_ready(x):
    """NaN/inf (a magnitude of a zero baseline, a delay statistic of nothing) as None; numpy scalars plain."""
    if isinstance(x, dict):
        return {str(k): _json_ready(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_ready(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    return x
