"""Sub-commands of the service: ``harflow serve``, and the patterns job over its store.

harflow serve --model RUN_DIR [--host 127.0.0.1] [--port 8000] [--workers N] [--dry-run]
harflow patterns import --timeline PATH [--tz ZONE]
harflow patterns run [--shard I/N] [--person ID] [--now ISO] [--retention] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def register(sub: argparse._SubParsersAction, groups: dict | None = None) -> None:
    from harflow.serve import tokens_cli

    if groups and "patterns" in groups:
        _register_patterns_run(groups["patterns"])
    tokens_cli.register(sub)
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
    from harflow.serve import webapp_cli  # `harflow users …` and `harflow webapp …`

    webapp_cli.register(sub)


def _register_patterns_run(ps: argparse._SubParsersAction) -> None:
    r = ps.add_parser(
        "run",
        help="the service's patterns job over its store: daily metrics and alerts (a CronJob can run it)",
    )
    r.add_argument("--shard", default="0/1", metavar="I/N", help="this run's share of the persons")
    r.add_argument("--person", action="append", default=None, help="only these persons (repeatable)")
    r.add_argument("--now", default=None, help="process up to this time (ISO 8601 or Unix s; default now)")
    r.add_argument(
        "--retention", action="store_true", help="also compact windows past HARFLOW_RETENTION_DAYS"
    )
    r.add_argument("--json", action="store_true")
    r.add_argument(
        "--dry-run", action="store_true", help="migrate the store and run over it, sending nothing"
    )
    r.set_defaults(func=_cmd_patterns_run)

    i = ps.add_parser(
        "import",
        help="load timeline files into the service's store (each person gets an import device)",
    )
    i.add_argument("--timeline", type=Path, required=True, help="CSV/Parquet file or folder of timelines")
    i.add_argument("--tz", default=None, help="the persons' local zone (IANA); default: the file's, else UTC")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=_cmd_patterns_import)

    b = ps.add_parser("bench", help="time the patterns job over a real store (SQLite or PostgreSQL)")
    b.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    b.add_argument("--daily-person-days", type=int, default=10_000)
    b.add_argument("--detect-persons", type=int, default=1_000)
    b.add_argument("--days", type=int, default=90)
    b.add_argument("--seed", type=int, default=11)
    b.add_argument("--with-inactivity", action="store_true", help="include the inactivity replay")
    b.add_argument("--json", action="store_true")
    b.add_argument("--dry-run", action="store_true", help="60 person-days and 20 persons x 30 days")
    b.set_defaults(func=_cmd_patterns_bench)


def _cmd_patterns_run(a: argparse.Namespace) -> int:
    import tempfile

    from harflow.serve.core.config import Settings
    from harflow.serve.db.session import migrate
    from harflow.serve.patterns_job import parse_now, parse_shard, run_from_settings

    tmp = tempfile.TemporaryDirectory(prefix="harflow-patterns-run-") if a.dry_run else None
    settings = Settings(database_url=dry_run_store(tmp.name)) if tmp else Settings()
    migrate(settings.database())
    res = run_from_settings(
        settings,
        now=parse_now(a.now),
        shard=parse_shard(a.shard),
        person_ids=a.person,
        retention=a.retention,
    )
    if tmp:
        tmp.cleanup()
    print(json.dumps(res, indent=None if a.json else 2))
    return 1 if res["failed"] else 0


def _cmd_patterns_import(a: argparse.Namespace) -> int:
    from harflow.patterns.timeline import read_timeline
    from harflow.serve.core.config import Settings
    from harflow.serve.db.imports import import_timeline
    from harflow.serve.db.queries import Store
    from harflow.serve.db.session import migrate

    tl = read_timeline(a.timeline, tz=a.tz)
    if tl.kind != "activity":
        raise ValueError(f"{a.timeline}: numeric epochs cannot be imported; the store holds activities")
    tz = a.tz or (str(tl.tz) if tl.tz is not None else "UTC")
    settings = Settings()
    migrate(settings.database())
    store = Store(settings.database())
    try:
        res = import_timeline(store.engine, tl.segments, tz)
    finally:
        store.close()
    print(json.dumps(res))
    return 0


def _cmd_patterns_bench(a: argparse.Namespace) -> int:
    from harflow.serve.patterns_bench import main

    print(json.dumps(main(a), indent=None if a.json else 2))
    return 0


def dry_run_store(folder: str) -> str:
    """A SQLite store in ``folder`` holding a small simulated cohort (3 persons x 42 days)."""
    from harflow.patterns.simulate import SimulationConfig, simulate_cohort
    from harflow.serve.db.imports import import_timeline
    from harflow.serve.db.queries import Store
    from harflow.serve.db.session import migrate

    url = f"sqlite:///{folder}/dry-run.db"
    migrate(url)
    cfg = SimulationConfig(persons=3, days=42, seed=0)
    store = Store(url)
    try:
        import_timeline(store.engine, simulate_cohort(cfg).segments(), cfg.tz)
    finally:
        store.close()
    return url


def _cmd_serve(a: argparse.Namespace) -> int:
    import uvicorn

    from harflow.serve.core.config import Settings
    from harflow.serve.db.session import migrate
    from harflow.serve.logs import log_config
    from harflow.serve.slow_clients import HeaderTimeoutProtocol

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
        http=HeaderTimeoutProtocol,  # a header read timeout (HARFLOW_HEADER_TIMEOUT_S); bodies: BodyLimits
        timeout_keep_alive=5,
    )
    return 0
