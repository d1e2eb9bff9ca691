"""Sub-commands ``harflow serve``, ``harflow export`` and ``harflow loadtest``."""

from __future__ import annotations

import argparse
import json
import os

from harflow.serve.peak import parse_speeds


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("serve", help="run the real-time recognition service (FastAPI + uvicorn)")
    s.add_argument("--model", required=False, default=None, help="run directory to serve (or HARFLOW_MODEL)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    s.add_argument("--backend", choices=("auto", "torch", "onnx"), default=None)
    s.add_argument(
        "--max-batch", type=int, default=None, help="largest batched forward pass (1 = no batching)"
    )
    s.add_argument("--max-wait-ms", type=float, default=None)
    s.add_argument("--dry-run", action="store_true", help="load model, DB and migrations, then exit")
    s.set_defaults(func=_cmd_serve)

    e = sub.add_parser("export", help="export a run's model (ONNX), checked against torch")
    e.add_argument("run_dir")
    e.add_argument("--onnx", action="store_true", required=True, help="write RUN_DIR/model.onnx")
    e.add_argument("--no-transitions", action="store_true", help="skip storing transition statistics")
    e.set_defaults(func=_cmd_export)

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
    lt.add_argument("--ramp", type=float, default=2.0, help="seconds over which devices connect")
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
    lt.add_argument("--json", action="store_true")
    lt.add_argument("--dry-run", action="store_true", help="2 devices, 3 s, 10x speed (200x closed-loop)")
    lt.set_defaults(func=_cmd_loadtest)


def _cmd_serve(a: argparse.Namespace) -> int:
    import uvicorn

    from harflow.serve.logs import log_config
    from harflow.serve.settings import Settings
    from harflow.serve.store import migrate

    # the CLI's choices become env vars so every uvicorn worker process builds the same Settings
    for flag, env in (
        ("model", "MODEL"),
        ("backend", "BACKEND"),
        ("max_batch", "MAX_BATCH"),
        ("max_wait_ms", "MAX_WAIT_MS"),
    ):
        if getattr(a, flag) is not None:
            os.environ[f"HARFLOW_{env}"] = str(getattr(a, flag))
    settings = Settings()
    if not settings.model:
        raise ValueError("no model to serve: pass --model RUN_DIR or set HARFLOW_MODEL")
    if not os.path.exists(settings.model):
        raise FileNotFoundError(f"model run directory {settings.model} does not exist")
    migrate(settings.database())  # once, before workers start, so they never race on the schema
    if a.dry_run:
        from harflow.serve.service import Service

        svc = Service(settings)
        print(
            json.dumps(
                {
                    "model_version": svc.model.version,
                    "backend": svc.model.backend.name,
                    "database": settings.database().split("@")[-1],
                }
            )
        )
        return 0
    uvicorn.run(
        "harflow.serve.app:create_app",
        factory=True,
        host=a.host,
        port=a.port,
        workers=a.workers,
        log_config=log_config(settings.log_json, settings.log_level),
        timeout_graceful_shutdown=10,
        ws_max_size=4 * settings.max_message_bytes,
        ws_ping_interval=None,
        ws_per_message_deflate=settings.ws_compression,
        access_log=False,
    )
    return 0


def _cmd_export(a: argparse.Namespace) -> int:
    import contextlib
    import sys

    from harflow.serve.backends import export_onnx

    with contextlib.redirect_stdout(sys.stderr):  # the exporter's progress chatter; stdout is the result
        res = export_onnx(a.run_dir)
    if not a.no_transitions:
        from harflow.models.predictor import Predictor
        from harflow.serve.changes import load_or_learn

        load_or_learn(Predictor.load(a.run_dir), a.run_dir)
        res["transitions"] = "transitions.json"
    print(json.dumps(res, indent=2))
    return 0


def _cmd_loadtest(a: argparse.Namespace) -> int:
    from harflow.serve.loadtest import main

    return main(a)
