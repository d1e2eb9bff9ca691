"""Static checks of the Dockerfiles (the CUDA one cannot be built here), and that the checks can fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.dockerfile_check import check, parse

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "deploy" / "docker"


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.cuda"])
def test_dockerfiles_meet_the_image_rules(name):
    assert check(DOCKER / name) == []


def test_cuda_variant_uses_cuda_runtime_base_and_cuda_torch():
    df = parse((DOCKER / "Dockerfile.cuda").read_text())
    assert "nvidia/cuda" in df.global_args["BASE_IMAGE"] and "runtime" in df.global_args["BASE_IMAGE"]
    build_args = dict(a.partition("=")[::2] for a in df.stages[0].all("ARG"))
    assert "/whl/cu" in build_args["TORCH_INDEX_URL"]


def test_cpu_image_defaults_to_official_slim_python_and_cpu_torch():
    df = parse((DOCKER / "Dockerfile").read_text())
    assert df.global_args["BASE_IMAGE"].startswith("python:3.11-slim")
    build_args = dict(a.partition("=")[::2] for a in df.stages[0].all("ARG"))
    assert build_args["TORCH_INDEX_URL"].endswith("/whl/cpu")


def test_dockerignore_keeps_the_context_small():
    lines = (REPO / ".dockerignore").read_text().split()
    assert lines[lines.index("*")] == "*"  # allow-list: everything out ...
    assert {"!src", "!pyproject.toml"} <= set(lines)  # ... except what the build needs


BAD = {
    "runs as root": ("USER 10001:10001", "USER root"),
    "single stage": ("FROM ${BASE_IMAGE}\nLABEL", "LABEL"),
    "shell-form entrypoint": ('ENTRYPOINT ["harflow"]', "ENTRYPOINT harflow"),
    "no healthcheck": ("HEALTHCHECK ", "# HEALTHCHECK "),
    "compiler in final stage": ("COPY --from=build", "RUN apt-get install -y gcc\nCOPY --from=build"),
    "hard-coded base": ("FROM ${BASE_IMAGE}\nLABEL", "FROM debian:bookworm\nLABEL"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_broken_dockerfile_is_caught(tmp_path, name):
    old, new = BAD[name]
    text = (DOCKER / "Dockerfile").read_text()
    assert old in text
    f = tmp_path / "Dockerfile"
    f.write_text(text.replace(old, new, 1) if name != "no healthcheck" else _drop_healthcheck(text))
    assert check(f), f"{name}: not detected"


def _drop_healthcheck(text: str) -> str:
    out, skip = [], False
    for ln in text.splitlines():
        if ln.startswith("HEALTHCHECK"):
            skip = ln.endswith("\\")
            continue
        if skip:
            skip = ln.endswith("\\")
            continue
        out.append(ln)
    return "\n".join(out)
