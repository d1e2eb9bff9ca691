"""Caregiver accounts, sessions and a person's erasure in the store itself, on SQLite and PostgreSQL (the
migration 0004 on both), and the `harflow users` command."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import inspect, select, text

from harflow.serve.db.accounts import AccountError, Accounts, NotFound
from harflow.serve.db.alerts import Alerts
from harflow.serve.db.analytics import Analytics
from harflow.serve.db.person_data import erase_person, export_person, person_ref
from harflow.serve.db.persons import Persons
from harflow.serve.db.queries import Batch, Store
from harflow.serve.db.session import migrate
from harflow.serve.db.tables import users, web_sessions
from tests.conftest import run_harflow


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    migrate(url)
    s = Store(url)
    yield s
    if request.param == "postgresql":  # one cluster for the session: leave it empty for the next test
        with s.engine.begin() as conn:
            names = inspect(s.engine).get_table_names()
            conn.execute(text("TRUNCATE " + ", ".join(f'"{n}"' for n in names if n != "alembic_version")))
    s.close()


def test_passwords_are_argon2_hashed_and_checked(store):
    acc = Accounts(store.engine)
    acc.create("alice", "correct horse battery")
    with store.engine.connect() as conn:
        stored = conn.execute(select(users.c.password_hash)).scalar()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert acc.verify("alice", "correct horse battery")["role"] == "caregiver"
    assert acc.verify("alice", "wrong horse battery") is None
    assert acc.verify("nobody", "correct horse battery") is None
    with pytest.raises(AccountError, match="exists"):
        acc.create("alice", "another password")
    with pytest.raises(AccountError, match="password"):
        acc.create("bob", "short")
    with pytest.raises(AccountError, match="username"):
        acc.create("bob smith", "long enough pw")
    with pytest.raises(AccountError, match="role"):
        acc.create("bob", "long enough pw", role="root")


def test_sessions_store_only_a_hash_expire_and_end_with_a_new_password(store):
    acc, persons = Accounts(store.engine), Persons(store.engine)
    persons.create("gran", "Gran", "UTC")
    acc.create("alice", "correct horse battery")
    acc.assign("alice", "gran")
    uid = acc.get("alice")["id"]
    sid, csrf = acc.open_session(uid, ttl_s=3600)
    with store.engine.connect() as conn:
        row = conn.execute(select(web_sessions)).one()
    assert row.id_hash != sid and len(row.id_hash) == 64 and sid not in json.dumps(row._asdict())
    u = acc.session(sid)
    assert u.username == "alice" and u.persons == frozenset({"gran"}) and u.csrf_token == csrf
    assert u.expires_at == pytest.approx(time.time() + 3600, abs=5)
    acc.expire_session(sid)
    assert acc.session(sid) is None
    sid2, _ = acc.open_session(uid, ttl_s=3600)  # also sweeps the expired one
    with store.engine.connect() as conn:
        assert conn.execute(select(web_sessions.c.id_hash)).scalars().all() == [acc_hash(sid2)]
    acc.set_password("alice", "a brand new password")
    assert acc.session(sid2) is None
    assert acc.verify("alice", "a brand new password") is not None
    with pytest.raises(NotFound):
        acc.assign("alice", "nobody")
    acc.delete("alice")
    assert acc.get("alice") is None


def acc_hash(sid: str) -> str:
    from harflow.serve.db.accounts import hash_session_id

    return hash_session_id(sid)


def test_erase_removes_every_row_of_the_person_and_only_theirs(store):
    persons, acc, alerts, analytics = (
        Persons(store.engine),
        Accounts(store.engine),
        Alerts(store.engine),
        Analytics(store.engine),
    )
    for pid in ("gran", "grandad"):
        persons.create(pid, pid.title(), "UTC")
        persons.assign(pid, f"{pid}-watch", 1000.0)
        store.add_token(f"{pid}-watch", f"{pid:0<64}")
        b = Batch()
        for i in range(3):
            b.predictions.append(
                {
                    "device_id": f"{pid}-watch",
                    "seq": i,
                    "t_start": 2000.0 + i,
                    "t_end": 2002.0 + i,
                    "activity": "WALKING",
                    "smoothed": "WALKING",
                    "probability": 0.9,
                    "probabilities": "[]",
                    "model_version": "v",
                    "created_at": 0.0,
                }
            )
        b.events.append(
            {
                "device_id": f"{pid}-watch",
                "type": "activity_change",
                "t": 2001.0,
                "from_activity": None,
                "to_activity": "WALKING",
                "probability": 0.9,
                "model_version": "v",
                "created_at": 0.0,
            }
        )
        store.write(b)
        analytics.put_days(pid, [{"date": "2026-03-02", "valid": True, "active_min": 30.0}], 3000.0)
        analytics.set_profile(pid, {"x": 1}, 3000.0)
        [a] = alerts.add(
            pid,
            [
                {
                    "kind": "inactivity",
                    "metric": "lying_run",
                    "direction": "up",
                    "onset": "2026-03-02T13:30",
                    "detected": "2026-03-02T14:10",
                    "evidence": {},
                }
            ],
            ["http://127.0.0.1:9/hook"],
        )
        alerts.acknowledge(a["id"], "caregiver:alice", f"called {pid}")
    acc.create("alice", "correct horse battery")
    acc.assign("alice", "gran")
    acc.assign("alice", "grandad")

    exported = export_person(store.engine, "gran")
    assert exported["timeline"][0]["activity"] == "WALKING" and exported["daily"][0]["date"] == "2026-03-02"
    assert exported["acknowledgements"][0]["ack_note"] == "called gran"

    counts = erase_person(store.engine, "gran", "admin:test")
    assert counts["predictions"] == 3 and counts["events"] == 1 and counts["alerts"] == 1
    assert counts["alert_deliveries"] == 1 and counts["device_tokens"] == 1 and counts["persons"] == 1
    with store.engine.connect() as conn:
        for table in inspect(store.engine).get_table_names():
            for col in (c["name"] for c in inspect(store.engine).get_columns(table)):
                n = conn.execute(
                    text(f'SELECT count(*) FROM "{table}" WHERE CAST("{col}" AS TEXT) IN (:a, :b, :c)'),
                    {"a": "gran", "b": "gran-watch", "c": "called gran"},
                ).scalar()
                assert n == 0, f"{table}.{col} still holds gran's data"
        audit = conn.execute(text("SELECT person_ref, actor, rows FROM erasures")).one()
    assert audit.person_ref == person_ref("gran") and audit.actor == "admin:test"
    assert json.loads(audit.rows)["persons"] == 1
    # the other person is untouched
    assert persons.get("grandad") and len(store.timeline("grandad-watch")) == 1
    assert acc.get("alice")["persons"] == ["grandad"]
    assert erase_person(store.engine, "gran", "admin:test") is None


def test_users_cli_creates_assigns_lists_and_deletes(tmp_path):
    env = {"HARFLOW_DATA_DIR": str(tmp_path), "HARFLOW_USER_PASSWORD": "the cli password"}
    url = f"sqlite:///{tmp_path / 'harflow.db'}"
    migrate(url)
    s = Store(url)
    Persons(s.engine).create("gran", "Gran", "UTC")
    s.close()
    out = run_harflow("users", "create", "alice", env=env).stdout
    assert json.loads(out)["role"] == "caregiver"
    assert json.loads(run_harflow("users", "assign", "alice", "gran", env=env).stdout)["persons"] == ["gran"]
    rows = json.loads(run_harflow("users", "list", "--json", env=env).stdout)
    assert rows[0]["username"] == "alice" and rows[0]["persons"] == ["gran"]
    bad = run_harflow("users", "assign", "alice", "nobody", env=env, check=False)
    assert bad.returncode != 0 and "nobody" in bad.stderr
    p = run_harflow("users", "set-password", "alice", "--password-stdin", env=env, check=False)
    assert p.returncode != 0  # empty stdin: too short, refused with a reason
    run_harflow("users", "delete", "alice", env=env)
    assert json.loads(run_harflow("users", "list", "--json", env=env).stdout) == []
