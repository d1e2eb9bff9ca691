"""Shared fixtures: tiny real training runs on HAPT subjects, free loopback ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harflow.train.config import TrainConfig
from harflow.train.trainer import train

TINY_SUBJECTS = ["1", "3", "5", "2"]  # train 1,3 · val 5 · test 2
REPO = Path(__file__).resolve().parents[1]


def _tiny(out: Path, **kw) -> Path:
    cfg = TrainConfig(
        subjects=TINY_SUBJECTS, epochs=1, max_steps_per_epoch=8, out=str(out), progress=False, threads=1, **kw
    )
    train(cfg)
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real LSTM checkpoint trained for a few steps on 4 HAPT subjects (6 classes)."""
    return _tiny(tmp_path_factory.mktemp("tiny6") / "run")


@pytest.fixture(scope="session")
def tiny_run_12(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same with the 12-class label set (activities + postural transitions)."""
    return _tiny(tmp_path_factory.mktemp("tiny12") / "run", classes=12)


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_harflow(
    *args: str,
    env: dict | None = None,
    timeout: float = 600,
    check: bool = True,
    cwd: Path | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess:
    """Run the real `harflow` console entry point in a subprocess (``input``: its standard input)."""
    proc = subprocess.run(
        [sys.executable, "-m", "harflow.cli", *args],
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"harflow {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc
