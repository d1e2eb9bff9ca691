"""CPU placement of data-parallel ranks: pinning a local rank to its share, comm threads ahead of compute."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harflow.train import placement


def _in_child(code: str, **env: str) -> dict:
    """Affinity changes stay out of the test process."""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}, check=True
    )
    return json.loads(out.stdout)


PIN = """
import json, os, threading, time
from harflow.train import placement
t = threading.Thread(target=time.sleep, args=(2,), daemon=True); t.start()  # a thread that exists before
got = placement.pin_local_rank({rank}, {world}, {threads})
print(json.dumps({{"got": got, "main": sorted(os.sched_getaffinity(0)),
                  "thread": sorted(os.sched_getaffinity(t.native_id))}}))
"""


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs to split")
def test_pin_gives_each_local_rank_its_own_share_including_existing_threads():
    cpus = sorted(os.sched_getaffinity(0))
    share = len(cpus) // 2
    r1 = _in_child(PIN.format(rank=1, world=2, threads=None))
    assert r1["got"] == cpus[share : 2 * share] == r1["main"] == r1["thread"]
    r0 = _in_child(PIN.format(rank=0, world=2, threads=None))
    assert r0["got"] == cpus[:share] and not set(r0["got"]) & set(r1["got"])


def test_pin_declines_when_it_would_oversubscribe_or_there_is_nothing_to_split():
    n = len(os.sched_getaffinity(0))
    assert _in_child(PIN.format(rank=0, world=2, threads=n))["got"] is None  # n threads don't fit in n/2 CPUs
    assert _in_child(PIN.format(rank=0, world=1, threads=None))["got"] is None
    assert _in_child(PIN.format(rank=0, world=n + 1, threads=None))["got"] is None  # a share would be empty


def test_placement_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("HARFLOW_CPU_PLACEMENT", "0")
    assert not placement.enabled()
    monkeypatch.setenv("HARFLOW_CPU_PLACEMENT", "1")
    assert placement.enabled()


PRIORITIZE = """
import json, os, threading
from harflow.train import placement
stop = threading.Event()
t = threading.Thread(target=stop.wait, args=(10,), daemon=True); t.start()
gone = int(open("/proc/sys/kernel/pid_max").read())  # no thread has this id (ids are below pid_max)
before = os.sched_getscheduler(0)
got = placement.prioritize_communication({tids})
out = {{"got": got, "before": before, "main": os.sched_getscheduler(0),
       "comm": os.sched_getscheduler(t.native_id)}}
placement.restore_compute_thread()
out["restored"] = os.sched_getscheduler(0)
stop.set()
print(json.dumps(out))
"""


def test_comm_threads_preempt_the_compute_thread_but_not_each_other():
    r = _in_child(PRIORITIZE.format(tids="{t.native_id, gone}"))
    assert r["before"] == os.SCHED_OTHER
    assert r["got"] == {"comm_threads_batch": 1, "compute_thread": "idle"}  # a thread that is gone is skipped
    assert r["comm"] == os.SCHED_BATCH  # woken, it never preempts another comm thread ...
    assert r["main"] == os.SCHED_IDLE  # ... but always the compute thread
    assert r["restored"] == os.SCHED_OTHER  # after the process group, back to normal


def test_compute_thread_stays_normal_when_no_comm_thread_changed():
    r = _in_child(PRIORITIZE.format(tids="{gone}"))
    assert r["got"] == {"comm_threads_batch": 0, "compute_thread": "normal"}
    assert r["main"] == os.SCHED_OTHER and r["comm"] == os.SCHED_OTHER


def test_placement_is_part_of_the_launch_config_and_the_environment_can_turn_it_off(monkeypatch):
    from harflow.train.config import TrainConfig
    from harflow.train.launch import placement_wanted

    monkeypatch.delenv("HARFLOW_CPU_PLACEMENT", raising=False)
    assert placement_wanted(TrainConfig())
    assert not placement_wanted(TrainConfig(place_ranks=False))
    monkeypatch.setenv("HARFLOW_CPU_PLACEMENT", "0")
    assert not placement_wanted(TrainConfig())
