"""``harflow loadtest``: load generation against the service is measurement, so it lives with the benchmarks.

harflow loadtest --serve-model RUN_DIR --devices 100 --duration 30 [--binary] [--json]
harflow loadtest --url http://127.0.0.1:8000 --api-key KEY --devices 100
harflow loadtest --serve-model RUN_DIR --compare-batching --speeds 10,20,30 --plot peak.png
harflow loadtest --serve-model RUN_DIR --capacity --steps 500,1000,2000 --out results/serve/capacity.json
"""

from __future__ import annotations

import argparse
import os

from harflow.bench.capacity_cli import parse_clients, parse_steps
from harflow.bench.peak import parse_speeds


def register(sub: argparse._SubParsersAction) -> None:
    lt = sub.add_parser("loadtest", help="replay held-out HAPT recordings as devices against a service")
    lt.add_argument("--url", default=None, help="service base URL, e.g. http://127.0.0.1:8000")
    lt.add_argument(
        "--serve-model",
        default=None,
        metavar="RUN_DIR",
        help="start a server for this model on a free loopback port for the run",
    )
    lt.add_argument("--devices", type=int, default=10)
    lt.add_argument("--duration", type=float, default=30.0, help="seconds of wall-clock replay")
    lt.add_argument("--speed", type=float, default=1.0, help="replay speed (1 = real time)")
    lt.add_argument("--chunk-ms", type=float, default=320.0, help="device time per chunk")
    lt.add_argument("--binary", action="store_true", help="send binary float32 frames instead of JSON")
    lt.add_argument(
        "--compression",
        action="store_true",
        help="offer permessage-deflate (the server only accepts it with HARFLOW_WS_COMPRESSION=true)",
    )
    lt.add_argument("--api-key", default=os.environ.get("HARFLOW_LOADTEST_KEY"), help="admin key for --url")
    lt.add_argument("--max-batch", type=int, default=None, help="with --serve-model: server max batch")
    lt.add_argument("--backend", default=None, help="with --serve-model: server backend")
    lt.add_argument("--subjects", default=None, help="comma-separated test subjects (default: all test ones)")
    lt.add_argument(
        "--ramp", type=float, default=None, help="seconds over which devices connect (2; 5 with --capacity)"
    )
    lt.add_argument(
        "--compare-batching",
        action="store_true",
        help="with --serve-model: run with --max-batch (default 64) and with 1 at each of --speeds; report "
        "each server's peak windows/s and their ratio",
    )
    lt.add_argument(
        "--speeds",
        type=parse_speeds,
        default=None,
        metavar="S1,S2,...",
        help="with --compare-batching: replay speeds to sweep; a server's peak is its best windows/s over "
        "them (default: --speed)",
    )
    lt.add_argument(
        "--plot", default=None, metavar="PNG", help="with --compare-batching: answered vs offered plot"
    )
    lt.add_argument(
        "--closed-loop",
        action="store_true",
        help="each device keeps one chunk in flight (next sent when the last is answered; --speed caps the "
        "pace): saturation throughput without overload",
    )
    lt.add_argument(
        "--capacity",
        action="store_true",
        help="with --serve-model: raise the number of real-time devices step by step; report the largest "
        "that holds p99 < --p99-ms with no errors, drops or busy, and the curve (bench schema, --out)",
    )
    lt.add_argument(
        "--steps", type=parse_steps, default=None, metavar="N1,N2,...", help="--capacity: device counts"
    )
    lt.add_argument("--step-s", type=float, default=20.0, help="--capacity: seconds each device streams")
    lt.add_argument("--p99-ms", type=float, default=100.0, help="--capacity: the latency target")
    lt.add_argument(
        "--clients",
        type=parse_clients,
        default=["json", "binary"],
        metavar="json,binary",
        help="--capacity: client kinds, each against its own fresh server",
    )
    lt.add_argument(
        "--generators", type=int, default=2, help="--capacity: load-generator processes (CPU measured)"
    )
    lt.add_argument("--workers", type=int, default=1, help="--capacity: server worker processes")
    lt.add_argument(
        "--admin-clients",
        action="store_true",
        help="--capacity: devices stream with the admin key (no per-key limits or token re-checks) instead "
        "of a device token each",
    )
    lt.add_argument(
        "--storm",
        action="store_true",
        help="with --serve-model: kill -9 the server under --devices streaming devices and restart it; the "
        "devices reconnect and resend as documented; report acknowledged windows lost and the recovery time",
    )
    lt.add_argument("--kill-after-s", type=float, default=10.0, help="--storm: seconds after the ramp")
    lt.add_argument("--drain-s", type=float, default=60.0, help="--storm: wait for answers after the end")
    lt.add_argument(
        "--out", default=None, metavar="JSON", help="--capacity (bench schema) / --storm: results file"
    )
    lt.add_argument("--json", action="store_true")
    lt.add_argument("--dry-run", action="store_true", help="2 devices, 3 s, 10x speed (200x closed-loop)")
    lt.set_defaults(func=_cmd_loadtest)


def _cmd_loadtest(a: argparse.Namespace) -> int:
    if a.capacity or a.storm:
        from harflow.bench.capacity_cli import main_capacity, main_storm

        return main_capacity(a) if a.capacity else main_storm(a)
    from harflow.bench.loadtest import main

    return main(a)
