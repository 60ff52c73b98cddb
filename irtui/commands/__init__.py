"""The CLI verbs, one module per area. Each module has ``add_parsers(sub)``, which adds its
subcommands to the ``irtui`` parser and sets ``handler`` (and ``needs_config``) on each.

Modules import the core lazily inside their handlers, so ``irtui --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib

MODULES = ("contain", "collect", "hosts", "notify", "record", "lab", "drill")
"""Verb modules under :mod:`irtui.commands`, in the order their verbs appear in ``--help``."""


def add_all(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add every module's subcommands to ``sub`` (the ``irtui`` subparsers)."""
    for name in MODULES:
        importlib.import_module(f"irtui.commands.{name}").add_parsers(sub)
