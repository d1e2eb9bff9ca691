"""Offline validation of rendered manifests.

Built-in kinds: ``kubernetes-validate`` in strict mode (unknown fields are errors) against a stated
Kubernetes version. Kubeflow's PyTorchJob: the CRD's openAPIV3Schema vendored in deploy/k8s/crds, made strict
the same way (an object with listed properties admits no others unless it says
x-kubernetes-preserve-unknown-fields), and its pod templates additionally checked as core PodTemplateSpecs.
"""

from __future__ import annotations

import copy
import functools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from harflow.deploy.render import KUBE_VERSION, Doc, k8s_dir

__all__ = ["KUBE_VERSION", "Problem", "load_files", "validate_docs"]
CRD_FILES = {("kubeflow.org", "PyTorchJob"): "crds/kubeflow.org_pytorchjobs.yaml"}


@dataclass
class Problem:
    resource: str  # Kind/name
    where: str  # JSON path inside the resource
    message: str

    def __str__(self) -> str:
        return f"{self.resource}: {self.where}: {self.message}"


def _name(doc: Doc) -> str:
    return f"{doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '?')}"


def _strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@functools.lru_cache(maxsize=4)
def crd_schema(group: str, kind: str, version: str, root: str | None = None) -> dict[str, Any]:
    rel = CRD_FILES.get((group, kind))
    if rel is None:
        raise KeyError(f"no vendored CRD for {group}/{kind}")
    crd = yaml.safe_load((Path(root) if root else k8s_dir()).joinpath(rel).read_text())
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            return _strict(v["schema"]["openAPIV3Schema"])
    raise KeyError(f"vendored CRD {group}/{kind} has no version {version}")


def _path(err: jsonschema.ValidationError) -> str:
    return "." + ".".join(str(p) for p in err.absolute_path) if err.absolute_path else "(top level)"


def _validate_crd(doc: Doc, group: str, version: str, kube_version: str, root: str | None) -> list[Problem]:
    schema = crd_schema(group, doc["kind"], version, root)
    v = jsonschema.Draft7Validator(schema)
    probs = [Problem(_name(doc), _path(e), e.message) for e in sorted(v.iter_errors(doc), key=str)]
    if (
        doc["kind"] == "PyTorchJob"
    ):  # the CRD leaves pod templates loosely typed in places: check them as core
        for role, rs in ((doc.get("spec") or {}).get("pytorchReplicaSpecs") or {}).items():
            tmpl = {
                "apiVersion": "v1",
                "kind": "PodTemplate",
                "metadata": {"name": f"{_name(doc)}-{role}"},
                "template": copy.deepcopy(rs.get("template") or {}),
            }
            for p in _validate_core(tmpl, kube_version):
                probs.append(
                    Problem(_name(doc), f".spec.pytorchReplicaSpecs.{role}.template{p.where[1:]}", p.message)
                )
    return probs


def _validate_core(doc: Doc, kube_version: str) -> list[Problem]:
    try:
        kubernetes_validate.validate(doc, kube_version, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [Problem(_name(doc), _path(e), e.message)]
    except kubernetes_validate.SchemaNotFoundError:
        return [
            Problem(
                _name(doc),
                "apiVersion",
                f"{doc.get('apiVersion')} {doc.get('kind')} is not served by "
                f"Kubernetes {kube_version} (and no vendored CRD matches)",
            )
        ]
    return []


def validate_docs(
    docs: list[Doc], kube_version: str = KUBE_VERSION, root: str | None = None
) -> list[Problem]:
    """Every problem found; an empty list means every document is valid."""
    probs: list[Problem] = []
    for doc in docs:
        if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
            probs.append(
                Problem(
                    _name(doc) if isinstance(doc, dict) else "?",
                    "(top level)",
                    "not a Kubernetes object (needs apiVersion and kind)",
                )
            )
            continue
        group, _, version = doc["apiVersion"].rpartition("/")
        if (group, doc["kind"]) in CRD_FILES:
            probs += _validate_crd(doc, group, version, kube_version, root)
        else:
            probs += _validate_core(doc, kube_version)
    return probs


def load_files(paths: list[str]) -> list[Doc]:
    docs: list[Doc] = []
    for p in paths:
        text = Path(p).read_text() if p != "-" else sys.stdin.read()
        try:
            docs += [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as e:
            raise ValueError(f"{p}: not valid YAML: {e}") from None
    return docs
