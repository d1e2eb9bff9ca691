"""Snapshot dicts on disk.

Written atomically (tmp file + fsync + os.replace), read with ``weights_only=True``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

FORMAT = "harflow.checkpoint/1"
MODEL_FILE = "model.pt"


class CheckpointError(RuntimeError):
    pass


def save_atomic(obj: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """A reader sees either the old file or the complete new one, never a torn write."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def resolve(path: str | os.PathLike[str]) -> Path:
    """A run's checkpoint: ``path/model.pt`` for a run directory, else ``path`` itself (the one place that
    knows the file name; training, evaluation and serving all resolve through it)."""
    path = Path(path)
    return path / MODEL_FILE if path.is_dir() else path


def load(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = resolve(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint there (train one with `harflow train --out DIR`)")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"{path}: not a readable harflow checkpoint ({e})") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a {FORMAT} snapshot")
    return ckpt
