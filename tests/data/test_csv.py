import numpy as np
import pandas as pd
import pytest

from harflow.data.sources import load_recordings
from harflow.data.sources.csv import CsvDataError

COLS = ["subject", "recording", "t", "acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z", "label"]


def frame(subject="s1", recording="r1", n=400, rate=50.0, label="walk", gyro=True):
    rng = np.random.default_rng(0)
    d = {"subject": subject, "recording": recording, "t": np.arange(n) / rate}
    for c in COLS[3:9]:
        if gyro or not c.startswith("gyro"):
            d[c] = rng.normal(size=n)
    d["label"] = label
    return pd.DataFrame(d)


def write(tmp_path, df, name="data.csv"):
    p = tmp_path / name
    df.to_csv(p, index=False)
    return p


def test_good_folder_loads_and_splits(tmp_path):
    for s in range(4):
        write(
            tmp_path,
            pd.concat([frame(f"s{s}", "a", label="walk"), frame(f"s{s}", "b", label="sit")]),
            f"s{s}.csv",
        )
    rs = load_recordings(f"csv:{tmp_path}")
    assert rs.channels == ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
    assert rs.label_map.names == ("sit", "walk")
    assert len(rs.recordings) == 8 and len(rs.subjects) == 4


def test_gyro_absent_uses_acc_only(tmp_path):
    p = write(tmp_path, frame(gyro=False))
    rs = load_recordings(f"csv:{p}")
    assert rs.channels == ("acc_x", "acc_y", "acc_z")


def test_resampled_to_target_rate(tmp_path):
    p = write(tmp_path, frame(n=250, rate=25.0))
    rs = load_recordings(f"csv:{p}", rate_hz=50.0)
    assert abs(len(rs.recordings[0]) - 499) <= 1


def test_parquet_and_integer_labels(tmp_path):
    df = frame(label=3)
    df["label"] = df["label"].astype(str)
    p = tmp_path / "x.parquet"
    df.to_parquet(p)
    rs = load_recordings(f"csv:{p}")
    assert rs.label_map.names == ("3",)


def test_split_column_overrides(tmp_path):
    dfs = []
    for s, split in [("a", "train"), ("b", "train"), ("c", "test"), ("d", "val")]:
        f = frame(s)
        f["split"] = split
        dfs.append(f)
    rs = load_recordings(f"csv:{write(tmp_path, pd.concat(dfs))}")
    assert [r.split for r in rs.recordings] == ["train", "train", "test", "val"]


def test_missing_column(tmp_path):
    p = write(tmp_path, frame().drop(columns=["acc_y"]))
    with pytest.raises(CsvDataError, match=r"data\.csv: missing required column\(s\) \['acc_y'\]"):
        load_recordings(f"csv:{p}")


def test_non_numeric_names_file_line_column(tmp_path):
    df = frame()
    df["acc_x"] = df["acc_x"].astype(object)
    df.loc[10, "acc_x"] = "abc"
    p = write(tmp_path, df)
    with pytest.raises(CsvDataError, match=r"data\.csv: line 12, column 'acc_x': not a number \('abc'\)"):
        load_recordings(f"csv:{p}")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_inf(tmp_path, bad):
    df = frame()
    df.loc[5, "gyro_z"] = bad
    p = write(tmp_path, df)
    with pytest.raises(CsvDataError, match=r"line 7, column 'gyro_z'"):
        load_recordings(f"csv:{p}")


def test_non_monotonic_t(tmp_path):
    df = frame()
    df.loc[20, "t"] = df.loc[19, "t"]
    p = write(tmp_path, df)
    with pytest.raises(
        CsvDataError, match=r"line 22, column 't': timestamps of recording s1/r1 are not strictly"
    ):
        load_recordings(f"csv:{p}")


def test_bad_split_value(tmp_path):
    df = frame()
    df["split"] = "holdout"
    with pytest.raises(CsvDataError, match="column 'split'"):
        load_recordings(f"csv:{write(tmp_path, df)}")


def test_short_recording_skipped_with_warning(tmp_path, caplog):
    from harflow.data.dataset import build_windows
    from harflow.data.windows import WindowSpec

    dfs = [frame(f"s{i}") for i in range(4)] + [frame("s9", "tiny", n=50)]
    rs = load_recordings(f"csv:{write(tmp_path, pd.concat(dfs))}")
    with caplog.at_level("WARNING"):
        build_windows(rs, WindowSpec(channels=rs.channels))
    assert "s9/tiny has 50 samples, fewer than one window" in caplog.text


def test_missing_path(tmp_path):
    with pytest.raises(CsvDataError, match="no such file or folder"):
        load_recordings(f"csv:{tmp_path / 'nope'}")
