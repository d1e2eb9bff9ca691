"""Static checks of harflow's Dockerfiles, for images that cannot be built here (the CUDA variant) and as a
fast guard for the CPU one: multi-stage, configurable base, non-root runtime, no build tooling in the final
stage, volumes, entrypoint and health check."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|build-essential|make|cmake|python3-dev|git)\b")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, op: str) -> list[str]:
        return [arg for o, arg in self.instructions if o == op]


@dataclass
class Dockerfile:
    global_args: dict[str, str | None]
    stages: list[Stage]


def parse(text: str) -> Dockerfile:
    """Instructions with line continuations joined; comments dropped. Enough for the checks below."""
    lines: list[str] = []
    buf = ""
    for raw in text.splitlines():
        s = raw.strip()
        if not buf and (not s or s.startswith("#")):
            continue
        if s.startswith("#"):
            continue
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        lines.append(buf + s)
        buf = ""
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    for ln in lines:
        op, _, arg = ln.partition(" ")
        op, arg = op.upper(), arg.strip()
        if op == "FROM":
            m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", arg, re.IGNORECASE)
            if not m:
                raise ValueError(f"cannot parse FROM {arg!r}")
            stages.append(Stage(m.group(1), m.group(2)))
        elif not stages:
            if op == "ARG":
                k, _, v = arg.partition("=")
                global_args[k] = v or None
        else:
            stages[-1].instructions.append((op, arg))
    return Dockerfile(global_args, stages)


def check(path: str | Path) -> list[str]:
    """Problems found in a Dockerfile (empty when it meets harflow's image rules)."""
    df = parse(Path(path).read_text())
    probs: list[str] = []
    if "BASE_IMAGE" not in df.global_args or not df.global_args["BASE_IMAGE"]:
        probs.append("no `ARG BASE_IMAGE=<default>` before the first FROM")
    if len(df.stages) < 2:
        probs.append("not multi-stage (build tools and caches must stay out of the final image)")
        return probs
    final = df.stages[-1]
    if final.base not in ("${BASE_IMAGE}", "$BASE_IMAGE"):
        probs.append(f"final stage is FROM {final.base}, not FROM ${{BASE_IMAGE}}")
    users = final.all("USER")
    if not users:
        probs.append("final stage has no USER (would run as root)")
    elif users[-1].split(":")[0] in ("0", "root"):
        probs.append(f"final USER is {users[-1]} (root)")
    for run in final.all("RUN"):
        if BUILD_TOOLS.search(run):
            probs.append(f"final stage installs build tooling: RUN {run[:80]}")
        if re.search(r"\bpip\d?\s+install\b", run):
            probs.append("final stage runs pip install (install in the build stage, copy the venv)")
    if not any("--from=" in c for c in final.all("COPY")):
        probs.append("final stage copies nothing from the build stage")
    ep = final.all("ENTRYPOINT")
    if not ep or _json_or_none(ep[-1]) != ["harflow"]:
        probs.append(f'ENTRYPOINT is {ep[-1] if ep else "missing"}, expected ["harflow"] (exec form)')
    vols = " ".join(final.all("VOLUME"))
    for v in ("/runs", "/data"):
        if v not in vols:
            probs.append(f"{v} is not declared a VOLUME")
    hc = final.all("HEALTHCHECK")
    if not hc or "/readyz" not in hc[-1]:
        probs.append("no HEALTHCHECK probing /readyz")
    return probs


def _json_or_none(s: str):
    try:
        return json.loads(s)
    except ValueError:
        return None
