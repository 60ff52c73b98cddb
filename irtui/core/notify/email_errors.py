"""Turning an SMTP, TLS or socket failure into one :class:`NotifyError` line with the server's
reply and the fix — including the provider hint a responder needs when a login is refused
(Gmail, Microsoft 365, Yahoo, iCloud, Fastmail and Zoho all want an *app password* for SMTP
once two-step verification is on; Microsoft 365 also disables SMTP AUTH per mailbox).

The password is scrubbed from every text (belt and braces: smtplib never puts it in an
exception, but a server may echo what it was sent).
"""

from __future__ import annotations

import smtplib
import socket
import ssl

from irtui.core.errors import NotifyError
from irtui.core.settings import EmailSettings

# (host suffixes, hint). Sources: each provider's SMTP help pages (app passwords).
_PROVIDERS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("gmail.com", "googlemail.com", "google.com"),
     "Gmail refuses the account password for SMTP: an app password is needed "
     "(Google account > Security > App passwords; needs 2-step verification)"),
    (("office365.com", "outlook.com", "hotmail.com", "live.com"),
     "Microsoft 365: SMTP AUTH must be enabled for the mailbox, and with MFA an app password "
     "is needed"),
    (("yahoo.com", "yahoo.co.uk", "aol.com"),
     "Yahoo/AOL: an app password is needed (Account security > Generate app password)"),
    (("mail.me.com", "icloud.com"),
     "iCloud: an app-specific password is needed (appleid.apple.com > Sign-In and Security)"),
    (("fastmail.com", "messagingengine.com"),
     "Fastmail: an app password is needed (Settings > Privacy & Security > App passwords)"),
    (("zoho.com", "zoho.eu", "zoho.in"),
     "Zoho: an application-specific password is needed when two-factor auth is on"),
)
# Replies that say the same whatever the host (RFC 4954 section 6 codes plus providers' text).
_REPLY_HINTS: tuple[tuple[str, str], ...] = (
    ("application-specific password", "the server asks for an app password, not the "
                                      "account password"),
    ("app password", "the server asks for an app password, not the account password"),
    ("smtpclientauthentication is disabled", "SMTP AUTH is disabled for this mailbox: "
                                             "enable it (Microsoft 365 admin centre)"),
    ("5.7.9", "the server wants an app password or a stronger login (RFC 4954: 534 5.7.9)"),
)


def provider_hint(host: str, reply: str) -> str:
    """The hint for a refused SMTP login, from the server's reply and the host's provider.

    Args:
        host: ``notify.email.host``.
        reply: the server's reply, e.g. ``"535 5.7.8 Username and Password not accepted"``.

    Returns:
        A short sentence ("... an app password is needed ..."), or ``""`` when nothing is
        known about this server.
    """
    text = reply.lower()
    for needle, hint in _REPLY_HINTS:
        if needle in text:
            return hint
    name = host.lower().rstrip(".")
    for suffixes, hint in _PROVIDERS:
        if any(name == s or name.endswith("." + s) for s in suffixes):
            return hint
    return ""


def scrub(text: str, password: str | None) -> str:
    """``text`` with ``password`` replaced by ``***``."""
    return text.replace(password, "***") if password else text


def refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    """``addr (550 reply), ...`` for smtplib's refused-recipients dict."""
    parts = []
    for addr, (code, resp) in refused.items():
        text = resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)
        parts.append(f"{addr} ({code} {text})")
    return ", ".join(parts)


def reply_text(exc: smtplib.SMTPResponseException) -> str:
    """The server's reply in ``exc`` as ``"535 5.7.8 text"``."""
    text = exc.smtp_error
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{exc.smtp_code} {text}".strip()


def _login_failure(exc: smtplib.SMTPAuthenticationError, settings: EmailSettings,
                   where: str) -> tuple[str, str]:
    reply = reply_text(exc)
    hint = provider_hint(settings.host, reply)
    fix = f"store the right password with: irtui secrets set {settings.password_secret}"
    if hint:
        fix = f"{hint}; then {fix}"
    return (f"SMTP server {where} rejected the login for user {settings.username!r} ({reply}); "
            "not retried", fix)


def smtp_failure(exc: BaseException, settings: EmailSettings, where: str,
                 password: str | None) -> NotifyError:
    """Map a connection, TLS or SMTP exception to one :class:`NotifyError`.

    Args:
        exc: what smtplib, ssl or socket raised.
        settings: the SMTP settings (for names and hints).
        where: ``host:port``.
        password: scrubbed from the message.

    Returns:
        The error to raise; its problem carries the server's reply when there was one.
    """
    host_fix = "check notify.email.host/port and that the SMTP server is running"

    def err(problem: str, fix: str) -> NotifyError:
        return NotifyError(scrub(problem, password), scrub(fix, password))

    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or str(exc)
        return err(
            f"TLS certificate verification failed for SMTP server {where}: {reason}",
            "set notify.email.cafile to the CA that signed the server certificate "
            "(or fix the server certificate / notify.email.host name)",
        )
    if isinstance(exc, ssl.SSLError):
        hint = (' (is the port an implicit-TLS port? use security = "starttls" for 587)'
                if settings.security == "tls" else "")
        return err(f"TLS handshake with SMTP server {where} failed: {exc.reason or exc}{hint}",
                   "check notify.email.security and notify.email.port")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return err(*_login_failure(exc, settings, where))
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return err(f"SMTP server {where} refused all recipients: {refusals(exc.recipients)}",
                   "check the addresses in --to/--cc or notify.email.to/cc")
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return err(f"SMTP server {where} refused sender {exc.sender!r} ({reply_text(exc)})",
                   "set notify.email.sender to an address this account may send from")
    if isinstance(exc, smtplib.SMTPDataError):
        return err(f"SMTP server {where} rejected the message ({reply_text(exc)})",
                   "check the server's log or limits (size, content filters)")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return err(f"SMTP server {where} does not support a needed extension: {exc}",
                   "use ASCII addresses (non-ASCII ones need SMTPUTF8, RFC 6531) or another "
                   "server")
    if isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(exc.__context__,
                                                                      TimeoutError):
        exc = exc.__context__  # smtplib turns a read timeout into SMTPServerDisconnected
    elif isinstance(exc, smtplib.SMTPServerDisconnected):
        return err(f"SMTP server {where} closed the connection unexpectedly ({exc})",
                   "check notify.email.security matches the port (starttls: 587, tls: 465)")
    if isinstance(exc, smtplib.SMTPResponseException):
        return err(f"SMTP server {where} answered with an error ({reply_text(exc)})",
                   "check the SMTP settings and the server's log")
    if isinstance(exc, smtplib.SMTPException):
        return err(f"SMTP with {where} failed: {exc}", "check the SMTP settings and the "
                   "server's log")
    if isinstance(exc, ConnectionRefusedError):
        return err(f"cannot connect to SMTP server {where}: connection refused", host_fix)
    if isinstance(exc, TimeoutError):
        return err(f"timed out after {settings.timeout:g}s talking to SMTP server {where}",
                   host_fix + " (or raise notify.email.timeout)")
    if isinstance(exc, socket.gaierror):
        return err(f"cannot resolve SMTP server host {settings.host!r} ({exc.strerror})",
                   "check notify.email.host")
    if isinstance(exc, OSError):
        return err(f"cannot reach SMTP server {where}: {exc.strerror or exc}", host_fix)
    return err(f"sending e-mail via {where} failed: {type(exc).__name__}: {exc}",
               "check the SMTP settings")
