"""The alert record every detector in ``patterns`` emits, and its JSON form.

One record shape for daily-metric changes (``step_change``, ``drift``) and online alarms (``inactivity``,
``routine_deviation``) so the service, the CLI and the evaluation read them the same way. Times are local
wall-clock strings (``YYYY-MM-DD`` for day-level alerts, ``YYYY-MM-DDTHH:MM`` for online ones): a caregiver
reads local time, and the string form keeps alerts comparable and deterministic across machines.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

KINDS = ("step_change", "drift", "inactivity", "routine_deviation")
FIELDS = ("person", "kind", "metric", "direction", "onset", "detected", "magnitude", "evidence")


@dataclass(frozen=True)
class Alert:
    person: str
    kind: str  # one of KINDS
    metric: str  # daily metric name, or "inactive_run" / "lying_run" / "first_active" for online alarms
    direction: str  # "down" | "up"
    onset: str  # estimated start of the change / episode, local "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM"
    detected: str  # when it was detected, same format
    magnitude: float  # relative change (ratio-scale metrics), minutes (times, run lengths)
    evidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["magnitude"] = _plain(self.magnitude)
        d["evidence"] = {k: _plain(v) for k, v in self.evidence.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Alert:
        return cls(**{k: d[k] for k in FIELDS if k != "evidence"}, evidence=dict(d.get("evidence") or {}))

    def sort_key(self) -> tuple:
        return (self.person, self.detected, self.metric, self.kind, self.onset)


def day_str(d: dt.date | pd.Timestamp | np.datetime64) -> str:
    return pd.Timestamp(d).strftime("%Y-%m-%d")


def minute_str(t: dt.datetime | pd.Timestamp) -> str:
    """Local wall-clock minute of a (tz-aware, already local) time."""
    return pd.Timestamp(t).strftime("%Y-%m-%dT%H:%M")


def sort_alerts(alerts: Iterable[Alert]) -> list[Alert]:
    return sorted(alerts, key=Alert.sort_key)


def to_records(alerts: Iterable[Alert]) -> list[dict]:
    return [a.to_dict() for a in sort_alerts(alerts)]


def to_json(alerts: Iterable[Alert], indent: int | None = None) -> str:
    # allow_nan=False: a NaN that slipped through must fail here, not in a client's JSON parser
    return json.dumps(to_records(alerts), indent=indent, sort_keys=True, allow_nan=False)


def from_json(text: str) -> list[Alert]:
    return [Alert.from_dict(d) for d in json.loads(text)]


def to_frame(alerts: Iterable[Alert]) -> pd.DataFrame:
    recs = to_records(alerts)
    return pd.DataFrame(recs, columns=list(FIELDS))


def _plain(value: object) -> object:
    """JSON-ready scalars: numpy types unwrapped, floats rounded (stable text), NaN/inf as None."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return None if not math.isfinite(f) else round(f, 4)
    if isinstance(value, (pd.Timestamp, dt.date)):
        return value.isoformat()
    return value
