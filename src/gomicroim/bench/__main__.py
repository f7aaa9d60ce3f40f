"""``python -m gomicroim.bench`` runs the benchmark command line."""

from gomicroim.bench.cli import main

raise SystemExit(main())
