"""The drill on the practice lab: ``drill``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from irtui.commands import jsondata, jsonout
from irtui.commands.common import EXIT_FAILED, EXIT_OK


def cmd_drill(args: argparse.Namespace, config: object = None) -> int:
    """``irtui drill``: the scripted exercise; exit 0 when every step passed."""
    from irtui.lab import LabInfo, LabSpec, lab_up
    from irtui.lab.drill import Drill

    info = LabInfo.load(args.lab_dir) if args.lab_dir else lab_up(LabSpec())
    capture = getattr(args, "screen_capture", None)
    if capture is None:
        print("note: no screenshot (the TUI front is not available here)", file=sys.stderr)

    def say(line: str) -> None:
        print(line, flush=True)

    drill = Drill(info, Path(args.out), say, capture, timeout=args.timeout)
    result = drill.run(auto=args.auto)
    jsonout.report().incident = result.incident  # --json
    jsonout.report().put(**jsondata.drill(result))
    if result.report:
        print("\n".join(str(p) for p in result.report))
    print(f"drill {'PASSED' if result.passed else 'FAILED'} ({result.incident})")
    return EXIT_OK if result.passed else EXIT_FAILED


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``drill`` to ``sub``."""
    text = ("run the scripted exercise on the practice lab: an attacker, its containment "
            "timed and checked with traffic, and a report (root, Linux)")
    p = sub.add_parser("drill", help=text, description=text)
    p.add_argument("--auto", action="store_true",
                   help="irtui contains the attack itself (unattended, for CI)")
    p.add_argument("--lab-dir", metavar="DIR",
                   help="use the running lab in DIR (default: start or reuse the default lab)")
    p.add_argument("--out", default=".", metavar="DIR", help="where the report goes")
    p.add_argument("--timeout", type=float, default=600, metavar="SECONDS",
                   help="how long the analyst has to contain the attack (default 600)")
    p.set_defaults(handler=cmd_drill, needs_config=False)
