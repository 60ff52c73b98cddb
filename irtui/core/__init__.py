"""irtui's core: config, SSH, firewall backends, actions, notify, secrets, audit.

Nothing under this package may import Textual (checked by import-linter and by
``tests/test_layering.py``): both the TUI and the CLI drive the same API.
"""

import sys

# paramiko.config imports invoke (and with it asyncio and unittest.mock: about 40 ms of every
# command's start-up) only to evaluate `Match exec`, which irtui refuses before paramiko reads
# an ssh config (irtui.core.ssh_route). Without it paramiko sets its `invoke` to None
# (paramiko/config.py, "except ImportError").
sys.modules.setdefault("invoke", None)  # type: ignore[arg-type]
