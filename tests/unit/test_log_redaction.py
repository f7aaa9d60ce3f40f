"""Tokens never reach a log line, whichever logger writes them and wherever they sit in it."""

from __future__ import annotations

import logging
import sys

import pytest

from gomicroim.infra.logging import JsonFormatter, TextFormatter, redact

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl-_x"


@pytest.mark.parametrize(
    "line",
    [
        f'127.0.0.1:5 - "WebSocket /ws?token={TOKEN}" [accepted]',
        f"/api/v1/sync?after=3&access_token={TOKEN}&limit=2",
        f"refresh_token={TOKEN}",
        f"TOKEN={TOKEN};",
        f"Authorization: Bearer {TOKEN}",
    ],
)
def test_token_values_are_redacted(line: str) -> None:
    redacted = redact(line)
    assert TOKEN not in redacted
    assert "[redacted]" in redacted


def test_other_parameters_survive() -> None:
    assert redact(f"/ws?token={TOKEN}&after=3") == "/ws?token=[redacted]&after=3"
    assert redact("/api/v1/sync?after=3") == "/api/v1/sync?after=3"


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()])
def test_formatters_redact_messages_extras_and_tracebacks(formatter: logging.Formatter) -> None:
    try:
        raise ValueError(f"bad url /ws?token={TOKEN}")
    except ValueError:
        record = logging.makeLogRecord(
            {
                "name": "uvicorn.error",
                "levelno": logging.INFO,
                "levelname": "INFO",
                "msg": '%s - "WebSocket %s" [accepted]',
                "args": ("127.0.0.1:1", f"/ws?token={TOKEN}"),
                "path": f"/ws?token={TOKEN}",
                "exc_info": sys.exc_info(),
            }
        )
    line = formatter.format(record)
    assert TOKEN not in line
    assert line.count("[redacted]") >= 3  # message, extra, exception (and its source line)
