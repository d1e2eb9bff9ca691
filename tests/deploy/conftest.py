"""Deploy fixtures: the rendered manifests of every overlay (rendered once per session)."""

from __future__ import annotations

import shutil

import pytest

from harflow.deploy.render import render


@pytest.fixture(scope="session", autouse=True)
def _kustomize_available() -> None:
    # Not a skip: CI must validate the manifests, so a machine without the tool fails loudly.
    if not (shutil.which("kustomize") or shutil.which("kubectl")):
        pytest.fail("rendering the manifests needs `kubectl` (kubectl kustomize) or `kustomize` on PATH")


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict]]:
    """overlay → service + training Job manifests; 'pytorchjob' → the PyTorchJob form."""
    out = {o: render(o, training=True) for o in ("cpu", "gpu", "dev")}
    out["pytorchjob"] = render("cpu", pytorchjob=True, service=False)
    return out
