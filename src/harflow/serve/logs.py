"""JSON log lines (one object per line) for the service and uvicorn; credentials are redacted from every
line (uvicorn logs WebSocket paths with their query string, and browsers can only send tokens there)."""

from __future__ import annotations

import json
import logging
import re
import time

# ?token=…, &api_key=…, key=…, and Bearer/X-API-Key values, wherever they appear in a line
_SECRET = re.compile(
    r"(?i)((?:[?&;\s]|^)(?:token|access_token|api_key|apikey|key)=)[^&\s\"'#]+"
    r"|(bearer\s+)[A-Za-z0-9._~+/=-]+|(x-api-key['\"]?\s*[:=,]\s*['\"]?)[^\s'\",}]+"
)


def redact(text: str) -> str:
    return _SECRET.sub(lambda m: (m.group(1) or m.group(2) or m.group(3)) + "[redacted]", text)


class RedactSecrets(logging.Filter):
    """Rewrites a record's message with credentials replaced by ``[redacted]`` (before any formatter)."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        clean = redact(msg)
        if clean != msg:
            record.msg, record.args = clean, ()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


def log_config(json_lines: bool, level: str) -> dict:
    fmt = (
        {"()": JsonFormatter} if json_lines else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "default",
        "stream": "ext://sys.stderr",
        "filters": ["redact"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactSecrets}},
        "formatters": {"default": fmt},
        "handlers": {"default": handler},
        "loggers": {
            "harflow": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.access": {"handlers": ["default"], "level": "WARNING", "propagate": False},
        },
    }
