"""Schemathesis fuzzing of the REST API from its own OpenAPI schema: no input may cause a 5xx."""

from __future__ import annotations

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings

MAX_EXAMPLES = 10  # per operation: bounded so the default suite stays fast


def test_rest_api_never_answers_5xx(server):
    # issue 18 row 10: the OpenAPI document is for admin keys (public only with HARFLOW_API_DOCS=true)
    raw = httpx.get(f"{server.url}/v1/admin/openapi.json", headers=server.admin()).json()
    schema = schemathesis.openapi.from_dict(raw)
    failures: list[str] = []
    calls: list[int] = []
    ops = [r.ok() for r in schema.get_all_operations()]
    assert len(ops) >= 8
    for op in ops:
        for auth in (server.admin(), {}):
            _fuzz(op, auth, server.url, failures, calls)
    assert not failures, failures[:5]
    assert len(calls) >= 2 * len(ops) * 3  # it really sent requests


def _fuzz(op, auth: dict, base: str, failures: list[str], calls: list[int]) -> None:
    @settings(
        max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=op.as_strategy())
    def check(case) -> None:
        r = case.call(base_url=base, headers=auth, timeout=60)
        calls.append(r.status_code)
        if r.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} {case.query} -> {r.status_code}: {r.text[:200]}"
            )

    check()
