"""The REST predict body: strict types, shapes and values, and work bounded before the decoder runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harflow.serve.predict_body import BodyError, decode_windows
from harflow.serve.protocol import MAX_PREDICT_WINDOWS

L, C = 128, 6


def body(windows) -> bytes:
    return json.dumps({"windows": windows}).encode()


def test_valid_windows_come_back_as_float32():
    X = np.random.default_rng(0).normal(0, 0.3, (3, L, C)).round(4)
    got = decode_windows(body(X.tolist()), L, C)
    assert got.dtype == np.float32 and got.shape == (3, L, C)
    assert np.allclose(got, X, atol=1e-6)


@pytest.mark.parametrize(
    ("raw", "loc", "kind"),
    [
        (body([[["1"] * C] * L]), ["body", "windows", 0, 0, 0], "type_error"),
        (body([[[True] * C] * L]), ["body", "windows", 0, 0, 0], "type_error"),
        (body([]), ["body", "windows"], "too_short"),
        (b"{}", ["body"], "type_error"),
        (b"{oops", ["body"], "json_invalid"),
        (b'{"windows": [[[NaN, 1, 1, 1, 1, 1]]]}', ["body"], "json_invalid"),
    ],
    ids=["string", "bool", "empty", "missing", "not-json", "nan-literal"],
)
def test_invalid_bodies_name_where_without_echoing(raw, loc, kind):
    with pytest.raises(BodyError) as e:
        decode_windows(raw, L, C)
    assert list(e.value.loc) == loc and e.value.type == kind
    assert "oops" not in str(e.value) and '"1"' not in str(e.value)


def test_shapes_and_absurd_values_are_plain_errors():
    with pytest.raises(BodyError, match="window 0 has shape") as e:
        decode_windows(body([[[0.1] * C] * 100]), L, C)
    assert e.value.plain
    X = np.zeros((2, L, C))
    X[1, 5, 2] = 1e12
    with pytest.raises(BodyError, match="window 1 contains NaN, inf or absurd"):
        decode_windows(body(X.tolist()), L, C)


def test_more_windows_than_allowed_are_refused():
    for n in (MAX_PREDICT_WINDOWS + 1, 2 * MAX_PREDICT_WINDOWS):  # decoder, then scan
        with pytest.raises(BodyError) as e:
            decode_windows(body([[[0.0] * C] * L] * n), L, C)
        assert list(e.value.loc) == ["body", "windows"] and e.value.type == "too_long"


def test_junk_is_refused_by_its_separators_before_decoding():
    """issue 18 row 2: 3 MB of small nested arrays held the GIL for ~90 ms in pydantic (~140 ms in msgspec)
    before failing as truncated JSON. Refused from the separator count, it fails as too long: the decoder,
    which would have called it truncated, never ran."""
    junk = b'{"windows": [' + b",".join([b"[[1e5, 2e5, 3e5]]"] * 180_000)
    with pytest.raises(BodyError) as e:
        decode_windows(junk, L, C)
    assert e.value.type == "too_long" and list(e.value.loc) == ["body", "windows"]
    with pytest.raises(BodyError) as e:  # the same bytes with fewer arrays do reach the decoder
        decode_windows(junk[:1000], L, C)
    assert e.value.type == "json_invalid"
