"""The ``irtui`` command: the TUI when no verb is given, else the CLI verb.

This is the composition root that knows both fronts; the fronts never import each other.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from irtui import cli
from irtui.commands.common import exit_code
from irtui.core.errors import IrtuiError
from irtui.core.text import printable

if TYPE_CHECKING:
    from irtui.core.config import Config


def _capture_screen(config: Config) -> str:
    """SVG of the TUI's host list for ``config`` (for the drill's report); the CLI verbs get
    it from here because they never import the TUI themselves."""
    from irtui.tui.capture import host_list_svg

    return host_list_svg(config)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``irtui`` console script; returns the exit code."""
    args = cli.parse(argv)
    if isinstance(args, int):  # a command line argparse refused
        return args
    if not cli.wants_tui(args):
        args.screen_capture = _capture_screen
        return cli.run(args)
    try:
        from irtui.core.config import load_config
        from irtui.tui.app import run_app

        return run_app(load_config(args.config))
    except IrtuiError as exc:
        print(f"irtui: {printable(exc.line)}", file=sys.stderr)
        return exit_code(exc)
