"""``harflow tokens``: device tokens in the service's store (HARFLOW_DATABASE_URL / HARFLOW_DATA_DIR), for an
operator at the database's side; the same as the admin API on ``/v1/devices/{id}/tokens``.

harflow tokens issue DEVICE [--ttl-days D]     # prints the token once; only its hash is stored
harflow tokens list DEVICE
harflow tokens revoke DEVICE (ID | --all)      # effective within HARFLOW_TOKEN_CACHE_S in every worker
"""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("tokens", help="issue, list and revoke device tokens in the service's store")
    ts = t.add_subparsers(dest="tokens_cmd", required=True)
    i = ts.add_parser("issue", help="issue a token for a device (printed once)")
    i.add_argument("device")
    i.add_argument("--ttl-days", type=float, default=None, help="lifetime (default HARFLOW_TOKEN_TTL_S)")
    i.add_argument("--dry-run", action="store_true", help="validate and say what would be issued")
    ls = ts.add_parser("list", help="a device's tokens (ids, expiry, revocation; never the tokens)")
    ls.add_argument("device")
    r = ts.add_parser("revoke", help="revoke one token (by id from `list`) or all of a device's")
    r.add_argument("device")
    r.add_argument("id", nargs="?", default=None)
    r.add_argument("--all", action="store_true")
    for p in (i, ls, r):
        p.set_defaults(func=_cmd_tokens)


def _cmd_tokens(a: argparse.Namespace) -> int:
    from harflow.serve.auth import hash_key, new_token
    from harflow.serve.core.config import Settings
    from harflow.serve.db.queries import Store
    from harflow.serve.db.session import migrate
    from harflow.serve.db.tokens import Tokens, token_id
    from harflow.serve.deps import valid_device_id

    if not valid_device_id(a.device):
        raise ValueError(f"{a.device!r} is not a device id (letters, digits and . _ : -, at most 128)")
    s = Settings()
    if a.tokens_cmd == "issue" and a.dry_run:
        print(json.dumps({"device_id": a.device, "ttl_s": (a.ttl_days or 0) * 86400 or s.token_ttl_s}))
        return 0
    if a.tokens_cmd == "revoke" and bool(a.id) == a.all:
        raise ValueError("revoke needs a token id or --all (not both)")
    migrate(s.database())
    store = Store(s.database())
    try:
        tokens = Tokens(store.engine)
        if a.tokens_cmd == "issue":
            token = new_token()
            ttl = a.ttl_days * 86400 if a.ttl_days else s.token_ttl_s
            expires = tokens.issue(a.device, hash_key(token), ttl, s.max_tokens_per_device)
            out = {
                "device_id": a.device,
                "token": token,
                "id": token_id(hash_key(token)),
                "expires_at": expires,
            }
        elif a.tokens_cmd == "list":
            out = {"device_id": a.device, "tokens": tokens.list(a.device)}
        else:
            out = {"device_id": a.device, "revoked": tokens.revoke(a.device, a.id)}
    finally:
        store.close()
    print(json.dumps(out))
    return 0 if out.get("revoked", 1) else 1
