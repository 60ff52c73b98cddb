"""``irtui notify`` as a responder scripts it: the installed command in a subprocess, a real
SMTP server, a real webhook server and a real Secret Service."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from irtui.core.config import write_toml_atomic
from irtui.core.secrets import set_secret
from tests.service_fixtures import HTTPTestServer, SMTPTestServer

REPO = Path(__file__).resolve().parents[1]
TOKEN = "hooktoken-7c1e0d9a"
SUBJECT = "INC-42: hôte isolé ✅"


def _config(tmp_path: Path, smtp: SMTPTestServer, **notify: object) -> Path:
    path = tmp_path / "config.toml"
    write_toml_atomic(path, {
        "notify": {"email": {"host": smtp.host, "port": smtp.port, "username": smtp.username,
                             "sender": "irtui@example.org", "to": ["soc@example.org"],
                             "cafile": smtp.cafile, "timeout": 10},
                   "channels": {"soc": "keyring:apprise-soc"}, **notify},
        "audit": {"dir": str(tmp_path / "audit")},
        "record": {"path": str(tmp_path / "record.db")},
    })
    return path


def _irtui(env: dict[str, str], cfg: Path, *args: str,
           stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "irtui", "--config", str(cfg), "notify", *args],
                          input=stdin, env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=60, check=False)


def _secrets(smtp: SMTPTestServer, http: HTTPTestServer) -> None:
    set_secret("smtp", smtp.password)
    set_secret("apprise-soc", f"json://{http.base}/hooks/{TOKEN}")


def test_body_from_stdin_to_every_channel(tmp_path: Path, smtp_server: SMTPTestServer,
                                          http_server: HTTPTestServer,
                                          keyring_session: dict[str, str]) -> None:
    _secrets(smtp_server, http_server)
    report = tmp_path / "report.txt"
    report.write_text("incident report\n")
    body = "Bonjour,\n203.0.113.7 est bloqué.\n"
    out = _irtui(keyring_session, _config(tmp_path, smtp_server), "--subject", SUBJECT,
                 "--body-file", "-", "--to", "a@example.org,b@example.org", "--cc",
                 "c@example.org", "--attach", str(report), stdin=body)
    assert out.returncode == 0, out.stderr
    assert "email (email): sent" in out.stdout and "soc (JSON): sent" in out.stdout
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == ["a@example.org", "b@example.org", "c@example.org"]
    assert mail.message["Subject"] == SUBJECT
    assert mail.message.get_body(("plain",)).get_content().replace("\r\n", "\n") == body
    assert [p.get_filename() for p in mail.message.iter_attachments()] == ["report.txt"]
    [hook] = http_server.requests
    assert hook.json()["title"] == SUBJECT and hook.json()["message"] == body.rstrip("\n")
    assert hook.json()["attachments"][0]["filename"] == "report.txt"


def test_one_channel_and_a_failure_exit_4(tmp_path: Path, smtp_server: SMTPTestServer,
                                          http_server: HTTPTestServer,
                                          keyring_session: dict[str, str]) -> None:
    _secrets(smtp_server, http_server)
    cfg = _config(tmp_path, smtp_server)
    only = _irtui(keyring_session, cfg, "--channel", "soc", "--subject", "s", "--body", "b")
    assert only.returncode == 0, only.stderr
    assert smtp_server.messages == [] and len(http_server.requests) == 1
    http_server.replies[f"/hooks/{TOKEN}"] = (503, '{"error": "down for {path}"}')
    failed = _irtui(keyring_session, cfg, "--subject", "s", "--body", "b")
    assert failed.returncode == 4
    assert "email (email): sent" in failed.stdout  # the failing webhook stopped nothing
    assert "soc (JSON): FAILED" in failed.stderr and "503" in failed.stderr
    assert TOKEN not in failed.stdout + failed.stderr
    unknown = _irtui(keyring_session, cfg, "--channel", "slack", "--subject", "s", "--body", "b")
    assert unknown.returncode == 2 and "unknown channel 'slack'" in unknown.stderr
    sent = (len(smtp_server.messages), len(http_server.requests))
    for dry in ((), ("--dry-run",)):
        empty = _irtui(keyring_session, cfg, "--subject", " ", "--body", "\n", *dry)
        assert empty.returncode == 2 and "the message is empty" in empty.stderr, empty.stderr
    assert (len(smtp_server.messages), len(http_server.requests)) == sent  # nothing went


def test_dry_run_prints_each_channel_and_no_secret(tmp_path: Path, smtp_server: SMTPTestServer,
                                                   http_server: HTTPTestServer,
                                                   keyring_session: dict[str, str]) -> None:
    _secrets(smtp_server, http_server)
    out = _irtui(keyring_session, _config(tmp_path, smtp_server), "--dry-run", "--subject",
                 SUBJECT, "--body", "corps ✅")
    assert out.returncode == 0, out.stderr
    assert "── email (email)" in out.stdout and "── soc (JSON)" in out.stdout
    assert f"Subject: {SUBJECT}" in out.stdout and "corps ✅" in out.stdout
    assert "keyring:smtp" in out.stdout and "keyring:apprise-soc" in out.stdout
    assert TOKEN not in out.stdout and smtp_server.password not in out.stdout
    assert smtp_server.messages == [] and http_server.requests == []
    assert smtp_server.auth_attempts == []


def test_template_fills_subject_and_body(tmp_path: Path, smtp_server: SMTPTestServer,
                                         http_server: HTTPTestServer,
                                         keyring_session: dict[str, str]) -> None:
    _secrets(smtp_server, http_server)
    cfg = _config(tmp_path, smtp_server, templates={"short": {
        "subject": "[$incident_id] $headline", "body": "by $who at $when\n$actions\n"}})
    out = _irtui(keyring_session, cfg, "--template", "short", "--channel", "email")
    assert out.returncode == 0, out.stderr
    message = smtp_server.messages[0].message
    assert message["Subject"].endswith("] 0 host(s) isolated, 0 address(es) blocked")
    assert message.get_content().startswith("by ") and "none" in message.get_content()
    exported = subprocess.run([sys.executable, "-m", "irtui", "--config", str(cfg), "audit",
                               "export", "--json"], env=keyring_session, cwd=REPO,
                              capture_output=True, text=True, timeout=60, check=True)
    trail = json.loads(exported.stdout)["data"]["records"]
    assert [r["ok"] for r in trail if r.get("action") == "notify"] == [True]
    bad = _irtui(keyring_session, cfg, "--template", "nope", "--channel", "email")
    assert bad.returncode == 2 and "unknown template 'nope'" in bad.stderr


def test_config_refuses_a_url_in_the_file(tmp_path: Path, smtp_server: SMTPTestServer) -> None:
    cfg = tmp_path / "config.toml"
    write_toml_atomic(cfg, {"notify": {"channels": {"soc": f"json://h/hooks/{TOKEN}"}}})
    out = subprocess.run([sys.executable, "-m", "irtui", "--config", str(cfg), "notify",
                          "--subject", "s", "--body", "b"], capture_output=True, text=True,
                         cwd=REPO, timeout=60, check=False)
    assert out.returncode == 2
    assert "notify.channels.soc: must be \"keyring:SECRET\"" in out.stderr
    assert TOKEN not in out.stderr
