"""The token-signing secret: configured, or generated once and kept in the data directory."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from gomicroim.config import ConfigError, Settings
from gomicroim.infra.datadir import FILE_MODE, ensure_private_dir, fsync_path

SECRET_FILE = "jwt_secret"  # noqa: S105 - a file name, not a secret
MIN_SECRET_CHARS = 32


def jwt_secret(settings: Settings) -> str:
    """The configured secret, else (embedded only) the one stored under ``data_dir``.

    Raises:
        ConfigError: when a shared database is configured without a secret, since every
            replica must sign with the same key; when the stored secret is too short (a
            damaged file), naming the file and the fix.
    """
    if settings.identity.jwt_secret:
        if len(settings.identity.jwt_secret) < MIN_SECRET_CHARS:
            raise ConfigError(
                f"identity.jwt_secret: must be at least {MIN_SECRET_CHARS} characters"
            )
        return settings.identity.jwt_secret
    if not settings.embedded:
        raise ConfigError(
            "identity.jwt_secret: required with a shared database (every replica must sign with"
            " the same key); set it in the config file or GOMICROIM__IDENTITY__JWT_SECRET"
        )
    path = settings.data_path / SECRET_FILE
    try:
        if not path.exists():
            _create(path)
        secret = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(
            f"storage.data_dir: cannot use {settings.data_path} ({exc.strerror or exc});"
            " point it at a writable directory"
        ) from exc
    if len(secret) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"{path}: the stored signing secret has {len(secret)} characters, at least"
            f" {MIN_SECRET_CHARS} are needed; delete the file to generate a new one (everyone"
            " must log in again) or set identity.jwt_secret"
        )
    return secret


def _create(path: Path) -> None:
    ensure_private_dir(path.parent)
    # Written whole to a temporary file, flushed to disk, then linked into place: a crash
    # leaves either no secret file or a complete one, never an empty or partial one. link()
    # fails if the name exists, so when two processes start at once on one data dir, exactly
    # one secret wins and the other process reads it.
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return
        # The new directory entry must be durable too, or a power cut can lose the file.
        fsync_path(path.parent)
    finally:
        temporary.unlink(missing_ok=True)
