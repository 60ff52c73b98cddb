"""Chat/webhook channels through apprise, and one message to several channels at once —
against a real local HTTP server, a real SMTP server and a real Secret Service (no mocks)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from irtui.core.actions import Responder
from irtui.core.audit import AuditLog
from irtui.core.config import parse_config
from irtui.core.errors import InvalidTargetError, NotifyError
from irtui.core.notify.channels import scrub, secret_fragments, send_channel
from irtui.core.notify.dispatch import Outgoing, select_channels
from irtui.core.notify.result import Delivery
from irtui.core.secrets import set_secret
from irtui.core.settings import ChannelSettings
from tests.service_fixtures import HTTPTestServer, SMTPTestServer, free_port

TITLE = "Incident 42 — hôte isolé ✅"
BODY = "203.0.113.7 bloqué sur host1\nÉquipe SOC: merci 🛡️\n"
TOKEN = "tok-3f9a1c7e5d2b"


def test_json_webhook_receives_the_expected_json(http_server: HTTPTestServer,
                                                 keyring_session: dict[str, str]) -> None:
    set_secret("apprise-hooks", f"json://{http_server.base}/hooks/{TOKEN}")
    result = send_channel(ChannelSettings("hooks", "apprise-hooks"), TITLE, BODY)
    assert result.delivery is Delivery.SENT, result.line
    assert result.kind == "JSON"
    [req] = http_server.requests
    assert req.path == f"/hooks/{TOKEN}"
    assert req.headers["Content-Type"] == "application/json"
    payload = req.json()
    assert payload["title"] == TITLE
    assert payload["message"] == BODY.rstrip("\n")  # apprise trims trailing blanks
    assert payload["type"] == "info"
    assert TOKEN not in result.line


def test_mattermost_style_url_pointed_at_the_local_server(
        http_server: HTTPTestServer, keyring_session: dict[str, str]) -> None:
    """apprise's Mattermost plugin takes a custom host: mmost://host:port/TOKEN posts the
    Mattermost incoming-webhook JSON to /hooks/TOKEN."""
    set_secret("apprise-mm", f"mmost://{http_server.base}/{TOKEN}")
    result = send_channel(ChannelSettings("mm", "apprise-mm"), TITLE, BODY)
    assert result.delivery is Delivery.SENT, result.line
    assert result.kind == "Mattermost"
    [req] = http_server.requests
    assert req.path == f"/hooks/{TOKEN}"
    assert TITLE in req.json()["text"] and "Équipe SOC: merci 🛡️" in req.json()["text"]


def test_refused_webhook_shows_the_server_reply_without_the_token(
        http_server: HTTPTestServer, keyring_session: dict[str, str]) -> None:
    """The server answers 404 and echoes the path (with the token) in its error: the result
    carries the reply, scrubbed."""
    http_server.replies[f"/hooks/{TOKEN}"] = (404, '{"error": "no hook at {path}"}')
    set_secret("apprise-hooks", f"json://{http_server.base}/hooks/{TOKEN}")
    result = send_channel(ChannelSettings("hooks", "apprise-hooks"), TITLE, BODY)
    assert result.delivery is Delivery.FAILED
    assert "404" in result.detail and "no hook at" in result.detail
    assert TOKEN not in result.line
    assert "irtui secrets set apprise-hooks" in result.fix
    assert len(http_server.requests) == 1  # apprise made one attempt, no retry loop


def test_unreachable_webhook_fails_clearly(keyring_session: dict[str, str]) -> None:
    port = free_port()
    set_secret("apprise-hooks", f"json://127.0.0.1:{port}/hooks/{TOKEN}")
    result = send_channel(ChannelSettings("hooks", "apprise-hooks"), TITLE, BODY)
    assert result.delivery is Delivery.FAILED
    assert "connection error" in result.detail.lower()
    assert TOKEN not in result.line


def test_missing_or_unusable_secret_is_not_configured(keyring_session: dict[str, str]) -> None:
    missing = send_channel(ChannelSettings("soc", "apprise-soc"), TITLE, BODY)
    assert missing.delivery is Delivery.NOT_CONFIGURED
    assert missing.secret == "apprise-soc"
    assert missing.fix == "run: irtui secrets set apprise-soc"
    set_secret("apprise-soc", "not a url " + TOKEN)
    bad = send_channel(ChannelSettings("soc", "apprise-soc"), TITLE, BODY)
    assert bad.delivery is Delivery.NOT_CONFIGURED
    assert "does not hold an apprise URL" in bad.detail and TOKEN not in bad.line


def test_attachment_reaches_the_webhook(http_server: HTTPTestServer, tmp_path: Path,
                                        keyring_session: dict[str, str]) -> None:
    report = tmp_path / "incident-42.txt"
    report.write_text("rapport d'incident ✅\n", encoding="utf-8")
    set_secret("apprise-hooks", f"json://{http_server.base}/hooks/{TOKEN}")
    result = send_channel(ChannelSettings("hooks", "apprise-hooks"), TITLE, BODY, [report])
    assert result.ok, result.line
    [attachment] = http_server.requests[0].json()["attachments"]
    assert attachment["filename"] == "incident-42.txt"
    import base64

    assert base64.b64decode(attachment["base64"]) == report.read_bytes()


def test_scrub_removes_every_part_of_the_url() -> None:
    url = f"mmosts://bot:{TOKEN}x@chat.example.org/hooks/{TOKEN}?key=abcd%2Fef#frag1"
    text = f"failed for {url}; user bot; token {TOKEN}; key abcd/ef; frag1"
    out = scrub(text, secret_fragments(url))
    assert TOKEN not in out and "abcd/ef" not in out and "frag1" not in out
    assert "chat.example.org" not in out or url not in out


def _config(tmp_path: Path, smtp: SMTPTestServer, hooks: str) -> dict:
    return {
        "notify": {"email": {"host": smtp.host, "port": smtp.port, "username": smtp.username,
                             "sender": "irtui@example.org", "to": ["soc@example.org"],
                             "cafile": smtp.cafile, "timeout": 10},
                   "channels": {"good": "keyring:apprise-good", "broken": "keyring:apprise-bad",
                                "unset": "keyring:apprise-unset"}},
        "audit": {"dir": str(tmp_path / "audit")},
    }


def test_several_channels_at_once_each_reports_and_one_failure_stops_nothing(
        tmp_path: Path, smtp_server: SMTPTestServer, http_server: HTTPTestServer,
        keyring_session: dict[str, str]) -> None:
    http_server.replies["/bad"] = (500, '{"error": "boom"}')
    set_secret("smtp", smtp_server.password)
    set_secret("apprise-good", f"json://{http_server.base}/good")
    set_secret("apprise-bad", f"json://{http_server.base}/bad")
    config = parse_config(_config(tmp_path, smtp_server, http_server.base))
    fw = Responder(config, audit=AuditLog(tmp_path / "audit"))
    out = Outgoing(TITLE, BODY, to=("ir@example.org",), cc=("ops@example.org",))
    results = fw.notify(out)
    by_name = {r.channel: r for r in results}
    assert [r.channel for r in results] == ["email", "good", "broken", "unset"]
    assert by_name["email"].delivery is Delivery.SENT
    assert by_name["good"].delivery is Delivery.SENT
    assert by_name["broken"].delivery is Delivery.FAILED and "500" in by_name["broken"].detail
    assert by_name["unset"].delivery is Delivery.NOT_CONFIGURED
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == ["ir@example.org", "ops@example.org"]
    assert mail.message["Cc"] == "ops@example.org" and mail.message["Subject"] == TITLE
    assert sorted(r.path for r in http_server.requests) == ["/bad", "/good"]
    trail = [json.loads(line) for line in fw.audit.trail_path.read_text().splitlines()]
    notes = [r for r in trail if r.get("action") == "notify"]
    assert [(n["summary"].split()[0], n["ok"]) for n in notes] == [
        ("email", True), ("good", True), ("broken", False), ("unset", False)]
    assert "500" in notes[2]["detail"] and "irtui secrets set apprise-unset" in notes[3]["detail"]
    # only the failed channel again: the others are not sent twice
    http_server.replies.pop("/bad")
    again = fw.notify(out, ["broken"])
    assert [r.delivery for r in again] == [Delivery.SENT]
    assert len(smtp_server.messages) == 1
    fw.close()


def test_unknown_channel_and_no_channel_are_refused(tmp_path: Path) -> None:
    config = parse_config({"notify": {"channels": {"soc": "keyring:apprise-soc"}}})
    with pytest.raises(InvalidTargetError, match="unknown channel 'slack'"):
        select_channels(config, ["slack"])
    assert select_channels(config, []) == ["soc"]
    assert select_channels(config, ["email", "soc", "email"]) == ["email", "soc"]
    with pytest.raises(NotifyError, match="no notification channel is configured"):
        select_channels(parse_config({}), [])
