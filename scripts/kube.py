"""Thin ``kubectl`` wrapper for the end-to-end run (the cluster is real; this only shells out)."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import yaml


class KubeError(RuntimeError):
    pass


def kubectl(
    *args: str, ns: str | None = None, input: str | None = None, timeout: float = 120, check: bool = True
) -> str:
    cmd = ["kubectl", *(["-n", ns] if ns else []), *args]
    p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise KubeError(f"{' '.join(cmd)}: {p.stderr.strip() or p.stdout.strip()}")
    return p.stdout


def apply(docs: list[dict[str, Any]], ns: str | None = None) -> str:
    return kubectl("apply", "-f", "-", ns=ns, input=yaml.safe_dump_all(docs, sort_keys=False))


def get(kind: str, name: str | None = None, ns: str | None = None, selector: str | None = None) -> Any:
    args = ["get", kind, *([name] if name else []), *(["-l", selector] if selector else []), "-o", "json"]
    return json.loads(kubectl(*args, ns=ns))


def wait_until(what: str, fn, timeout: float, interval: float = 2.0, describe=None):
    """Poll fn() until it returns a truthy value; on timeout raise with describe()'s diagnostics."""
    t0 = time.monotonic()
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() - t0 > timeout:
            extra = f"\n{describe()}" if describe else ""
            raise KubeError(f"timed out after {timeout:.0f}s waiting for {what}{extra}")
        time.sleep(interval)


def pods_summary(ns: str) -> str:
    return (
        kubectl("get", "pods", "-o", "wide", ns=ns, check=False)
        + kubectl("get", "events", "--sort-by=.lastTimestamp", ns=ns, check=False)[-3000:]
    )
