"""``python -m harflow.bench.attack --dry-run`` as users run it: a real server, a good stream and one attacker
in a process of its own, pinned to its own core with ``--pin``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="--pin needs two cores")
def test_attack_dry_run_reports_the_good_stream_beside_each_attacker(tiny_run):
    args = ["--model", str(tiny_run), "--dry-run", "--pin", "--attacks", "row2", "--repeat", "2"]
    r = subprocess.run(
        [sys.executable, "-m", "harflow.bench.attack", *args], capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    runs = [x for x in lines if "attack" in x]
    assert [(x["attack"], x["round"]) for x in runs] == [("row2", 0), ("row2", 1)]
    for x in runs:  # every window of the good stream answered, none with an error
        assert x["answered"] > 0 and x["errors"] == [] and x["pinned"]
    assert all(isinstance(x["attack_requests"], int) and x["attack_requests"] > 0 for x in runs)
    summary = {x["summary"]["attack"]: x["summary"] for x in lines if "summary" in x}
    assert set(summary) == {"row2"} and summary["row2"]["runs"] == 2
    assert (
        summary["row2"]["p99_ms"]["min"]
        <= summary["row2"]["p99_ms"]["median"]
        <= summary["row2"]["p99_ms"]["max"]
    )
