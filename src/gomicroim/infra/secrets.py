"""The token-signing secret: configured, or generated once and kept in the data directory."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from gomicroim.config import ConfigError, Settings

SECRET_FILE = "jwt_secret"  # noqa: S105 - a file name, not a secret


def jwt_secret(settings: Settings) -> str:
    """The configured secret, else (embedded only) the one stored under ``data_dir``.

    Raises:
        ConfigError: when a shared database is configured without a secret, since every
            replica must sign with the same key.
    """
    if settings.identity.jwt_secret:
        if len(settings.identity.jwt_secret) < 32:
            raise ConfigError("identity.jwt_secret: must be at least 32 characters")
        return settings.identity.jwt_secret
    if not settings.embedded:
        raise ConfigError(
            "identity.jwt_secret: required with a shared database (every replica must sign with"
            " the same key); set it in the config file or GOMICROIM__IDENTITY__JWT_SECRET"
        )
    path = settings.data_path / SECRET_FILE
    try:
        if path.exists():
            return path.read_text().strip()
        return _create(path)
    except OSError as exc:
        raise ConfigError(
            f"storage.data_dir: cannot use {settings.data_path} ({exc.strerror or exc});"
            " point it at a writable directory"
        ) from exc


def _create(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    # O_EXCL: when two processes start at once on one data dir, exactly one secret wins.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(secret)
    return secret
