"""Results files: one JSON document per study, validated on write and on read.

Every file carries ``schema``, ``kind`` (train | accuracy | batch_size | roof | env | zoo | serve_capacity),
``created``, the environment ``fingerprint`` and a list ``runs`` whose entries depend on the kind.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SCHEMA = "harflow.bench/1"
KINDS = ("train", "accuracy", "batch_size", "roof", "env", "zoo", "serve_capacity")


class SchemaError(ValueError):
    """A results file is not what ``harflow bench`` writes; the message names the file and the field."""


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Fingerprint(_Open):
    environment: Literal["host", "container", "kubernetes"]
    container_runtime: str | None = None
    hostname: str
    cpu_model: str
    cpu_count: int = Field(ge=1)
    cpu_affinity: int = Field(ge=1)
    cpu_quota: float | None = None
    memory_total_mb: float = Field(gt=0)
    memory_limit_mb: float | None = None
    gpu: list[dict[str, Any]]
    torch: str
    cuda: str | None = None
    nccl: str | None = None
    gloo: bool
    threads: dict[str, Any]


def _finite(v: float | None) -> float | None:
    if v is not None and not math.isfinite(v):
        raise ValueError("must be a finite number")
    return v


class TrainRun(_Open):
    nproc: int = Field(ge=1)
    nnodes: int = Field(ge=1)
    device: Literal["cpu", "cuda"]
    engine: Literal["ddp", "horovod"]
    model: str
    scaling: Literal["baseline", "strong", "weak", "independent"]
    global_batch: int = Field(ge=1)
    per_worker_batch: int = Field(ge=1)
    threads_per_process: int = Field(ge=1)
    samples_per_s: float = Field(gt=0)
    speedup: float | None
    strong_scaling_efficiency: float | None
    weak_scaling_efficiency: float | None
    comm_fraction: float = Field(ge=0, le=1)
    peak_mem_mb: float = Field(gt=0)
    step_ms: dict[str, float]
    timed_steps: int = Field(ge=1)
    model_flops_per_sample: float = Field(gt=0)
    model_flops_per_s: float = Field(gt=0)

    _fin = field_validator("speedup", "strong_scaling_efficiency", "weak_scaling_efficiency")(_finite)

    @field_validator("step_ms")
    @classmethod
    def _breakdown(cls, v: dict[str, float]) -> dict[str, float]:
        need = {"step", "data", "forward_backward", "comm", "optimizer"}
        if missing := need - set(v):
            raise ValueError(f"step_ms lacks {sorted(missing)}")
        return v


class AccuracyRun(_Open):
    nproc: int = Field(ge=1)
    device: str
    global_batch: int = Field(ge=1)
    target: float = Field(gt=0, le=1)
    reached: bool
    time_to_target_s: float | None
    epochs_to_target: int | None
    curve: list[dict[str, float]]


class BatchSizeRun(_Open):
    global_batch: int = Field(ge=1)
    target: float = Field(gt=0, le=1)
    best_lr: float | None
    steps_to_target: int | None
    sweep: list[dict[str, Any]]


class ZooRun(_Open):
    model: str
    classes: int = Field(ge=2)
    seed: int
    test_accuracy: float = Field(ge=0, le=1)
    test_macro_f1: float = Field(ge=0, le=1)
    val_macro_f1: float
    train_seconds: float = Field(ge=0)
    samples_per_s: float = Field(ge=0)


class RoofRun(_Open):
    device: str
    gemm_flops: float = Field(gt=0)
    mem_bandwidth_bytes_per_s: float = Field(gt=0)


class CapacityStep(_Open):
    devices: int = Field(ge=1)
    connected: int = Field(ge=0)
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int = Field(ge=0)
    dropped: int = Field(ge=0)
    busy: int = Field(ge=0)
    server_cpu_cores: float = Field(ge=0)
    server_cpu_us_per_window: float = Field(ge=0)
    generator_cpu_cores: float = Field(ge=0)
    load_avg_1m: list[float]
    holds: bool


class CapacityRun(_Open):
    clients: Literal["json", "binary"]
    capacity_devices: int = Field(ge=0)
    p99_target_ms: float = Field(gt=0)
    workers: int = Field(ge=1)
    generators: int = Field(ge=1)
    curve: list[CapacityStep] = Field(min_length=1)


class ResultsFile(_Open):
    schema_: Literal["harflow.bench/1"] = Field(alias="schema")
    kind: Literal["train", "accuracy", "batch_size", "roof", "env", "zoo", "serve_capacity"]
    created: str
    fingerprint: Fingerprint
    runs: list[dict[str, Any]]
    notes: list[str] = []


_RUN_MODELS: dict[str, type[BaseModel] | None] = {
    "train": TrainRun,
    "accuracy": AccuracyRun,
    "batch_size": BatchSizeRun,
    "roof": RoofRun,
    "env": None,
    "zoo": ZooRun,
    "serve_capacity": CapacityRun,
}


def _fmt(e: ValidationError, prefix: str) -> str:
    parts = []
    for err in e.errors()[:5]:
        loc = ".".join(str(x) for x in (prefix, *err["loc"]) if x != "")
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def validate(doc: Any, source: str = "<results>") -> dict[str, Any]:
    """Check ``doc`` against the schema; raise :class:`SchemaError` naming ``source`` and the bad field."""
    if not isinstance(doc, dict):
        raise SchemaError(f"{source}: a results file must be a JSON object, got {type(doc).__name__}")
    try:
        ResultsFile.model_validate(doc)
    except ValidationError as e:
        raise SchemaError(f"{source}: {_fmt(e, '')}") from None
    model = _RUN_MODELS[doc["kind"]]
    if model is not None:
        if not doc["runs"]:
            raise SchemaError(f"{source}: runs: a {doc['kind']} results file needs at least one run")
        for i, run in enumerate(doc["runs"]):
            try:
                model.model_validate(run)
            except ValidationError as e:
                raise SchemaError(f"{source}: {_fmt(e, f'runs.{i}')}") from None
    return doc


def load(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError:
        raise SchemaError(f"{p}: no such results file") from None
    except json.JSONDecodeError as e:
        raise SchemaError(f"{p}: not JSON ({e})") from None
    return validate(doc, str(p))


def write(path: str | Path, doc: dict[str, Any]) -> Path:
    """Validate, then write atomically (tmp file in the same directory + ``os.replace``)."""
    p = Path(path)
    validate(doc, str(p))
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def new_document(kind: str, fingerprint: dict[str, Any], runs: list[dict[str, Any]], **extra: Any) -> dict:
    import datetime

    if kind not in KINDS:
        raise ValueError(f"unknown results kind {kind!r}; one of {KINDS}")
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"schema": SCHEMA, "kind": kind, "created": now, "fingerprint": fingerprint, "runs": runs, **extra}
