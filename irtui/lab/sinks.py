"""The practice lab can notify: a mail sink and a webhook sink on loopback, and a keyring of
the lab's own, so a newcomer can send from the Notify tab (or ``irtui notify``) and read what
arrived with ``irtui lab inbox``.

``lab up`` calls :func:`notify_up` (restarting all three each time, with a fresh password and
token), writes the returned config sections into the lab config, then :func:`store_secrets`
stores the SMTP password and the webhook URL through ``irtui secrets set`` — the real path a
responder uses. ``lab down`` calls :func:`notify_down`.

Lab-only, by design: the lab's Secret Service is a private D-Bus session under
``<lab dir>/notify`` (root-only, 0700) that the lab config points irtui at
(``[secrets] dbus_address``); its keyring is unlocked with a random password that is never
stored, and it dies with ``lab down``. The lab CA is trusted only through the lab config's
``notify.email.cafile``. Nothing of this touches the responder's own keyring or CAs.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from irtui.core.errors import IrtuiError
from irtui.lab import secret_service
from irtui.lab.lab_ca import make_ca
from irtui.lab.spec import LabSpec
from irtui.lab.sshd import pid_running

SMTP_SECRET = "lab-smtp"
WEBHOOK_SECRET = "lab-webhook"
CHANNEL = "lab"
SMTP_USER = "lab"
SENDER = "irtui-lab@example.org"
TEAM = "soc@example.org"
READY_SECONDS = 15.0
PID_FILES = {"sinks": "sink_server", "keyring": "gnome-keyring-daemon", "bus": "dbus-daemon"}


def notify_dir(spec: LabSpec) -> Path:
    """``<lab dir>/notify``: CA, sinks, keyring, inbox."""
    return spec.lab_dir / "notify"


@dataclass(frozen=True)
class NotifyLab:
    """The running notification part of the lab. ``password`` and ``token`` are the lab's
    secrets: kept in memory only to store them in the lab keyring."""

    smtp_port: int
    http_port: int
    cafile: str
    dbus_address: str
    password: str
    token: str

    @property
    def webhook_url(self) -> str:
        """The lab channel's apprise URL (a generic JSON webhook, ``json://``)."""
        return f"json://127.0.0.1:{self.http_port}/hooks/{self.token}"

    def config_sections(self) -> dict[str, Any]:
        """The ``[notify]`` and ``[secrets]`` tables of the lab config (no secret in them)."""
        return {
            "notify": {
                "email": {"host": "127.0.0.1", "port": self.smtp_port, "security": "starttls",
                          "username": SMTP_USER, "sender": SENDER, "to": [TEAM],
                          "cafile": self.cafile, "timeout": 10,
                          "password_secret": SMTP_SECRET},
                "channels": {CHANNEL: f"keyring:{WEBHOOK_SECRET}"},
            },
            "secrets": {"dbus_address": self.dbus_address},
        }


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_pid(d: Path, role: str, pid: int) -> None:
    (d / f"{role}.pid").write_text(f"{pid}\n")


def _ours(pid: int, d: Path, role: str) -> bool:
    """True when ``pid`` is this lab's ``role`` process: its command line names the program,
    and names ``d`` or runs with an environment pointing into ``d`` (never by name alone)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return PID_FILES[role] in cmdline and (str(d) in cmdline or str(d) in environ)


def _stop_role(d: Path, role: str) -> int | None:
    """Stop the process in ``<role>.pid`` if it is ours; returns its pid, or None."""
    pid_file = d / f"{role}.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    pid_file.unlink(missing_ok=True)
    if not _ours(pid, d, role):
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while pid_running(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child (lab up run in-process)
    if pid_running(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pid


def running(spec: LabSpec) -> dict[str, int | None]:
    """``sinks``/``keyring``/``bus`` → the pid of this lab's live process, or None."""
    d = notify_dir(spec)
    out: dict[str, int | None] = {}
    for role in PID_FILES:
        try:
            pid = int((d / f"{role}.pid").read_text().strip())
        except (OSError, ValueError):
            pid = None
        out[role] = pid if pid is not None and pid_running(pid) and _ours(pid, d, role) else None
    return out


def notify_down(spec: LabSpec) -> list[str]:
    """Stop the sinks and the lab keyring (each by its pid file, after checking the pid is
    ours). Returns one line per process stopped."""
    d = notify_dir(spec)
    done = []
    for role in ("sinks", "keyring", "bus"):
        pid = _stop_role(d, role)
        if pid is not None:
            done.append(f"stopped lab {role} pid {pid}")
    return done


def _start_keyring(d: Path) -> str:
    run = d / "run"
    run.mkdir(mode=0o700, parents=True, exist_ok=True)
    base = d / "keyring"
    # a new unlock password each time: the old keyring file could never be opened again
    shutil.rmtree(base, ignore_errors=True)
    env = secret_service.private_env(base, run)
    service = secret_service.start(base, env, secrets.token_urlsafe(24),
                                   f"unix:path={run / 'bus'}", detach=True)
    _write_pid(d, "bus", service.bus.pid)
    _write_pid(d, "keyring", service.keyring.pid)
    return service.address


def _start_sinks(d: Path, password: str, token: str, cert: Path, key: Path) -> tuple[int, int]:
    for _attempt in range(3):
        smtp_port, http_port = _free_port(), _free_port()
        with (d / "sinks.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "irtui.lab.sink_server", "--dir", str(d),
                 "--smtp-port", str(smtp_port), "--http-port", str(http_port),
                 "--cert", str(cert), "--key", str(key), "--user", SMTP_USER],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                start_new_session=True)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write((json.dumps({"password": password, "token": token}) + "\n").encode())
        proc.stdin.close()
        ready = proc.stdout.readline().strip() == b"ready"  # or EOF when it failed
        proc.stdout.close()
        if ready:
            _write_pid(d, "sinks", proc.pid)
            return smtp_port, http_port
        proc.wait(timeout=READY_SECONDS)
    raise IrtuiError("the lab's mail/webhook sinks did not start",
                     f"see {d / 'sinks.log'}")


def notify_up(spec: LabSpec) -> NotifyLab:
    """(Re)start the lab's keyring and sinks, with a new lab CA, password and token.

    Returns:
        The running :class:`NotifyLab`.

    Raises:
        IrtuiError: gnome-keyring/dbus missing (naming the Debian packages), or a process
            did not come up (naming its log).
    """
    d = notify_dir(spec)
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    notify_down(spec)
    ca, cert, key = make_ca(d)
    address = _start_keyring(d)
    password, token = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    try:
        smtp_port, http_port = _start_sinks(d, password, token, cert, key)
    except BaseException:
        notify_down(spec)
        raise
    return NotifyLab(smtp_port, http_port, str(ca), address, password, token)


def store_secrets(spec: LabSpec, lab: NotifyLab) -> None:
    """Store the lab password and webhook URL in the lab keyring with ``irtui secrets set``
    (values on stdin), using the lab config written with :meth:`NotifyLab.config_sections`.

    Raises:
        IrtuiError: ``irtui secrets set`` failed (its message, which never holds a value).
    """
    for name, value in ((SMTP_SECRET, lab.password), (WEBHOOK_SECRET, lab.webhook_url)):
        proc = subprocess.run(
            [sys.executable, "-m", "irtui", "--config", str(spec.config_path), "secrets",
             "set", name, "--stdin"], input=value + "\n", capture_output=True, text=True,
            timeout=60, check=False)
        if proc.returncode != 0:
            log = notify_dir(spec) / "keyring" / "gnome-keyring-daemon.log"
            tail = log.read_text(errors="replace")[-300:].strip() if log.is_file() else ""
            raise IrtuiError(f"could not store the lab secret {name!r}: "
                             f"{proc.stderr.strip()}"
                             + (f" (keyring log: {tail})" if tail else ""),
                             "see the message; then irtui lab up")


@dataclass(frozen=True)
class InboxItem:
    """One thing the lab's sinks received.

    Attributes:
        kind: ``mail`` or ``hook``.
        ts: when it arrived (ISO 8601 UTC).
        lines: a human summary (headers and text for a mail; title and message for a hook).
    """

    kind: str
    ts: str
    lines: tuple[str, ...]


def _mail_lines(path: Path, meta: dict[str, Any]) -> tuple[str, ...]:
    from email import message_from_bytes
    from email.message import EmailMessage
    from email.policy import default as default_policy

    msg = message_from_bytes(path.read_bytes(), policy=default_policy)
    assert isinstance(msg, EmailMessage)
    body = msg.get_body(preferencelist=("plain",))
    text = body.get_content() if isinstance(body, EmailMessage) else ""
    files = [f"{part.get_filename()} ({len(part.get_payload(decode=True) or b'')} bytes)"
             for part in msg.iter_attachments()]
    how = ("STARTTLS" if meta.get("tls") else "NO TLS") + (
        ", AUTH" if meta.get("authenticated") else ", no AUTH")
    out = [f"From: {msg['From']}"]
    out += [f"{h}: {msg[h]}" for h in ("To", "Cc") if msg[h]]
    out += [f"Subject: {msg['Subject']}", f"({how}; envelope to "
            f"{', '.join(meta.get('rcpt_tos', []))})"]
    out += [f"  {line}" for line in text.replace("\r\n", "\n").rstrip("\n").split("\n")]
    if files:
        out.append("Attachments: " + ", ".join(files))
    return tuple(out)


def _hook_lines(path: Path, meta: dict[str, Any]) -> tuple[str, ...]:
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
    except ValueError:
        return (f"POST {meta.get('path')} ({meta.get('content_type')}), not JSON: "
                f"{raw[:200]!r}",)
    if not isinstance(data, dict):
        return (f"POST {meta.get('path')}: {json.dumps(data)[:200]}",)
    out = [f"POST {meta.get('path')} ({meta.get('content_type')})",
           f"Title: {data.get('title', '')}"]
    out += [f"  {line}" for line in str(data.get("message", "")).rstrip("\n").split("\n")]
    files = [str(a.get("filename")) for a in data.get("attachments") or ()
             if isinstance(a, dict)]
    if files:
        out.append("Attachments: " + ", ".join(files))
    return tuple(out)


def inbox(spec: LabSpec) -> list[InboxItem]:
    """Everything the lab's sinks received, oldest first (empty when nothing arrived or the
    lab has no sinks)."""
    d = notify_dir(spec) / "inbox"
    try:
        index = (d / "index.jsonl").read_text("utf-8").splitlines()
    except OSError:
        return []
    items = []
    for line in index:
        try:
            meta = json.loads(line)
            path = d / Path(str(meta["file"])).name
            reader = _mail_lines if meta["kind"] == "mail" else _hook_lines
            items.append(InboxItem(str(meta["kind"]), str(meta.get("ts", "")),
                                   reader(path, meta)))
        except (OSError, ValueError, KeyError) as exc:
            items.append(InboxItem("?", "", (f"unreadable inbox entry: {exc}",)))
    return items
