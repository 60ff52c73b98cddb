"""The practice lab: ``lab up|down|status``."""

from __future__ import annotations

import argparse

from irtui.commands import jsondata, jsonout
from irtui.commands.common import EXIT_FAILED, EXIT_OK


def cmd_lab(args: argparse.Namespace, config: object = None) -> int:
    """``irtui lab up|down|status|inbox`` (root, Linux)."""
    from irtui.lab.lab import lab_down, lab_up
    from irtui.lab.spec import LabSpec
    from irtui.lab.status import lab_status

    spec = LabSpec(hosts=args.hosts, bastion=args.bastion) if args.lab_cmd == "up" \
        else LabSpec()
    if args.lab_cmd == "up":
        info = lab_up(spec)
        jsonout.report().put(lab=info.to_json())  # --json
        print(f"lab is up: {', '.join(h.name for h in info.hosts)} and attacker "
              f"{info.attacker.v4}")
        if info.bastion is not None:
            print(f"bastion {info.bastion.v4}: the hosts admit SSH only from it; irtui and "
                  f"OpenSSH reach them through it (ProxyJump in {info.ssh_config_path})")
        print(f"config: {info.config_path}")
        print(f"open it with: irtui --config {info.config_path}")
        print("notifications: a mail sink and a webhook sink on 127.0.0.1, secrets in the "
              "lab's own keyring; send from the Notify tab, then: irtui lab inbox")
    elif args.lab_cmd == "down":
        removed = lab_down(spec)
        jsonout.report().put(removed=list(removed))  # --json
        print("\n".join(removed) if removed else "nothing to remove")
    elif args.lab_cmd == "inbox":
        from irtui.lab.sinks import inbox

        items = inbox(spec)
        jsonout.report().put(**jsondata.inbox(items))  # --json
        for item in items:
            print(f"── {item.ts} {'mail' if item.kind == 'mail' else 'webhook post'}")
            print("\n".join(item.lines))
        print(f"{len(items)} item(s) in the lab inbox" if items else
              "the lab inbox is empty: send something from the Notify tab or with "
              f"irtui --config {spec.config_path} notify")
    else:
        status = lab_status(spec)
        jsonout.report().put(**jsondata.lab_status(status))  # --json
        print(status)
        return EXIT_OK if status.up else EXIT_FAILED
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``lab`` to ``sub``."""
    p = sub.add_parser("lab", help="the local practice lab (root, Linux)")
    lsub = p.add_subparsers(dest="lab_cmd", required=True)
    s = lsub.add_parser("up", help="create or repair the lab")
    s.add_argument("--hosts", type=int, default=3)
    s.add_argument("--bastion", action="store_true",
                   help="add a bastion; the hosts then accept SSH only through it")
    lsub.add_parser("down", help="remove the lab")
    lsub.add_parser("status", help="show the lab")
    lsub.add_parser("inbox", help="what the lab's mail and webhook sinks received")
    p.set_defaults(handler=cmd_lab, needs_config=False)
