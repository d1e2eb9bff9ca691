"""Service fixtures: a real `harflow serve` subprocess on a free loopback port, and a throwaway PostgreSQL
cluster (Debian's binaries, loopback only) for the store tests."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

ADMIN_KEY = "test-admin-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One real service process; restartable on the same port and data dir (durability tests)."""

    def __init__(self, model: Path, data_dir: Path, env: dict | None = None) -> None:
        self.model, self.data_dir = model, data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "HARFLOW_ADMIN_KEYS": ADMIN_KEY,
            "HARFLOW_DATA_DIR": str(data_dir),
            "HARFLOW_BACKEND": "torch",
            "HARFLOW_LOG_JSON": "true",
            **(env or {}),
        }
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 (the child writes to it)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harflow.cli",
                "serve",
                "--model",
                str(self.model),
                "--port",
                str(self.port),
            ],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{self.logs()[-3000:]}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"server not ready in {timeout}s:\n{self.logs()[-3000:]}")

    def logs(self) -> str:
        return (self.data_dir / "server.log").read_text(errors="replace")

    def stop(self) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else 0

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def admin(self) -> dict:
        return {"Authorization": f"Bearer {ADMIN_KEY}"}

    def token(self, device: str) -> str:
        r = httpx.post(f"{self.url}/v1/devices/{device}/tokens", headers=self.admin())
        r.raise_for_status()
        return r.json()["token"]


@pytest.fixture(scope="module")
def server(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory):
    srv = Server(
        tiny_run,
        tmp_path_factory.mktemp("serve-data"),
        {
            "HARFLOW_MAX_STREAMS_PER_KEY": "2",
            "HARFLOW_MAX_MESSAGE_BYTES": "200000",
            "HARFLOW_MAX_SAMPLES_PER_MESSAGE": "500",
        },
    ).start()
    yield srv
    srv.stop()


def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return str(Path(found[-1]).parent) if found else None


@pytest.fixture(scope="session")
def pg_url():
    """A throwaway PostgreSQL cluster on a free loopback port; skipped when the server binaries are absent."""
    bindir = _pg_bin()
    if not bindir:
        pytest.skip(
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin); "
            "`make system-deps` installs Debian's postgresql as root"
        )
    root = os.geteuid() == 0
    if root and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as the postgres user")
    d = Path(tempfile.mkdtemp(prefix="harflow-pg-"))
    os.chmod(d, 0o755)
    data = d / "data"
    port = free_port()
    as_pg = ["runuser", "-u", "postgres", "--"] if root else []
    if root:
        shutil.chown(d, "postgres")
    subprocess.run(
        [*as_pg, f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "harflow", "--no-sync"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    opts = f"-p {port} -k {d} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*as_pg, f"{bindir}/pg_ctl", "-D", str(data), "-o", opts, "-l", str(d / "log"), "-w", "start"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={port} user=harflow dbname=postgres", autocommit=True
        ) as c:
            c.execute("CREATE DATABASE harflow_test")
        yield f"postgresql://harflow@127.0.0.1:{port}/harflow_test"
    finally:
        subprocess.run(
            [*as_pg, f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(d, ignore_errors=True)
