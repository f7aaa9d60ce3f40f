"""``python -m gomicroim`` runs the command line."""

from gomicroim.cli import main

raise SystemExit(main())
