"""Chat and webhook channels through apprise (Slack, Teams, Mattermost, Discord, ntfy, generic
JSON webhooks, ...).

The config only names a channel and where its URL is kept::

    [notify.channels]
    soc = "keyring:apprise-soc"

The apprise URL (``mmosts://chat.example.org/TOKEN``, ``json://hooks.example.org/PATH``)
carries the token, so it lives in the OS keyring (``irtui secrets set apprise-soc``) and is
read only when the message goes out. Nothing derived from it is shown except the service's
name: apprise's own log lines (which can contain the URL) are captured per thread, never
propagated to the terminal, and scrubbed of every part of the URL before they become the
"server's reply" in a :class:`~irtui.core.notify.result.ChannelResult`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from irtui.core.errors import SecretError
from irtui.core.notify.result import ChannelResult, Delivery
from irtui.core.settings import ChannelSettings

KEYRING_PREFIX = "keyring:"
MIN_FRAGMENT = 4
"""URL parts at least this long are scrubbed from every text (shorter ones are too common
to be tokens, and replacing them would garble messages)."""
REPLY_MAX = 300
"""Characters of the server's reply kept in a result."""


def secret_ref(value: str) -> str:
    """The keyring secret name in a channel's config value ``"keyring:NAME"``.

    Raises:
        ValueError: the value is not ``keyring:`` + a name (the config parser reports it:
            an apprise URL must never be written in the config file).
    """
    if not isinstance(value, str) or not value.startswith(KEYRING_PREFIX):
        raise ValueError("must be \"keyring:SECRET\" naming the keyring entry that holds "
                         "the apprise URL (URLs carry tokens and never go in the config)")
    name = value[len(KEYRING_PREFIX):].strip()
    if not name or name.startswith(".") or any(c in name for c in "\r\n\0 "):
        raise ValueError(f"{value!r} does not name a secret; use e.g. \"keyring:apprise-soc\"")
    return name


def secret_fragments(url: str) -> list[str]:
    """The parts of an apprise URL that may be secret: the whole URL, user, password, every
    path segment, query value and fragment of :data:`MIN_FRAGMENT` characters or more (both
    raw and percent-decoded), longest first so a scrub replaces whole tokens."""
    parts = {url}
    try:
        split = urlsplit(url)
        pieces = [split.username or "", split.password or "", split.fragment,
                  *split.path.split("/"), *(v for _, v in parse_qsl(split.query))]
    except ValueError:
        pieces = []
    for piece in pieces:
        for text in (piece, unquote(piece)):
            if len(text) >= MIN_FRAGMENT:
                parts.add(text)
    return sorted(parts, key=len, reverse=True)


def scrub(text: str, fragments: Sequence[str]) -> str:
    """``text`` with every fragment replaced by ``***``."""
    for fragment in fragments:
        if fragment:
            text = text.replace(fragment, "***")
    return text


_apprise_log = logging.getLogger("apprise")
_apprise_log.addHandler(logging.NullHandler())
_apprise_log.setLevel(logging.DEBUG)  # the response body is logged at debug level
_apprise_log.propagate = False  # never to stderr (the TUI's screen) or another handler
_REPLY_LEVELS = ("WARNING", "ERROR", "CRITICAL")


def _reply(entries: Sequence[Any], fragments: Sequence[str]) -> str:
    """The server's answer as apprise logged it during one send: warnings/errors, plus the
    response body apprise logs at debug level (``Response Details``)."""
    lines = []
    for entry in entries:
        text = str(getattr(entry, "message", ""))
        if str(getattr(entry, "level", "")).upper() in _REPLY_LEVELS or text.startswith(
                "Response Details"):
            lines.append(" ".join(text.split()))
    reply = scrub("; ".join(lines), fragments)
    return reply[:REPLY_MAX] + ("…" if len(reply) > REPLY_MAX else "")


def service_kind(url: str) -> str | None:
    """apprise's name for the service of ``url`` (``"Mattermost"``, ``"JSON"``), or None
    when apprise cannot use the URL. Nothing is sent."""
    import apprise

    plugin = apprise.Apprise.instantiate(url, asset=_asset())
    return None if plugin is None else str(plugin.service_name)


def _asset():  # type: ignore[no-untyped-def]
    import apprise

    # No asyncio loop in our worker threads; no persistent cache files on disk.
    return apprise.AppriseAsset(async_mode=False, storage_mode="memory")


def _not_configured(channel: ChannelSettings, detail: str, fix: str,
                    secret: str = "") -> ChannelResult:
    return ChannelResult(channel.name, "apprise", Delivery.NOT_CONFIGURED, detail, fix,
                         secret=secret)


def channel_url(channel: ChannelSettings) -> tuple[str | None, ChannelResult | None]:
    """Read the channel's apprise URL from the keyring and check apprise can use it.

    Returns:
        ``(url, None)`` when usable, else ``(None, result)`` with a NOT_CONFIGURED result
        naming the fix (``irtui secrets set NAME``, or the keyring's own fix).
    """
    from irtui.core.secrets import MissingSecretError, get_secret  # keyring: only here

    try:
        url = get_secret(channel.secret)
    except MissingSecretError as exc:
        return None, _not_configured(channel, exc.problem, exc.fix, channel.secret)
    except SecretError as exc:
        return None, _not_configured(channel, exc.problem, exc.fix)
    if service_kind(url) is None:
        return None, _not_configured(
            channel, f"the secret {channel.secret!r} does not hold an apprise URL apprise "
            "can use", f"store one with: irtui secrets set {channel.secret} (e.g. "
            "mmosts://chat.example.org/TOKEN or json://hooks.example.org/PATH)",
            channel.secret)
    return url, None


def send_channel(channel: ChannelSettings, title: str, body: str,
                 attachments: Sequence[str | Path] = ()) -> ChannelResult:
    """Send one message to one apprise channel; never raises.

    Args:
        channel: the channel's name and keyring secret.
        title: the title (services without titles get it folded into the body by apprise).
        body: plain text.
        attachments: files to attach where the service supports it.

    Returns:
        SENT; FAILED with the server's reply (HTTP status and response body as apprise saw
        them, scrubbed of the URL's tokens); or NOT_CONFIGURED (secret missing, keyring
        unavailable, URL unusable, attachment unreadable).
    """
    import apprise

    started = time.monotonic()
    url, missing = channel_url(channel)
    if missing is not None or url is None:
        return missing or _not_configured(channel, "no URL", "")
    fragments = secret_fragments(url)
    for raw in attachments:
        if not Path(raw).expanduser().is_file():
            return ChannelResult(channel.name, "apprise", Delivery.FAILED,
                                 f"cannot read attachment {raw}", "check the path in --attach")
    kind = service_kind(url) or "apprise"
    entries: list[Any] = []
    try:
        app = apprise.Apprise(asset=_asset())
        app.add(url)
        attach = apprise.AppriseAttachment([str(Path(a).expanduser()) for a in attachments])
        ok = bool(app.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT,
                             attach=attach if attachments else None,
                             log_callback=lambda entry, _service: entries.append(entry),
                             log_level=logging.DEBUG))
    except Exception as exc:  # a plugin bug must not take the other channels down
        ok = False
        entries.append(SimpleNamespace(level="ERROR",
                                       message=f"apprise raised {type(exc).__name__}: {exc}"))
    took = time.monotonic() - started
    if ok:
        return ChannelResult(channel.name, kind, Delivery.SENT, "accepted by the service",
                             seconds=took)
    reply = _reply(entries, fragments) or "no reply recorded"
    return ChannelResult(channel.name, kind, Delivery.FAILED, f"{kind} refused or "
                         f"unreachable: {reply}", "check the service, or store the right URL "
                         f"with: irtui secrets set {channel.secret}", seconds=took)
