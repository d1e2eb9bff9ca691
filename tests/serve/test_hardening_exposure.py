"""Issue 18 row 10 against the real server: metrics and readiness details need the admin key, no HTML docs
(their assets came from a CDN) and the OpenAPI document for admins only, declaring its security schemes;
security headers on every answer; the Host header is checked."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.serve.conftest import Server

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


@pytest.fixture(scope="module")
def srv(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory):
    s = Server(tiny_run, tmp_path_factory.mktemp("exposure")).start()
    yield s
    s.stop()


def test_operations_details_need_the_admin_key(srv):
    assert httpx.get(f"{srv.url}/metrics").status_code == 401
    assert "harflow_" in httpx.get(f"{srv.url}/metrics", headers=srv.admin()).text
    tok = srv.token("expo")
    assert httpx.get(f"{srv.url}/metrics", headers={"Authorization": f"Bearer {tok}"}).status_code == 401
    public = httpx.get(f"{srv.url}/readyz")
    assert public.status_code == 200 and public.json() == {"status": "ready"}
    detail = httpx.get(f"{srv.url}/readyz", headers=srv.admin()).json()
    assert detail["model_version"] and detail["database"] == "ok"


def test_no_cdn_docs_and_openapi_for_admins_with_security_schemes(srv):
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert httpx.get(f"{srv.url}{path}").status_code == 404, path
    assert httpx.get(f"{srv.url}/v1/admin/openapi.json").status_code == 401
    doc = httpx.get(f"{srv.url}/v1/admin/openapi.json", headers=srv.admin()).json()
    schemes = doc["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
    assert doc["paths"]["/v1/predict"]["post"]["security"]
    assert "requestBody" in doc["paths"]["/v1/predict"]["post"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/v1/model", "/nowhere"])
def test_security_headers_on_every_answer(srv, path):
    r = httpx.get(f"{srv.url}{path}")
    assert r.headers.get("content-security-policy") == CSP
    assert r.headers.get("x-content-type-options") == "nosniff"
    assert r.headers.get("referrer-policy") == "no-referrer"
    assert "strict-transport-security" not in r.headers  # plain HTTP here: no HSTS


def test_the_host_header_is_checked(srv):
    assert httpx.get(f"{srv.url}/healthz", headers={"Host": "evil.example"}).status_code == 400
    assert httpx.get(f"http://localhost:{srv.port}/healthz").status_code == 200
