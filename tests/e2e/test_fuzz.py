"""Property-based fuzzing of the served OpenAPI with schemathesis, against a real server.

Every phase runs (examples, coverage, fuzzing, stateful: register -> login, create group ->
members -> send -> history -> read, as schemathesis links them from the document), seeded and
bounded. Pass: no 5xx, every response documented and valid for its status, headers and
content type, schema-invalid input refused, wrong methods 405 with a true ``Allow``.

Reproduce a failure with the seed printed in the assertion:
``GOMICROIM_FUZZ_SEED=<seed> pytest tests/e2e/test_fuzz.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.client import unique_name
from tests.e2e.conftest import StartServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

SEED = int(os.environ.get("GOMICROIM_FUZZ_SEED", "20261202"))
#: Cases per operation and phase; the run takes about a minute on two busy cores.
MAX_EXAMPLES = int(os.environ.get("GOMICROIM_FUZZ_EXAMPLES", "30"))
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
        "negative_data_rejection",
        "unsupported_method",
        "allow_header_conformance",
    ]
)
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
ROOT = Path(__file__).resolve().parents[2]


def test_schemathesis_finds_nothing(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server()
    username, password = unique_name("fuzz"), "fuzz password 1"
    registered = httpx.post(
        f"{server.base_url}/api/v1/auth/register",
        json={"username": username, "password": password},
    )
    assert registered.status_code == 201, registered.text
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.e2e.fuzz_hooks",
        "GOMICROIM_FUZZ_URL": server.base_url,
        "GOMICROIM_FUZZ_USERNAME": username,
        "GOMICROIM_FUZZ_PASSWORD": password,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(Path(__file__).with_name("schemathesis.toml")),
        "run",
        f"{server.base_url}/schema/openapi.json",
        "--checks",
        CHECKS,
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        # One worker: CPython 3.11's ast module is not thread-safe, and schemathesis compiles
        # code in each worker thread ("AST constructor recursion depth mismatch" under load).
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path / "report"),
    ]
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=840, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, (
        f"schemathesis found defects (seed {SEED}; rerun with GOMICROIM_FUZZ_SEED={SEED}):\n"
        f"{output[-12000:]}"
    )
    assert "Stateful" in output
    assert server.error_lines() == [], "the server logged errors while being fuzzed"
