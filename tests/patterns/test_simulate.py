"""The cohort simulator: its ground truth is checked against metrics computed directly from the segments,
so detectors are scored against what the timelines really contain. Small cohorts only (seconds)."""

from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pandas as pd
import pytest

from harflow.data.labels import HAPT_LABELS, LabelMap
from harflow.data.recordings import Recording, RecordingSet
from harflow.data.splits import HAPT_TEST_SUBJECTS
from harflow.patterns import simulate as sim
from harflow.patterns.fine_structure import (
    ACTIVITIES,
    LAYING,
    LIE_TO_SIT,
    LIE_TO_STAND,
    POST_POSTURE,
    POSTURE,
    PRE_POSTURE,
    SIT_TO_STAND,
    SITTING,
    STANDING,
    TRANSITIONS,
    WALKING,
    WALKS,
    extract_pieces,
    hapt_pieces,
    hapt_test_recordings,
    transition_orders,
)
from harflow.patterns.injections import KINDS, ChangeSpec
from harflow.patterns.intervals import split
from harflow.patterns.routines import RoutineConfig
from harflow.patterns.sensor_stream import read_frames, sensor_stream, write_frames

MIN = 60
# little day-to-day noise, no naps, device always worn: effects can be measured tightly on a few persons
QUIET = RoutineConfig(walk_day_sigma=0.05, nap_prob=(0.0, 0.0), day_missing_prob=0.0, nonwear_prob=(0.0, 0.0))


def forced(kind: str, size: float, persons: int = 6, days: int = 56) -> sim.Cohort:
    cfg = sim.SimulationConfig(
        persons=persons,
        days=days,
        seed=11,
        changed_fraction=1.0,
        changes=(ChangeSpec(kind, size, size),),
        emergency_rate=0.0,
        routine=QUIET,
    )
    return sim.simulate_cohort(cfg)


@pytest.fixture(scope="module")
def cohort() -> sim.Cohort:
    return sim.simulate_cohort(sim.SimulationConfig(persons=24, days=70, seed=5, emergency_rate=0.03))


def person_days(c: sim.Cohort, i: int) -> pd.DataFrame:
    """Per local day of person ``i``, straight from the segments: recorded, walking and night-upright
    seconds, daytime rises and mean daytime sitting bout."""
    sl = c.rows(c.persons[i])
    s, e, a = c.start[sl], c.end[sl], c.activity[sl]
    mid, days = c.calendar.midnight, c.config.days
    ps, pe, own = split(s, e, mid)
    day = np.searchsorted(mid, ps, "right") - 1
    rec = np.bincount(day, pe - ps, days + 1)[:days]
    walk = np.bincount(day, (pe - ps) * np.isin(a[own], WALKS), days + 1)[:days]
    wake, bed = c.wake[i], c.bed[i]
    sday = np.searchsorted(mid, s, "right") - 1
    ok = sday < days
    daytime = np.zeros(len(s), bool)
    daytime[ok] = (s[ok] > wake[sday[ok]] + 3 * MIN) & (e[ok] < bed[sday[ok]] - 17 * MIN)
    rises = np.bincount(sday[daytime & (a == SIT_TO_STAND)], minlength=days + 1)[:days]
    sit = daytime & (a == SITTING)
    sit_n = np.bincount(sday[sit], minlength=days + 1)[:days]
    sit_s = np.bincount(sday[sit], (e - s)[sit], days + 1)[:days]
    upright = np.isin(a, (STANDING, *WALKS))
    night = np.array(
        [
            np.clip(np.minimum(e, wake[d + 1]) - np.maximum(s, bed[d]), 0, None)[upright].sum()
            for d in range(days)
        ]
    )
    return pd.DataFrame(
        {
            "full": rec == np.diff(mid)[:days],
            "walk_min": walk / MIN,
            "rises": rises,
            "sit_bout_min": sit_s / np.maximum(sit_n, 1) / MIN,
            "night_upright_min": night / MIN,
        }
    )


def before_after(c: sim.Cohort, column: str) -> tuple[np.ndarray, np.ndarray]:
    pre, post = [], []
    for i, change in enumerate(c.changes):
        assert change is not None
        d = person_days(c, i)
        d = d[d.full]
        pre.append(d[column][d.index < change.onset_day].mean())
        post.append(d[column][d.index >= change.onset_day].mean())
    return np.array(pre), np.array(post)


# --- reproducibility, changes, structure -------------------------------------------------------------------


def test_same_seed_same_cohort_other_seed_another():
    cfg = sim.SimulationConfig(persons=3, days=10, seed=1)
    a, b = sim.simulate_cohort(cfg), sim.simulate_cohort(cfg)
    for f in ("person", "start", "end", "activity", "wake", "bed", "missing"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
    assert a.changes == b.changes and a.emergencies == b.emergencies
    other = sim.simulate_cohort(sim.SimulationConfig(persons=3, days=10, seed=2))
    assert not np.array_equal(a.start[:500], other.start[:500])


def test_half_the_persons_have_one_change_of_every_kind(cohort):
    cfg = cohort.config
    changed = [c for c in cohort.changes if c is not None]
    assert len(changed) == 12
    kinds = {k: sum(c.kind == k for c in changed) for k in KINDS}
    assert set(kinds.values()) == {2}
    specs = {s.kind: s for s in cfg.changes}
    for c in changed:
        assert round(30 / 90 * cfg.days) <= c.onset_day <= round(70 / 90 * cfg.days)
        spec = specs[c.kind]
        if c.kind == "walking_ramp":
            assert spec.low <= c.rate_per_day <= spec.high
            assert c.size == pytest.approx(min(c.rate_per_day * (cfg.days - c.onset_day), 0.7))
        else:
            assert spec.low <= c.size <= spec.high


def test_segments_are_ordered_contiguous_runs_and_gaps_are_no_data(cohort):
    c = cohort
    assert (c.end > c.start).all()
    same = c.person[1:] == c.person[:-1]
    assert (np.diff(c.person) >= 0).all()
    assert (c.start[1:][same] >= c.end[:-1][same]).all(), "segments overlap"
    touching = same & (c.start[1:] == c.end[:-1])
    assert not (touching & (c.activity[1:] == c.activity[:-1])).any(), "unmerged equal neighbours"
    assert set(np.unique(c.activity).tolist()) == set(range(12))
    mid = c.calendar.midnight
    gaps_within_days = 0
    for i in range(len(c.persons)):
        sl = c.rows(c.persons[i])
        s, e = c.start[sl], c.end[sl]
        assert s[0] >= mid[0] and e[-1] <= mid[c.config.days]
        for d in np.flatnonzero(c.missing[i]):  # a missing day has no segment at all
            assert not ((s < mid[d + 1]) & (e > mid[d])).any()
        gap = s[1:] - e[:-1]
        gaps_within_days += int(((gap >= 15 * MIN) & (gap < 20 * 3600)).sum())
    assert c.missing.any() and gaps_within_days > 0


def test_postures_change_only_through_their_transition(cohort):
    c = cohort
    same = (c.person[1:] == c.person[:-1]) & (c.start[1:] == c.end[:-1])
    a, b = c.activity[:-1][same], c.activity[1:][same]
    for t in TRANSITIONS:
        assert (POSTURE[a[b == t]] == PRE_POSTURE[t]).all(), ACTIVITIES[t]
        assert (POSTURE[b[a == t]] == POST_POSTURE[t]).all(), ACTIVITIES[t]
    static = (POSTURE[a] >= 0) & (POSTURE[b] >= 0)
    assert (POSTURE[a[static]] == POSTURE[b[static]]).all(), "a posture changed without a transition"


def test_short_structure_is_seconds_long_and_the_day_is_realistic(cohort):
    c = cohort
    dur = c.end - c.start
    trans = np.isin(c.activity, TRANSITIONS)
    assert 1 <= np.median(dur[trans]) <= 6 and dur[trans].max() <= 12
    days = pd.concat([person_days(c, i) for i in range(len(c.persons))])
    full = days[days.full]
    assert 30 < full.walk_min.median() < 90
    assert 25 < full.rises.median() < 60
    assert 8 < full.sit_bout_min.median() < 25
    # the first activity after a night is a rise out of bed at the day's wake time
    i = 0
    sl = c.rows(c.persons[i])
    starts = dict(zip(c.start[sl].tolist(), c.activity[sl].tolist(), strict=True))
    rises = [starts.get(int(w)) for w in c.wake[i][: c.config.days]]
    assert sum(r in (LIE_TO_SIT, LIE_TO_STAND) for r in rises) >= 0.9 * c.config.days - c.missing[i].sum() - 7


# --- the ground truth matches the data ------------------------------------------------------------------


def test_walking_step_scales_daily_walking():
    pre, post = before_after(forced("walking_step", 0.4), "walk_min")
    assert (post / pre).mean() == pytest.approx(0.6, abs=0.05)


def test_walking_ramp_declines_at_its_rate():
    c = forced("walking_ramp", 0.015, persons=4, days=60)
    slopes = []
    for i, change in enumerate(c.changes):
        d = person_days(c, i)
        base = d.walk_min[d.index < change.onset_day].mean()
        after = d[d.index >= change.onset_day]
        slopes.append(np.polyfit(after.index - change.onset_day, after.walk_min / base, 1)[0])
    assert np.mean(slopes) == pytest.approx(-0.015, rel=0.3)


def test_fewer_sit_to_stand_cuts_daytime_rises():
    pre, post = before_after(forced("fewer_sit_to_stand", 0.4), "rises")
    assert (post / pre).mean() == pytest.approx(0.6, abs=0.06)


def test_longer_sedentary_bouts_lengthen_the_mean_bout():
    pre, post = before_after(forced("longer_sedentary_bouts", 0.6), "sit_bout_min")
    assert (post / pre).mean() == pytest.approx(1.6, abs=0.12)


def test_later_wake_moves_the_rise_out_of_bed():
    c = forced("later_wake", 90.0)
    for i, change in enumerate(c.changes):
        # the truth's wake times are where the data has the morning rise out of bed
        sl = c.rows(c.persons[i])
        first = dict(zip(c.start[sl].tolist(), c.activity[sl].tolist(), strict=True))
        w = c.wake[i][: c.config.days]
        assert all(first.get(int(t)) in (LIE_TO_SIT, LIE_TO_STAND) for t in w)
        local = (w - c.calendar.midnight[: c.config.days]) / MIN
        shift = np.median(local[change.onset_day :]) - np.median(local[: change.onset_day])
        assert shift == pytest.approx(90, abs=20)


def test_night_wandering_adds_upright_time_at_night():
    pre, post = before_after(forced("night_wandering", 40.0), "night_upright_min")
    assert (post - pre).mean() == pytest.approx(40, rel=0.3)
    assert pre.mean() < 10  # toilet visits only


def test_emergencies_are_still_periods_of_worn_daytime(cohort):
    c = cohort
    found = 0
    for i, ems in enumerate(c.emergencies):
        sl = c.rows(c.persons[i])
        s, e, a = c.start[sl], c.end[sl], c.activity[sl]
        for em in ems:
            found += 1
            d = int(np.searchsorted(c.calendar.midnight, em.start, "right")) - 1
            assert not c.missing[i, d]
            assert c.wake[i, d] < em.start < em.end <= c.calendar.midnight[d + 1]
            assert em.end - em.start >= 10 * MIN
            over = (s < em.end) & (e > em.start)
            assert (a[over] == em.activity).all(), "the person moved during the emergency"
            covered = np.minimum(e[over], em.end) - np.maximum(s[over], em.start)
            assert covered.sum() == em.end - em.start, "the device was off during the emergency"
    changed = {i for i, ems in enumerate(c.emergencies) if ems and c.changes[i] is not None}
    unchanged = {i for i, ems in enumerate(c.emergencies) if ems and c.changes[i] is None}
    assert found >= 10 and changed and unchanged


def test_six_classes_fold_transitions_into_the_posture_they_end_in():
    cfg = sim.SimulationConfig(persons=2, days=5, seed=3)
    twelve = sim.simulate_cohort(cfg)
    six = sim.simulate_cohort(sim.SimulationConfig(persons=2, days=5, seed=3, classes=6))
    assert not np.isin(six.activity, TRANSITIONS).any()
    assert (six.end - six.start).sum() == (twelve.end - twelve.start).sum()
    assert len(six.start) < len(twelve.start)


# --- files and command line --------------------------------------------------------------------------------

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


def test_write_cohort_files_round_trip(tmp_path):
    c = sim.simulate_cohort(sim.SimulationConfig(persons=3, days=90, seed=2, emergency_rate=0.05))
    paths = sim.write_cohort(c, tmp_path, csv=True)
    frame = pd.read_parquet(paths["timeline"])
    assert list(frame.columns) == ["person", "start", "end", "activity"]
    assert frame.start.str.match(ISO).all() and frame.end.str.match(ISO).all()
    # Europe/London: GMT in winter, BST (+01:00) after 2026-03-29
    assert frame.start.iloc[0] == "2026-01-05T00:00:00+00:00"
    assert frame.end.iloc[-1] == "2026-04-05T00:00:00+01:00"
    back = (pd.to_datetime(frame.start, utc=True) - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "s")
    assert np.array_equal(back.to_numpy(), c.start)
    assert set(frame.activity.astype(str)) <= set(HAPT_LABELS.values())
    csv = pd.read_csv(paths["csv"])
    assert csv.shape == frame.shape and (csv.start == frame.start).all()

    truth = json.loads(paths["ground_truth"].read_text())
    assert truth["tz"] == "Europe/London" and truth["start"] == "2026-01-05" and truth["days"] == 90
    assert truth["config"]["persons"] == 3 and len(truth["persons"]) == 3
    for p, change, ems in zip(truth["persons"], c.changes, c.emergencies, strict=True):
        assert p["person"].startswith("p") and p["body"] in HAPT_TEST_SUBJECTS
        if change is None:
            assert p["change"] is None
        else:
            assert p["change"]["kind"] == change.kind and p["change"]["metric"] == KINDS[change.kind].metric
            assert p["change"]["direction"] in ("up", "down") and p["change"]["shape"] in ("step", "ramp")
            assert dt.date.fromisoformat(p["change"]["onset"]) == c.config.start + dt.timedelta(
                change.onset_day
            )
        assert [pd.Timestamp(e["start"]).timestamp() for e in p["emergencies"]] == [e.start for e in ems]
        assert all(ISO.match(e["end"]) for e in p["emergencies"])
    days = pd.read_parquet(paths["days"])
    assert len(days) == 3 * 90 and days.wake.str.match(ISO).all()


def test_timestamps_option_writes_the_same_instants(tmp_path):
    c = sim.simulate_cohort(sim.SimulationConfig(persons=2, days=3, seed=2))
    frame = pd.read_parquet(sim.write_cohort(c, tmp_path, timestamps=True)["timeline"])
    assert str(frame.start.dt.tz) == "Europe/London"
    assert np.array_equal((frame.end - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "s"), c.end)


def test_main_dry_run_writes_a_tiny_cohort(tmp_path, capsys):
    assert sim.main(["--dry-run", "--out", str(tmp_path)]) == 0
    truth = json.loads((tmp_path / "ground_truth.json").read_text())
    assert len(truth["persons"]) == 3 and truth["days"] == 7
    assert (tmp_path / "timeline.parquet").exists()
    assert "3 persons x 7 days" in capsys.readouterr().out


def test_main_rejects_a_bad_config(tmp_path, capsys):
    assert sim.main(["--persons", "0", "--out", str(tmp_path)]) == 2
    assert "at least 1 person" in capsys.readouterr().err


# --- what comes from HAPT -------------------------------------------------------------------------------


def test_fine_structure_comes_from_test_subjects_only():
    pieces = hapt_pieces()
    assert set(pieces.subjects) == HAPT_TEST_SUBJECTS
    for s in pieces.subjects:
        assert set(TRANSITIONS) <= set(pieces.durations[s]) and len(pieces.pauses[s]) > 3
    # the real label sequences order each transition between the postures its name says
    orders = transition_orders(hapt_test_recordings())
    for t, (before, after) in orders.items():
        assert POSTURE[before] == PRE_POSTURE[t] and POSTURE[after] == POST_POSTURE[t], ACTIVITIES[t]


def test_extract_pieces_reads_durations_and_pauses():
    labels = np.repeat([5, 7, 4, 8, 5, -1, 1, -1, 2, 6], [100, 150, 100, 125, 50, 200, 500, 75, 600, 100])
    rec = Recording("9", "9-1", np.zeros((len(labels), 6), np.float32), labels)
    rs = RecordingSet("t", [rec], ("a",) * 6, 50.0, LabelMap((1,), ("WALKING",)))
    p = extract_pieces(rs)
    assert p.durations["9"][6].tolist() == [3.0] and p.durations["9"][7].tolist() == [2.5]
    assert p.durations["9"][1].tolist() == [12.0]  # one flight upstairs
    assert p.pauses["9"].tolist() == [1.5]  # only the gap between two walks, not the one before walking


# --- sensor stream ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small() -> sim.Cohort:
    return sim.simulate_cohort(sim.SimulationConfig(persons=2, days=3, seed=4, routine=QUIET))


def _window(c: sim.Cohort, hours: float) -> tuple[dt.datetime, dt.datetime]:
    t = int(c.wake[0, 1]) - 1800
    return dt.datetime.fromtimestamp(t, dt.UTC), dt.datetime.fromtimestamp(t + hours * 3600, dt.UTC)


def test_sensor_stream_has_a_sample_per_20_ms_and_ignores_chunk_size(small):
    lo, hi = _window(small, 2)
    chunks = list(sensor_stream(small, "p001", lo, hi, chunk_s=60))
    x = np.concatenate([ch.samples for ch in chunks])
    assert x.dtype == np.float32 and x.shape == (2 * 3600 * 50, 6)
    t = np.array([ch.t for ch in chunks])
    assert t[0] == lo.timestamp() and np.allclose(np.diff(t), 60)
    other = np.concatenate([ch.samples for ch in sensor_stream(small, "p001", lo, hi, chunk_s=7.3)])
    assert np.array_equal(x, other)


def test_sensor_stream_skips_no_data():
    c = sim.simulate_cohort(
        sim.SimulationConfig(persons=1, days=3, seed=4, routine=RoutineConfig(nonwear_prob=(1.0, 1.0)))
    )
    sl = c.rows("p001")
    gap = np.flatnonzero(c.start[sl][1:] > c.end[sl][:-1])[0]
    g0, g1 = int(c.end[sl][gap]), int(c.start[sl][gap + 1])
    lo = dt.datetime.fromtimestamp(g0 - 600, dt.UTC)
    hi = dt.datetime.fromtimestamp(g1 + 600, dt.UTC)
    chunks = list(sensor_stream(c, "p001", lo, hi, chunk_s=300))
    assert sum(len(ch.samples) for ch in chunks) == 1200 * 50
    assert not any(g0 <= ch.t < g1 for ch in chunks)


def test_sensor_windows_look_like_their_activity(small):
    lo, hi = _window(small, 3)
    chunks = list(sensor_stream(small, "p001", lo, hi, chunk_s=600))
    x = np.concatenate([ch.samples for ch in chunks])
    y = np.concatenate([ch.activity for ch in chunks])
    n = len(x) // 128 * 128
    win, lab = x[:n].reshape(-1, 128, 6), y[:n].reshape(-1, 128)
    pure = (lab == lab[:, :1]).all(1)
    spread = np.linalg.norm(win[:, :, :3], axis=2).std(1)
    walking = spread[pure & (lab[:, 0] == WALKING)]
    still = {a: spread[pure & (lab[:, 0] == a)] for a in (LAYING, SITTING, STANDING)}
    assert len(walking) > 5 and all(len(v) > 5 for v in still.values())
    assert np.median(walking) > 5 * max(np.median(v) for v in still.values())
    # lying turns gravity away from the body's long axis (acc x, ~1 g when upright)
    gx = win[:, :, 0].mean(1)
    assert np.median(gx[pure & (lab[:, 0] == LAYING)]) < 0.5 < np.median(gx[pure & (lab[:, 0] == STANDING)])


def test_frames_file_replays_the_stream(small, tmp_path):
    lo, hi = _window(small, 0.25)
    path = write_frames(small, "p002", lo, hi, tmp_path, chunk_s=10)
    frames = list(read_frames(path))
    assert [f[0] for f in frames] == list(range(90))
    assert all(f[2] == 50.0 and f[3].shape == (500, 6) for f in frames)
    assert np.allclose(np.diff([f[1] for f in frames]), 10.0) and frames[0][1] == lo.timestamp()
    x = np.concatenate([ch.samples for ch in sensor_stream(small, "p002", lo, hi)])
    assert np.array_equal(np.concatenate([f[3] for f in frames]), x)


def test_a_designed_cohort_has_the_changes_emergencies_and_bodies_it_was_given():
    from harflow.patterns.injections import Change

    cfg = sim.SimulationConfig(
        persons=3, days=21, seed=3, changed_fraction=0.0, emergency_rate=0.0, routine=QUIET
    )
    changes = [Change("later_wake", 15, 90.0), None, Change("night_wandering", 16, 45.0)]
    c = sim.simulate_cohort(cfg, changes=changes, emergencies_on=[[], [17], []], bodies=["2", "18", "24"])
    assert list(c.changes) == changes and c.bodies == ("2", "18", "24")
    assert not c.emergencies[0] and not c.emergencies[2]
    (em,) = c.emergencies[1]
    assert c.calendar.midnight[17] <= em.start < em.end <= c.calendar.midnight[18]
    # the designed change shows: the wake-up moves by its size from the onset on
    wake = (c.wake[0, :21] - c.calendar.midnight[:21]) / MIN  # minutes after each midnight
    shift = wake[16:21].mean() - wake[10:15].mean()
    assert 45 < shift < 135
    with pytest.raises(ValueError, match="bodies"):
        sim.simulate_cohort(cfg, bodies=["1", "2", "3"])  # training subjects are never simulated
    with pytest.raises(ValueError, match="changes: 1 entries for 3 persons"):
        sim.simulate_cohort(cfg, changes=[None])
