"""E-mail notifications over SMTP, always encrypted and always with certificate verification.

Two transports are supported (``notify.email.security``):

* ``starttls`` — connect in clear, then upgrade with STARTTLS (RFC 3207), usually port 587;
* ``tls`` — implicit TLS from the first byte ("submissions", RFC 8314), usually port 465.

The server certificate is always verified against the system CAs or ``notify.email.cafile``
(RFC 8314 section 5 requires the client to verify it). Messages follow RFC 5322 with MIME
(RFC 2045-2047): a UTF-8 subject is sent as RFC 2047 encoded-words and a UTF-8 body as
``text/plain; charset="utf-8"``. Non-ASCII *addresses* need the server's SMTPUTF8 extension
(RFC 6531, with UTF-8 headers per RFC 6532).

Every failure is one :class:`~irtui.core.errors.NotifyError` line naming the problem and the
fix. The SMTP password never appears in any message.
"""

from __future__ import annotations

import email.utils
import smtplib
import socket
import ssl
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import default as default_policy

from irtui.core.errors import NotifyError
from irtui.core.secrets import get_secret
from irtui.core.settings import EmailSettings

SECURITY_MODES = ("starttls", "tls")


def _scrub(text: str, password: str | None) -> str:
    return text.replace(password, "***") if password else text


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


def _recipients(settings: EmailSettings, to: Sequence[str] | str | None) -> list[str]:
    """The recipients as given (``to``, else ``settings.to``), validated; order kept."""
    given = [to] if isinstance(to, str) else list(to or ())
    given = [t for t in given if not (isinstance(t, str) and not t.strip())]
    if not given:
        given = list(settings.to)
    if not given:
        raise NotifyError("no e-mail recipients", "pass --to or set notify.email.to")
    for raw in given:
        _address(raw, "recipient", "fix the address in --to or notify.email.to")
    return [raw.strip() for raw in given]


def build_message(
    settings: EmailSettings, to: Sequence[str], subject: str, body: str
) -> EmailMessage:
    """Build the RFC 5322 message to send.

    Args:
        settings: SMTP settings; ``settings.sender`` becomes ``From`` and, when ``to`` is empty,
            ``settings.to`` are the recipients.
        to: recipient addresses (``"a@b"`` or ``"Name <a@b>"``); a lone string is one address.
        subject: the subject, any Unicode (sent as RFC 2047 encoded-words when not ASCII);
            line breaks are folded to spaces.
        body: the plain-text body, any Unicode (``text/plain; charset="utf-8"``, 7-bit safe
            quoted-printable when not ASCII so no 8BITMIME support is needed).

    Returns:
        An :class:`email.message.EmailMessage` (``email.policy.default``) with ``From``,
        ``To``, ``Subject``, ``Date`` and ``Message-ID`` set.

    Raises:
        NotifyError: no recipients at all (fix: pass --to or set notify.email.to), a
            recipient or the sender is not an address or contains CR/LF.
    """
    sender_addr = _address(settings.sender, "sender", "set notify.email.sender to name@domain")
    recipients = _recipients(settings, to)
    domain = sender_addr.rpartition("@")[2] or None
    msg = EmailMessage(policy=default_policy)
    msg["From"] = settings.sender.strip()
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = " ".join(subject.splitlines()).strip()
    msg["Date"] = email.utils.formatdate(localtime=True)
    # An explicit domain avoids make_msgid's socket.getfqdn() (a possibly slow DNS lookup).
    msg["Message-ID"] = email.utils.make_msgid(idstring="irtui", domain=domain)
    msg.set_content(body, charset="utf-8", cte=None if body.isascii() else "quoted-printable")
    return msg


def _envelope_recipients(msg: EmailMessage) -> list[str]:
    return [a.addr_spec for a in msg["To"].addresses if isinstance(a, Address)]


def send_email(
    settings: EmailSettings,
    to: Sequence[str],
    subject: str,
    body: str,
    password: str | None,
) -> str:
    """Send one e-mail through the configured SMTP server.

    ``security == "starttls"``: plain connection, EHLO, STARTTLS (RFC 3207), EHLO again;
    ``security == "tls"``: implicit TLS (RFC 8314). Either way the certificate and host name
    are verified with ``ssl.create_default_context(cafile=settings.cafile or None)``. When
    ``settings.username`` is set the client logs in (AUTH, only ever over TLS).

    Args:
        settings: SMTP settings (host, port, security, username, sender, to, cafile, timeout).
        to: recipients; empty means ``settings.to`` (see :func:`build_message`).
        subject: the subject line (Unicode).
        body: the plain-text body (Unicode).
        password: the SMTP password, required when ``settings.username`` is set; usually
            from :func:`send_email_with_keyring`. Never included in any error.

    Returns:
        The ``Message-ID`` of the sent message, e.g. ``"<...irtui@example.org>"``.

    Raises:
        NotifyError: bad settings or recipients; connection refused, timed out or host not
            found (naming host:port); certificate verification failed; the server does not
            offer STARTTLS or AUTH; the login was rejected (fix: ``irtui secrets set``);
            sender or recipients refused; the message was rejected.
    """
    where = f"{settings.host}:{settings.port}"
    if not settings.host:
        raise NotifyError("notify.email.host is not set", "set notify.email.host to your SMTP "
                          "server's name")
    if settings.security not in SECURITY_MODES:
        raise NotifyError(
            f"notify.email.security {settings.security!r} is not supported",
            'use "starttls" (RFC 3207, port 587) or "tls" (RFC 8314, port 465)',
        )
    if settings.username and password is None:
        raise NotifyError(
            f"SMTP username set but no password (user {settings.username!r})",
            f"store it with: irtui secrets set {settings.password_secret}",
        )
    msg = build_message(settings, to, subject, body)
    message_id = str(msg["Message-ID"])
    from_addr = _address(settings.sender, "sender", "set notify.email.sender")
    rcpt = _envelope_recipients(msg)

    try:
        context = ssl.create_default_context(cafile=settings.cafile or None)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        raise NotifyError(
            f"cannot load CA file {settings.cafile!r} ({reason})",
            "set notify.email.cafile to a readable PEM file with the CA that signed the "
            "server certificate, or leave it empty to use the system CAs",
        ) from None

    try:
        if settings.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
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
                        "implicit-TLS port (465)",
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.username:
                _login(smtp, settings, password or "", where)
            refused = smtp.send_message(msg, from_addr=from_addr, to_addrs=rcpt)
    except NotifyError:
        raise
    except Exception as exc:  # every other failure becomes one clear line
        raise _smtp_failure(exc, settings, where, password) from None
    if refused:
        raise NotifyError(
            f"SMTP server {where} refused recipient(s) {_refusals(refused)}; the message "
            f"{message_id} went to the others",
            "check the addresses in --to / notify.email.to",
        )
    return message_id


def _login(smtp: smtplib.SMTP, settings: EmailSettings, password: str, where: str) -> None:
    if not smtp.has_extn("auth"):
        raise NotifyError(
            f"SMTP server {where} does not offer AUTH after TLS, but notify.email.username "
            "is set",
            "leave notify.email.username empty if the server needs no login, or enable AUTH",
        )
    try:
        smtp.login(settings.username, password)
    except UnicodeEncodeError:
        raise NotifyError(
            f"the SMTP password for user {settings.username!r} contains non-ASCII characters, "
            "which SMTP AUTH PLAIN/LOGIN in smtplib cannot send",
            f"use an ASCII password and store it with: irtui secrets set "
            f"{settings.password_secret}",
        ) from None


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    parts = []
    for addr, (code, resp) in refused.items():
        text = resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)
        parts.append(f"{addr} ({code} {text})")
    return ", ".join(parts)


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{exc.smtp_code} {text}".strip()


def _smtp_failure(
    exc: BaseException, settings: EmailSettings, where: str, password: str | None
) -> NotifyError:
    """Map a connection, TLS or SMTP exception to one :class:`NotifyError`."""
    host_fix = "check notify.email.host/port and that the SMTP server is running"
    secret_fix = f"store the right password with: irtui secrets set {settings.password_secret}"

    def err(problem: str, fix: str) -> NotifyError:
        return NotifyError(_scrub(problem, password), fix)

    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or str(exc)
        return err(
            f"TLS certificate verification failed for SMTP server {where}: {reason}",
            "set notify.email.cafile to the CA that signed the server certificate "
            "(or fix the server certificate / notify.email.host name)",
        )
    if isinstance(exc, ssl.SSLError):
        hint = (
            ' (is the port an implicit-TLS port? use security = "starttls" for 587)'
            if settings.security == "tls" else ""
        )
        return err(
            f"TLS handshake with SMTP server {where} failed: {exc.reason or exc}{hint}",
            "check notify.email.security and notify.email.port",
        )
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return err(
            f"SMTP server {where} rejected the login for user {settings.username!r} "
            f"({_reply(exc)})",
            secret_fix,
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return err(f"SMTP server {where} refused all recipients: {_refusals(exc.recipients)}",
                   "check the addresses in --to / notify.email.to")
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return err(
            f"SMTP server {where} refused sender {exc.sender!r} ({_reply(exc)})",
            "set notify.email.sender to an address this account may send from",
        )
    if isinstance(exc, smtplib.SMTPDataError):
        return err(f"SMTP server {where} rejected the message ({_reply(exc)})",
                   "check the server's log or limits (size, content filters)")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return err(
            f"SMTP server {where} does not support a needed extension: {exc}",
            "use ASCII addresses (non-ASCII ones need SMTPUTF8, RFC 6531) or another server",
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(
        exc.__context__, TimeoutError
    ):
        # smtplib turns a read timeout into SMTPServerDisconnected("... timed out").
        exc = exc.__context__
    elif isinstance(exc, smtplib.SMTPServerDisconnected):
        return err(
            f"SMTP server {where} closed the connection unexpectedly ({exc})",
            "check notify.email.security matches the port (starttls: 587, tls: 465)",
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return err(f"SMTP server {where} answered with an error ({_reply(exc)})",
                   "check the SMTP settings and the server's log")
    if isinstance(exc, smtplib.SMTPException):
        return err(f"SMTP with {where} failed: {exc}",
                   "check the SMTP settings and the server's log")
    if isinstance(exc, ConnectionRefusedError):
        return err(f"cannot connect to SMTP server {where}: connection refused", host_fix)
    if isinstance(exc, TimeoutError):
        return err(
            f"timed out after {settings.timeout:g}s talking to SMTP server {where}",
            host_fix + " (or raise notify.email.timeout)",
        )
    if isinstance(exc, socket.gaierror):
        return err(f"cannot resolve SMTP server host {settings.host!r} ({exc.strerror})",
                   "check notify.email.host")
    if isinstance(exc, OSError):
        return err(f"cannot reach SMTP server {where}: {exc.strerror or exc}", host_fix)
    return err(f"sending e-mail via {where} failed: {type(exc).__name__}: {exc}",
               "check the SMTP settings")


def send_email_with_keyring(
    settings: EmailSettings, to: Sequence[str], subject: str, body: str
) -> str:
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
    return send_email(settings, to, subject, body, password)
