"""The web client's bundle and page policy: what ships, and what the CSP lets a page do."""

from __future__ import annotations

import re

import pytest

from gomicroim.web.bundle import CONTENT_TYPES, load_bundle
from gomicroim.web.http import content_security_policy


def test_the_page_names_its_assets_by_a_version_that_follows_their_content() -> None:
    bundle = load_bundle()

    assert re.fullmatch(r"[0-9a-f]{12}", bundle.version)
    page = bundle.page.body.decode()
    assert "{{ASSETS}}" not in page
    assert f'src="{bundle.root}/js/main.js"' in page
    assert f'href="{bundle.root}/css/app.css"' in page
    for name in re.findall(rf'(?:src|href)="{bundle.root}/([^"]+)"', page):
        assert name in bundle.assets, name


def test_every_module_the_client_imports_is_shipped() -> None:
    assets = load_bundle().assets

    for name, asset in assets.items():
        if not name.endswith(".js"):
            continue
        for target in re.findall(r'from "\./([^"]+)"', asset.body.decode()):
            assert f"js/{target}" in assets, f"{name} imports {target}"


def test_only_files_of_known_types_are_bundled() -> None:
    for name, asset in load_bundle().assets.items():
        assert "." + name.rpartition(".")[2] in CONTENT_TYPES
        assert asset.content_type == CONTENT_TYPES["." + name.rpartition(".")[2]]


def test_no_client_code_writes_html_from_strings() -> None:
    for name, asset in load_bundle().assets.items():
        if name.endswith(".js"):
            source = asset.body.decode()
            for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
                assert sink not in source, f"{name} uses {sink}"


def test_the_policy_allows_this_origin_and_its_websocket_only() -> None:
    policy = content_security_policy("chat.example.org:8443")

    assert "default-src 'self'" in policy
    assert "connect-src 'self' ws://chat.example.org:8443 wss://chat.example.org:8443" in policy
    assert "unsafe-inline" not in policy
    assert "require-trusted-types-for 'script'" in policy


@pytest.mark.parametrize(
    "host",
    [None, "", "evil.example; script-src *", "a b", "x'y", "host:port", "[::1", "é.example"],
)
def test_a_host_that_is_not_a_host_name_is_left_out_of_the_policy(host: str | None) -> None:
    policy = content_security_policy(host)

    assert policy.endswith("connect-src 'self'")
    assert policy.count(";") == content_security_policy(None).count(";")


def test_ip_literals_are_allowed_in_the_policy() -> None:
    assert content_security_policy("[::1]:8080").endswith("ws://[::1]:8080 wss://[::1]:8080")
    assert content_security_policy("127.0.0.1").endswith("ws://127.0.0.1 wss://127.0.0.1")
