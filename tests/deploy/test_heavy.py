"""Opt-in (``pytest -m heavy tests/deploy``): build the image and smoke-run it; the end-to-end run on a real
single-node cluster. Minutes each; the e2e skips, saying why, when the cluster binaries are not built."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.heavy, pytest.mark.root]


def _root_or_skip() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (rootful podman, dockerd, kubelet)")


def test_image_builds_and_smoke_runs():
    _root_or_skip()
    if not (shutil.which("podman") or shutil.which("docker") or shutil.which("apt-get")):
        pytest.skip("no podman/docker and no apt-get to install podman")
    run = dict(cwd=REPO, capture_output=True, text=True)
    b = subprocess.run(["bash", "scripts/image-build.sh"], timeout=3000, **run)
    assert b.returncode == 0, b.stdout[-3000:] + b.stderr[-3000:]
    s = subprocess.run(["bash", "scripts/image-smoke.sh"], timeout=600, **run)
    assert s.returncode == 0, s.stdout[-3000:] + s.stderr[-3000:]
    assert "smoke: OK" in s.stdout and "/readyz" in s.stdout
    print(s.stdout)


def test_e2e_on_local_kubernetes(tmp_path):
    _root_or_skip()
    cache = Path(os.environ.get("HARFLOW_K8S_CACHE", "/var/cache/harflow-k8s"))
    if not (cache / "bin" / "kubelet").exists():
        pytest.skip(
            f"cluster binaries not built in {cache}/bin: run `bash scripts/k8s-build.sh` (~10 min) "
            "or `make e2e-k8s`, which builds them"
        )
    summary = tmp_path / "summary.json"
    p = subprocess.run(
        ["bash", "scripts/k8s-e2e.sh"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=3000,
        env={**os.environ, "E2E_SUMMARY": str(summary)},
    )
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]
    s = json.loads(summary.read_text())
    assert s["ok"]
    assert s["steps"]["stream through port-forward"]["predictions"] > 0
    assert s["steps"]["training job"]["test_accuracy"] is not None
    assert s["steps"]["lost pod resumes"]["resumed_from_snapshot"]
