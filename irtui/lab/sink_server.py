"""The practice lab's notification sinks, run as one background process by ``irtui lab up``:

* a mail sink: aiosmtpd on 127.0.0.1 with STARTTLS required (RFC 3207, the lab CA's
  certificate) and AUTH PLAIN/LOGIN required (RFC 4954) with the lab password;
* a webhook sink: HTTP on 127.0.0.1 that accepts JSON POSTs on ``/hooks/<token>`` only
  (anything else gets 404 with a JSON error, so a wrong URL shows a real server reply).

Everything received is written under ``<dir>/inbox`` (``mail-NNNN.eml``, ``hook-NNNN.json``)
with one line per item in ``<dir>/inbox/index.jsonl``; ``irtui lab inbox`` reads them. The
password and the token come on stdin as JSON (never on the command line, where any local
user's ``ps`` would see them). Runs until SIGTERM.

Usage: ``python -m irtui.lab.sink_server --dir D --smtp-port P --http-port Q --cert PEM
--key PEM`` with ``{"password": ..., "token": ...}`` on stdin.
"""

from __future__ import annotations

import argparse
import hmac
import json
import signal
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from irtui.core.audit import utc_now

HOST = "127.0.0.1"
MAX_POST_BYTES = 1024 * 1024


class Inbox:
    """Numbered files plus an index line for each item; thread-safe."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.lock = threading.Lock()

    def add(self, kind: str, suffix: str, data: bytes, **fields: Any) -> None:
        """Write ``data`` as the next ``<kind>-NNNN<suffix>`` and index it with ``fields``."""
        with self.lock:
            number = sum(1 for _ in self.directory.glob(f"{kind}-*")) + 1
            name = f"{kind}-{number:04d}{suffix}"
            (self.directory / name).write_bytes(data)
            line = {"ts": utc_now(), "kind": kind, "file": name, **fields}
            with (self.directory / "index.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")


class _MailHandler:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        transport = server.transport
        tls = transport is not None and transport.get_extra_info("sslcontext") is not None
        self.inbox.add("mail", ".eml", envelope.original_content or b"",
                       mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos),
                       tls=tls, authenticated=bool(session.authenticated))
        return "250 2.0.0 queued in the irtui lab inbox"


def _authenticator(user: str, password: str):  # type: ignore[no-untyped-def]
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def check(server: Any, session: Any, envelope: Any, mechanism: str,
              auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = (hmac.compare_digest(auth_data.login, user.encode())
              and hmac.compare_digest(auth_data.password, password.encode()))
        return AuthResult(success=ok, handled=False, auth_data=user)

    return check


def start_mail(inbox: Inbox, port: int, tls: ssl.SSLContext, user: str, password: str):  # type: ignore[no-untyped-def]
    """Start the aiosmtpd controller (STARTTLS and AUTH required) and return it."""
    from aiosmtpd.controller import Controller

    controller = Controller(
        _MailHandler(inbox), hostname=HOST, port=port, server_hostname="localhost",
        tls_context=tls, require_starttls=True, auth_require_tls=True, auth_required=True,
        authenticator=_authenticator(user, password), ready_timeout=10.0)
    controller.start()
    return controller


def hook_handler(inbox: Inbox, token: str) -> type[BaseHTTPRequestHandler]:
    """The webhook request handler class: POST ``/hooks/<token>`` is stored (200), any other
    path or method gets a JSON error (404/405)."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "irtui-lab-webhook/1"

        def _answer(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = min(int(self.headers.get("Content-Length") or 0), MAX_POST_BYTES)
            data = self.rfile.read(length)
            if not hmac.compare_digest(self.path.split("?")[0], f"/hooks/{token}"):
                self._answer(404, {"error": "no such hook"})
                return
            self.inbox.add("hook", ".json", data, path="/hooks/***",
                           content_type=self.headers.get("Content-Type", ""))
            self._answer(200, {"ok": True})

        def do_GET(self) -> None:
            self._answer(405, {"error": "POST only"})

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the request line holds the token

        inbox: Inbox

    Handler.inbox = inbox
    return Handler


def main(argv: list[str] | None = None) -> int:
    """Run both sinks until SIGTERM/SIGINT; see the module docstring."""
    parser = argparse.ArgumentParser(prog="irtui.lab.sink_server")
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--smtp-port", required=True, type=int)
    parser.add_argument("--http-port", required=True, type=int)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--user", default="lab")
    args = parser.parse_args(argv)
    given = json.loads(sys.stdin.readline())
    inbox = Inbox(args.dir / "inbox")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(args.cert, args.key)
    controller = start_mail(inbox, args.smtp_port, tls, args.user, given["password"])
    http = ThreadingHTTPServer((HOST, args.http_port), hook_handler(inbox, given["token"]))
    threading.Thread(target=http.serve_forever, daemon=True).start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    print("ready", flush=True)
    stopped.wait()
    http.shutdown()
    controller.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
