import numpy as np
import pytest

from harflow.data.dataset import build_windows
from harflow.data.labels import LabelMap
from harflow.data.recordings import Recording, RecordingSet
from harflow.data.sources import load_recordings
from harflow.data.splits import HAPT_TEST_SUBJECTS, HAPT_VAL_SUBJECTS, assign_splits
from harflow.data.windows import WindowSpec


@pytest.fixture(scope="module")
def hapt():
    return load_recordings("hapt", classes=6)


def test_hapt_facts(hapt):
    assert len(hapt.subjects) == 30
    assert len(hapt.recordings) == 61
    assert hapt.rate_hz == 50
    assert hapt.channels == ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")


def test_no_subject_in_two_splits(hapt):
    wd = build_windows(hapt, WindowSpec())
    sets = {k: set(v) for k, v in wd.subjects.items()}
    assert sets["test"] == set(HAPT_TEST_SUBJECTS)
    assert sets["val"] == set(HAPT_VAL_SUBJECTS)
    assert (
        not (sets["train"] & sets["val"])
        and not (sets["train"] & sets["test"])
        and not (sets["val"] & sets["test"])
    )
    assert len(sets["train"]) == 30 - len(HAPT_TEST_SUBJECTS) - len(HAPT_VAL_SUBJECTS)
    # and per window: every window's recording belongs to a subject of its own split
    for split, s in wd.splits.items():
        subj = {wd.recordings[r].split("/")[0] for r in np.unique(s.recording)}
        assert subj <= sets[split]


def test_normalization_fit_on_train_only(hapt):
    wd = build_windows(hapt, WindowSpec())
    train = wd.splits["train"].X.reshape(-1, 6)
    np.testing.assert_allclose(train.mean(0), 0, atol=1e-3)
    np.testing.assert_allclose(train.std(0), 1, atol=1e-3)
    assert abs(wd.splits["test"].X.reshape(-1, 6).mean(0)).max() > 1e-3  # test stats were not used


def _synthetic(subjects: int, recs: int) -> RecordingSet:
    out = []
    for s in range(subjects):
        for r in range(recs):
            out.append(Recording(str(s), f"r{r}", np.zeros((300, 1), np.float32), np.zeros(300, np.int64)))
    return RecordingSet("csv", out, ("acc_x",), 50.0, LabelMap((0,), ("x",)))


def test_fewer_than_three_subjects_split_by_recording():
    rs = _synthetic(2, 3)
    sp = assign_splits(rs)
    assert set(sp.values()) == {"train", "val", "test"}


def test_subject_split_is_disjoint_for_byo_data():
    rs = _synthetic(7, 2)
    sp = assign_splits(rs)
    by_subject: dict[str, set[str]] = {}
    for i, r in enumerate(rs.recordings):
        by_subject.setdefault(r.subject, set()).add(sp[i])
    assert all(len(v) == 1 for v in by_subject.values())
    assert set(sp.values()) == {"train", "val", "test"}


def test_too_little_data_to_split():
    with pytest.raises(ValueError, match="cannot be split"):
        assign_splits(_synthetic(1, 2))
