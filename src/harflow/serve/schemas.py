"""Request and response bodies of the persons, patterns and alerts API (the streaming and inference wire
messages are :mod:`harflow.serve.protocol`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harflow.serve.protocol import ID_CHARS

ID = f"^{ID_CHARS}$"


class PersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=ID, description="your identifier for the person (not their name)")
    display_name: str = Field(min_length=1, max_length=200)
    tz: str = Field("UTC", max_length=64, description="IANA time zone; days are local calendar days")


class Person(BaseModel):
    id: str
    display_name: str
    tz: str
    created_at: float


class AssignmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    device_id: str = Field(pattern=ID)
    t_from: float = Field(
        alias="from", allow_inf_nan=False, description="Unix time the person starts wearing it"
    )
    t_to: float | None = Field(None, alias="to", allow_inf_nan=False, description="end; unset = still worn")


class Assignment(BaseModel):
    device_id: str
    person_id: str
    t_from: float
    t_to: float | None


class Alert(BaseModel):
    id: int
    person_id: str
    kind: str = Field(description="step_change, drift, inactivity or routine_deviation")
    metric: str
    direction: str
    onset: str = Field(description="YYYY-MM-DD or YYYY-MM-DDTHH:MM, the person's local time")
    detected: str
    magnitude: float | None
    severity: str = Field(description="urgent, high, medium or low")
    evidence: dict[str, Any]
    created_at: float
    acknowledged_at: float | None
    acknowledged_by: str | None
    ack_note: str | None


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(None, max_length=2000)


class Daily(BaseModel):
    person_id: str
    days: list[dict[str, Any]]
