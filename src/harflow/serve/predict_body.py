"""The body of ``POST /v1/predict`` decoded with bounded work: windows as one float32 array, or an error
that names where the body is wrong without echoing it.

A decoder holds the GIL for as long as it runs, so the event loop waits out every parse even when it runs in
a thread. Two rules keep that wait short (issue 18, row 2): a body whose count of ``[`` or ``,`` already
exceeds what the largest valid request holds is refused before it is decoded (``bytes.count`` scans 3 MB in
about a millisecond), and the decoder is msgspec, whose strict typed decoding of the largest valid request
(256 windows of 128 x 6) takes about 11 ms against pydantic's 60 ms. The rules are those of
:class:`harflow.serve.protocol.PredictRequest` (strings and booleans are not numbers), which documents the
body in the OpenAPI schema.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec
import numpy as np

from harflow.serve.protocol import MAX_ABS_VALUE, MAX_PREDICT_WINDOWS


class BodyError(ValueError):
    """A body that is not a valid request. ``loc`` and ``type`` follow pydantic's error entries; ``plain``
    marks errors answered as a plain message (shapes, values)."""

    def __init__(self, msg: str, loc: tuple = ("body",), type: str = "value_error", plain: bool = False):
        super().__init__(msg)
        self.loc, self.type, self.plain = loc, type, plain

    def __reduce__(self):  # raised in the decoding process, re-raised in the server's
        return (BodyError, (str(self), self.loc, self.type, self.plain))

    def entry(self) -> dict:
        return {"type": self.type, "loc": self.loc, "msg": str(self)}


class _Body(msgspec.Struct):
    windows: Annotated[list[list[list[float]]], msgspec.Meta(min_length=1, max_length=MAX_PREDICT_WINDOWS)]


_decoder = msgspec.json.Decoder(_Body)
_PATH = re.compile(r" - at `\$((?:\.\w+|\[\d+\])*)`$")
_STEP = re.compile(r"\.(\w+)|\[(\d+)\]")
# separators a valid body may hold beyond its windows (other fields), still far below what would cost time
_SLACK = 1024


def _loc(msg: str) -> tuple[str, tuple]:
    m = _PATH.search(msg)
    if not m:
        return msg, ("body",)
    steps = tuple(int(i) if i else k for k, i in _STEP.findall(m.group(1)))
    return msg[: m.start()], ("body", *steps)


def decode_windows(raw: bytes, length: int, channels: int) -> np.ndarray:
    """``raw`` as an array (n, length, channels) of float32, or :class:`BodyError`."""
    most_arrays = 1 + MAX_PREDICT_WINDOWS * (1 + length) + _SLACK
    most_commas = MAX_PREDICT_WINDOWS * length * channels + _SLACK
    if raw.count(b"[") > most_arrays or raw.count(b",") > most_commas:
        raise BodyError(
            f"the body holds more than {MAX_PREDICT_WINDOWS} windows of {length} x {channels} values",
            ("body", "windows"),
            "too_long",
        )
    try:
        windows = _decoder.decode(raw).windows
    except msgspec.ValidationError as e:
        msg, loc = _loc(str(e))
        kind = "too_short" if ">=" in msg else "too_long" if "length" in msg else "type_error"
        raise BodyError(msg, loc, kind) from None
    except msgspec.DecodeError as e:
        raise BodyError(str(e), ("body",), "json_invalid") from None
    for i, w in enumerate(windows):
        if len(w) != length or any(len(row) != channels for row in w):
            shape = (len(w), sorted({len(r) for r in w}))
            want = f"each must be {length} samples x {channels} channels"
            raise BodyError(f"window {i} has shape {shape}; {want}", plain=True)
    X = np.asarray(windows, dtype=np.float64)
    bad = ~np.isfinite(X) | (np.abs(X) > MAX_ABS_VALUE)
    if bad.any():
        i = int(np.argwhere(bad)[0][0])
        limit = f"|x| > {MAX_ABS_VALUE:g}"
        raise BodyError(f"window {i} contains NaN, inf or absurd values ({limit})", plain=True)
    return X.astype(np.float32)
