"""Telling the team and keeping secrets: ``notify`` and ``secrets``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from irtui.commands.common import EXIT_OK, responder
from irtui.core.errors import InvalidTargetError, NotifyError

if TYPE_CHECKING:
    from irtui.core.config import Config


BODY_LIMITS_BYTES = 1 << 20
"""Largest message body read from a file (1 MiB)."""


def _read_body(path: str) -> str:
    from irtui.core.textfile import TextLimits, read_text_file

    return read_text_file(path, "the message body", TextLimits(BODY_LIMITS_BYTES,
                                                           BODY_LIMITS_BYTES),
                          "check the path given to --body-file")


def cmd_notify(args: argparse.Namespace, config: Config) -> int:
    """``irtui notify``: send (or with ``--dry-run`` print) an email."""
    body = _read_body(args.body_file) if args.body_file else args.body
    if body is None:
        raise InvalidTargetError("no message body", "pass --body TEXT or --body-file PATH")
    if args.dry_run:
        from irtui.core.notify_email import build_message

        settings = config.email
        if not settings.configured:
            raise NotifyError("email is not configured",
                              "set notify.email.host and notify.email.sender in the config")
        message = build_message(settings, args.to or [], args.subject, body)
        print(f"email via {settings.host}:{settings.port} ({settings.security})\n"
              f"{message.as_string()}")
        return EXIT_OK
    message_id = responder(config).notify_email(args.to or [], args.subject, body)
    print(f"sent {message_id}")
    return EXIT_OK


def cmd_secrets(args: argparse.Namespace, config: Config | None = None) -> int:
    """``irtui secrets set|delete|status`` (OS keyring)."""
    from irtui.core import secrets

    if args.secrets_cmd == "set":
        if sys.stdin.isatty() and not args.stdin:
            import getpass

            value = getpass.getpass(f"value for secret {args.name!r}: ")
        else:
            value = sys.stdin.read().rstrip("\r\n")
        secrets.set_secret(args.name, value)
        print(f"stored secret {args.name!r} in the OS keyring ({secrets.backend_name()})")
    elif args.secrets_cmd == "delete":
        gone = secrets.delete_secret(args.name)
        print(f"deleted {args.name!r}" if gone else f"{args.name!r} was not stored")
    else:
        print(f"keyring backend: {secrets.backend_name()}")
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``notify`` and ``secrets`` to ``sub``."""
    text = "email the team (SMTP password from the OS keyring)"
    p = sub.add_parser("notify", help=text, description=text)
    p.add_argument("--to", action="append", metavar="ADDR",
                   help="recipient (repeatable; default notify.email.to)")
    p.add_argument("--subject", required=True, help="subject line (UTF-8)")
    p.add_argument("--body", help="message text (UTF-8)")
    p.add_argument("--body-file", metavar="PATH", help="read the message text from a file")
    p.add_argument("--dry-run", action="store_true", help="print the message, send nothing")
    p.set_defaults(handler=cmd_notify)

    p = sub.add_parser("secrets", help="manage secrets in the OS keyring")
    ssub = p.add_subparsers(dest="secrets_cmd", required=True)
    s = ssub.add_parser("set", help="store a secret (read from stdin or prompted)")
    s.add_argument("name")
    s.add_argument("--stdin", action="store_true", help="read the value from stdin")
    s = ssub.add_parser("delete", help="remove a secret")
    s.add_argument("name")
    ssub.add_parser("status", help="show the keyring backend")
    p.set_defaults(handler=cmd_secrets, needs_config=False)
