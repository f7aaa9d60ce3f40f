"""Structured logging: one JSON object per line with the record's ``extra`` fields."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import msgspec

from gomicroim.config import LogSettings

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


#: ``token=``, ``access_token=`` and ``refresh_token=`` query parameters (``/ws?token=...``) and
#: bearer credentials, wherever they appear in a line: uvicorn's own messages, our extras and
#: tracebacks alike. The value runs to the next delimiter a URL or a log format puts after it.
_SECRET = re.compile(r"(?i)(\b(?:access_|refresh_)?token=|\bbearer\s+)[^&\s\"'\\;,)\]}]+")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """``text`` with every query token and bearer credential replaced by ``[redacted]``."""
    return _SECRET.sub(lambda m: m.group(1) + REDACTED, text)


def redact_query(query: str) -> str:
    """A query string with token parameters redacted, for access logs."""
    return redact(query)


class JsonFormatter(logging.Formatter):
    """Formats records as JSON: ``ts``, ``level``, ``logger``, ``msg`` and the extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Render one record."""
        entry: dict[str, Any] = {
            "ts": round(record.created * 1000),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return redact(msgspec.json.encode(entry, enc_hook=str).decode())


class TextFormatter(logging.Formatter):
    """Human-readable lines with the extras appended as ``key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        """Render one record."""
        extras = " ".join(
            f"{k}={v}"
            for k, v in record.__dict__.items()
            if k not in _STANDARD and not k.startswith("_")
        )
        line = (
            f"{self.formatTime(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        )
        if extras:
            line = f"{line} {extras}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return redact(line)


class BelowError(logging.Filter):
    """Lowers the ERROR records of a library's loggers (``name`` and below) to WARNING.

    aiokafka logs each failed reconnect at ERROR, several a second while a broker is down;
    the Kafka adapters report the outage themselves (a warning per retry, ``/readyz``), so
    these are noise, not errors of gomicroim.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record, at WARNING at most if it comes from the library."""
        if record.levelno == logging.ERROR and super().filter(record):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def configure_logging(settings: LogSettings) -> None:
    """Send all logs to stderr in the configured format and level."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level)
    for noisy in ("tortoise", "aiosqlite", "asyncmy", "uvicorn.access", "aiokafka"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    handler.addFilter(BelowError("aiokafka"))
