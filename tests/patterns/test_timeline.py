import datetime as dt
import gzip

import numpy as np
import pandas as pd
import pytest

from harflow.patterns.timeline import Timeline, TimelineError, read_timeline, to_epochs

BERLIN = "Europe/Berlin"


def test_segments_are_parsed_sorted_and_touching_equal_rows_merged(write):
    path = write(
        "seg.csv",
        "Person,Start,End,Activity,confidence\n"
        "b,2024-03-05T09:00,2024-03-05T10:00,WALKING,0.9\n"
        "a,2024-03-05T08:30,2024-03-05T09:00,SITTING,0.8\n"
        "a,2024-03-05T08:00,2024-03-05T08:30,SITTING,0.7\n"
        "a,2024-03-05T09:00,2024-03-05T09:10,STANDING,0.6\n",
    )
    tl = read_timeline(path)
    seg = tl.segments
    assert tl.kind == "activity" and tl.epoch is None and tl.tz is None
    assert list(seg.columns) == ["person", "start", "end", "activity"]
    assert str(seg["start"].dtype) == "datetime64[ns]" and seg["activity"].dtype == "category"
    assert tl.persons == ["a", "b"]
    assert seg[["person", "activity"]].astype(str).values.tolist() == [
        ["a", "SITTING"],
        ["a", "STANDING"],
        ["b", "WALKING"],
    ]
    assert seg["start"].iloc[0] == pd.Timestamp("2024-03-05 08:00")  # the two SITTING rows are one
    assert seg["end"].iloc[0] == pd.Timestamp("2024-03-05 09:00")


def test_labelled_epochs_infer_the_epoch_and_a_gap_is_no_data(write):
    times = [f"2024-03-05T08:00:{s:02d}" for s in (0, 30)] + ["2024-03-05T08:01:00", "2024-03-05T08:05:00"]
    labels = ["SITTING", "SITTING", "WALKING", "WALKING"]
    rows = "\n".join(f"{t},{a}" for t, a in zip(times, labels, strict=True))
    tl = read_timeline(write("ep.csv", "time,activity\n" + rows + "\n"))
    assert tl.epoch == pd.Timedelta("30s")  # median spacing, the 4-minute gap notwithstanding
    seg = tl.segments
    assert seg["end"].tolist() == [pd.Timestamp("2024-03-05 08:01"), pd.Timestamp("2024-03-05 08:01:30"),
                                   pd.Timestamp("2024-03-05 08:05:30")]  # fmt: skip
    assert (seg["end"] - seg["start"]).sum() == pd.Timedelta("2min")  # the gap is not recorded time


def test_numeric_epochs_empty_value_is_no_data_and_to_epochs_sums(write):
    text = "time,value\n" + "\n".join(
        f"2024-03-05T08:{m:02d}:00,{v}" for m, v in enumerate(["5", "5", "0", "", "3", "1"])
    )
    tl = read_timeline(write("counts.csv", text + "\n"), epoch="60s")
    assert tl.kind == "value" and tl.persons == ["default"]
    assert tl.segments["value"].tolist() == [5.0, 0.0, 3.0, 1.0]  # the two 5s are one segment
    grid = to_epochs(tl, "120s")
    assert grid["value"].tolist()[0] == 10.0 and np.isnan(grid["value"].tolist()[1])
    assert grid["value"].tolist()[2] == 4.0
    with pytest.raises(ValueError, match="whole number"):
        to_epochs(tl, "90s")


def test_to_epochs_activity_takes_the_midpoint_and_nan_for_no_data():
    frame = pd.DataFrame(
        {
            "start": ["2024-03-05T08:00:00", "2024-03-05T08:00:40", "2024-03-05T08:02:00"],
            "end": ["2024-03-05T08:00:40", "2024-03-05T08:01:00", "2024-03-05T08:03:00"],
            "activity": ["SITTING", "STANDING", "WALKING"],
        }
    )
    grid = to_epochs(Timeline.from_frame(frame), "30s")
    assert grid["time"].iloc[1] == pd.Timestamp("2024-03-05 08:00:30")
    assert grid["activity"].astype(object).where(grid["activity"].notna(), None).tolist() == [
        "SITTING", "STANDING", None, None, "WALKING", "WALKING"]  # fmt: skip


def test_parquet_with_zoned_timestamps_and_non_wear_dropped(tmp_path):
    frame = pd.DataFrame(
        {
            "time": pd.date_range("2024-03-05 08:00", periods=4, freq="1min", tz="UTC"),
            "activity": ["SITTING", "non-wear", "NONWEAR", "WALKING"],
        }
    )
    frame.to_parquet(tmp_path / "t.parquet")
    tl = read_timeline(tmp_path / "t.parquet", tz="Europe/London")
    assert str(tl.tz) == "Europe/London"
    assert tl.segments["activity"].astype(str).tolist() == ["SITTING", "WALKING"]


def test_folder_is_read_recursively_as_one_timeline(write, tmp_path):
    write("a/x.csv", "person,time,activity\np1,2024-03-05T08:00,SITTING\np1,2024-03-05T08:01,SITTING\n")
    write("a/b/y.csv", "person,time,activity\np2,2024-03-05T08:00,WALKING\np2,2024-03-05T08:01,WALKING\n")
    write("a/notes.txt", "ignored")
    tl = read_timeline(tmp_path / "a")
    assert tl.persons == ["p1", "p2"] and len(tl.sources) == 2


# --- time zones ------------------------------------------------------------------------------------------


def test_offset_times_keep_their_wall_clock_without_tz():
    frame = pd.DataFrame(
        {"start": ["2024-03-05T23:00:00+05:30"], "end": ["2024-03-06T01:00:00+05:30"], "activity": ["LAYING"]}
    )
    tl = Timeline.from_frame(frame)
    assert tl.tz.utcoffset(None) == dt.timedelta(hours=5, minutes=30)
    assert tl.segments["start"].iloc[0].strftime("%Y-%m-%d %H:%M") == "2024-03-05 23:00"


def test_offset_times_are_shown_in_tz():
    frame = pd.DataFrame({"start": ["2024-03-05T07:00Z"], "end": ["2024-03-05T08:00Z"], "activity": ["X"]})
    seg = Timeline.from_frame(frame, tz=BERLIN).segments
    assert seg["start"].iloc[0].strftime("%H:%M%z") == "08:00+0100"


def test_several_offsets_need_tz_and_then_read():
    frame = pd.DataFrame(
        {
            "start": ["2024-03-30T22:00:00+01:00", "2024-03-31T22:00:00+02:00"],
            "end": ["2024-03-30T23:00:00+01:00", "2024-03-31T23:00:00+02:00"],
            "activity": ["LAYING", "LAYING"],
        }
    )
    with pytest.raises(TimelineError, match=r"<frame>, row 2, column 'start': .*offset \+02:00.*pass tz"):
        Timeline.from_frame(frame)
    seg = Timeline.from_frame(frame, tz=BERLIN).segments
    assert [t.strftime("%H:%M") for t in seg["start"]] == ["22:00", "22:00"]


def test_epoch_seconds_are_utc_shown_in_tz(write):
    secs = [1711846800, 1711846860]  # around the spring-forward change in Berlin
    path = write("v.csv", "time,value\n" + "\n".join(f"{s},{i}" for i, s in enumerate(secs)) + "\n")
    tl = read_timeline(path, tz=BERLIN)
    expected = pd.Timestamp(secs[0], unit="s", tz="UTC").tz_convert(BERLIN)
    assert tl.segments["start"].iloc[0] == expected
    assert tl.segments["start"].iloc[0].strftime("%H:%M") == expected.strftime("%H:%M")
    assert read_timeline(path).segments["start"].iloc[0] == pd.Timestamp(secs[0], unit="s", tz="UTC")


def test_naive_epochs_through_fall_back_are_resolved_by_their_order(write):
    # hourly epochs written on the local wall clock: 02:00 appears twice on 2024-10-27 in Berlin
    clock = [f"{h:02d}:00" for h in (0, 1, 2, 2, 3, *range(4, 24))]
    path = write("fall.csv", "time,activity\n" + "\n".join(f"2024-10-27T{c},SITTING" for c in clock) + "\n")
    seg = read_timeline(path, tz=BERLIN).segments
    assert len(seg) == 1 and seg["end"].iloc[0] - seg["start"].iloc[0] == pd.Timedelta(hours=25)


def test_naive_time_skipped_by_spring_forward_is_an_error(write):
    path = write("spring.csv", "time,activity\n2024-03-31T01:30,SITTING\n2024-03-31T02:30,SITTING\n")
    with pytest.raises(TimelineError, match=r"spring.csv, line 3, column 'time': local time .*DST"):
        read_timeline(path, tz=BERLIN)


def test_unknown_zone_is_an_error():
    with pytest.raises(ValueError, match="Mars/Olympus"):
        Timeline.from_frame(pd.DataFrame({"time": [1, 2], "value": [0, 1]}), tz="Mars/Olympus")


# --- bad files -------------------------------------------------------------------------------------------

BAD = [
    ("start,end\n2024-03-05T08:00,2024-03-05T09:00\n", r"line 1: segments need column\(s\) 'activity'"),
    ("foo,bar\n1,2\n", r"line 1: columns 'foo', 'bar' match no timeline shape"),
    ("time,activity,value\n2024-03-05T08:00,SITTING,1\n", "line 1: has both 'activity' and 'value'"),
    (
        "time,activity\n2024-03-05T08:00,SITTING\nyesterday,WALKING\n",
        r"line 3, column 'time': cannot parse time 'yesterday'",
    ),
    (
        "start,end,activity\n2024-03-05T08:00,2024-03-05T07:00,SITTING\n",
        r"line 2, column 'end': end 2024-03-05 07:00:00 is not after start 2024-03-05 08:00:00",
    ),
    (
        "start,end,activity\n2024-03-05T08:00,2024-03-05T09:00,SITTING\n2024-03-05T08:30,2024-03-05T10:00,X\n",
        r"line 3, column 'start': segment of person 'default' starting 2024-03-05 08:30:00 overlaps the one "
        r"at line 2 that ends 2024-03-05 09:00:00",
    ),
    ("time,value\n2024-03-05T08:00,1\n2024-03-05T08:01,abc\n", r"line 3, column 'value': value 'abc' is not"),
    ("time,activity\n2024-03-05T08:00,A\n2024-03-05T08:00,B\n", r"line 3, column 'time': time .* repeats"),
    ("time,value\n1709625600,1\n2024-03-05T08:01,2\n", r"line 3, column 'time': .*mixes epoch seconds"),
    ("time,value\n2024-03-05T08:00,1\n,2\n", r"line 3, column 'time': missing time"),
    ("person,time,value\nA,2024-03-05T08:00,1\n,2024-03-05T08:01,2\n", r"line 3, column 'person': missing"),
    (
        "time,activity\n2024-03-05T08:00,A\n2024-03-05T08:01+01:00,B\n",
        r"line 3, column 'time': .*has offset \+01:00 but line 2 has no UTC offset",
    ),
    ("time,activity\n2024-03-05T08:00,A\n", "cannot infer the epoch length from one time per person"),
    ("time,activity\n", "no data rows"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_files_name_file_row_column_and_problem(write, text, message):
    path = write("bad.csv", text)
    with pytest.raises(TimelineError, match=r"bad\.csv[,:] " + message):
        read_timeline(path)


def test_error_carries_its_parts(write):
    path = write("bad.csv", "time,value\n2024-03-05T08:00,1\n2024-03-05T08:01,abc\n")
    with pytest.raises(TimelineError) as info:
        read_timeline(path)
    assert (info.value.file, info.value.row, info.value.column) == (str(path), 3, "value")


def test_overlap_across_files_names_both(write, tmp_path):
    write("d/1.csv", "start,end,activity\n2024-03-05T08:00,2024-03-05T09:00,SITTING\n")
    write("d/2.csv", "start,end,activity\n2024-03-05T08:59,2024-03-05T10:00,WALKING\n")
    message = r"2\.csv, line 2, column 'start': .*overlaps the one at line 2 of .*1\.csv"
    with pytest.raises(TimelineError, match=message):
        read_timeline(tmp_path / "d")


def test_mixed_shapes_in_one_folder(write, tmp_path):
    write("d/1.csv", "start,end,activity\n2024-03-05T08:00,2024-03-05T09:00,SITTING\n")
    write("d/2.csv", "time,value\n2024-03-06T08:00,1\n2024-03-06T08:01,1\n")
    with pytest.raises(TimelineError, match=r"2\.csv: is values but .*1\.csv is segments"):
        read_timeline(tmp_path / "d")


def test_missing_path(tmp_path):
    with pytest.raises(TimelineError, match="no such file"):
        read_timeline(tmp_path / "nope.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TimelineError, match="no timeline files"):
        read_timeline(tmp_path / "empty")


def test_line_numbers_count_blank_lines_and_gzip_is_read(write, tmp_path):
    path = write("gap.csv", "time,activity\n2024-03-05T08:00,A\n\n\n2024-03-05T08:01,B\nnot-a-time,C\n")
    with pytest.raises(
        TimelineError, match=r"gap\.csv, line 6, column 'time': cannot parse time 'not-a-time'"
    ):
        read_timeline(path)
    packed = tmp_path / "t.csv.gz"
    packed.write_bytes(gzip.compress(b"time,activity\n2024-03-05T08:00,A\n2024-03-05T08:01,B\n"))
    assert read_timeline(packed).segments["activity"].astype(str).tolist() == ["A", "B"]
