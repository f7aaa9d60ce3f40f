"""The web client's files, read once from the package and served from memory.

Only files with a known content type are bundled, so nothing is ever served with a guessed
type, and a request can only name a file that is in the bundle (no path reaches the disk).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

#: Suffix → Content-Type of the files the client ships (Litestar adds "; charset=utf-8" to
#: the text types).
CONTENT_TYPES = {
    ".css": "text/css",
    ".html": "text/html",
    ".js": "text/javascript",
    ".json": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".txt": "text/plain",
    ".woff2": "font/woff2",
}
#: The page's placeholder for the versioned asset prefix (``/web/<version>``).
ASSET_ROOT_MARK = b"{{ASSETS}}"


@dataclass(frozen=True)
class Asset:
    """One file: its bytes, content type and entity tag."""

    body: bytes
    content_type: str
    etag: str


@dataclass(frozen=True)
class Bundle:
    """The page and its assets; ``version`` changes whenever any file's content does."""

    version: str
    page: Asset
    assets: dict[str, Asset]

    @property
    def root(self) -> str:
        """The URL prefix assets are served under; relative module imports stay inside it."""
        return f"/web/{self.version}"


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _walk(folder: Traversable, prefix: str = "") -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        name = f"{prefix}{entry.name}"
        if entry.is_dir():
            files.update(_walk(entry, f"{name}/"))
        elif "." + name.rpartition(".")[2] in CONTENT_TYPES:
            files[name] = entry.read_bytes()
    return files


@cache
def load_bundle() -> Bundle:
    """Read the shipped files (once per process)."""
    files = _walk(resources.files("gomicroim.web") / "assets")
    template = files.pop("index.html")
    digest = hashlib.sha256(template)
    for name, body in files.items():
        digest.update(name.encode() + b"\0" + body)
    version = digest.hexdigest()[:12]
    page = template.replace(ASSET_ROOT_MARK, f"/web/{version}".encode())
    assets = {
        name: Asset(body, CONTENT_TYPES["." + name.rpartition(".")[2]], _etag(body))
        for name, body in files.items()
    }
    return Bundle(
        version=version, page=Asset(page, CONTENT_TYPES[".html"], _etag(page)), assets=assets
    )
