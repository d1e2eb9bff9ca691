"""A restricted unpickler for the 2020 HAPT pandas pickle.

The file was written by pandas 1.0 with pickle protocol 2. Modern pandas cannot rebuild it, and unpickling
it unrestricted would execute whatever the file names. Here ``find_class`` admits only the dozen globals that
file uses, and maps every pandas name onto an inert stand-in that merely records the state it is given; numpy
names map to numpy's own array reconstructors. :func:`frames_to_columns` then turns the stand-ins into plain
numpy columns.
"""

from __future__ import annotations

import codecs
import copyreg
import io
import pickle
from typing import Any

import numpy as np


class ForbiddenPickleClass(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list."""


class _Stub:
    """Base of the pandas stand-ins: keeps whatever ``BUILD`` hands over."""

    state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _DataFrame(_Stub):
    pass


class _BlockManager(_Stub):
    pass


class _Index(_Stub):
    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data = data or {}

    def values(self) -> np.ndarray:
        return np.asarray(self.data["data"])


class _RangeIndex(_Index):
    def values(self) -> np.ndarray:
        d = self.data
        return np.arange(d.get("start", 0), d["stop"], d.get("step", 1))


def _new_index(cls: type, d: dict[str, Any]) -> _Index:
    if cls not in (_Index, _RangeIndex):
        raise ForbiddenPickleClass(f"_new_Index called with non-index class {cls!r}")
    return cls(d)


def _reconstructor(cls: type, base: type, state: Any) -> Any:
    # copyreg._reconstructor would call base.__new__(cls, state) for any base; only allow plain objects
    # of our own stand-in classes.
    if base is not object or not (isinstance(cls, type) and issubclass(cls, _Stub)) or state is not None:
        raise ForbiddenPickleClass(f"copy_reg._reconstructor with cls={cls!r}, base={base!r}")
    return object.__new__(cls)


def _encode(text: str, encoding: str = "latin1") -> bytes:
    # protocol 2 stores bytes as _codecs.encode(str, 'latin1'); nothing else is legitimate here.
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise ForbiddenPickleClass(f"_codecs.encode with encoding={encoding!r}")
    return codecs.encode(text, encoding)


def _np_reconstruct(subtype: type, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not np.ndarray:
        raise ForbiddenPickleClass(f"numpy _reconstruct of subtype {subtype!r}")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


ALLOWED: dict[tuple[str, str], Any] = {
    ("copy_reg", "_reconstructor"): _reconstructor,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
    ("__builtin__", "slice"): slice,
    ("builtins", "slice"): slice,
    ("_codecs", "encode"): _encode,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
    ("pandas.core.frame", "DataFrame"): _DataFrame,
    ("pandas.core.internals.managers", "BlockManager"): _BlockManager,
    ("pandas.core.indexes.base", "_new_Index"): _new_index,
    ("pandas.core.indexes.base", "Index"): _Index,
    ("pandas.core.indexes.range", "RangeIndex"): _RangeIndex,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler whose ``find_class`` admits only :data:`ALLOWED`."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise ForbiddenPickleClass(
                f"pickle refers to forbidden global {module}.{name}; only {len(ALLOWED)} numpy/pandas "
                "names are allowed"
            ) from None


def restricted_loads(data: bytes) -> Any:
    # Sanity check that copyreg is never reached for real (the allow-list maps it to our stand-in).
    assert copyreg._reconstructor is not _reconstructor
    return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()


def frames_to_columns(frame: Any) -> dict[str, np.ndarray]:
    """Turn a stand-in DataFrame into ``{column name: 1-D array}``."""
    if not isinstance(frame, _DataFrame) or not isinstance(frame.state, dict):
        raise pickle.UnpicklingError(f"expected a pickled DataFrame, got {type(frame).__name__}")
    mgr = frame.state.get("_data") or frame.state.get("_mgr")
    if not isinstance(mgr, _BlockManager) or not isinstance(mgr.state, tuple):
        raise pickle.UnpicklingError("DataFrame without a BlockManager state")
    _axes, _, _, extra = mgr.state
    info = extra["0.14.1"]
    columns = [str(c) for c in info["axes"][0].values()]
    n_rows = len(info["axes"][1].values())
    out: dict[str, np.ndarray] = {}
    for block in info["blocks"]:
        values = np.asarray(block["values"])
        locs = block["mgr_locs"]
        idx = range(len(columns))[locs] if isinstance(locs, slice) else np.asarray(locs).tolist()
        values = values.reshape(len(idx), n_rows)
        for row, col in zip(values, idx, strict=True):
            out[columns[col]] = np.ascontiguousarray(row)
    missing = set(columns) - set(out)
    if missing:
        raise pickle.UnpicklingError(f"DataFrame blocks do not cover columns {sorted(missing)}")
    return out
