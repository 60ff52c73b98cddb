"""Telling the team and keeping secrets: ``notify`` and ``secrets``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from irtui.commands import jsondata, jsonout
from irtui.commands.common import (
    EXIT_NOTIFY,
    EXIT_OK,
    configure_secrets,
    record_options,
    responder,
)

if TYPE_CHECKING:
    from irtui.core.actions import Responder
    from irtui.core.config import Config


BODY_LIMITS_BYTES = 1 << 20
"""Largest message body read from a file (1 MiB)."""


def _read_body(path: str) -> str:
    """The body from ``path``, or from stdin for ``-`` (UTF-8, at most 1 MiB, no NUL). A
    pipe is fine (``-``, ``<(cmd)``, a FIFO the responder writes into), as for a feed."""
    from irtui.core.textfile import TextLimits, read_text_file

    source = "/dev/stdin" if path == "-" else path
    return read_text_file(source, "the message body", TextLimits(BODY_LIMITS_BYTES,
                                                             BODY_LIMITS_BYTES),
                          "check the path given to --body-file")


def _split(values: list[str] | None) -> tuple[str, ...]:
    """Repeatable options that also take comma-separated lists."""
    return tuple(v.strip() for raw in values or () for v in raw.split(",") if v.strip())


def _message(args: argparse.Namespace, fw: Responder) -> tuple[str, str]:
    """Subject and body: as given, else from the template filled with the incident context
    (which reads every host's live state)."""
    body = _read_body(args.body_file) if args.body_file else args.body
    subject = args.subject
    if body is None or subject is None or args.template:
        print("reading every host's live state for the message…", file=sys.stderr)
        filled_subject, filled_body = fw.render_template(args.template or "")
        subject = filled_subject if subject is None else subject
        body = filled_body if body is None else body
    return subject, body


def cmd_notify(args: argparse.Namespace, config: Config) -> int:
    """``irtui notify``: send one message to every chosen channel (each reports its own
    result), or with ``--dry-run`` print what each channel would send.

    Returns:
        EXIT_OK; EXIT_NOTIFY (4) when a channel failed or was not configured, and with
        ``--dry-run`` when a preview shows a channel would not send. An attachment that is
        not a regular file, or attachments over the cap, raise InvalidTargetError (exit 2)
        before anything is recorded or connected to."""
    from irtui.core.notify.attachments import check_attachments
    from irtui.core.notify.dispatch import Outgoing

    check_attachments(args.attach or ())  # before the record or any connection
    fw = responder(config, args)
    try:
        subject, body = _message(args, fw)
        out = Outgoing(subject, body, _split(args.to), _split(args.cc),
                       tuple(args.attach or ()))
        channels = list(args.channel or ())
        jsonout.report().put(subject=subject)  # --json
        if args.dry_run:
            previews = fw.notify_preview(out, channels)
            jsonout.report().put(previews=[jsondata.preview(p) for p in previews])
            for p in previews:
                print(f"── {p.channel} ({p.kind})")
                if p.problem is not None:
                    print(f"   would not send: {p.problem.line}")
                if p.text:
                    print(p.text)
            # a preview that shows a channel would not send is not a success (exit 4)
            return EXIT_NOTIFY if any(p.problem is not None for p in previews) else EXIT_OK
        results = fw.notify(out, channels)
    finally:
        fw.close()
    jsonout.report().put(channels=[jsondata.channel(r) for r in results])  # --json
    for r in results:
        if r.ok:
            print(r.line)
        else:
            print(f"irtui: {r.line}", file=sys.stderr)
    return EXIT_OK if all(r.ok for r in results) else EXIT_NOTIFY


def _secret_from_stdin() -> str:
    """The secret piped on stdin, its final line break dropped.

    Raises:
        InvalidTargetError: it is not UTF-8 text, or holds a NUL (no keyring stores it
            as typed; nothing is stored).
    """
    from irtui.core.errors import InvalidTargetError

    data = sys.stdin.buffer.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidTargetError(f"the secret read from stdin is not UTF-8 text (byte "
                                 f"{exc.start}: {data[exc.start]:#04x}); nothing was stored",
                                 "pipe the secret itself as text (a binary key: base64 it "
                                 "first)") from None
    if "\0" in text:
        raise InvalidTargetError("the secret read from stdin holds a NUL byte; nothing was "
                                 "stored", "pipe the secret itself as text")
    return text.rstrip("\r\n")


def cmd_secrets(args: argparse.Namespace, config: Config | None = None) -> int:
    """``irtui secrets set|delete|list|status`` (one keyring service for every credential)."""
    from irtui.core import secret_backend, secrets

    config = configure_secrets(args.config)
    if args.secrets_cmd == "set":
        if sys.stdin.isatty() and not args.stdin:
            import getpass

            value = getpass.getpass(f"value for secret {args.name!r} (not echoed): ")
        else:
            value = _secret_from_stdin()
        secrets.set_secret(args.name, value)
        jsonout.report().put(name=args.name, stored=True,  # --json
                             backend=secrets.backend_name())
        print(f"stored secret {args.name!r} ({secrets.backend_name()})")
    elif args.secrets_cmd == "delete":
        gone = secrets.delete_secret(args.name)
        jsonout.report().put(name=args.name, deleted=bool(gone))  # --json
        print(f"deleted {args.name!r}" if gone else f"{args.name!r} was not stored")
    elif args.secrets_cmd == "list":
        stored = set(secrets.list_secrets())
        wanted = _referenced(config)
        entries = [(name, name in stored or secrets.has_secret(name), wanted.get(name))
                   for name in sorted(stored | set(wanted))]
        jsonout.report().put(**jsondata.secrets_list(entries))  # --json
        for name, present, what in entries:
            use = f"  ({what})" if what else ""
            print(f"{name:<24} {'stored' if present else 'MISSING'}{use}")
        missing = [name for name, present, what in entries if what and not present]
        return EXIT_NOTIFY if missing else EXIT_OK
    else:
        status = secret_backend.status()
        jsonout.report().put(keyring=jsondata.keyring(status))  # --json
        print(f"keyring: {status.backend} ({status.state.value})")
        headless = (status.state is secret_backend.KeyringState.NO_BACKEND
                    and not config.secrets.dbus_address)
        if headless:
            print("\n".join(secret_backend.HEADLESS_HELP))
        elif not status.ready:
            print(f"{status.problem} — {status.fix}")
        return EXIT_OK if status.ready else EXIT_NOTIFY
    return EXIT_OK


def _referenced(config: Config) -> dict[str, str]:
    """Secret name → what in the config uses it."""
    names: dict[str, str] = {}
    if config.email.username:
        names[config.email.password_secret] = "notify.email password"
    for channel in config.notify.channels:
        names[channel.secret] = f"notify.channels.{channel.name} apprise URL"
    return names


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``notify`` and ``secrets`` to ``sub``."""
    text = ("tell the team: e-mail and chat/webhook channels at once, each with its own "
            "result (secrets from the OS keyring)")
    p = sub.add_parser("notify", help=text, description=text)
    p.add_argument("--to", action="append", metavar="ADDR",
                   help="e-mail recipient (repeatable or comma-separated; default "
                        "notify.email.to)")
    p.add_argument("--cc", action="append", metavar="ADDR", help="e-mail Cc (repeatable)")
    p.add_argument("--subject", help="subject line, UTF-8 (default: from the template)")
    p.add_argument("--body", help="message text, UTF-8 (default: from the template)")
    p.add_argument("--body-file", metavar="PATH", help="read the message text from a file "
                   "('-' reads stdin)")
    p.add_argument("--channel", action="append", metavar="NAME",
                   help="email or a [notify.channels] name (repeatable; default: all "
                        "configured)")
    p.add_argument("--template", metavar="NAME", help="fill subject/body from "
                   "[notify.templates.NAME] ('default' is built in)")
    p.add_argument("--attach", action="append", metavar="PATH",
                   help="attach a file, e.g. the incident report (repeatable)")
    p.add_argument("--dry-run", action="store_true",
                   help="print what each channel would send (never a secret); send nothing")
    record_options(p)
    p.set_defaults(handler=cmd_notify)

    p = sub.add_parser("secrets", help="manage secrets in the OS keyring (one service, "
                                       "'irtui', for every credential)")
    ssub = p.add_subparsers(dest="secrets_cmd", required=True)
    s = ssub.add_parser("set", help="store a secret (prompted without echo, or from stdin)")
    s.add_argument("name")
    s.add_argument("--stdin", action="store_true", help="read the value from stdin")
    s = ssub.add_parser("delete", help="remove a secret")
    s.add_argument("name")
    ssub.add_parser("list", help="names of stored secrets and of those the config needs "
                                 "(never values)")
    ssub.add_parser("status", help="which keyring is used; what to do when there is none")
    p.set_defaults(handler=cmd_secrets, needs_config=False)
