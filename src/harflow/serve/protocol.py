"""Wire messages of the streaming and REST APIs (the binary chunk frame is :mod:`harflow.data.frames`)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from harflow.data.frames import FrameError, decode_frame


class ProtocolError(ValueError):
    """A client message that cannot be accepted; ``kind`` names the error class for metrics and clients."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Chunk(BaseModel):
    seq: int = Field(ge=0, description="strictly increasing per stream")
    t0: float = Field(description="device time (s) of the first sample")
    rate: float = Field(gt=0, description="sample rate of this chunk in Hz")
    samples: list[list[float]] = Field(description="rows of [acc_x, acc_y, acc_z, gyro_x, gyro_y, gyro_z]")


class PredictRequest(BaseModel):
    windows: list[list[list[float]]] = Field(
        min_length=1, max_length=256, description="windows of shape (N, window length, channels), raw units"
    )


class WindowPrediction(BaseModel):
    activity: str
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    model_version: str
    predictions: list[WindowPrediction]


class TokenResponse(BaseModel):
    device_id: str
    token: str


class Segment(BaseModel):
    activity: str
    t_start: float
    t_end: float
    windows: int


class Timeline(BaseModel):
    device_id: str
    segments: list[Segment]


class Event(BaseModel):
    type: str
    device_id: str
    t: float
    from_activity: str | None
    to_activity: str
    probability: float
    model_version: str


class Events(BaseModel):
    device_id: str
    events: list[Event]


def decode_chunk_frame(data: bytes) -> tuple[int, float, float, np.ndarray]:
    try:
        return decode_frame(data)
    except FrameError as e:
        raise ProtocolError("malformed", str(e)) from None


def parse_json_chunk(text: str) -> tuple[int, float, float, np.ndarray]:
    try:
        chunk = Chunk.model_validate_json(text)
    except ValueError as e:
        first = e.errors()[0] if hasattr(e, "errors") else {}
        where = ".".join(str(p) for p in first.get("loc", ())) or "message"
        raise ProtocolError("malformed", f"invalid chunk at {where}: {first.get('msg', e)}") from None
    rows = chunk.samples
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise ProtocolError("channels", f"sample rows have different lengths {sorted(widths)}")
    arr = np.asarray(rows, dtype=np.float32).reshape(len(rows), widths.pop() if widths else 0)
    return chunk.seq, chunk.t0, chunk.rate, arr
