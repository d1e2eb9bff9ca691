import numpy as np
import pytest

from harflow.data.labels import LabelMap, hapt_label_map
from harflow.data.windows import WindowSpec, label_windows, majority_labels, slice_windows, window_starts

SPEC = WindowSpec(rate_hz=50, length_s=2.56, hop_s=1.28, channels=("a", "b"))


def test_default_spec_is_128_samples_half_overlap():
    spec = WindowSpec()
    assert (spec.length, spec.hop) == (128, 64)
    assert WindowSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize("n,expected", [(0, 0), (127, 0), (128, 1), (191, 1), (192, 2), (1000, 14)])
def test_window_starts_count(n, expected):
    starts = window_starts(n, SPEC)
    assert len(starts) == expected
    assert all(s + SPEC.length <= n for s in starts)


def test_slice_windows_content():
    sig = np.arange(400 * 2, dtype=np.float32).reshape(400, 2)
    starts = window_starts(400, SPEC)
    w = slice_windows(sig, starts, SPEC.length)
    assert w.shape == (len(starts), 128, 2)
    np.testing.assert_array_equal(w[1], sig[64:192])


def test_majority_label_and_ties():
    labels = np.array([1] * 70 + [2] * 58, dtype=np.int64)
    assert majority_labels(labels, np.array([0]), 128).tolist() == [1]
    tie = np.array([3] * 64 + [2] * 64)
    assert majority_labels(tie, np.array([0]), 128).tolist() == [2]  # tie → smaller label
    unl = np.array([-1] * 65 + [4] * 63)
    assert majority_labels(unl, np.array([0]), 128).tolist() == [-1]


def test_unlabeled_and_out_of_set_windows_are_dropped():
    lm = hapt_label_map(6)
    labels = np.concatenate([np.full(128, -1), np.full(128, 1), np.full(128, 7), np.full(128, 5)])
    sig = np.random.default_rng(0).normal(size=(len(labels), 2)).astype(np.float32)
    spec = WindowSpec(50, 2.56, 2.56, ("a", "b"))  # no overlap: 4 windows
    _X, y, starts = label_windows(sig, labels, spec, lm)
    # window 0 unlabeled → dropped; window 2 is a transition (7) → dropped in the 6-class set
    assert starts.tolist() == [128, 384]
    assert y.tolist() == [lm.raw.index(1), lm.raw.index(5)]
    _X12, y12, _ = label_windows(sig, labels, spec, hapt_label_map(12))
    assert len(y12) == 3 and hapt_label_map(12).names[y12[1]] == "STAND_TO_SIT"


def test_label_map_validation():
    with pytest.raises(ValueError):
        hapt_label_map(7)
    with pytest.raises(ValueError):
        LabelMap((1, 2), ("a",))


def test_bad_spec_rejected():
    with pytest.raises(ValueError, match="positive"):
        WindowSpec(rate_hz=0)
    with pytest.raises(ValueError, match="shorter"):
        WindowSpec(rate_hz=1, length_s=1)
