"""``harflow loadtest --storm``: a real server killed with SIGKILL under streaming devices and restarted on
the same store; the devices follow the documented client contract (reconnect with back-off, resend unanswered
chunks by seq), and nothing acknowledged is lost."""

from __future__ import annotations

import json

from tests.conftest import run_harflow


def test_kill_9_under_streaming_devices_loses_no_acknowledged_window(tiny_run, tmp_path):
    out = tmp_path / "storm.json"
    run_harflow(
        "loadtest", "--serve-model", str(tiny_run), "--backend", "torch", "--storm", "--subjects", "2",
        "--devices", "20", "--duration", "10", "--ramp", "2", "--kill-after-s", "3", "--generators", "2",
        "--out", str(out), timeout=400,
    )  # fmt: skip
    res = json.loads(out.read_text())
    assert res["devices"] == 20 and res["acknowledged_windows"] > 20 * 3
    # every window a device was answered for is in the store the restarted server wrote
    assert res["acknowledged_lost"] == 0
    # after the restart every device reconnected and resent: all windows of the 10 s got answered
    assert res["unanswered_windows"] == 0 and res["errors"] == 0
    assert res["connects"] >= 2 * 20 and res["reconnect_max_s"] is not None
    assert res["recovered_after_s"] is not None
