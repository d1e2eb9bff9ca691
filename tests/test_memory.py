"""harflow.memory: fixed glibc malloc thresholds stop per-step buffers being page-faulted in every step."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# A step-like loop: allocate and free the same multi-MiB buffers again and again, and count minor faults.
PROBE = """
import json, resource, sys
import numpy as np
from harflow.memory import tune_malloc
applied = tune_malloc()
def faults(): return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):  # let the untuned threshold settle as far as it will on its own
    a = np.ones(4 << 20); b = np.ones(1 << 20); del a, b
f0 = faults()
for _ in range(50):
    bufs = [np.ones(n) for n in (3 << 18, 1 << 20, 5 << 17)]
    del bufs
print(json.dumps({"applied": applied, "faults": faults() - f0}))
"""


def _probe(tuning: str) -> dict:
    env = {**os.environ, "HARFLOW_MALLOC_TUNING": tuning}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")
def test_tuned_malloc_reuses_freed_buffers_instead_of_faulting_them_in() -> None:
    off, on = _probe("0"), _probe("1")
    assert off["applied"] is False and on["applied"] is True
    # 50 rounds of ~20 MiB: untuned, each round maps fresh pages (~5,000 faults); tuned, the heap reuses them
    assert off["faults"] > 50 * 1000
    assert on["faults"] < off["faults"] / 20
