"""The ``irtui`` command: the TUI when no verb is given, else the CLI verb.

This is the composition root that knows both fronts; the fronts never import each other.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from irtui import cli
from irtui.commands.common import exit_code
from irtui.core.errors import IrtuiError
from irtui.core.gcpause import gc_paused
from irtui.core.text import printable

if TYPE_CHECKING:
    from irtui.core.config import Config


def _capture_screen(config: Config) -> str:
    """SVG of the TUI's host list for ``config`` (for the drill's report); the CLI verbs get
    it from here because they never import the TUI themselves."""
    from irtui.tui.capture import host_list_svg

    return host_list_svg(config)


def _drill_runner(config: Config) -> Callable[..., object] | None:
    """The TUI's drill (the TUI never imports the lab): None unless ``config`` is a
    practice lab's own config (``lab.json`` beside it)."""
    from pathlib import Path

    lab_dir = Path(config.path).parent if config.path else None
    if lab_dir is None or not (lab_dir / "lab.json").is_file():
        return None

    def run(say: Callable[[str], None], capture: Callable[[], str], auto: bool) -> object:
        from irtui.lab import LabInfo
        from irtui.lab.drill import Drill

        out = config.resolved_audit_dir / "drills"
        drill = Drill(LabInfo.load(lab_dir), out, say, lambda _config: capture())
        result = drill.run(auto=auto)
        say(f"drill {'PASSED' if result.passed else 'FAILED'} ({result.incident}); report: "
            + ", ".join(str(p) for p in result.report or ()))
        return result

    return run


def _is_terminal(stream: object) -> bool:
    """True when ``stream`` is open on a terminal (isatty(3)); False for None (a closed
    descriptor), a pipe, a file or /dev/null."""
    try:
        return bool(stream is not None and stream.isatty())  # type: ignore[attr-defined]
    except (OSError, ValueError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``irtui`` console script; returns the exit code."""
    args = cli.parse(argv)
    if isinstance(args, int):  # a command line argparse refused
        return args
    if not cli.wants_tui(args) and cli.tui_read_only(args):
        print("irtui: --read-only is for the TUI (irtui --read-only); a CLI verb changes "
              "hosts only when you run one — drop --read-only", file=sys.stderr)
        return 2
    if not cli.wants_tui(args):
        args.screen_capture = _capture_screen
        # A verb is one short process: no cyclic garbage collection while it runs. Its bulk
        # work (a feed of 100,000 entries, its read-back, its record) makes about a million
        # objects without cycles, which the collector would walk again and again: about
        # 0.7 s of CPU in a 100,000-entry feed on this project's VM. Reference counting
        # frees them as before (see irtui.core.gcpause); the TUI keeps its collector.
        with gc_paused():
            code = cli.run(args)
            if argv is None:  # this process's own verb: the process ends next
                # Nor when the collector comes back on at the end of this block: its first
                # collection would walk every object made meanwhile (0.3 s for 2 million);
                # frozen objects are never walked (gc.freeze). Still freed by refcounting.
                gc.freeze()
        return code
    if not (_is_terminal(sys.stdin) and _is_terminal(sys.stderr)):
        print("irtui: the TUI needs a terminal (its keys come from stdin and its screen goes "
              "to stderr, and one of them is not a terminal here) — run irtui in a terminal, "
              "or give a verb for scripts (irtui status, irtui block …; irtui --help)",
              file=sys.stderr or sys.stdout)
        return 2
    try:
        from irtui.core.config import load_config
        from irtui.tui.app import run_app

        config = load_config(args.config)
        return run_app(config, read_only=cli.tui_read_only(args),
                       drill=_drill_runner(config))
    except IrtuiError as exc:
        print(f"irtui: {printable(exc.line)}", file=sys.stderr)
        return exit_code(exc)
