"""Parsing ``[notify.channels]``, ``[notify.templates.NAME]`` and ``[secrets]``: the config
sections of notifications and secrets (the rest is in :mod:`irtui.core.config`)."""

from __future__ import annotations

import re

from irtui.core.config_reader import Section
from irtui.core.notify.channels import secret_ref
from irtui.core.notify.templates import MessageTemplate, template_problems
from irtui.core.settings import (
    SECRET_BACKENDS,
    ChannelSettings,
    NotifySettings,
    SecretsSettings,
)

CHANNEL_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,31}$")
RESERVED_CHANNELS = {"email", "all"}


def parse_channels(s: Section) -> tuple[ChannelSettings, ...]:
    """``[notify.channels]``: ``NAME = "keyring:SECRET"`` per channel, in file order."""
    out = []
    for name, value in s.data.items():
        if not CHANNEL_NAME_RE.match(name) or name in RESERVED_CHANNELS:
            s.problem(name, "is not a usable channel name; use letters, digits, '.', '_' or "
                      "'-' (not 'email' or 'all')")
            continue
        try:
            out.append(ChannelSettings(name, secret_ref(value)))
        except ValueError as exc:
            s.problem(name, str(exc))
    return tuple(out)


def parse_templates(s: Section) -> tuple[MessageTemplate, ...]:
    """``[notify.templates.NAME]`` tables with ``subject`` and ``body``; every placeholder
    is checked against :data:`~irtui.core.notify.templates.PLACEHOLDERS`."""
    out = []
    for name in list(s.data):
        t = s.sub(name, {"subject", "body"})
        subject, body = t.get("subject", str, ""), t.text("body", "")
        if not subject or not body:
            t.problem("subject" if not subject else "body", "missing; a template needs both "
                      "subject and body")
            continue
        for key, text in (("subject", subject), ("body", body)):
            for problem in template_problems(text):
                t.problem(key, problem)
        out.append(MessageTemplate(name, subject, body))
    return tuple(out)


def parse_notify(notify: Section) -> NotifySettings:
    """The ``[notify]`` table except ``[notify.email]``."""
    channels = parse_channels(notify.sub("channels"))
    templates = parse_templates(notify.sub("templates"))
    default = notify.get("default_template", str, "")
    if default and default not in {t.name for t in templates} | {"default"}:
        notify.problem("default_template", f"{default!r} is not a template; add "
                       f"[notify.templates.{default}] or leave it empty")
    return NotifySettings(channels=channels, templates=templates, default_template=default)


def parse_secrets(s: Section) -> SecretsSettings:
    """``[secrets]``: ``backend``, ``file``, ``dbus_address``."""
    settings = SecretsSettings(backend=s.get("backend", str, "auto"),
                               file=s.get("file", str, ""),
                               dbus_address=s.get("dbus_address", str, ""))
    if settings.backend not in SECRET_BACKENDS:
        s.problem("backend", f"{settings.backend!r} is not supported; use \"auto\" (the OS "
                  "keyring) or \"file\" (encrypted file; plaintext is never used)")
    if settings.dbus_address and not settings.dbus_address.startswith(("unix:", "tcp:")):
        s.problem("dbus_address", "must be a D-Bus address such as unix:path=/run/bus")
    return settings
