"""``python -m gomicroim.bench`` runs the benchmark command line, like ``gomicroim bench``."""

import sys

from gomicroim.cli import main

raise SystemExit(main(["bench", *sys.argv[1:]]))
