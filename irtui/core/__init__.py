"""irtui's core: config, SSH, firewall backends, actions, notify, secrets, audit.

Nothing under this package may import Textual (checked by import-linter and by
``tests/test_layering.py``): both the TUI and the CLI drive the same API.
"""
