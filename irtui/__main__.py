"""``python -m irtui`` runs the command-line front."""

from irtui.cli import main

raise SystemExit(main())
