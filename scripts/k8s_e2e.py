"""End-to-end run on a real cluster: ``make e2e-k8s`` → scripts/k8s-e2e.sh → ``python scripts/k8s_e2e.py``.

Applies the ``dev`` overlay, waits for the service and PostgreSQL to be Ready, streams a held-out HAPT
recording through ``kubectl port-forward`` and checks the predictions (and that they were stored), then runs
the training Job with N pods to completion and reads its metrics from the shared runs volume.

The local cluster has no kube-proxy and no cluster DNS, so (a) the service reaches PostgreSQL by pod IP,
patched into the Secret after the database is up, and (b) on servers without Indexed Jobs (< 1.22) the
training Job is applied as one single-pod Job per index, rendezvousing on pod 0's IP instead of its DNS name.
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import kube  # scripts/kube.py, beside this file

from harflow.deploy.render import render

NS = "harflow-dev"


def server_minor() -> int:
    v = json.loads(kube.kubectl("version", "-o", "json"))["serverVersion"]
    return int("".join(ch for ch in v["minor"] if ch.isdigit()))


def _env(container: dict, name: str, value: str | None = None, field: str | None = None) -> None:
    env = [e for e in container.get("env", []) if e["name"] != name]
    env.append(
        {"name": name, "value": value}
        if field is None
        else {"name": name, "valueFrom": {"fieldRef": {"fieldPath": field}}}
    )
    container["env"] = env


def split_indexed_job(job: dict, index: int, rdzv_host: str | None) -> dict:
    """One single-pod Job playing index `index` of an Indexed Job, for servers without completionMode."""
    j = copy.deepcopy(job)
    j["metadata"]["name"] = f"{job['metadata']['name']}-{index}"
    spec = j["spec"]
    spec.pop("completionMode", None)
    spec["completions"] = spec["parallelism"] = 1
    labels = spec["template"]["metadata"].setdefault("labels", {})
    labels["harflow.dev/index"] = str(index)
    labels["job-name-base"] = job["metadata"]["name"]
    c = spec["template"]["spec"]["containers"][0]
    _env(c, "JOB_COMPLETION_INDEX", str(index))
    if index == 0:
        _env(c, "HARFLOW_RDZV_HOST", field="status.podIP")
    else:
        _env(c, "HARFLOW_RDZV_HOST", rdzv_host)
    return j


def pod_ready(selector: str) -> dict | None:
    for p in kube.get("pods", ns=NS, selector=selector)["items"]:
        if p["metadata"].get("deletionTimestamp"):
            continue
        conds = {c["type"]: c["status"] for c in p.get("status", {}).get("conditions", [])}
        if conds.get("Ready") == "True":
            return p
    return None


def stream_recording(port: int, key: str, device: str, seconds: float) -> dict[str, Any]:
    """Send `seconds` of a held-out HAPT recording (test subject 2) as JSON chunks; collect predictions."""
    from websockets.sync.client import connect

    from harflow.data.sources import load_recordings

    rs = load_recordings("hapt", subjects=["2"])
    rec = rs.recordings[0]
    n = min(len(rec.signals), int(seconds * rs.rate_hz))
    chunk = 64
    preds: list[dict] = []
    errors: list[dict] = []
    t0 = time.perf_counter()
    with connect(
        f"ws://127.0.0.1:{port}/v1/streams/{device}",
        additional_headers={"Authorization": f"Bearer {key}"},
        open_timeout=20,
    ) as ws:
        for seq, i in enumerate(range(0, n, chunk)):
            rows = rec.signals[i : i + chunk].astype(float).round(6).tolist()
            ws.send(json.dumps({"seq": seq, "t0": i / rs.rate_hz, "rate": rs.rate_hz, "samples": rows}))
        expected_min = max(1, int((n / rs.rate_hz - 2.56) / 1.28))
        deadline = time.monotonic() + 60
        while len(preds) < expected_min and time.monotonic() < deadline:
            try:
                msgs = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            except TimeoutError:
                break
            for m in msgs if isinstance(msgs, list) else [msgs]:
                (
                    preds if m.get("type") == "prediction" else errors if m.get("type") == "error" else []
                ).append(m)
    acts: dict[str, int] = {}
    for p in preds:
        acts[p["activity"]] = acts.get(p["activity"], 0) + 1
    return {
        "samples_sent": n,
        "recording_s": round(n / rs.rate_hz, 1),
        "predictions": len(preds),
        "expected_at_least": expected_min,
        "errors": errors[:3],
        "activities": acts,
        "model_version": preds[0]["model_version"] if preds else None,
        "wall_s": round(time.perf_counter() - t0, 2),
    }


def http_json(url: str, key: str) -> Any:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def _pod_of(run_id: str, index: int, legacy: bool) -> dict | None:
    sel = f"job-name={run_id}-{index}" if legacy else f"job-name={run_id}"
    for q in kube.get("pods", ns=NS, selector=sel)["items"]:
        ann = q["metadata"].get("annotations", {})
        mine = legacy or ann.get("batch.kubernetes.io/job-completion-index") == str(index)
        if mine and q.get("status", {}).get("podIP") and not q["metadata"].get("deletionTimestamp"):
            return q
    return None


def run_training(
    a: argparse.Namespace, minor: int, run_id: str, args: list[str] | None = None, lose_pod: bool = False
) -> dict[str, Any]:
    """Run the dev training Job with a.workers pods to completion; with lose_pod, delete the pod of index 1
    once epoch 2 has been logged and expect the group to re-form and resume from the snapshot."""
    docs = render(
        "dev", service=False, workers=a.workers, image=a.image, run_id=run_id, server_version=f"1.{minor}"
    )
    job = next(d for d in docs if d["kind"] == "Job")
    if args:
        job["spec"]["template"]["spec"]["containers"][0]["args"] = args
    legacy = minor < 22  # no Indexed Jobs: one single-pod Job per index, rendezvous on pod 0's IP
    if not legacy:
        kube.apply([job])
        jobs = [run_id]
    else:
        kube.apply([split_indexed_job(job, 0, None)])
        pod0 = kube.wait_until(
            "training pod 0 IP", lambda: _pod_of(run_id, 0, True), 180, describe=lambda: kube.pods_summary(NS)
        )
        for i in range(1, a.workers):
            kube.apply([split_indexed_job(job, i, pod0["status"]["podIP"])])
        jobs = [f"{run_id}-{i}" for i in range(a.workers)]
    lost = None
    if lose_pod:
        kube.wait_until(
            "epoch 2 in the training log",
            lambda: "epoch   2/" in kube.kubectl("logs", f"job/{jobs[0]}", ns=NS, check=False),
            600,
            describe=lambda: kube.pods_summary(NS),
        )
        lost = _pod_of(run_id, 1, legacy)["metadata"]["name"]
        kube.kubectl("delete", "pod", lost, "--wait=false", ns=NS)

    def done() -> bool:
        for j in jobs:
            st = kube.get("job", j, ns=NS).get("status", {})
            if st.get("failed", 0) > job["spec"].get("backoffLimit", 0):
                logs = kube.kubectl("logs", f"job/{j}", ns=NS, check=False)
                raise kube.KubeError(f"training job {j} failed:\n{logs}")
            if not st.get("succeeded"):
                return False
        return True

    kube.wait_until(
        f"training jobs {jobs} to complete", done, 1200, interval=5, describe=lambda: kube.pods_summary(NS)
    )
    logs = kube.kubectl("logs", f"job/{jobs[0]}", ns=NS, check=False)
    metrics_path = Path(a.runs_dir) / run_id / "metrics.json"
    m = json.loads(metrics_path.read_text())
    test = m.get("test", {})
    out = {
        "jobs": jobs,
        "pods": a.workers,
        "world_size": m.get("world_size"),
        "epochs": m.get("epochs"),
        "test_accuracy": test.get("accuracy"),
        "test_macro_f1": test.get("macro_f1"),
        "train_seconds": m.get("train_seconds"),
        "metrics": str(metrics_path),
    }
    if lose_pod:
        resumed = [ln for ln in logs.splitlines() if "resumed from snapshot" in ln]
        out |= {"deleted_pod": lost, "resumed_from_snapshot": resumed[:1]}
    else:
        out["log_tail"] = logs.strip().splitlines()[-3:]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python scripts/k8s_e2e.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--image", default="localhost/harflow:latest")
    p.add_argument("--postgres-image", default="localhost/harflow-postgres:dev")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--port", type=int, default=18080, help="loopback port for kubectl port-forward")
    p.add_argument("--runs-dir", default="/var/lib/harflow-dev/runs", help="host path of the runs volume")
    p.add_argument("--stream-seconds", type=float, default=60.0)
    p.add_argument(
        "--no-lose-pod",
        dest="lose_pod",
        action="store_false",
        help="skip the check that training resumes after a training pod is deleted",
    )
    p.add_argument("--summary", default=None, help="also write the summary JSON here")
    a = p.parse_args(argv)
    t_start = time.monotonic()
    summary: dict[str, Any] = {"steps": {}}

    def step(name: str, t0: float, **info: Any) -> None:
        summary["steps"][name] = {"seconds": round(time.monotonic() - t0, 1), **info}
        print(f"e2e: {name}: {json.dumps(summary['steps'][name])}", flush=True)

    minor = server_minor()
    summary["server"] = f"1.{minor}"
    key = "harflow-dev-admin-key"
    pf = None
    try:
        t = time.monotonic()
        docs = render(
            "dev",
            image=a.image,
            images={"postgres:16-bookworm": a.postgres_image},
            server_version=f"1.{minor}",
        )
        kube.apply(docs)
        step("apply dev overlay", t, resources=len(docs))

        t = time.monotonic()
        pg = kube.wait_until(
            "PostgreSQL Ready",
            lambda: pod_ready("app.kubernetes.io/name=harflow-postgres"),
            240,
            describe=lambda: kube.pods_summary(NS),
        )
        pg_ip = pg["status"]["podIP"]
        # no cluster DNS here: point the service at the database pod's IP
        url = f"postgresql+psycopg://harflow:harflow-dev@{pg_ip}:5432/harflow"
        patch = {"data": {"HARFLOW_DATABASE_URL": base64.b64encode(url.encode()).decode()}}
        kube.kubectl("patch", "secret", "harflow-secrets", "--type=merge", "-p", json.dumps(patch), ns=NS)
        kube.kubectl("rollout", "restart", "deployment/harflow-serve", ns=NS)
        step("postgres ready", t, pod_ip=pg_ip)

        t = time.monotonic()
        kube.kubectl("rollout", "status", "deployment/harflow-serve", "--timeout=300s", ns=NS, timeout=320)
        ready = kube.wait_until(
            "service pod Ready",
            lambda: pod_ready("app.kubernetes.io/name=harflow-serve"),
            60,
            describe=lambda: kube.pods_summary(NS),
        )
        step("service ready", t, pod=ready["metadata"]["name"], pod_ip=ready["status"]["podIP"])

        t = time.monotonic()
        pf = subprocess.Popen(
            ["kubectl", "-n", NS, "port-forward", "deployment/harflow-serve", f"{a.port}:8000"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def readyz() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{a.port}/readyz", timeout=3) as r:
                    return r.status == 200
            except OSError:
                return False

        kube.wait_until("/readyz through port-forward", readyz, 120, interval=1)
        readyz_s = round(time.monotonic() - t, 1)
        tq = time.monotonic()
        model = http_json(f"http://127.0.0.1:{a.port}/v1/model", key)
        model_s = round(time.monotonic() - tq, 1)
        res = stream_recording(a.port, key, "e2e-device-1", a.stream_seconds)
        tq = time.monotonic()
        timeline = http_json(f"http://127.0.0.1:{a.port}/v1/devices/e2e-device-1/timeline", key)
        res["timeline_query_s"] = round(time.monotonic() - tq, 1)
        res["model_query_s"] = model_s
        res["timeline_segments_stored"] = len(timeline.get("segments", []))
        res["readyz_via_port_forward_s"] = readyz_s
        res["served_model"] = model.get("version") or model.get("model_version")
        step("stream through port-forward", t, **res)
        if res["predictions"] < res["expected_at_least"] or res["errors"]:
            raise kube.KubeError(f"streaming check failed: {res}")

        t = time.monotonic()
        r = run_training(a, minor, f"e2e-train-{time.strftime('%H%M%S')}")
        step("training job", t, **r)

        if a.lose_pod and a.workers >= 2:
            t = time.monotonic()
            longer = [
                "--epochs",
                "8",
                "--threads",
                "1",
                "--subjects",
                "1,3,5,2",
                "--max-steps-per-epoch",
                "60",
            ]
            r = run_training(a, minor, f"e2e-lose-{time.strftime('%H%M%S')}", args=longer, lose_pod=True)
            step("lost pod resumes", t, **r)
            if not (r["resumed_from_snapshot"] and r["epochs"] == 8 and r["world_size"] == a.workers):
                raise kube.KubeError(f"training did not resume after losing a pod: {r}")
    except Exception as e:
        summary["error"] = f"{type(e).__name__}: {e}"
        print(f"e2e: FAILED: {summary['error']}", file=sys.stderr, flush=True)
    finally:
        if pf is not None:
            pf.terminate()
            try:
                pf.wait(5)
            except subprocess.TimeoutExpired:
                pf.kill()
    summary["total_seconds"] = round(time.monotonic() - t_start, 1)
    summary["ok"] = "error" not in summary
    text = json.dumps(summary, indent=2)
    print("e2e summary:\n" + text, flush=True)
    if a.summary:
        Path(a.summary).write_text(text + "\n")
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
