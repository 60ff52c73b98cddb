"""The practice lab can notify: ``lab up`` starts a mail sink (STARTTLS + AUTH, lab CA) and a
webhook sink on loopback plus a keyring of the lab's own, writes them into the lab config,
and ``irtui lab inbox`` shows what arrived; ``lab down`` stops them (see test_lab.py)."""

from __future__ import annotations

import smtplib
import ssl
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from irtui.lab import LabInfo
from irtui.lab.sinks import inbox, notify_dir
from tests.lab_fixtures import TEST_SPEC

REPO = Path(__file__).resolve().parents[1]
SUBJECT = "Lab: hôte isolé ✅"
BODY = "Bonjour l'équipe,\nhost1 est isolé. 🛡️\n"


def _pids() -> dict[str, int]:
    d = notify_dir(TEST_SPEC)
    return {role: int((d / f"{role}.pid").read_text()) for role in ("sinks", "keyring", "bus")}


@pytest.mark.lab
def test_a_newcomer_sends_and_reads_the_lab_inbox(lab: LabInfo) -> None:
    config = tomllib.loads(lab.config_path.read_text())
    email, channels = config["notify"]["email"], config["notify"]["channels"]
    assert email["security"] == "starttls" and email["password_secret"] == "lab-smtp"
    assert channels == {"lab": "keyring:lab-webhook"}
    assert config["secrets"]["dbus_address"].startswith("unix:path=")
    assert all(Path(f"/proc/{pid}").exists() for pid in _pids().values())
    before = len(inbox(TEST_SPEC))
    sent = subprocess.run(
        [sys.executable, "-m", "irtui", "--config", str(lab.config_path), "notify",
         "--subject", SUBJECT, "--body", BODY], cwd=REPO, capture_output=True, text=True,
        timeout=60, check=False)
    assert sent.returncode == 0, sent.stderr
    assert "email (email): sent" in sent.stdout and "lab (JSON): sent" in sent.stdout
    items = inbox(TEST_SPEC)[before:]
    assert [i.kind for i in items] == ["mail", "hook"] or [i.kind for i in items] == [
        "hook", "mail"]
    mail = next(i for i in items if i.kind == "mail")
    hook = next(i for i in items if i.kind == "hook")
    assert f"Subject: {SUBJECT}" in mail.lines and "To: soc@example.org" in mail.lines
    assert any("STARTTLS, AUTH" in line for line in mail.lines)
    assert "  host1 est isolé. 🛡️" in mail.lines
    assert f"Title: {SUBJECT}" in hook.lines and "  host1 est isolé. 🛡️" in hook.lines
    assert "POST /hooks/*** (application/json)" in hook.lines


@pytest.mark.lab
def test_the_lab_mail_sink_requires_starttls_and_the_lab_password(lab: LabInfo) -> None:
    email = tomllib.loads(lab.config_path.read_text())["notify"]["email"]
    with smtplib.SMTP("127.0.0.1", email["port"], timeout=10) as smtp:
        smtp.ehlo()
        code, _ = smtp.mail("x@example.org")
        assert code == 530  # no STARTTLS yet: refused
    with smtplib.SMTP("127.0.0.1", email["port"], timeout=10) as smtp:
        smtp.starttls(context=ssl.create_default_context(cafile=email["cafile"]))
        smtp.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login("lab", "not-the-lab-password")
        code, _ = smtp.mail("x@example.org")
        assert code == 530  # no AUTH: refused
    with (pytest.raises(ssl.SSLCertVerificationError),  # the lab CA is no system CA
          smtplib.SMTP("127.0.0.1", email["port"], timeout=10) as smtp):
        smtp.starttls(context=ssl.create_default_context())
