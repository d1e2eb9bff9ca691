"""Wire messages of the streaming and REST APIs (the binary chunk frame is :mod:`harflow.data.frames`)."""

from __future__ import annotations

from typing import Annotated

import msgspec
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harflow.data.frames import FrameError, decode_frame


class ProtocolError(ValueError):
    """A client message that cannot be accepted; ``kind`` names the error class for metrics and clients."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# the one id rule (devices, persons), for REST and WebSocket paths and bodies alike: it starts with a letter
# or digit (so "." and ".." are not ids) and is matched as a whole: re.fullmatch here, ^…$ in pydantic's Rust
# regex, where $ is the end of the text ("abc\n" is not an id)
ID_CHARS = r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}"
# the largest value a BIGINT column holds: a larger seq is refused here, not by the database in a group
# commit
MAX_SEQ = 2**63 - 1
# sensor values beyond this are not measurements (HAPT: |acc| < 10 g, |gyro| < 40 rad/s); the model turns
# values near the float32 limit into NaN probabilities
MAX_ABS_VALUE = 1e6
# windows one POST /v1/predict may carry
MAX_PREDICT_WINDOWS = 256


class Chunk(BaseModel):
    """The JSON chunk: the reference rules (streams try :class:`_WireChunk` first)."""

    # strict: "1" is not a seq and true is not a sample
    model_config = ConfigDict(strict=True)
    seq: int = Field(ge=0, le=MAX_SEQ, description="strictly increasing per stream")
    t0: float = Field(allow_inf_nan=False, description="device time (s) of the first sample")
    rate: float = Field(gt=0, allow_inf_nan=False, description="sample rate of this chunk in Hz")
    samples: list[list[float]] = Field(description="rows of [acc_x, acc_y, acc_z, gyro_x, gyro_y, gyro_z]")


class PredictRequest(BaseModel):
    model_config = ConfigDict(strict=True)
    windows: list[list[list[float]]] = Field(
        min_length=1,
        max_length=MAX_PREDICT_WINDOWS,
        description="windows of shape (N, window length, channels), raw units",
    )


class WindowPrediction(BaseModel):
    activity: str
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    model_version: str
    predictions: list[WindowPrediction]


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    ttl_s: float | None = Field(
        None, gt=0, le=10 * 365 * 86400, description="lifetime in seconds (unset: HARFLOW_TOKEN_TTL_S)"
    )


class TokenResponse(BaseModel):
    device_id: str
    token: str
    id: str = Field(description="the token's public id (a prefix of its hash), for listing and revoking")
    expires_at: float | None


class TokenInfo(BaseModel):
    id: str
    device_id: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    active: bool


class Tokens(BaseModel):
    device_id: str
    tokens: list[TokenInfo]


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


class _WireChunk(msgspec.Struct):
    """The fast path of :class:`Chunk`: msgspec decodes a well-formed chunk in one pass, in about half
    the time of pydantic's strict model on a 16-sample chunk, under the same rules (strings and booleans are
    not numbers, 1.0 is not a seq, unknown fields are ignored). Whatever it refuses is decided by
    :class:`Chunk`, so errors and the ``NaN``/``Infinity`` literals (Python's ``json.dumps`` writes them;
    they get ``non_finite``) are answered exactly as before."""

    seq: Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ)]
    t0: float
    rate: Annotated[float, msgspec.Meta(gt=0)]
    samples: list[list[float]]


_chunk_decoder = msgspec.json.Decoder(_WireChunk)


def parse_json_chunk(text: str | bytes) -> tuple[int, float, float, np.ndarray]:
    try:
        chunk: _WireChunk | Chunk = _chunk_decoder.decode(text)
    except (msgspec.ValidationError, msgspec.DecodeError):
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
