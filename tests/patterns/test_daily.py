import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from harflow.patterns.daily import DailyConfig, daily_metrics, from_json_records, to_json_records
from harflow.patterns.timeline import Timeline
from tests.patterns.conftest import marks, timeline


def row(daily: pd.DataFrame, date: str, person: str = "default") -> pd.Series:
    hit = daily[(daily["date"] == pd.Timestamp(date)) & (daily["person"] == person)]
    assert len(hit) == 1, f"no single row for {person} on {date}"
    return hit.iloc[0]


def test_known_day_walking_bouts_and_classes(known_day):
    d = row(daily_metrics(known_day), "2024-03-05")
    assert (d["day_h"], d["recorded_h"], d["valid"]) == (24.0, 24.0, True)
    assert d["active_min"] == 90  # 20 + 30 + 40
    assert (d["walk_bouts"], d["walk_bout_median_min"], d["walk_bout_longest_min"]) == (3, 30, 40)
    # LAYING 00:00-07:00 is in bed (the night window), 07:00-07:30 is lying about in the day: sedentary
    assert d["lying_min"] == 7 * 60 + 75
    assert d["sedentary_min"] == 30 + 240 + 270 + 280
    assert d["upright_min"] == 10 + 20 + 5
    assert (d["sedentary_bouts"], d["sedentary_bout_mean_min"], d["sedentary_bout_longest_min"]) == (
        4,
        205,
        280,
    )
    assert d["hours.WALKING"] == 1.5 and d["hours.LAYING"] == 7.5 + 1.25
    assert d["first_active"] == pd.Timestamp("2024-03-05 07:40", tz="Europe/London")
    assert d["last_active"] == pd.Timestamp("2024-03-05 17:40", tz="Europe/London")


def test_known_night_has_two_out_of_bed_episodes(known_day):
    daily = daily_metrics(known_day)
    night = row(daily, "2024-03-05")  # the night that starts on the 5th, though it happens on the 6th
    assert night["night_recorded_h"] == 9
    # evening still up (SITTING then STANDING to bed) and the final rise at 06:30 are not episodes
    assert night["out_of_bed"] == 2
    assert night["night_upright_min"] == 5 + 5 + 10 + 30
    morning = row(daily, "2024-03-06")
    assert (morning["recorded_h"], morning["valid"]) == (7, False)
    assert morning["active_min"] == 8 and morning["walk_bouts"] == 1  # 8 min at 04:32, a bout of its own
    assert pd.isna(morning["night_upright_min"]) and pd.isna(morning["out_of_bed"])  # no data that night


def test_derived_transitions_and_rises(known_day):
    daily = daily_metrics(known_day)
    # lie>stand 07:30, stand>sit 08:00, sit>stand 12:00, stand>sit 12:30, sit>stand 17:00, stand>sit 18:00,
    # sit>stand 22:40, stand>lie 22:45; walking<->standing is no change of posture
    assert (row(daily, "2024-03-05")["transitions"], row(daily, "2024-03-05")["sit_to_stand"]) == (8, 4)
    assert (row(daily, "2024-03-06")["transitions"], row(daily, "2024-03-06")["sit_to_stand"]) == (5, 3)


def test_transition_labels_are_counted_instead_of_derived():
    tl = timeline(
        "2024-03-05",
        ["08:00 SITTING", "09:00 SIT_TO_STAND", "09:00:03 WALKING", "09:10 STANDING", "09:11 STAND_TO_SIT",
         "09:11:02 SITTING", "10:00 LAYING", "11:00 LIE_TO_STAND", "11:00:04 STANDING", "12:00 END"],
    )  # fmt: skip
    d = daily_metrics(tl).iloc[0]
    assert (d["transitions"], d["sit_to_stand"]) == (3, 2)  # SITTING>LAYING has no label: not counted


def test_derived_transition_needs_the_postures_to_touch():
    spec = ["08:00 SITTING", "09:00 STANDING", "09:30 -", "10:00 SITTING", "11:00 -", "11:00:05 STANDING",
            "12:00 mystery", "12:30 SITTING", "13:00 END"]  # fmt: skip
    d = daily_metrics(timeline("2024-03-05", spec)).iloc[0]
    # 09:00 rise; 30 min of no data before 10:00 hides that change; 5 s is within transition_gap_s; an
    # unknown label has no posture
    assert (d["transitions"], d["sit_to_stand"]) == (2, 2)
    d = daily_metrics(timeline("2024-03-05", spec), DailyConfig(transition_gap_s=0)).iloc[0]
    assert (d["transitions"], d["sit_to_stand"]) == (1, 1)


@pytest.mark.parametrize(("pause", "bouts", "longest"), [("00:00:20", 1, 20 + 1 / 3), ("00:02:00", 2, 10)])
def test_a_short_pause_does_not_end_a_walking_bout(pause, bouts, longest):
    h, m, s = (int(x) for x in pause.split(":"))
    back = f"{10 + h}:{10 + m:02d}:{s:02d}"
    spec = ["10:00 WALKING", "10:10 STANDING", f"{back} WALKING", f"{int(back[:2])}:20:{s:02d} END"]
    d = daily_metrics(timeline("2024-03-05", spec)).iloc[0]
    assert d["walk_bouts"] == bouts
    assert d["walk_bout_longest_min"] == pytest.approx(longest)


def test_too_short_walks_and_sits_are_not_bouts():
    spec = ["10:00 WALKING", "10:00:30 STANDING", "10:05 SITTING", "10:05:50 STANDING", "10:10 END"]
    d = daily_metrics(timeline("2024-03-05", spec)).iloc[0]
    assert (d["walk_bouts"], d["sedentary_bouts"]) == (0, 0)
    assert np.isnan(d["walk_bout_median_min"]) and np.isnan(d["sedentary_bout_longest_min"])
    assert d["active_min"] == 0.5


def test_gaps_are_no_data_and_validity_follows_the_coverage_rule():
    spec = ["00:00 LAYING", "07:00 -", "09:00 SITTING", "24:00 END"]
    daily = daily_metrics(timeline("2024-03-05", spec))
    d = daily.iloc[0]
    assert (d["recorded_h"], d["valid"]) == (22, True)
    assert d["hours.LAYING"] == 7 and d["hours.SITTING"] == 15
    assert not daily_metrics(timeline("2024-03-05", spec), DailyConfig(valid_min_hours=23)).iloc[0]["valid"]


def test_laying_is_lying_only_in_the_night_window():
    spec = ["14:00 LAYING", "15:00 SITTING", "21:00 LAYING", "25:00 END"]
    daily = daily_metrics(timeline("2024-03-05", spec))
    d = row(daily, "2024-03-05")
    assert (d["sedentary_min"], d["lying_min"]) == (60 + 360 + 60, 120)
    assert row(daily, "2024-03-06")["lying_min"] == 60
    shifted = daily_metrics(timeline("2024-03-05", spec), DailyConfig(night_start=dt.time(23, 30)))
    assert row(shifted, "2024-03-05")["lying_min"] == 30


@pytest.mark.parametrize(("day", "hours", "in_bed"), [("2024-03-31", 23, 6 * 60), ("2024-10-27", 25, 8 * 60)])
def test_dst_days_last_23_or_25_hours(day, hours, in_bed):
    tl = timeline(day, ["00:00 LAYING", "07:00 SITTING", "24:00 END"], tz="Europe/Berlin")
    d = daily_metrics(tl).iloc[0]
    assert (d["day_h"], d["recorded_h"]) == (hours, hours)
    assert d["lying_min"] == in_bed  # 00:00-07:00 on the wall clock
    assert d["sedentary_min"] == 17 * 60


def test_persons_are_kept_apart():
    frame = pd.concat(
        [
            marks("2024-03-05", ["08:00 WALKING", "09:00 END"], person="ann"),
            marks("2024-03-05", ["08:30 WALKING", "08:45 END"], person="bob"),
        ]
    )
    daily = daily_metrics(Timeline.from_frame(frame))
    assert row(daily, "2024-03-05", "ann")["active_min"] == 60
    assert row(daily, "2024-03-05", "bob")["active_min"] == 15


def test_numeric_timeline_is_active_above_threshold_and_has_no_postures():
    times = pd.date_range("2024-03-05 08:00", periods=120, freq="1min")
    values = np.r_[np.zeros(60), np.full(60, 10.0)]
    tl = Timeline.from_frame(pd.DataFrame({"time": times, "value": values}))
    d = daily_metrics(tl).iloc[0]
    assert d["active_min"] == 60 and d["walk_bouts"] == 1 and d["recorded_h"] == 2
    assert d["hours.active"] == 1 and d["hours.inactive"] == 1
    assert np.isnan(d["sedentary_min"]) and np.isnan(d["out_of_bed"]) and np.isnan(d["transitions"])


def test_json_records_are_plain_json(known_day):
    records = to_json_records(daily_metrics(known_day))
    text = json.dumps(records, allow_nan=False)  # NaN would raise
    first, second = json.loads(text)
    assert first["person"] == "default" and first["date"] == "2024-03-05"
    assert first["hours"]["WALKING"] == 1.5 and set(first["hours"]) == {
        "LAYING",
        "SITTING",
        "STANDING",
        "WALKING",
    }
    assert first["walk_bouts"] == 3 and first["valid"] is True and first["out_of_bed"] == 2
    assert first["first_active"] == "2024-03-05T07:40:00+00:00"
    assert second["out_of_bed"] is None and second["night_upright_min"] is None


def test_empty_timeline_gives_an_empty_frame(known_day):
    empty = Timeline(known_day.segments[:0], "activity")
    assert daily_metrics(empty).empty and to_json_records(daily_metrics(empty)) == []


def test_wake_time_is_getting_up_not_a_night_walk():
    seg = pd.DataFrame(
        {
            "person": "p",
            "start": ["2024-03-04T23:00", "2024-03-05T03:00", "2024-03-05T03:06", "2024-03-05T08:40"],
            "end": ["2024-03-05T03:00", "2024-03-05T03:06", "2024-03-05T08:40", "2024-03-05T09:30"],
            "activity": ["LAYING", "WALKING", "LAYING", "WALKING"],
        }
    )
    d = row(daily_metrics(Timeline.from_frame(seg, tz="Europe/London")), "2024-03-05", "p")
    assert d["first_active"] == pd.Timestamp("2024-03-05 03:00", tz="Europe/London")  # the toilet walk
    # the lie-in runs past the night window's end (07:00): getting up is 08:40
    assert d["wake_time"] == pd.Timestamp("2024-03-05 08:40", tz="Europe/London")
    back = from_json_records(to_json_records(daily_metrics(Timeline.from_frame(seg, tz="Europe/London"))))
    assert back.loc[back["date"] == pd.Timestamp("2024-03-05"), "wake_time"].item() == 8 * 60 + 40
