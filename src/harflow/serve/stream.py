"""Per-device stream state: validation of chunks, resampling to the model's rate, a ring buffer and windows.

Windows start at sample 0, hop, 2·hop, … of the (resampled) stream — exactly what ``window_starts`` gives for
a whole recording — so a replayed recording yields the same windows as offline evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harflow.data.resample import needs_resampling, resample
from harflow.data.windows import WindowSpec, slice_windows, window_starts
from harflow.serve.protocol import MAX_ABS_VALUE, ProtocolError


@dataclass
class Windows:
    X: np.ndarray  # (W, L, C) raw float32
    t_start: np.ndarray  # (W,) device time of each window's first sample
    t_end: np.ndarray  # (W,) device time of its last sample


class DeviceStream:
    def __init__(
        self,
        spec: WindowSpec,
        min_rate: float = 1.0,
        max_rate: float = 1000.0,
        max_gap_s: float = 5.0,
        max_samples: int = 2000,
        max_windows: int = 100,
    ) -> None:
        self.spec = spec
        self.channels = len(spec.channels)
        self.min_rate, self.max_rate, self.max_gap_s, self.max_samples = (
            min_rate,
            max_rate,
            max_gap_s,
            max_samples,
        )
        self.max_windows = max_windows
        L = spec.length
        self._no_windows = Windows(np.zeros((0, L, self.channels), np.float32), np.zeros(0), np.zeros(0))
        self.last_seq: int | None = None
        self.last_t: float | None = None  # device time of the last raw sample received
        self.last_x: np.ndarray | None = None  # its values (resampling continues from it)
        self._reset_buffer()

    def _reset_buffer(self) -> None:
        self.buf = np.zeros((0, self.channels), np.float32)
        self.buf_t0: float | None = None  # device time of buf[0]
        self.next_start = 0  # buffer index of the next window's first sample
        self.grid_next: float | None = None  # device time of the next resampled sample

    def validate(self, seq: int, t0: float, rate: float, samples: np.ndarray) -> None:
        """Raise :class:`ProtocolError` for a chunk this stream cannot accept; state is left unchanged."""
        if samples.ndim != 2 or samples.shape[1] != self.channels:
            got = samples.shape[1] if samples.ndim == 2 else samples.shape
            raise ProtocolError(
                "channels",
                f"chunk seq {seq}: expected {self.channels} channels {list(self.spec.channels)}, got {got}",
            )
        if len(samples) == 0:
            raise ProtocolError("empty", f"chunk seq {seq} has no samples")
        if len(samples) > self.max_samples:
            raise ProtocolError(
                "too_many_samples", f"chunk seq {seq} has {len(samples)} samples; at most {self.max_samples}"
            )
        if not np.isfinite(samples).all():
            r, c = np.argwhere(~np.isfinite(samples))[0]
            raise ProtocolError(
                "non_finite",
                f"chunk seq {seq}: sample {r} channel {self.spec.channels[c]} is {samples[r, c]}",
            )
        if np.abs(samples).max() > MAX_ABS_VALUE:
            r, c = np.argwhere(np.abs(samples) > MAX_ABS_VALUE)[0]
            raise ProtocolError(
                "range",
                f"chunk seq {seq}: sample {r} channel {self.spec.channels[c]} is {samples[r, c]:g}; "
                f"|values| above {MAX_ABS_VALUE:g} are not sensor readings",
            )
        if not np.isfinite(t0):
            raise ProtocolError("time", f"chunk seq {seq}: t0 is {t0}")
        if not (np.isfinite(rate) and self.min_rate <= rate <= self.max_rate):
            raise ProtocolError(
                "rate", f"chunk seq {seq}: rate {rate} Hz is outside [{self.min_rate}, {self.max_rate}] Hz"
            )
        # a low declared rate stretches few samples over a long time: the work is the windows it yields
        windows = (len(samples) * self.spec.rate_hz / rate) / self.spec.hop
        if windows > self.max_windows:
            raise ProtocolError(
                "too_many_windows",
                f"chunk seq {seq}: {len(samples)} samples at {rate:g} Hz would make about {windows:.0f} "
                f"windows; at most {self.max_windows} per message (send shorter chunks)",
            )
        if self.last_seq is not None and seq <= self.last_seq:
            what = "duplicated" if seq == self.last_seq else "non-monotonic"
            raise ProtocolError("seq", f"{what} seq {seq}: previous chunk was seq {self.last_seq}")
        if self.last_t is not None and t0 <= self.last_t + 1e-9:
            raise ProtocolError(
                "time",
                f"chunk seq {seq}: t0 {t0:.6f}s is not after the previous chunk's "
                f"last sample at {self.last_t:.6f}s",
            )

    def push(self, seq: int, t0: float, rate: float, samples: np.ndarray) -> Windows:
        """Validate and append a chunk; return the windows it completes."""
        self.validate(seq, t0, rate, samples)
        samples = np.asarray(samples, np.float32)
        # the same float64 operations as t0 + np.arange(n) / rate, whose last element this is
        t_last = t0 + (len(samples) - 1) / rate
        if self.last_t is not None and t0 - self.last_t > self.max_gap_s:
            self._reset_buffer()  # a long gap: windows must not straddle it
            self.last_t = self.last_x = None
        target = self.spec.rate_hz
        if not needs_resampling(rate, target):
            new_t0, new = t0, samples
        else:
            new_t0, new = self._resample(t0 + np.arange(len(samples)) / rate, samples, target)
        self.last_seq, self.last_t, self.last_x = seq, float(t_last), samples[-1].copy()
        if len(new):
            if len(self.buf) == 0 and self.next_start == 0:
                self.buf_t0 = new_t0
            self.buf = np.concatenate([self.buf, new]) if len(self.buf) else new
            self.grid_next = new_t0 + len(new) / target
        return self._take_windows()

    def _resample(self, t: np.ndarray, x: np.ndarray, target: float) -> tuple[float, np.ndarray]:
        """Continue the stream's uniform grid at ``target`` Hz through this chunk, bridging linearly from
        the previous chunk's last sample so chunk boundaries neither drop nor repeat grid points."""
        if self.last_t is None or self.last_x is None or self.grid_next is None:
            if len(t) < 2:
                return float(t[0]), x[:1]
            t_new, out, _ = resample(t, x, target)
            return float(t_new[0]), out
        g = self.grid_next
        tt = np.concatenate([[self.last_t], t])
        xx = np.concatenate([self.last_x[None, :], x])
        if g > tt[-1]:
            return g, np.zeros((0, self.channels), np.float32)
        x_g = np.array([np.interp(g, tt, xx[:, c]) for c in range(self.channels)], np.float32)
        keep = tt > g
        _, out, _ = resample(
            np.concatenate([[g], tt[keep]]), np.concatenate([x_g[None, :], xx[keep]]), target
        )
        return g, out

    def _take_windows(self) -> Windows:
        spec, L = self.spec, self.spec.length
        rate = spec.rate_hz
        avail = len(self.buf) - self.next_start
        if avail < L:  # most chunks complete no window (a 320 ms chunk, a 2.56 s window every 1.28 s)
            return self._no_windows
        starts = window_starts(max(avail, 0), spec) + self.next_start
        X = slice_windows(self.buf, starts, L) if len(starts) else np.zeros((0, L, self.channels), np.float32)
        t_start = self.buf_t0 + starts / rate if len(starts) else np.zeros(0)
        t_end = t_start + (L - 1) / rate
        if len(starts):
            self.next_start = int(starts[-1]) + spec.hop
        # keep only what future windows need; the buffer time origin moves with it
        drop = min(self.next_start, len(self.buf))
        if drop:
            self.buf = self.buf[drop:]
            self.buf_t0 += drop / rate
            self.next_start -= drop
        return Windows(X, np.asarray(t_start, np.float64), np.asarray(t_end, np.float64))
