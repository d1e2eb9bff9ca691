"""Render harflow's Kubernetes manifests: ``kubectl kustomize`` of an overlay, then the few per-run overrides
kustomize cannot express (training pod count, image of harflow's containers, API versions of an older server).
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

OVERLAYS = ("cpu", "gpu", "dev")
KUBE_VERSION = "1.30"  # the Kubernetes version the manifests target; CI validates against it
HARFLOW_CONTAINERS = ("serve", "train", "pytorch")  # containers that run the harflow image
Doc = dict[str, Any]


class RenderError(ValueError):
    """A manifest could not be rendered (missing tool, bad overlay, bad option)."""


def k8s_dir() -> Path:
    """deploy/k8s of this checkout, or $HARFLOW_K8S_DIR (the manifests are not part of the wheel)."""
    env = os.environ.get("HARFLOW_K8S_DIR")
    d = Path(env) if env else Path(__file__).resolve().parents[3] / "deploy" / "k8s"
    if not (d / "base" / "kustomization.yaml").is_file():
        raise RenderError(f"no kustomize tree at {d} (set HARFLOW_K8S_DIR to a checkout's deploy/k8s)")
    return d


def kustomize(path: Path) -> list[Doc]:
    """Build a kustomization with a standalone `kustomize` or `kubectl kustomize` (both work offline)."""
    if shutil.which("kustomize"):
        cmd = ["kustomize", "build", str(path)]
    elif shutil.which("kubectl"):
        cmd = ["kubectl", "kustomize", str(path)]
    else:
        raise RenderError("neither kustomize nor kubectl is on PATH; install one to render manifests")
    import yaml

    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RenderError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def _pod_specs(doc: Doc) -> Iterable[Doc]:
    kind, spec = doc.get("kind"), doc.get("spec") or {}
    if kind in ("Deployment", "StatefulSet", "Job", "DaemonSet", "ReplicaSet"):
        yield spec["template"]["spec"]
    elif kind == "PyTorchJob":
        for rs in (spec.get("pytorchReplicaSpecs") or {}).values():
            yield rs["template"]["spec"]


def _harflow_containers(doc: Doc) -> Iterable[Doc]:
    for ps in _pod_specs(doc):
        for c in ps.get("containers", []) + ps.get("initContainers", []):
            if c.get("name") in HARFLOW_CONTAINERS:
                yield c


def set_image(docs: list[Doc], image: str) -> None:
    for d in docs:
        for c in _harflow_containers(d):
            c["image"] = image


def replace_images(docs: list[Doc], mapping: dict[str, str]) -> None:
    """Swap whole image references (e.g. the official postgres image for a locally built one)."""
    for d in docs:
        for ps in _pod_specs(d):
            for c in ps.get("containers", []) + ps.get("initContainers", []):
                if c.get("image") in mapping:
                    c["image"] = mapping[c["image"]]


def _set_env(container: Doc, name: str, value: str) -> None:
    env = container.setdefault("env", [])
    for e in env:
        if e.get("name") == name:
            e.pop("valueFrom", None)
            e["value"] = value
            return
    env.append({"name": name, "value": value})


def set_workers(docs: list[Doc], n: int) -> None:
    """Training pod count: Indexed Job completions/parallelism + torchrun --nnodes, or PyTorchJob replicas."""
    if n < 1:
        raise RenderError(f"--workers must be at least 1, got {n}")
    found = False
    for d in docs:
        if d.get("kind") == "Job" and d["spec"].get("completionMode") == "Indexed":
            d["spec"]["completions"] = d["spec"]["parallelism"] = n
            for c in _harflow_containers(d):
                _set_env(c, "HARFLOW_WORKERS", str(n))
            found = True
        elif d.get("kind") == "PyTorchJob":
            spec = d["spec"]
            spec["pytorchReplicaSpecs"]["Worker"]["replicas"] = n
            if "elasticPolicy" in spec:
                spec["elasticPolicy"]["minReplicas"] = spec["elasticPolicy"]["maxReplicas"] = n
            found = True
    if not found:
        raise RenderError("--workers given but the rendered manifests contain no training job")


def set_run_id(docs: list[Doc], run_id: str) -> None:
    """Name of the training Job and its run dir on the shared volume (one Job per run: Jobs are immutable)."""
    for d in docs:
        if d.get("kind") == "Job" and d["spec"].get("completionMode") == "Indexed":
            d["metadata"]["name"] = run_id
            for c in _harflow_containers(d):
                _set_env(c, "HARFLOW_RUN_ID", run_id)


def _version_tuple(v: str) -> tuple[int, int]:
    parts = v.lstrip("v").split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        raise RenderError(f"Kubernetes version must look like 1.30, got {v!r}") from None


# (kind, apiVersion) -> (first minor release serving it, older apiVersion with the same fields)
_LEGACY = {
    ("HorizontalPodAutoscaler", "autoscaling/v2"): (23, "autoscaling/v2beta2"),
    ("PodDisruptionBudget", "policy/v1"): (21, "policy/v1beta1"),
}


def for_server(docs: list[Doc], version: str) -> list[Doc]:
    """Rewrite API versions a server older than the manifests' target (1.23+) does not serve."""
    major, minor = _version_tuple(version)
    out = copy.deepcopy(docs)
    for d in out:
        rule = _LEGACY.get((d.get("kind"), d.get("apiVersion")))
        if rule and (major, minor) < (1, rule[0]):
            d["apiVersion"] = rule[1]
    return out


def render(
    overlay: str,
    *,
    training: bool = False,
    pytorchjob: bool = False,
    workers: int | None = None,
    image: str | None = None,
    images: dict[str, str] | None = None,
    run_id: str | None = None,
    server_version: str | None = None,
    service: bool = True,
    root: Path | None = None,
) -> list[Doc]:
    """The manifests of one overlay: the service, plus the training Job (or PyTorchJob) when asked."""
    if overlay not in OVERLAYS:
        raise RenderError(f"unknown overlay {overlay!r}; choose one of {', '.join(OVERLAYS)}")
    root = root or k8s_dir()
    svc = kustomize(root / "overlays" / overlay)
    docs: list[Doc] = svc if service else []
    if pytorchjob:
        pj = kustomize(root / "pytorchjob")
        ns = next((d["metadata"]["name"] for d in svc if d["kind"] == "Namespace"), None)
        for d in pj:
            if ns:
                d["metadata"]["namespace"] = ns
        docs += pj
    elif training or workers is not None:
        docs += kustomize(root / "overlays" / overlay / "training")
    if workers is not None:
        set_workers(docs, workers)
    if run_id:
        set_run_id(docs, run_id)
    if image:
        set_image(docs, image)
    if images:
        replace_images(docs, images)
    if server_version:
        docs = for_server(docs, server_version)
    return docs


def to_yaml(docs: list[Doc]) -> str:
    import yaml

    return yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False)
