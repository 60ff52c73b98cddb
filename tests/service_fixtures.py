"""Real services for tests — no mocks.

* :func:`smtp_server` / :func:`smtps_server`: an aiosmtpd server on 127.0.0.1 with a trustme
  CA and server certificate, AUTH (one user, a password generated per run) only over TLS,
  and a handler keeping every received message.
* :func:`keyring_session`: a private D-Bus session bus with a real gnome-keyring Secret
  Service, unlocked, with HOME/XDG_* inside the test's tmp_path; the in-process ``keyring``
  library is pointed at it for the duration of the test.

Use them from a test module with ``from tests.service_fixtures import smtp_server`` (and the
other fixture names), or list ``"tests.service_fixtures"`` in a root conftest's
``pytest_plugins``.
"""

from __future__ import annotations

import contextlib
import errno
import hmac
import json
import secrets
import shutil
import socket
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from irtui.core.config import EmailSettings
from irtui.lab import secret_service

LOCALHOST = "127.0.0.1"
SMTP_USER = "irtui-test"
TEST_SENDER = "irtui@example.org"
REFUSED_DOMAIN = "refused.invalid"
"""RCPT TO an address in this domain gets ``550`` from the test server."""


# --------------------------------------------------------------------------------------------
# SMTP
# --------------------------------------------------------------------------------------------


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port that was free on ``host`` a moment ago (bind to port 0, read it, close).

    aiosmtpd's Controller cannot start with ``port=0`` (it connects to its own port to check
    it is up), so tests pick a port this way. Nothing listens on it when this returns.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class ReceivedMessage:
    """One message as the test server received it.

    Attributes:
        mail_from: envelope sender (MAIL FROM).
        rcpt_tos: envelope recipients the server accepted (RCPT TO).
        data: the DATA bytes as received (CRLF line ends).
        message: ``data`` parsed with ``email.policy.default``.
        tls: True if the session was encrypted (STARTTLS or implicit TLS).
        authenticated: True if the client logged in with AUTH.
        login: the user name the client logged in as (None without AUTH).
    """

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    message: EmailMessage
    tls: bool
    authenticated: bool
    login: str | None


@dataclass
class SMTPTestServer:
    """A running test SMTP server (what the ``smtp_server`` fixtures yield).

    Attributes:
        host, port: where it listens (always 127.0.0.1).
        security: ``"starttls"``, ``"tls"`` (implicit TLS) or ``"none"`` (no TLS offered).
        cafile: path of the PEM CA certificate that signed the server certificate.
        username, password: the one account AUTH accepts (password random per run).
        messages: every message received, in order.
        auth_attempts: (user, success) for every AUTH attempt.
    """

    host: str
    port: int
    security: str
    cafile: str
    username: str
    password: str
    messages: list[ReceivedMessage] = field(default_factory=list)
    auth_attempts: list[tuple[str, bool]] = field(default_factory=list)

    def settings(self, **overrides: Any) -> EmailSettings:
        """EmailSettings pointing at this server (with login), updated by ``overrides``."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "security": "tls" if self.security == "tls" else "starttls",
            "username": self.username,
            "sender": TEST_SENDER,
            "cafile": self.cafile,
            "timeout": 10.0,
        }
        values.update(overrides)
        return EmailSettings(**values)


class _Handler:
    """aiosmtpd handler: refuse ``@refused.invalid`` recipients, keep every message."""

    def __init__(self, server: SMTPTestServer) -> None:
        self.server = server

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        mail_options: list[str],
    ) -> str:
        # aiosmtpd enforces auth_required itself for STARTTLS; this also covers implicit TLS.
        if self.server.security != "none" and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.lower().endswith("@" + REFUSED_DOMAIN):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        data = envelope.original_content or b""
        transport = server.transport
        tls = transport is not None and transport.get_extra_info("sslcontext") is not None
        parsed = message_from_bytes(data, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        self.server.messages.append(ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            data=data,
            message=parsed,
            tls=tls,
            authenticated=bool(session.authenticated),
            login=session.auth_data if session.authenticated else None,
        ))
        return "250 2.0.0 message accepted"


def _authenticator(server_info: SMTPTestServer):
    user = server_info.username.encode()
    password = server_info.password.encode()

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = hmac.compare_digest(auth_data.login, user) and hmac.compare_digest(
            auth_data.password, password
        )
        server_info.auth_attempts.append((auth_data.login.decode("utf-8", "replace"), ok))
        return AuthResult(success=ok, handled=False, auth_data=server_info.username)

    return authenticate


@contextlib.contextmanager
def start_smtp_server(directory: Path, security: str = "starttls") -> Iterator[SMTPTestServer]:
    """Run an aiosmtpd server on 127.0.0.1 until the ``with`` block ends.

    Args:
        directory: where the CA certificate (``smtp-ca.pem``) is written.
        security: ``"starttls"`` (STARTTLS offered and required, RFC 3207), ``"tls"``
            (implicit TLS from the first byte, RFC 8314) or ``"none"`` (no TLS at all: the
            server then offers neither STARTTLS nor AUTH).

    Yields:
        The :class:`SMTPTestServer`; AUTH is required before MAIL.
    """
    if security not in ("starttls", "tls", "none"):
        raise ValueError(f"unknown security {security!r}")
    ca = trustme.CA()
    cert = ca.issue_cert(LOCALHOST, "localhost")
    cafile = directory / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)

    info = SMTPTestServer(
        host=LOCALHOST, port=0, security=security, cafile=str(cafile),
        username=SMTP_USER, password=secrets.token_urlsafe(18),
    )
    kwargs: dict[str, Any] = {
        "hostname": LOCALHOST,
        "server_hostname": "localhost",  # no getfqdn() DNS lookup for the banner
        "authenticator": _authenticator(info),
        "auth_required": security != "none",
        "ready_timeout": 10.0,
    }
    if security == "starttls":
        kwargs.update(tls_context=server_ctx, require_starttls=True, auth_require_tls=True)
    elif security == "tls":
        # The whole connection is TLS, but aiosmtpd's auth_require_tls only knows about
        # STARTTLS and would hide AUTH on an implicit-TLS listener; and auth_required without
        # auth_require_tls warns. So AUTH is offered and _Handler.handle_MAIL requires it.
        kwargs.update(ssl_context=server_ctx, auth_require_tls=False, auth_required=False)
    else:
        kwargs.update(auth_require_tls=True)

    controller = None
    for _attempt in range(5):
        info.port = free_port()
        controller = Controller(_Handler(info), port=info.port, **kwargs)
        try:
            controller.start()
            break
        except OSError as exc:  # someone took the port in between: pick another
            if exc.errno != errno.EADDRINUSE:
                raise
            controller = None
    if controller is None:
        raise RuntimeError("could not find a free port for the test SMTP server")
    try:
        yield info
    finally:
        controller.stop()


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SMTPTestServer]:
    """A real STARTTLS + AUTH SMTP server on 127.0.0.1 (see :func:`start_smtp_server`)."""
    with start_smtp_server(tmp_path, "starttls") as server:
        yield server


@pytest.fixture
def smtps_server(tmp_path: Path) -> Iterator[SMTPTestServer]:
    """A real implicit-TLS (SMTPS, RFC 8314) + AUTH SMTP server on 127.0.0.1."""
    with start_smtp_server(tmp_path, "tls") as server:
        yield server


# --------------------------------------------------------------------------------------------
# Secret Service (gnome-keyring in a private D-Bus session)
# --------------------------------------------------------------------------------------------

@dataclass
class SecretServiceSession:
    """A running private session: ``env`` for subprocesses plus the two daemons' pids."""

    env: dict[str, str]
    bus_pid: int
    keyring_pid: int


@contextlib.contextmanager
def start_secret_service(base: Path, unlock_password: str) -> Iterator[SecretServiceSession]:
    """Start ``dbus-daemon`` and an unlocked ``gnome-keyring-daemon --components=secrets``
    (:mod:`irtui.lab.secret_service`) as our children, HOME and XDG_* inside ``base``;
    XDG_RUNTIME_DIR is a short private dir under the system temp dir (unix socket paths are
    limited to ~107 bytes). Both are stopped by pid when the block ends."""
    if secret_service.missing_tools():
        pytest.skip(f"not installed: {', '.join(secret_service.missing_tools())}")
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    runtime = Path(tempfile.mkdtemp(prefix="irtui-kr-"))  # mode 0700
    env = secret_service.private_env(base, runtime)
    try:
        service = secret_service.start(base, env, unlock_password, f"unix:dir={runtime}")
        try:
            yield SecretServiceSession(env=env, bus_pid=service.bus.pid,
                                       keyring_pid=service.keyring.pid)
        finally:
            service.stop()
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
def keyring_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A real, unlocked Secret Service (gnome-keyring) in a private D-Bus session.

    Yields:
        The environment (a copy of ``os.environ`` with DBUS_SESSION_BUS_ADDRESS, HOME and
        XDG_DATA_HOME / XDG_CONFIG_HOME / XDG_CACHE_HOME / XDG_RUNTIME_DIR set, and
        PYTHON_KEYRING_BACKEND removed) for subprocesses. In this process ``os.environ`` is
        patched the same way and ``keyring`` uses the SecretService backend on that bus;
        both are restored afterwards. Skips only if dbus-daemon or gnome-keyring-daemon is
        not installed.
    """
    import keyring
    import keyring.core
    from keyring.backends import SecretService

    with start_secret_service(tmp_path / "keyring", secrets.token_urlsafe(12)) as session:
        for key in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME",
                    "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS"):
            monkeypatch.setenv(key, session.env[key])
        monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
        # keyring caches the viable backends once per process (backend.get_all_keyring is
        # @once), so init_backend() would not notice a bus that appeared later: select the
        # Secret Service backend explicitly, after checking it really is reachable (the
        # priority probe connects to the bus and raises RuntimeError if it is not).
        SecretService.Keyring.priority  # noqa: B018
        monkeypatch.setattr(keyring.core, "_keyring_backend", keyring.core._keyring_backend)
        keyring.set_keyring(SecretService.Keyring())
        yield session.env


# --------------------------------------------------------------------------------------------
# HTTP (webhooks)
# --------------------------------------------------------------------------------------------


@dataclass
class HTTPRequest:
    """One request the test HTTP server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class HTTPTestServer:
    """A running webhook sink (what :func:`start_http_server` yields).

    Attributes:
        port: where it listens on 127.0.0.1 (picked by the kernel).
        requests: every request, in order.
        replies: path → (status, body) to answer with; other paths get 200 ``{"ok": true}``.
            A body may contain ``{path}``, replaced by the request path (to prove that a
            server echoing a token in its error does not leak it).
    """

    port: int
    requests: list[HTTPRequest] = field(default_factory=list)
    replies: dict[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def base(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"{LOCALHOST}:{self.port}"


@contextlib.contextmanager
def start_http_server() -> Iterator[HTTPTestServer]:
    """An HTTP server on 127.0.0.1 (port chosen by the kernel: never a fixed port) that keeps
    every request and answers as :attr:`HTTPTestServer.replies` says."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    info = HTTPTestServer(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            info.requests.append(HTTPRequest("POST", self.path, dict(self.headers), body))
            status, text = info.replies.get(self.path.split("?")[0], (200, '{"ok": true}'))
            data = text.replace("{path}", self.path).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((LOCALHOST, 0), Handler)
    info.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield info
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http_server() -> Iterator[HTTPTestServer]:
    """A webhook sink on 127.0.0.1 (see :func:`start_http_server`)."""
    with start_http_server() as server:
        yield server
