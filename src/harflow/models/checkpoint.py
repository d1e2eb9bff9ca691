"""The run directory's files and their formats: the one module that writes and reads them.

A run directory holds ``model.pt`` (the best model: one snapshot dict), ``snapshot.pt`` (the latest full
training state, for ``--resume``), ``transitions.json`` (the change detector's learned transitions and
fitted parameters) and, after ``harflow export --onnx``, ``model.onnx``. Everything a served model needs
travels in its run dir. Snapshots are written atomically (tmp file + fsync + ``os.replace``) and read with
``weights_only=True``; JSON files beside them are written atomically too.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

FORMAT = "harflow.checkpoint/1"
MODEL_FILE = "model.pt"
SNAPSHOT_FILE = "snapshot.pt"
TRANSITIONS_FILE = "transitions.json"
ONNX_FILE = "model.onnx"


class CheckpointError(RuntimeError):
    pass


def save_atomic(obj: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """A reader sees either the old file or the complete new one, never a torn write."""
    _write_atomic(Path(path), lambda f: torch.save(obj, f))


def write_json(obj: Any, path: str | os.PathLike[str]) -> None:
    """A JSON file beside the checkpoint, written atomically like it."""
    data = json.dumps(obj).encode()
    _write_atomic(Path(path), lambda f: f.write(data))


def _write_atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
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


def read_json(path: str | os.PathLike[str]) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not readable as JSON ({e})") from e


def run_file(run_dir: str | os.PathLike[str], name: str) -> Path:
    """The file ``name`` beside a run's checkpoint (``run_dir`` a run directory or its checkpoint file)."""
    p = Path(run_dir)
    return (p if p.is_dir() else p.parent) / name


def model_snapshot(
    *,
    model_name: str,
    model_config: dict[str, Any],
    in_channels: int,
    num_classes: int,
    window_length: int,
    model_state: dict[str, Any],
    label_names: list[str],
    normalization: dict[str, Any],
    window: dict[str, Any],
    train_config: dict[str, Any],
) -> dict[str, Any]:
    """The part of a snapshot a served model needs; training adds its own state beside it."""
    from harflow import __version__

    return {
        "format": FORMAT,
        "harflow_version": __version__,
        # the fully resolved options, so a checkpoint never depends on today's defaults
        "model": {
            "name": model_name,
            "config": model_config,
            "in_channels": in_channels,
            "num_classes": num_classes,
            "window": window_length,
        },
        "model_state": model_state,
        "label_names": list(label_names),
        "normalization": normalization,
        "window": window,
        "train_config": train_config,
    }


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
