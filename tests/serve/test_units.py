"""Stream windowing/resampling, the binary codec, change detection and the batcher, on real data and a real
(tiny) model."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from harflow.data.frames import encode_frame
from harflow.data.sources import load_recordings
from harflow.data.windows import WindowSpec, slice_windows, window_starts
from harflow.models.predictor import Predictor
from harflow.patterns.online import ChangeDetector, TransitionModel
from harflow.patterns.transitions import learn_transitions
from harflow.serve.backends import TorchBackend
from harflow.serve.batcher import Batcher, Busy
from harflow.serve.core.config import Settings
from harflow.serve.protocol import ProtocolError, decode_chunk_frame, parse_json_chunk
from harflow.serve.stream import DeviceStream

SPEC = WindowSpec()


@pytest.fixture(scope="module")
def recording():
    return load_recordings("hapt", classes=6, subjects=["2"]).recordings[0]


def test_stream_windows_equal_offline_windows(recording):
    sig = recording.signals[:3000]
    st = DeviceStream(SPEC)
    got, t_start = [], []
    rng = np.random.default_rng(0)
    i = seq = 0
    while i < len(sig):
        n = int(rng.integers(1, 90))  # irregular chunk sizes
        w = st.push(seq, i / 50, 50.0, sig[i : i + n])
        got.append(w.X)
        t_start.extend(w.t_start)
        i += n
        seq += 1
    starts = window_starts(len(sig), SPEC)
    want = slice_windows(sig, starts, SPEC.length)
    assert np.array_equal(np.concatenate(got), want)
    assert np.allclose(t_start, starts / 50)


def test_stream_resamples_100hz_input_to_model_rate(recording):
    sig = recording.signals[:1500].astype(np.float64)
    up = np.empty((2 * len(sig) - 1, sig.shape[1]))
    up[0::2] = sig
    up[1::2] = (sig[:-1] + sig[1:]) / 2  # exact linear 100 Hz version of the 50 Hz signal
    st = DeviceStream(SPEC)
    got = []
    for seq, i in enumerate(range(0, len(up), 33)):
        got.append(st.push(seq, 10.0 + i / 100, 100.0, up[i : i + 33].astype(np.float32)).X)
    want = slice_windows(sig.astype(np.float32), window_starts(len(sig), SPEC), SPEC.length)
    got = np.concatenate(got)
    assert len(got) == len(want)
    assert np.allclose(got, want, atol=1e-5)


@pytest.mark.parametrize(
    ("chunk", "kind"),
    [
        ((0, 0.0, 50.0, np.zeros((5, 3), np.float32)), "channels"),
        ((0, 0.0, 50.0, np.full((5, 6), np.nan, np.float32)), "non_finite"),
        ((0, 0.0, 50.0, np.full((5, 6), np.inf, np.float32)), "non_finite"),
        ((0, 0.0, 1e7, np.zeros((5, 6), np.float32)), "rate"),
        ((0, 0.0, 0.01, np.zeros((5, 6), np.float32)), "rate"),
        ((0, 0.0, 50.0, np.zeros((5000, 6), np.float32)), "too_many_samples"),
        ((0, 0.0, 50.0, np.zeros((0, 6), np.float32)), "empty"),
    ],
)
def test_bad_chunks_are_rejected_with_their_kind(chunk, kind):
    st = DeviceStream(SPEC, max_samples=2000)
    with pytest.raises(ProtocolError) as e:
        st.push(*chunk)
    assert e.value.kind == kind


def test_seq_and_time_must_increase():
    st = DeviceStream(SPEC)
    st.push(5, 1.0, 50.0, np.zeros((10, 6), np.float32))
    for seq, t0, kind in ((5, 2.0, "seq"), (4, 2.0, "seq"), (6, 1.1, "time"), (6, 1.18, "time")):
        with pytest.raises(ProtocolError) as e:
            st.push(seq, t0, 50.0, np.zeros((10, 6), np.float32))
        assert e.value.kind == kind
    st.push(6, 1.2, 50.0, np.zeros((10, 6), np.float32))  # the stream goes on after the errors


def test_binary_frame_roundtrip_and_malformed():
    x = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)
    seq, t0, rate, y = decode_chunk_frame(encode_frame(7, 1.5, 50.0, x))
    assert (seq, t0, rate) == (7, 1.5, 50.0) and np.array_equal(x, y)
    frame = encode_frame(7, 1.5, 50.0, x)
    for bad in (frame[:10], frame[:-4], b"XX" + frame[2:]):
        with pytest.raises(ProtocolError, match="binary frame"):
            decode_chunk_frame(bad)
    with pytest.raises(ProtocolError, match="samples"):
        parse_json_chunk('{"seq": 1, "t0": 0, "rate": 50}')
    with pytest.raises(ProtocolError):
        parse_json_chunk("{not json")


def _tm(labels):
    k = len(labels)
    seqs = [np.array([0] * 20 + [1] * 20 + [0] * 20)]
    return learn_transitions(seqs, k, labels)


def test_transition_statistics_are_learned_from_label_sequences():
    tm = _tm(["A", "B", "C"])
    assert tm.A.shape == (3, 3) and np.allclose(tm.A.sum(axis=1), 1)
    assert tm.A[0, 0] > 0.8 and tm.A[0, 1] > tm.A[0, 2]


def test_change_detector_reports_a_change_once_and_ignores_flicker():
    tm = TransitionModel(["A", "B"], np.array([[0.9, 0.1], [0.1, 0.9]]), np.array([0.5, 0.5]))
    det = ChangeDetector(tm, min_dwell=2)
    a, b = np.array([0.9, 0.1]), np.array([0.1, 0.9])
    seq = [a] * 5 + [b] + [a] * 5 + [b] * 6
    events = []
    for i, p in enumerate(seq):
        events += det.update(p, float(i))[1]
    kinds = [(e.from_activity, e.to_activity) for e in events]
    assert kinds == [(None, "A"), ("A", "B")]


def test_postural_transitions_become_transition_events():
    labels = ["SITTING", "STANDING", "SIT_TO_STAND"]
    tm = TransitionModel(labels, np.full((3, 3), 1 / 3), np.full(3, 1 / 3))
    det = ChangeDetector(tm, min_dwell=2)
    sit, up, tr = np.array([0.9, 0.05, 0.05]), np.array([0.05, 0.9, 0.05]), np.array([0.05, 0.05, 0.9])
    events = []
    for i, p in enumerate([sit] * 4 + [tr] * 2 + [up] * 4):
        events += det.update(p, float(i))[1]
    assert [(e.type, e.to_activity) for e in events] == [
        ("activity_changed", "SITTING"),
        ("transition", "SIT_TO_STAND"),
        ("activity_changed", "STANDING"),
    ]


def test_batcher_batches_across_callers_and_refuses_when_full(tiny_run):
    backend = TorchBackend(Predictor.load(tiny_run))
    X = np.random.default_rng(0).normal(size=(40, SPEC.length, 6)).astype(np.float32)
    sizes = []

    async def main():
        b = Batcher(
            lambda: backend, max_batch=16, max_wait_s=0.05, depth=64, on_batch=lambda n, dt: sizes.append(n)
        )
        b.start()
        outs = await asyncio.gather(*(b.submit(X[i : i + 1]) for i in range(40)))
        with pytest.raises(Busy):
            await asyncio.gather(*(b.submit(X) for _ in range(3)))
        await b.close()
        return np.concatenate(outs)

    probs = asyncio.run(main())
    assert np.allclose(probs, backend.predict_proba(X), atol=1e-5)
    assert max(sizes[:3]) > 1 and max(sizes) <= 16


def test_settings_leave_the_detector_params_unset_unless_given(monkeypatch):
    monkeypatch.delenv("HARFLOW_MIN_DWELL", raising=False)
    monkeypatch.delenv("HARFLOW_CHANGE_TEMPERATURE", raising=False)
    assert (Settings().min_dwell, Settings().change_temperature) == (None, None)
    monkeypatch.setenv("HARFLOW_MIN_DWELL", "3")
    monkeypatch.setenv("HARFLOW_CHANGE_TEMPERATURE", "0.7")
    assert (Settings().min_dwell, Settings().change_temperature) == (3, 0.7)
