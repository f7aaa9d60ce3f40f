"""Developer tool: ``python -m gomicroim.infra.makemigrations`` runs tortoise's autodetector."""

from __future__ import annotations

import sys
import tempfile

from tortoise.cli import main as tortoise_main

from gomicroim.config import load_settings
from gomicroim.container import tortoise_apps
from gomicroim.infra.database import tortoise_config

#: Read by tortoise's CLI through ``-c gomicroim.infra.makemigrations.TORTOISE_ORM``.
TORTOISE_ORM: dict[str, object] = {}


def run(labels: list[str]) -> None:
    """Diff the models against the migrations on disk and write what is missing."""
    scratch = tempfile.mkdtemp(prefix="gomicroim-migrations-")
    settings = load_settings(overrides={"storage": {"data_dir": scratch}})
    # A developer entry point, so it asks the composition root which modules own tables.
    TORTOISE_ORM.update(tortoise_config(settings, tortoise_apps(settings)))
    sys.argv = ["tortoise", "-c", f"{__name__}.TORTOISE_ORM", "makemigrations", *labels]
    tortoise_main()


if __name__ == "__main__":
    run(sys.argv[1:])
