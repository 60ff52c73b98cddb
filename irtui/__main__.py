"""``python -m irtui`` is the ``irtui`` command."""

from irtui.launcher import main

raise SystemExit(main())
