"""Large REST bodies decode in a child process: results and errors come back whole, small bodies stay."""

from __future__ import annotations

import asyncio
import json
import os

import numpy as np
import pytest

from harflow.serve.decode_pool import MIN_BYTES, DecodePool
from harflow.serve.predict_body import BodyError, decode_windows


def _pid(raw: bytes) -> int:
    return os.getpid()


@pytest.fixture
def pool():
    p = DecodePool()
    yield p
    p.close()


def test_large_bodies_decode_in_another_process_and_small_ones_here(pool):
    big = b" " * MIN_BYTES
    assert asyncio.run(pool.run(_pid, big)) != os.getpid()
    assert asyncio.run(pool.run(_pid, b"[]")) == os.getpid()


def test_windows_and_errors_cross_the_process_boundary(pool):
    X = np.random.default_rng(1).normal(0, 0.3, (40, 128, 6)).round(4)
    raw = json.dumps({"windows": X.tolist()}).encode()
    assert len(raw) >= MIN_BYTES
    got = asyncio.run(pool.run(decode_windows, raw, 128, 6))
    assert np.allclose(got, X, atol=1e-6)
    bad = X.tolist()
    bad[39][5][2] = True
    with pytest.raises(BodyError) as e:
        asyncio.run(pool.run(decode_windows, json.dumps({"windows": bad}).encode(), 128, 6))
    assert list(e.value.loc) == ["body", "windows", 39, 5, 2] and e.value.type == "type_error"


def test_a_dead_child_is_replaced(pool):
    raw = b" " * MIN_BYTES
    first = asyncio.run(pool.run(_pid, raw))
    os.kill(first, 9)
    assert asyncio.run(pool.run(_pid, raw)) not in (first, os.getpid())
