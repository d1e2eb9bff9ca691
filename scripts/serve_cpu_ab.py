"""Server CPU per window, two servers alternating: the source trees ``--base-src`` and ``--new-src`` (e.g.
a ``git archive`` of the previous commit and the checkout), the same model and the same load-generator
processes (``harflow.bench.capacity.Generators``). Each round runs one step on each server, in alternating
order, so drift in a shared machine's speed hits both alike.

  git archive HEAD~1 src | tar -x -C /tmp/base
  python scripts/serve_cpu_ab.py --model RUN --base-src /tmp/base/src --new-src src --out ab.json
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import tempfile

import httpx

from harflow.bench import capacity as cap
from harflow.bench.loadtest import start_server, stop_server


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--base-src", required=True)
    p.add_argument("--new-src", required=True)
    p.add_argument("--devices", type=int, default=400)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--step-s", type=float, default=15.0)
    p.add_argument("--chunk", type=int, default=16, help="samples per message (16 = 320 ms at 50 Hz)")
    p.add_argument("--binary", action="store_true")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    key = secrets.token_urlsafe(16)
    extra = {"HARFLOW_PATTERNS_INTERVAL_S": "0"}
    servers = {
        name: start_server(
            a.model, key, tempfile.mkdtemp(), None, "onnx", extra_env={**extra, "PYTHONPATH": src}
        )
        for name, src in (("base", a.base_src), ("new", a.new_src))
    }
    gens = cap.Generators(2)
    steps = []
    try:
        info = httpx.get(servers["new"][1] + "/v1/model", headers={"Authorization": f"Bearer {key}"}).json()
        for r in range(a.rounds):
            for name in ("base", "new") if r % 2 == 0 else ("new", "base"):
                proc, url = servers[name]
                base = {
                    "url": url, "key": key, "spec": info["window"], "labels": info["labels"],
                    "subjects": None, "duration_s": a.step_s, "ramp_s": 5.0, "speed": 1.0,
                    "chunk": a.chunk, "binary": a.binary,
                    "drain_s": 10.0, "prefix": f"ab-{r}",
                }  # fmt: skip
                cap.settle(proc.pid)
                s = gens.step(base, a.devices, proc.pid)
                steps.append({**s, "server": name, "round": r})
                print(
                    name,
                    r,
                    round(s["server_cpu_us_per_window"]),
                    "µs/window, load",
                    s["load_avg_1m"],
                    flush=True,
                )
    finally:
        gens.close()
        for proc, _ in servers.values():
            stop_server(proc)
    summary = {}
    for name in ("base", "new"):
        v = [s["server_cpu_us_per_window"] for s in steps if s["server"] == name]
        summary[name] = {"median_us": statistics.median(v), "min_us": min(v), "max_us": max(v), "n": len(v)}
    doc = {
        "devices": a.devices,
        "chunk_samples": a.chunk,
        "binary": a.binary,
        "summary": summary,
        "steps": steps,
    }
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=2)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
