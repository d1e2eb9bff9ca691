"""Service settings, all overridable through ``HARFLOW_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HARFLOW_", extra="ignore")

    model: str = Field("", description="run directory (or model.pt) of the model to serve")
    data_dir: Path = Field(Path("harflow-data"), description="where the default SQLite database lives")
    database_url: str = Field("", description="SQLAlchemy URL; empty → SQLite (WAL) in data_dir")
    backend: Literal["auto", "torch", "onnx"] = "auto"
    threads: int = Field(1, ge=1, description="intra-op threads of the inference backend")
    max_batch: int = Field(64, ge=1, description="largest batched forward pass (1 = batching off)")
    max_wait_ms: float = Field(5.0, ge=0, description="how long a partial batch waits for more windows")
    queue_depth: int = Field(
        4096, ge=1, description="windows waiting for inference before clients get `busy`"
    )
    write_batch: int = Field(512, ge=1, description="rows per database transaction at most")
    write_wait_ms: float = Field(10.0, ge=0, description="how long the writer gathers rows before committing")
    auth: bool = Field(True, description="require API keys / device tokens")
    admin_keys: str = Field("", description="comma-separated admin API keys, plain or 'sha256:<hex>'")
    max_message_bytes: int = Field(1 << 20, ge=64)
    max_samples_per_message: int = Field(2000, ge=1)
    max_streams_per_key: int = Field(4, ge=1, description="concurrent streams per device token")
    ws_compression: bool = Field(
        False,
        description="offer permessage-deflate on WebSockets; off because float32 sensor frames barely"
        " compress and deflating every small message costs clients and server more CPU than it saves",
    )
    idle_timeout_s: float = Field(60.0, gt=0, description="close a stream that sent nothing for this long")
    min_rate_hz: float = 1.0
    max_rate_hz: float = 1000.0
    max_gap_s: float = Field(5.0, gt=0, description="a larger gap between chunks restarts the window buffer")
    # None = the value fitted on the validation split and stored in the run's transitions.json
    min_dwell: int | None = Field(
        None, ge=1, description="windows a new activity must persist before a change event (unset: fitted)"
    )
    change_temperature: float | None = Field(
        None,
        gt=0,
        le=1,
        description="exponent tempering window probabilities before HMM smoothing (1 = raw; unset: fitted)",
    )
    patterns_interval_s: float = Field(
        300.0, ge=0, description="how often the service runs the patterns job over its store (0 = never)"
    )
    retention_days: float = Field(
        30.0, gt=0, description="raw per-window predictions are kept this long, then compacted into segments"
    )
    webhook_urls: str = Field(
        "", description="comma-separated URLs every new alert is POSTed to (HMAC-signed; retried until 2xx)"
    )
    webhook_secret: str = Field("", description="HMAC-SHA256 key for X-Harflow-Signature; required with URLs")
    webhook_timeout_s: float = Field(5.0, gt=0)
    webhook_retry_base_s: float = Field(2.0, gt=0, description="first retry delay; doubles per attempt")
    webhook_retry_cap_s: float = Field(600.0, gt=0, description="longest delay between retries")
    # caregiver web app (docs/webapp.md)
    session_ttl_s: float = Field(8 * 3600.0, gt=0, description="a web sign-in lasts this long")
    cookie_secure: bool = Field(
        True, description="Secure flag on the session cookie (off only for plain-http loopback tests)"
    )
    login_max_failures: int = Field(5, ge=1, description="failed sign-ins per account per window")
    login_max_failures_ip: int = Field(20, ge=1, description="failed sign-ins per client address per window")
    login_window_s: float = Field(900.0, gt=0, description="the sign-in rate limits' sliding window")
    log_json: bool = True
    log_level: str = "INFO"
    # --- hardening: bounded inputs, tokens, rate limits, exposure (docs/serving.md "Limits and exposure") --
    max_body_bytes: int = Field(
        4 << 20, ge=1024, description="largest HTTP request body; refused with 413 before it is read"
    )
    max_windows_per_message: int = Field(
        100, ge=1, description="windows one stream message may produce (a low declared rate multiplies them)"
    )
    header_timeout_s: float = Field(10.0, gt=0, description="time a client has to send a request's headers")
    body_timeout_s: float = Field(30.0, gt=0, description="time a client has to send a request's body")
    token_ttl_s: float = Field(365 * 86400.0, gt=0, description="lifetime of a new device token by default")
    max_tokens_per_device: int = Field(16, ge=1, description="active (unexpired, unrevoked) tokens a device")
    token_cache_s: float = Field(
        2.0, ge=0, description="how long a worker trusts a token lookup: revocation takes effect within it"
    )
    rate_limit_rps: float = Field(
        20.0, ge=0, description="REST requests per second per device token (0 = no limit; admin keys exempt)"
    )
    rate_limit_burst: float = Field(40.0, ge=1, description="REST requests a token may send at once")
    rate_limit_messages_per_s: float = Field(
        50.0, ge=0, description="stream messages per second per device token (0 = no limit)"
    )
    rate_limit_messages_burst: float = Field(
        200.0, ge=1, description="stream messages a token may send at once"
    )
    rate_limit_windows_per_s: float = Field(
        200.0, ge=0, description="windows per second per device token, REST and streams (0 = no limit)"
    )
    rate_limit_windows_burst: float = Field(1024.0, ge=1, description="windows a token may send at once")
    ops_public: bool = Field(
        False, description="serve /metrics and readiness details without the admin key (else admin only)"
    )
    api_docs: bool = Field(False, description="serve /openapi.json to everyone (else admin only)")
    trusted_hosts: str = Field(
        "127.0.0.1,localhost,[::1]",
        description="comma-separated Host header values accepted ('*' = any, e.g. behind an ingress)",
    )
    hsts: bool = Field(False, description="send Strict-Transport-Security (only when served over TLS)")

    @model_validator(mode="after")
    def _webhooks_need_a_secret(self) -> Settings:
        if self.webhook_urls.strip() and not self.webhook_secret:
            raise ValueError(
                "HARFLOW_WEBHOOK_URLS is set but HARFLOW_WEBHOOK_SECRET is empty: deliveries are signed"
            )
        return self

    def trusted_host_list(self) -> list[str]:
        return [h.strip() for h in self.trusted_hosts.split(",") if h.strip()]

    def webhook_targets(self) -> list[str]:
        return [u.strip() for u in self.webhook_urls.split(",") if u.strip()]

    def database(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.data_dir).resolve() / 'harflow.db'}"
