"""Two "nodes" on one machine: network namespaces joined by a veth pair, c10d rendezvous across them.

Each namespace is a host of its own with an address only inside the namespaces this test creates; the
namespaces are removed afterwards. Needs root and iproute2.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

pytestmark = pytest.mark.root

NEEDS = "needs root and iproute2 (`ip netns`) to create its own network namespaces"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@pytest.fixture
def two_hosts():
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip(NEEDS)
    tag = uuid.uuid4().hex[:6]
    ns = [f"hf{tag}a", f"hf{tag}b"]
    dev = [f"hv{tag}a", f"hv{tag}b"]
    addr = ["10.213.7.1", "10.213.7.2"]  # exists only inside the two namespaces below
    try:
        for n in ns:
            _ip("netns", "add", n)
        _ip("link", "add", dev[0], "type", "veth", "peer", "name", dev[1])
        for n, d, a in zip(ns, dev, addr, strict=True):
            _ip("link", "set", d, "netns", n)
            _ip("-n", n, "addr", "add", f"{a}/24", "dev", d)
            _ip("-n", n, "link", "set", d, "up")
            _ip("-n", n, "link", "set", "lo", "up")
        yield list(zip(ns, dev, addr, strict=True))
    finally:
        for n in ns:
            subprocess.run(["ip", "netns", "del", n], capture_output=True)


def node_cmd(ns: str, dev: str, addr: str, master: str, is_host: bool, rdzv_id: str, out: str) -> list[str]:
    return [
        "ip",
        "netns",
        "exec",
        ns,
        "env",
        f"GLOO_SOCKET_IFNAME={dev}",
        "OMP_NUM_THREADS=1",
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes=2",
        "--nproc-per-node=1",
        f"--rdzv-id={rdzv_id}",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint={master}:29400",
        "--rdzv-conf",
        f"is_host={'true' if is_host else 'false'}",
        "--local-addr",
        addr,
        "-m",
        "harflow.train",
        "--subjects",
        "1,3,5,2",
        "--epochs",
        "1",
        "--no-progress",
        "--out",
        out,
    ]


def test_two_netns_nodes_train_an_epoch_on_hapt(two_hosts, tmp_path):
    out = str(tmp_path / "run")
    master = two_hosts[0][2]
    rid = uuid.uuid4().hex[:8]
    procs = [
        subprocess.Popen(
            node_cmd(ns, dev, addr, master, i == 0, rid, out),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i, (ns, dev, addr) in enumerate(two_hosts)
    ]
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=400)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], "\n---\n".join(logs)
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["world_size"] == 2 and m["epochs"] == 1 and m["test"]["n"] > 0
