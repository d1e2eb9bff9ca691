"""Results-file schema, analytic FLOPs and the environment fingerprint."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from harflow.bench import schema
from harflow.bench.fingerprint import cpu_quota, detect_environment, memory_limit_mb
from harflow.bench.flops import forward_flops, lstm_flops
from harflow.models import build_model


def test_valid_document_roundtrips(train_doc: dict, tmp_path: Path) -> None:
    p = schema.write(tmp_path / "r.json", train_doc)
    assert schema.load(p)["runs"][1]["speedup"] == pytest.approx(1.5)
    assert not list(tmp_path.glob("*.tmp"))  # atomic write leaves no temp file


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d.pop("fingerprint"), "fingerprint"),
        (lambda d: d.update(kind="nonsense"), "kind"),
        (lambda d: d["runs"][0].pop("samples_per_s"), "runs.0.samples_per_s"),
        (lambda d: d["runs"][1].update(comm_fraction=1.5), "runs.1.comm_fraction"),
        (lambda d: d["runs"][2].update(device="tpu"), "runs.2.device"),
        (lambda d: d["runs"][0]["step_ms"].pop("comm"), "runs.0.step_ms"),
        (lambda d: d.update(runs=[]), "runs"),
    ],
)
def test_invalid_documents_name_file_and_field(train_doc: dict, tmp_path: Path, mutate, where: str) -> None:
    bad = copy.deepcopy(train_doc)
    mutate(bad)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(bad))
    with pytest.raises(schema.SchemaError) as e:
        schema.load(p)
    assert str(p) in str(e.value) and where in str(e.value)
    with pytest.raises(schema.SchemaError):
        schema.write(tmp_path / "never.json", bad)
    assert not (tmp_path / "never.json").exists()


def test_not_json_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "x.json"
    p.write_text("{oops")
    with pytest.raises(schema.SchemaError, match="not JSON"):
        schema.load(p)


def test_lstm_flops_by_hand() -> None:
    lstm = nn.LSTM(6, 8, num_layers=1, batch_first=True)
    # 4 gates × (6 + 8) inputs × 8 units, 2 FLOPs per MAC, + 10·8 element-wise, × 5 steps × 3 windows
    assert lstm_flops(lstm, 3, 5) == (2 * 4 * 8 * 14 + 80) * 15
    bi = nn.LSTM(6, 8, num_layers=2, bidirectional=True, batch_first=True)
    layer2 = 2 * 4 * 8 * (16 + 8) + 80
    assert lstm_flops(bi, 1, 5) == 2 * 5 * ((2 * 4 * 8 * 14 + 80) + layer2)


def test_forward_flops_counts_every_layer_kind() -> None:
    m = build_model("lstm", 6, 6, 128)
    f = forward_flops(m, torch.zeros(1, 128, 6))
    frames = m.cfg.frame
    assert f == lstm_flops(m.lstm, 1, 128 // frames) + 2 * m.head.in_features * m.head.out_features
    conv = build_model("cnn1d", 6, 6, 128)
    assert forward_flops(conv, torch.zeros(2, 128, 6)) == pytest.approx(
        2 * forward_flops(conv, torch.zeros(1, 128, 6))
    )


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


def test_environment_detection(tmp_path: Path) -> None:
    assert detect_environment(_tree(tmp_path / "h", {"proc/1/cgroup": "0::/init.scope\n"}), env={}) == (
        "host",
        None,
    )
    podman = _tree(tmp_path / "p", {"run/.containerenv": "", "proc/1/cgroup": "0::/\n"})
    assert detect_environment(podman, env={}) == ("container", "podman")
    docker = _tree(tmp_path / "d", {".dockerenv": "", "proc/1/cgroup": "0::/\n"})
    assert detect_environment(docker, env={}) == ("container", "docker")
    k8s = _tree(tmp_path / "k", {"proc/1/cgroup": "0::/kubepods/burstable/pod1/abc\n"})
    assert detect_environment(k8s, env={})[0] == "kubernetes"
    assert detect_environment(tmp_path / "h", env={"KUBERNETES_SERVICE_HOST": "10.0.0.1"})[0] == "kubernetes"


def test_cgroup_limits(tmp_path: Path) -> None:
    v2 = _tree(
        tmp_path / "v2",
        {"sys/fs/cgroup/cpu.max": "150000 100000\n", "sys/fs/cgroup/memory.max": "1073741824\n"},
    )
    assert cpu_quota(v2) == pytest.approx(1.5)
    assert memory_limit_mb(v2) == pytest.approx(1024)
    free = _tree(
        tmp_path / "free", {"sys/fs/cgroup/cpu.max": "max 100000\n", "sys/fs/cgroup/memory.max": "max\n"}
    )
    assert cpu_quota(free) is None and memory_limit_mb(free) is None
    v1 = _tree(
        tmp_path / "v1",
        {"sys/fs/cgroup/cpu/cpu.cfs_quota_us": "200000", "sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000"},
    )
    assert cpu_quota(v1) == pytest.approx(2.0)


def test_live_fingerprint_has_versions(fp: dict) -> None:
    assert fp["torch"] == torch.__version__
    assert fp["cpu_count"] >= 1 and fp["gloo"] in (True, False)
    schema.Fingerprint.model_validate(fp)
