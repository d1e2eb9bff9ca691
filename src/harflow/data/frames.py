"""The compact binary sensor chunk: what a constrained device sends instead of JSON.

Little endian: ``b"HF"``, version u8 (=1), channels u8, seq u32, t0 f64, rate f32, n u32, then
``n * channels`` float32 samples, row-major. 24 header bytes. The service decodes it and the load generator
encodes it, so the format is defined here, below both.
"""

from __future__ import annotations

import struct

import numpy as np

HEADER = struct.Struct("<2sBBIdfI")
MAGIC = b"HF"
VERSION = 1


class FrameError(ValueError):
    """Bytes that are not a valid chunk frame; the message says what is wrong."""


def encode_frame(seq: int, t0: float, rate: float, samples: np.ndarray) -> bytes:
    samples = np.ascontiguousarray(samples, dtype="<f4")
    n, c = samples.shape
    return HEADER.pack(MAGIC, VERSION, c, seq, t0, rate, n) + samples.tobytes()


def decode_frame(data: bytes) -> tuple[int, float, float, np.ndarray]:
    """(seq, t0, rate, samples (n, channels) float32)."""
    if len(data) < HEADER.size:
        raise FrameError(f"binary frame of {len(data)} bytes is shorter than its 24-byte header")
    magic, version, c, seq, t0, rate, n = HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION:
        raise FrameError(f"binary frame has magic {magic!r} v{version}; expected b'HF' v1")
    expected = HEADER.size + 4 * n * c
    if len(data) != expected:
        raise FrameError(f"binary frame says {n}x{c} samples ({expected} bytes) but has {len(data)}")
    samples = np.frombuffer(data, dtype="<f4", offset=HEADER.size).reshape(n, c).astype(np.float32)
    return int(seq), float(t0), float(rate), samples
