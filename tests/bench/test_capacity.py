"""``harflow loadtest --capacity`` as users run it: a real server, generator processes over real WebSockets,
the curve in the bench schema and in the bench report."""

from __future__ import annotations

import json

from harflow.bench import schema
from harflow.bench.report import build_report
from tests.conftest import run_harflow


def test_capacity_dry_run_steps_up_devices_and_writes_the_curve(tiny_run, tmp_path):
    out = tmp_path / "capacity.json"
    run_harflow(
        "loadtest",
        "--serve-model",
        str(tiny_run),
        "--capacity",
        "--dry-run",
        "--subjects",
        "2",
        "--out",
        str(out),
        "--p99-ms",
        "5000",
        timeout=300,
    )  # fmt: skip  (a lax target: latency on a shared test machine is no functional property)
    doc = schema.load(out)  # validated against the schema on write and on read
    assert doc["kind"] == "serve_capacity"
    assert [r["clients"] for r in doc["runs"]] == ["json", "binary"]
    for run in doc["runs"]:
        assert [s["devices"] for s in run["curve"]] == [2, 4] and run["generators"] == 2
        for s in run["curve"]:  # a handful of devices: everything is answered, well within the target
            assert s["holds"] and s["connected"] == s["devices"]
            assert s["errors"] == s["dropped"] == s["busy"] == 0 and s["windows"] == s["expected_windows"] > 0
            assert 0 < s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"] < run["p99_target_ms"] == 5000
            assert s["server_cpu_cores"] > 0 and s["generator_cpu_cores"] > 0
        assert run["capacity_devices"] == 4 and run["auth"] == "device tokens"
    files = build_report([out], tmp_path / "report")
    assert (tmp_path / "report" / "capacity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "report" / "report.md").read_text()
    assert "Serving capacity" in md and "| json | 4 |" in md
    assert any(p.name == "capacity.png" for p in files)


def test_capacity_steps_are_checked():
    bad = run_harflow("loadtest", "--serve-model", "x", "--capacity", "--steps", "500,100", check=False)
    assert bad.returncode == 2 and "--steps needs increasing positive device counts" in bad.stderr
    bad = run_harflow("loadtest", "--serve-model", "x", "--capacity", "--clients", "xml", check=False)
    assert bad.returncode == 2 and "--clients takes json and/or binary" in bad.stderr


def test_a_capacity_file_without_a_curve_is_refused(tmp_path):
    doc = {
        "schema": "harflow.bench/1",
        "kind": "serve_capacity",
        "created": "x",
        "fingerprint": {},
        "runs": [],
    }
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(doc))
    try:
        schema.load(p)
    except schema.SchemaError as e:
        assert str(p) in str(e)
    else:
        raise AssertionError("an empty capacity file was accepted")


def test_a_step_holds_only_with_everything_answered_in_time():
    from harflow.bench.capacity import holds

    ok = {"devices": 10, "connected": 10, "p99_ms": 80.0, "errors": 0, "dropped": 0, "busy": 0}
    assert holds(ok, 100)
    for k, v in (("connected", 9), ("p99_ms", 100.0), ("errors", 1), ("dropped", 1), ("busy", 3)):
        assert not holds({**ok, k: v}, 100), k
