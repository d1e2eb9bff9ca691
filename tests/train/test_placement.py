"""CPU placement of data-parallel ranks: pinning a local rank to its share, short slices for comm threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

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


def test_short_slice_is_set_on_the_given_threads_only_and_keeps_their_nice():
    if placement.current_slice_ns(threading.get_native_id()) in (None, 0):
        pytest.skip("this kernel reports no EEVDF slice (custom slices need Linux >= 6.12)")
    main_before = placement.current_slice_ns(threading.get_native_id())
    ready, stop, box = threading.Event(), threading.Event(), {}

    def worker() -> None:
        box["tid"] = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, box["tid"], 3)  # raising one's own nice needs no privilege
        ready.set()
        stop.wait(10)

    t = threading.Thread(target=worker, daemon=True)
    t.start()
    ready.wait(5)
    try:
        assert placement.current_slice_ns(box["tid"]) != placement.COMM_SLICE_NS
        assert placement.request_short_slice({box["tid"]}) == 1
        assert placement.current_slice_ns(box["tid"]) == placement.COMM_SLICE_NS
        assert os.getpriority(os.PRIO_PROCESS, box["tid"]) == 3
        assert placement.current_slice_ns(threading.get_native_id()) == main_before
    finally:
        stop.set()
        t.join()
