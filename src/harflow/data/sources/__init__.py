"""Dataset registry: a source is one module that registers a loader under a name.

``--data hapt`` or ``--data csv:PATH`` picks one; adding a dataset is one file that calls
:func:`register_dataset`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harflow.data.recordings import RecordingSet

Loader = Callable[..., RecordingSet]
DATASETS: dict[str, Loader] = {}


def register_dataset(name: str) -> Callable[[Loader], Loader]:
    def deco(fn: Loader) -> Loader:
        DATASETS[name] = fn
        return fn

    return deco


def load_recordings(spec: str, **kwargs: Any) -> RecordingSet:
    """``spec`` is ``NAME`` or ``NAME:ARG`` (e.g. ``hapt``, ``csv:/data/mine``)."""
    from harflow.data.sources import csv as _csv  # noqa: F401  (registration)
    from harflow.data.sources import hapt as _hapt  # noqa: F401

    name, _, arg = spec.partition(":")
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r} in --data {spec!r}; known: {', '.join(sorted(DATASETS))}")
    return DATASETS[name](arg, **kwargs) if arg else DATASETS[name](**kwargs)
