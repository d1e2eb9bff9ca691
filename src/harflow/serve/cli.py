"""Sub-command ``harflow serve``::

harflow serve --model RUN_DIR [--host 127.0.0.1] [--port 8000] [--workers N] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import os


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


def _cmd_serve(a: argparse.Namespace) -> int:
    import uvicorn

    from harflow.serve.core.config import Settings
    from harflow.serve.db.session import migrate
    from harflow.serve.logs import log_config

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
        "harflow.serve.main:create_app",
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
