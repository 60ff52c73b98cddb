"""The whole notification path as a responder uses it: the password goes into the real
Secret Service with `irtui secrets set`, and comes out when `irtui notify` (CLI) or the
TUI's compose pane sends through a real SMTP server with STARTTLS and AUTH."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from irtui.core.config import load_config, write_toml_atomic
from irtui.tui.app import IrtuiApp

SUBJECT = "Containment: hôte isolé — 203.0.113.7 bloqué ✅"
BODY = "Bonjour l'équipe,\nhost1 est isolé depuis 22:30 UTC.\n— irtui 🛡️\n"


def _config(tmp_path: Path, server) -> Path:
    path = tmp_path / "config.toml"
    write_toml_atomic(path, {
        "hosts": [],
        "notify": {"email": {"host": server.host, "port": server.port, "security": "starttls",
                             "username": server.username, "sender": "irtui@example.org",
                             "to": ["soc@example.org"], "cafile": server.cafile,
                             "timeout": 10}},
        "audit": {"dir": str(tmp_path / "audit")},
    })
    return path


def _irtui(env: dict[str, str], *args: str, stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "irtui", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_secret_then_notify(tmp_path: Path, smtp_server, keyring_session) -> None:
    cfg = _config(tmp_path, smtp_server)
    env = keyring_session
    missing = _irtui(env, "--config", str(cfg), "notify", "--subject", "x", "--body", "y")
    assert missing.returncode == 4
    assert "email (email): not configured" in missing.stderr
    assert "irtui secrets set smtp" in missing.stderr
    assert smtp_server.messages == []

    stored = _irtui(env, "secrets", "set", "smtp", "--stdin", stdin=smtp_server.password + "\n")
    assert stored.returncode == 0, stored.stderr
    assert smtp_server.password not in stored.stdout + stored.stderr

    sent = _irtui(env, "--config", str(cfg), "notify", "--to", "ir-team@example.org",
                  "--subject", SUBJECT, "--body", BODY)
    assert sent.returncode == 0, sent.stderr
    assert len(smtp_server.messages) == 1
    got = smtp_server.messages[0]
    assert got.tls and got.authenticated and got.login == smtp_server.username
    assert got.rcpt_tos == ["ir-team@example.org"]
    assert got.message["Subject"] == SUBJECT
    assert got.message.get_content().replace("\r\n", "\n") == BODY  # SMTP sends CRLF
    exported = _irtui(env, "--config", str(cfg), "audit", "export", "--json")
    assert exported.returncode == 0, exported.stderr
    notes = [r for r in json.loads(exported.stdout)["data"]["records"]
             if r["kind"] == "action" and r["action"] == "notify"]
    assert len(notes) == 2  # the refused send (no secret) and the sent one, both recorded
    assert [n["ok"] for n in notes] == [False, True]
    assert "irtui secrets set smtp" in notes[0]["detail"]
    assert smtp_server.password not in exported.stdout


async def test_tui_compose_and_send(tmp_path: Path, smtp_server, keyring_session) -> None:
    from irtui.core import secrets

    secrets.set_secret("smtp", smtp_server.password)
    app = IrtuiApp(load_config(_config(tmp_path, smtp_server)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await pilot.pause(0.2)
        assert app.focused is not None and app.focused.id == "notify-to"
        await pilot.press("tab")  # to the subject
        await pilot.press("ctrl+a", "ctrl+k", *"incident 42: update")
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        log = "\n".join(app.query_one("#log").lines)
        assert "✓ email (email): sent — message <" in log
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0].message
    assert message["Subject"] == "incident 42: update"
    # the body is the default template, filled from this session's (empty) record
    content = message.get_content()
    assert f"Incident {app.responder.audit.session} — containment update" in content
    assert "Actions (0 action(s): 0 succeeded, 0 failed)" in content
