"""``gomicroim bench``: load scenarios driven from separate client processes."""

from __future__ import annotations

import importlib

#: What the scenarios need beyond the server's own dependencies: the ``bench`` extra.
EXTRA_MODULES = ("aiohttp", "psutil")
INSTALL_HINT = "pip install 'gomicroim[bench]' (in a checkout: make install)"


def missing_dependencies() -> list[str]:
    """The ``bench`` extra's modules that cannot be imported here."""
    missing = []
    for name in EXTRA_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing
