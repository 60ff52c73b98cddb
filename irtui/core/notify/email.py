"""E-mail notifications over SMTP, always encrypted and always with certificate verification.

Two transports are supported (``notify.email.security``):

* ``starttls`` — connect in clear, then upgrade with STARTTLS (RFC 3207), usually port 587;
* ``tls`` — implicit TLS from the first byte ("submissions", RFC 8314), usually port 465.

The server certificate is always verified against the system CAs or ``notify.email.cafile``
(RFC 8314 section 5 requires the client to verify it). Messages follow RFC 5322 with MIME
(RFC 2045-2047), built with :class:`email.message.EmailMessage` and sent with
``send_message()``: a UTF-8 subject goes out as RFC 2047 encoded-words, a UTF-8 body as
``text/plain; charset="utf-8"``, attachments as ``multipart/mixed`` parts (RFC 2183).
Non-ASCII *addresses* need the server's SMTPUTF8 extension (RFC 6531).

A refused login is tried exactly once, with one mechanism (smtplib's ``login()`` would try
every mechanism the server offers, i.e. several failed logins in a row, which trips account
lockouts): the error carries the server's reply and, for known providers, the hint ("an app
password is needed"). Every failure is one :class:`~irtui.core.errors.NotifyError` line
naming the problem and the fix; the SMTP password never appears in any message.
"""

from __future__ import annotations

import email.utils
import mimetypes
import smtplib
import ssl
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

from irtui.core.errors import NotifyError
from irtui.core.notify.attachments import MAX_ATTACHMENT_BYTES, read_attachment
from irtui.core.notify.email_errors import refusals, smtp_failure
from irtui.core.secrets import get_secret
from irtui.core.settings import EmailSettings

SECURITY_MODES = ("starttls", "tls")
AUTH_MECHANISMS = ("PLAIN", "LOGIN")
"""Tried in this order, the first one the server offers only (RFC 4616, draft-murchison-sasl-
login); both send the password only inside TLS here."""


def _address(raw: str, what: str, fix: str) -> str:
    """Return the bare addr-spec of ``raw`` ("Name <a@b>" or "a@b"), minimally validated."""
    if not isinstance(raw, str):
        raise NotifyError(f"{what} {raw!r} is not a string", fix)
    if "\r" in raw or "\n" in raw:
        raise NotifyError(f"{what} {raw!r} contains a line break", fix)
    if not raw.strip():
        raise NotifyError(f"{what} address is empty", fix)
    pairs = email.utils.getaddresses([raw.strip()])
    if len(pairs) != 1:
        raise NotifyError(f"{what} {raw!r} is not exactly one e-mail address", fix)
    addr = pairs[0][1]
    if "@" not in addr or addr.startswith("@") or addr.endswith("@"):
        raise NotifyError(f"{what} {raw!r} is not an e-mail address (need name@domain)", fix)
    return addr


def _listed(value: Sequence[str] | str | None) -> list[str]:
    given = [value] if isinstance(value, str) else list(value or ())
    return [t.strip() for t in given if not (isinstance(t, str) and not t.strip())]


def _recipients(settings: EmailSettings, to: Sequence[str] | str | None,
                cc: Sequence[str] | str | None) -> tuple[list[str], list[str]]:
    """To as given, else ``settings.to``; Cc as given, else ``settings.cc``; validated,
    order kept."""
    to_list = _listed(to) or list(settings.to)
    cc_list = _listed(cc) or list(settings.cc)
    if not to_list and not cc_list:
        raise NotifyError("no e-mail recipients", "pass --to or set notify.email.to")
    for raw in to_list + cc_list:
        _address(raw, "recipient", "fix the address in --to/--cc or notify.email.to/cc")
    return to_list, cc_list


def _attach(msg: EmailMessage, paths: Sequence[str | Path]) -> None:
    total = 0
    for raw in paths:
        path = Path(raw).expanduser()
        data = read_attachment(path, MAX_ATTACHMENT_BYTES - total)  # bounded, never blocks
        total += len(data)
        ctype, encoding = mimetypes.guess_type(path.name)
        if ctype is None or encoding is not None:
            ctype = "application/octet-stream"
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=path.name)


def build_message(settings: EmailSettings, to: Sequence[str] | str | None, subject: str,
                  body: str, cc: Sequence[str] | str | None = (),
                  attachments: Sequence[str | Path] = ()) -> EmailMessage:
    """Build the RFC 5322 message to send.

    Args:
        settings: SMTP settings; ``settings.sender`` becomes ``From``; an empty ``to``
            (``cc``) means ``settings.to`` (``settings.cc``).
        to: ``To`` addresses (``"a@b"`` or ``"Name <a@b>"``); a lone string is one address.
        subject: any Unicode (RFC 2047 encoded-words when not ASCII); line breaks become
            spaces.
        body: the plain-text body, any Unicode (``text/plain; charset="utf-8"``,
            quoted-printable when not ASCII so no 8BITMIME support is needed).
        cc: ``Cc`` addresses, like ``to``.
        attachments: files to attach (MIME type guessed from the name), at most
            :data:`MAX_ATTACHMENT_BYTES` in total.

    Returns:
        An :class:`email.message.EmailMessage` (``email.policy.default``) with ``From``,
        ``To``/``Cc``, ``Subject``, ``Date`` and ``Message-ID`` set.

    Raises:
        NotifyError: no recipients at all (fix: pass --to or set notify.email.to), a
            recipient or the sender is not an address or contains CR/LF, an attachment
            cannot be read or the attachments are too large.
    """
    sender_addr = _address(settings.sender, "sender", "set notify.email.sender to name@domain")
    to_list, cc_list = _recipients(settings, to, cc)
    domain = sender_addr.rpartition("@")[2] or None
    msg = EmailMessage(policy=default_policy)
    msg["From"] = settings.sender.strip()
    if to_list:
        msg["To"] = ", ".join(to_list)
    if cc_list:
        msg["Cc"] = ", ".join(cc_list)
    msg["Subject"] = " ".join(subject.splitlines()).strip()
    msg["Date"] = email.utils.formatdate(localtime=True)
    # An explicit domain avoids make_msgid's socket.getfqdn() (a possibly slow DNS lookup).
    msg["Message-ID"] = email.utils.make_msgid(idstring="irtui", domain=domain)
    msg.set_content(body, charset="utf-8", cte=None if body.isascii() else "quoted-printable")
    _attach(msg, attachments)
    return msg


def envelope_recipients(msg: EmailMessage) -> list[str]:
    """The RCPT TO addresses of ``msg``: every ``To`` then ``Cc`` addr-spec."""
    return [a.addr_spec for header in ("To", "Cc") if msg[header] is not None
            for a in msg[header].addresses if isinstance(a, Address)]


def _check_settings(settings: EmailSettings, password: str | None) -> None:
    if not settings.host:
        raise NotifyError("notify.email.host is not set",
                          "set notify.email.host to your SMTP server's name")
    if settings.security not in SECURITY_MODES:
        raise NotifyError(f"notify.email.security {settings.security!r} is not supported",
                          'use "starttls" (RFC 3207, port 587) or "tls" (RFC 8314, port 465)')
    if settings.username and password is None:
        raise NotifyError(f"SMTP username set but no password (user {settings.username!r})",
                          f"store it with: irtui secrets set {settings.password_secret}")


def _tls_context(settings: EmailSettings) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=settings.cafile or None)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        raise NotifyError(
            f"cannot load CA file {settings.cafile!r} ({reason})",
            "set notify.email.cafile to a readable PEM file with the CA that signed the "
            "server certificate, or leave it empty to use the system CAs",
        ) from None


def send_email(settings: EmailSettings, to: Sequence[str] | str | None, subject: str,
               body: str, password: str | None, cc: Sequence[str] | str | None = (),
               attachments: Sequence[str | Path] = ()) -> str:
    """Send one e-mail through the configured SMTP server.

    ``security == "starttls"``: plain connection, EHLO, STARTTLS (RFC 3207), EHLO again;
    ``security == "tls"``: implicit TLS (RFC 8314). Either way the certificate and host name
    are verified with ``ssl.create_default_context(cafile=settings.cafile or None)``. When
    ``settings.username`` is set the client logs in once (AUTH, RFC 4954, only over TLS).

    Args:
        settings: SMTP settings (host, port, security, username, sender, to, cc, cafile,
            timeout).
        to, cc, subject, body, attachments: see :func:`build_message`.
        password: the SMTP password, required when ``settings.username`` is set; usually
            from :func:`send_email_with_keyring`. Never included in any error.

    Returns:
        The ``Message-ID`` of the sent message, e.g. ``"<...irtui@example.org>"``.

    Raises:
        NotifyError: bad settings, recipients or attachments; connection refused, timed out
            or host not found (naming host:port); certificate verification failed; the server
            does not offer STARTTLS or AUTH; the login was rejected (with the server's reply
            and a provider hint; not retried); sender or recipients refused; the message was
            rejected.
    """
    where = f"{settings.host}:{settings.port}"
    _check_settings(settings, password)
    msg = build_message(settings, to, subject, body, cc, attachments)
    message_id = str(msg["Message-ID"])
    from_addr = _address(settings.sender, "sender", "set notify.email.sender")
    context = _tls_context(settings)
    try:
        if settings.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port,
                                                  timeout=settings.timeout, context=context)
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with smtp:
            smtp.ehlo()
            if settings.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise NotifyError(
                        f"SMTP server {where} does not offer STARTTLS (RFC 3207); refusing to "
                        "send in clear text",
                        "enable STARTTLS on the server, or use security = \"tls\" with its "
                        "implicit-TLS port (465)")
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.username:
                _login_once(smtp, settings, password or "", where)
            refused = smtp.send_message(msg, from_addr=from_addr,
                                        to_addrs=envelope_recipients(msg))
    except NotifyError:
        raise
    except Exception as exc:  # every other failure becomes one clear line
        raise smtp_failure(exc, settings, where, password) from None
    if refused:
        raise NotifyError(f"SMTP server {where} refused recipient(s) {refusals(refused)}; the "
                          f"message {message_id} went to the others",
                          "check the addresses in --to/--cc or notify.email.to/cc")
    return message_id


def _login_once(smtp: smtplib.SMTP, settings: EmailSettings, password: str,
                where: str) -> None:
    """AUTH with the first of :data:`AUTH_MECHANISMS` the server offers, exactly once."""
    if not smtp.has_extn("auth"):
        raise NotifyError(
            f"SMTP server {where} does not offer AUTH after TLS, but notify.email.username "
            "is set",
            "leave notify.email.username empty if the server needs no login, or enable AUTH")
    offered = smtp.esmtp_features.get("auth", "").upper().split()
    mechanism = next((m for m in AUTH_MECHANISMS if m in offered), None)
    if mechanism is None:
        raise NotifyError(f"SMTP server {where} offers AUTH {' '.join(offered)} but neither "
                          "PLAIN nor LOGIN", "enable AUTH PLAIN or LOGIN on the server")
    try:
        password.encode("ascii")
    except UnicodeEncodeError:
        raise NotifyError(
            f"the SMTP password for user {settings.username!r} contains non-ASCII characters, "
            "which SMTP AUTH PLAIN/LOGIN in smtplib cannot send",
            f"use an ASCII password and store it with: irtui secrets set "
            f"{settings.password_secret}") from None
    smtp.user, smtp.password = settings.username, password
    auth = smtp.auth_plain if mechanism == "PLAIN" else smtp.auth_login
    smtp.auth(mechanism, auth, initial_response_ok=True)


def attachment_names(paths: Sequence[str | Path]) -> list[str]:
    """``name (N bytes)`` for each attachment, for previews (unreadable ones say so)."""
    names = []
    for raw in paths:
        path = Path(raw).expanduser()
        try:
            names.append(f"{path.name} ({path.stat().st_size} bytes)")
        except OSError as exc:
            names.append(f"{path.name} (unreadable: {exc.strerror or exc})")
    return names


def send_email_with_keyring(settings: EmailSettings, to: Sequence[str] | str | None,
                            subject: str, body: str, cc: Sequence[str] | str | None = (),
                            attachments: Sequence[str | Path] = ()) -> str:
    """Send an e-mail, reading the SMTP password from the OS keyring.

    When ``settings.username`` is set, the password is read with
    :func:`irtui.core.secrets.get_secret` under ``settings.password_secret``; then
    :func:`send_email` sends the message.

    Returns:
        The ``Message-ID`` of the sent message.

    Raises:
        SecretError: the password is not in the keyring or the keyring is unavailable/locked.
        NotifyError: as :func:`send_email`.
    """
    password = get_secret(settings.password_secret) if settings.username else None
    return send_email(settings, to, subject, body, password, cc, attachments)
