"""Schemathesis hooks for ``test_fuzz.py``: real tokens from real logins.

Loaded by the schemathesis CLI through ``SCHEMATHESIS_HOOKS``. Every few seconds it logs the
fuzz user in on a fresh device, so a fuzzed ``POST /auth/logout`` ends one session without
leaving the rest of the run unauthenticated.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

import httpx
import schemathesis


@schemathesis.auth(refresh_interval=5)
class FreshLogin:
    """Bearer token of the fuzz user (``GOMICROIM_FUZZ_USERNAME``/``_PASSWORD``)."""

    def get(self, case: Any, ctx: Any) -> str:
        response = httpx.post(
            f"{os.environ['GOMICROIM_FUZZ_URL']}/api/v1/auth/login",
            json={
                "username": os.environ["GOMICROIM_FUZZ_USERNAME"],
                "password": os.environ["GOMICROIM_FUZZ_PASSWORD"],
                "device_id": f"fuzz-{secrets.token_hex(4)}",
                "client_type": "web",
            },
            timeout=30,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
