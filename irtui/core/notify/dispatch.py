"""One message to several channels at once: each channel reports its own typed result, and a
failing or unconfigured channel never stops the others.

Channel names are ``email`` (``[notify.email]``) and the names under ``[notify.channels]``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from irtui.core.errors import InvalidTargetError, NotifyError, SecretError
from irtui.core.notify import channels as chat
from irtui.core.notify import email
from irtui.core.notify.result import ChannelResult, Delivery
from irtui.core.secrets import MissingSecretError, has_secret
from irtui.core.settings import ChannelSettings, Config

EMAIL = "email"
EMAIL_FIX = "set notify.email.host and notify.email.sender in the config"


@dataclass(frozen=True)
class Outgoing:
    """What to send. ``to``/``cc`` only apply to e-mail (empty: ``notify.email.to/cc``);
    attachments go wherever the service supports them."""

    subject: str
    body: str
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    attachments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Preview:
    """What one channel would send (``--dry-run``, the TUI's preview). ``text`` never holds
    a secret; ``problem`` is the NOT_CONFIGURED/FAILED result when it could not be sent."""

    channel: str
    kind: str
    text: str
    problem: ChannelResult | None = None


def check_message(out: Outgoing) -> None:
    """Refuse a message with nothing in it: a blank subject and body and no attachment
    would reach the team as an empty notification, which reads as a mistake or a test.

    Raises:
        InvalidTargetError: subject and body are empty (or only whitespace), no attachment.
    """
    if not out.subject.strip() and not out.body.strip() and not out.attachments:
        raise InvalidTargetError("the message is empty (no subject, no text)",
                                 "give a subject or a text (leave both out to fill them "
                                 "from the template); nothing was sent")


def configured_channels(config: Config) -> list[str]:
    """Every channel a message goes to by default: ``email`` when ``notify.email`` has a host
    and a sender, then each ``[notify.channels]`` name in config order."""
    names = [EMAIL] if config.email.configured else []
    return names + [c.name for c in config.notify.channels]


def select_channels(config: Config, names: Sequence[str]) -> list[str]:
    """Resolve ``--channel`` names (empty: :func:`configured_channels`), keeping the order
    given and dropping repeats.

    Raises:
        InvalidTargetError: a name that is neither ``email`` nor a configured channel.
        NotifyError: nothing to send to at all (no e-mail, no channel configured).
    """
    known = [EMAIL, *(c.name for c in config.notify.channels)]
    chosen: list[str] = []
    for raw in names:
        name = raw.strip()
        if name not in known:
            raise InvalidTargetError(f"unknown channel {name!r}",
                                     f"use one of {', '.join(known)} or add it under "
                                     "[notify.channels]")
        if name not in chosen:
            chosen.append(name)
    if not chosen:
        chosen = configured_channels(config)
    if not chosen:
        raise NotifyError("no notification channel is configured",
                                 f"{EMAIL_FIX}, or add [notify.channels] soc = "
                                 "\"keyring:apprise-soc\" and irtui secrets set apprise-soc")
    return chosen


def _channel(config: Config, name: str) -> ChannelSettings:
    return next(c for c in config.notify.channels if c.name == name)


def send_email_channel(config: Config, out: Outgoing) -> ChannelResult:
    """Send ``out`` by e-mail; never raises. Not configured / no password → NOT_CONFIGURED,
    server or input problems → FAILED with the server's reply and the fix."""
    started = time.monotonic()
    settings = config.email
    if not settings.configured:
        return ChannelResult(EMAIL, EMAIL, Delivery.NOT_CONFIGURED,
                             "notify.email has no host or sender", EMAIL_FIX)
    try:
        message_id = email.send_email_with_keyring(settings, out.to, out.subject, out.body,
                                                   out.cc, out.attachments)
    except MissingSecretError as exc:
        return ChannelResult(EMAIL, EMAIL, Delivery.NOT_CONFIGURED, exc.problem, exc.fix,
                             secret=exc.name)
    except SecretError as exc:
        return ChannelResult(EMAIL, EMAIL, Delivery.NOT_CONFIGURED, exc.problem, exc.fix)
    except NotifyError as exc:
        return ChannelResult(EMAIL, EMAIL, Delivery.FAILED, exc.problem, exc.fix,
                             time.monotonic() - started)
    return ChannelResult(EMAIL, EMAIL, Delivery.SENT, f"message {message_id}",
                         seconds=time.monotonic() - started)


def send_one(config: Config, name: str, out: Outgoing) -> ChannelResult:
    """Send ``out`` to the channel called ``name``; never raises (an unexpected error is a
    FAILED result naming it, so one broken channel cannot stop the others)."""
    try:
        if name == EMAIL:
            return send_email_channel(config, out)
        return chat.send_channel(_channel(config, name), out.subject, out.body,
                                 out.attachments)
    except Exception as exc:
        return ChannelResult(name, "?", Delivery.FAILED,
                             f"internal error: {type(exc).__name__}",
                             "report this bug; the other channels were still tried")


def send_all(config: Config, names: Sequence[str], out: Outgoing) -> list[ChannelResult]:
    """Send ``out`` to every channel in ``names`` at the same time.

    Args:
        config: the config (channels, e-mail settings).
        names: resolved channel names (see :func:`select_channels`).
        out: the message.

    Returns:
        One :class:`ChannelResult` per name, in the order of ``names``.
    """
    if not names:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(names)),
                            thread_name_prefix="irtui-notify") as pool:
        return list(pool.map(lambda n: send_one(config, n, out), names))


def _email_preview(config: Config, out: Outgoing) -> Preview:
    settings = config.email
    if not settings.configured:
        return Preview(EMAIL, EMAIL, "", ChannelResult(
            EMAIL, EMAIL, Delivery.NOT_CONFIGURED, "notify.email has no host or sender",
            EMAIL_FIX))
    try:
        msg = email.build_message(settings, out.to, out.subject, out.body, out.cc)
    except NotifyError as exc:
        return Preview(EMAIL, EMAIL, "", ChannelResult(EMAIL, EMAIL, Delivery.FAILED,
                                                       exc.problem, exc.fix))
    head = "".join(f"{k}: {v}\n" for k, v in msg.items()
                   if k.lower() not in ("content-type", "content-transfer-encoding",
                                        "mime-version"))
    login = (f" as {settings.username} (password: keyring:{settings.password_secret})"
             if settings.username else "")
    files = email.attachment_names(out.attachments)
    lines = [f"via {settings.host}:{settings.port} ({settings.security}){login}", head.rstrip(),
             "", out.body.rstrip("\n")]
    if files:
        lines += ["", "attachments: " + ", ".join(files)]
    return Preview(EMAIL, EMAIL, "\n".join(lines))


def preview_one(config: Config, name: str, out: Outgoing) -> Preview:
    """What channel ``name`` would send. Reads the keyring to check the channel's secret is
    there and usable, but shows only the service's name, never the URL."""
    if name == EMAIL:
        return _email_preview(config, out)
    channel = _channel(config, name)
    url, problem = chat.channel_url(channel)
    kind = (chat.service_kind(url) if url else None) or "apprise"
    files = email.attachment_names(out.attachments)
    text = (f"via {kind} (URL in keyring:{channel.secret})\ntitle: {out.subject}\n\n"
            f"{out.body.rstrip()}" + (f"\n\nattachments: {', '.join(files)}" if files else ""))
    return Preview(name, kind, text, problem)


def _email_readiness(config: Config) -> ChannelResult | None:
    settings = config.email
    if not settings.configured:
        return ChannelResult(EMAIL, EMAIL, Delivery.NOT_CONFIGURED,
                             "notify.email has no host or sender", EMAIL_FIX)
    if not settings.username:
        return None
    try:
        if has_secret(settings.password_secret):
            return None
    except SecretError as exc:
        return ChannelResult(EMAIL, EMAIL, Delivery.NOT_CONFIGURED, exc.problem, exc.fix)
    missing = MissingSecretError(settings.password_secret)
    return ChannelResult(EMAIL, EMAIL, Delivery.NOT_CONFIGURED, missing.problem, missing.fix,
                         secret=settings.password_secret)


def readiness(config: Config, names: Sequence[str]) -> list[ChannelResult]:
    """What stops each of ``names`` from sending, checked without sending anything: the
    NOT_CONFIGURED results (with their exact fix) of the channels that are not ready.

    Reads the keyring (secrets are read and dropped, never returned)."""
    problems = []
    for name in names:
        if name == EMAIL:
            problem = _email_readiness(config)
        else:
            problem = chat.channel_url(_channel(config, name))[1]
        if problem is not None:
            problems.append(problem)
    return problems
