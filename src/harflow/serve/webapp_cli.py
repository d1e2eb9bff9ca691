"""Sub-commands of the caregiver web app: accounts over the service's store, and a populated demo.

harflow users create NAME [--role caregiver|admin] [--password-stdin]
harflow users assign NAME PERSON_ID / unassign NAME PERSON_ID
harflow users list [--json] / set-password NAME [--password-stdin] / delete NAME
harflow webapp demo --url URL --api-key KEY [--persons 3] [--days 28] [--stream-seconds 600] [--dry-run]

They use the service's settings (HARFLOW_DATABASE_URL or HARFLOW_DATA_DIR), like ``harflow patterns run``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time


def register(sub: argparse._SubParsersAction) -> None:
    u = sub.add_parser("users", help="caregiver and admin accounts of the web app (in the service's store)")
    us = u.add_subparsers(dest="users_cmd", required=True)
    c = us.add_parser("create", help="a new account (password from stdin, HARFLOW_USER_PASSWORD or a prompt)")
    c.add_argument("name")
    c.add_argument("--role", choices=("caregiver", "admin"), default="caregiver")
    c.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    c.set_defaults(func=_cmd_create)
    for name, fn, hlp in (
        ("assign", _cmd_assign, "let the user see a person"),
        ("unassign", _cmd_unassign, "no longer let the user see a person"),
    ):
        a = us.add_parser(name, help=hlp)
        a.add_argument("name")
        a.add_argument("person_id")
        a.set_defaults(func=fn)
    ls = us.add_parser("list", help="accounts and their persons")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_cmd_list)
    p = us.add_parser("set-password", help="a new password; ends the user's sessions")
    p.add_argument("name")
    p.add_argument("--password-stdin", action="store_true")
    p.set_defaults(func=_cmd_set_password)
    d = us.add_parser("delete", help="remove an account (and its sessions and assignments)")
    d.add_argument("name")
    d.set_defaults(func=_cmd_delete)

    w = sub.add_parser("webapp", help="the caregiver web app: a populated demo")
    ws = w.add_subparsers(dest="webapp_cmd", required=True)
    demo = ws.add_parser(
        "demo",
        help="simulated persons with weeks of history + a caregiver account + a streaming simulated device",
    )
    demo.add_argument("--url", default="http://127.0.0.1:8000", help="the running `harflow serve`")
    demo.add_argument("--api-key", default=os.environ.get("HARFLOW_API_KEY"), help="an admin key")
    demo.add_argument("--persons", type=int, default=3)
    demo.add_argument("--days", type=int, default=28, help="days of simulated history before today")
    demo.add_argument("--user", default="demo", help="the caregiver account to create (or reuse)")
    demo.add_argument("--password-stdin", action="store_true")
    demo.add_argument("--tz", default="Europe/London")
    demo.add_argument(
        "--stream-seconds",
        type=float,
        default=600.0,
        help="how long the simulated device streams (walking and lying by turns, real time; 0 = none)",
    )
    demo.add_argument("--switch-seconds", type=float, default=60.0, help="seconds per activity")
    demo.add_argument("--dry-run", action="store_true", help="2 persons x 7 days, 10 s of streaming")
    demo.set_defaults(func=_cmd_demo)


def _store():
    from harflow.serve.core.config import Settings
    from harflow.serve.db.accounts import Accounts
    from harflow.serve.db.queries import Store
    from harflow.serve.db.session import migrate

    url = Settings().database()
    migrate(url)
    store = Store(url)
    return store, Accounts(store.engine)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    if os.environ.get("HARFLOW_USER_PASSWORD"):
        return os.environ["HARFLOW_USER_PASSWORD"]
    pw = getpass.getpass("password: ")
    if getpass.getpass("again: ") != pw:
        raise ValueError("the two passwords differ")
    return pw


def _with_accounts(fn):
    store, acc = _store()
    try:
        return fn(acc)
    finally:
        store.close()


def _show(user: dict | None) -> int:
    print(json.dumps(user))
    return 0


def _cmd_create(a: argparse.Namespace) -> int:
    pw = _password(a.password_stdin)
    return _show(_with_accounts(lambda acc: acc.create(a.name, pw, a.role)))


def _cmd_assign(a: argparse.Namespace) -> int:
    return _show(_with_accounts(lambda acc: acc.assign(a.name, a.person_id)))


def _cmd_unassign(a: argparse.Namespace) -> int:
    return _show(_with_accounts(lambda acc: acc.unassign(a.name, a.person_id)))


def _cmd_list(a: argparse.Namespace) -> int:
    rows = _with_accounts(lambda acc: acc.list())
    if a.json:
        print(json.dumps(rows))
    else:
        for r in rows:
            print(f"{r['username']:24} {r['role']:10} {', '.join(r['persons']) or '-'}")
    return 0


def _cmd_set_password(a: argparse.Namespace) -> int:
    pw = _password(a.password_stdin)
    _with_accounts(lambda acc: acc.set_password(a.name, pw))
    print(json.dumps({"username": a.name, "password_changed": True, "sessions_ended": True}))
    return 0


def _cmd_delete(a: argparse.Namespace) -> int:
    _with_accounts(lambda acc: acc.delete(a.name))
    print(json.dumps({"username": a.name, "deleted": True}))
    return 0


def _cmd_demo(a: argparse.Namespace) -> int:
    from harflow.serve.core.config import Settings
    from harflow.serve.demo import attach_device, device_chunks, hapt_runs, populate, stream

    if not a.api_key:
        raise ValueError("--api-key (or HARFLOW_API_KEY): an admin key of the service at --url")
    persons, days, seconds = (2, 7, 10.0) if a.dry_run else (a.persons, a.days, a.stream_seconds)
    password = _password(True) if a.password_stdin else os.environ.get("HARFLOW_USER_PASSWORD")
    t0 = time.time()
    res = populate(Settings().database(), persons, days, a.user, password, a.tz)
    res["populate_s"] = round(time.time() - t0, 1)
    print(json.dumps(res), flush=True)
    if seconds <= 0:
        return 0
    person = res["persons"][0]
    now = time.time()
    token = attach_device(a.url, a.api_key, person, "demo-watch", now - 1)
    plan, left, k = [], seconds, 0
    while left > 0:
        plan.append(((1, 6)[k % 2], min(a.switch_seconds, left)))
        left -= a.switch_seconds
        k += 1
    ws = a.url.replace("http", "ws", 1) + "/v1/streams/demo-watch"
    print(json.dumps({"streaming": "demo-watch", "person": person, "seconds": seconds}), flush=True)
    n = stream(ws, token, device_chunks(hapt_runs(), plan, time.time()))
    print(json.dumps({"predictions": n}))
    return 0
