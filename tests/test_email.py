"""irtui.core.notify.email against a real SMTP server (aiosmtpd) on 127.0.0.1 — no mocks."""

from __future__ import annotations

import email.utils
import socket
from pathlib import Path

import pytest
import trustme

from irtui.core.config import EmailSettings
from irtui.core.errors import NotifyError, SecretError
from irtui.core.notify.email import build_message, send_email, send_email_with_keyring
from irtui.core.secrets import set_secret
from tests import service_fixtures
from tests.service_fixtures import (
    REFUSED_DOMAIN,
    TEST_SENDER,
    SMTPTestServer,
    start_smtp_server,
)

# The real services used here (works with or without a conftest that also provides them).
smtp_server = service_fixtures.smtp_server
smtps_server = service_fixtures.smtps_server
keyring_session = service_fixtures.keyring_session

SUBJECT = "Containment: hôte isolé — 203.0.113.7 bloqué ✅"
BODY = (
    "Hôte web1 isolé à 14:02 UTC.\n"
    "Adresse 203.0.113.7 bloquée pour 24 h — règle nftables irtui ✅\n"
    "Ticket: IR-2024-0042 (ünïcödé, 日本語)\n"
)


def _content(received_body: str) -> str:
    """SMTP carries lines with CRLF (RFC 5321 section 2.3.8); compare with LF."""
    return received_body.replace("\r\n", "\n")


@pytest.mark.parametrize("server_fixture", ["smtp_server", "smtps_server"])
def test_utf8_message_is_received_exactly(server_fixture: str, request: pytest.FixtureRequest):
    server: SMTPTestServer = request.getfixturevalue(server_fixture)
    to = ["soc@example.org", "Ops Team <ops@example.net>"]

    message_id = send_email(server.settings(), to, SUBJECT, BODY, server.password)

    assert len(server.messages) == 1
    got = server.messages[0]
    assert got.mail_from == TEST_SENDER
    assert got.rcpt_tos == ["soc@example.org", "ops@example.net"]
    assert got.tls is True
    assert got.authenticated is True
    assert got.login == server.username
    msg = got.message
    assert msg["Subject"] == SUBJECT
    assert _content(msg.get_content()) == BODY
    assert msg.get_content_charset() == "utf-8"
    assert msg["Message-ID"] == message_id
    assert message_id.startswith("<") and message_id.endswith("@example.org>")
    assert msg["From"] == TEST_SENDER
    assert [a.addr_spec for a in msg["To"].addresses] == got.rcpt_tos
    assert email.utils.parsedate_to_datetime(msg["Date"]) is not None
    # The wire form is 7-bit clean: no 8BITMIME or SMTPUTF8 needed from any relay.
    assert got.data.isascii()
    assert server.password.encode() not in got.data


def test_empty_to_falls_back_to_configured_recipients(smtp_server: SMTPTestServer):
    settings = smtp_server.settings(to=("oncall@example.org",))
    send_email(settings, [], "ping", "pong\n", smtp_server.password)
    assert smtp_server.messages[0].rcpt_tos == ["oncall@example.org"]


def test_wrong_password_names_the_fix_and_sends_nothing(smtp_server: SMTPTestServer):
    wrong = smtp_server.password + "-wrong"
    with pytest.raises(NotifyError) as info:
        send_email(smtp_server.settings(), ["soc@example.org"], SUBJECT, BODY, wrong)
    text = str(info.value)
    assert "irtui secrets set smtp" in text
    assert "rejected the login" in text and "irtui-test" in text
    assert wrong not in text and smtp_server.password not in text
    assert "not retried" in text
    # Exactly one AUTH exchange reached the server: no loop over PLAIN then LOGIN (smtplib's
    # login() would try each offered mechanism), nothing that trips an account lockout.
    assert smtp_server.auth_attempts == [("irtui-test", False)]
    assert smtp_server.messages == []


@pytest.mark.parametrize("server_fixture", ["smtp_server", "smtps_server"])
def test_certificate_from_another_ca_is_refused(
    server_fixture: str, request: pytest.FixtureRequest, tmp_path: Path
):
    server: SMTPTestServer = request.getfixturevalue(server_fixture)
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))

    with pytest.raises(NotifyError) as info:
        send_email(server.settings(cafile=str(other_ca)), ["soc@example.org"], SUBJECT, BODY,
                   server.password)
    err = info.value
    assert "certificate verification failed" in err.problem
    assert f"127.0.0.1:{server.port}" in err.problem
    assert "notify.email.cafile" in err.fix
    assert server.auth_attempts == []  # the password never left the client
    assert server.messages == []


def test_system_cas_do_not_trust_the_test_ca(smtp_server: SMTPTestServer):
    """Without cafile the system CA store is used, and verification is still on."""
    with pytest.raises(NotifyError, match="certificate verification failed"):
        send_email(smtp_server.settings(cafile=""), ["soc@example.org"], "s", "b",
                   smtp_server.password)
    assert smtp_server.messages == []


def test_closed_port_names_host_and_port():
    # Bound but never listening: connections to it are refused, and no other process (a
    # parallel test worker's SMTP server) can take the port meanwhile.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        settings = EmailSettings(host="127.0.0.1", port=port, sender=TEST_SENDER, timeout=5)
        with pytest.raises(NotifyError) as info:
            send_email(settings, ["soc@example.org"], "s", "b", None)
    err = info.value
    assert f"127.0.0.1:{port}" in err.problem
    assert "connection refused" in err.problem
    assert "notify.email.host/port" in err.fix


def test_server_without_starttls_is_refused(tmp_path: Path):
    with start_smtp_server(tmp_path, security="none") as server:
        with pytest.raises(NotifyError) as info:
            send_email(server.settings(), ["soc@example.org"], "s", "b", server.password)
        assert server.messages == []
        assert server.auth_attempts == []
    assert "does not offer STARTTLS" in info.value.problem
    assert f"127.0.0.1:{server.port}" in info.value.problem


def test_implicit_tls_against_a_starttls_port_fails_clearly(smtp_server: SMTPTestServer):
    settings = smtp_server.settings(security="tls")
    with pytest.raises(NotifyError) as info:
        send_email(settings, ["soc@example.org"], "s", "b", smtp_server.password)
    assert "TLS handshake" in info.value.problem
    assert "notify.email.security" in info.value.fix
    assert smtp_server.messages == []


def test_starttls_against_an_implicit_tls_port_times_out_clearly(smtps_server: SMTPTestServer):
    settings = smtps_server.settings(security="starttls", timeout=1.0)
    with pytest.raises(NotifyError) as info:
        send_email(settings, ["soc@example.org"], "s", "b", smtps_server.password)
    assert f"timed out after 1s talking to SMTP server 127.0.0.1:{smtps_server.port}" in str(
        info.value
    )
    assert smtps_server.messages == []


def test_all_recipients_refused(smtp_server: SMTPTestServer):
    bad = f"nobody@{REFUSED_DOMAIN}"
    with pytest.raises(NotifyError) as info:
        send_email(smtp_server.settings(), [bad], "s", "b", smtp_server.password)
    assert "refused all recipients" in info.value.problem
    assert bad in info.value.problem and "550" in info.value.problem
    assert smtp_server.messages == []


def test_some_recipients_refused_is_reported_but_others_get_it(smtp_server: SMTPTestServer):
    bad = f"nobody@{REFUSED_DOMAIN}"
    with pytest.raises(NotifyError) as info:
        send_email(smtp_server.settings(), ["soc@example.org", bad], "s", "b",
                   smtp_server.password)
    assert bad in info.value.problem and "went to the others" in info.value.problem
    assert [m.rcpt_tos for m in smtp_server.messages] == [["soc@example.org"]]


def test_username_without_password(smtp_server: SMTPTestServer):
    with pytest.raises(NotifyError, match="SMTP username set but no password"):
        send_email(smtp_server.settings(), ["soc@example.org"], "s", "b", None)
    assert smtp_server.messages == []


def test_login_is_required_by_the_server(smtp_server: SMTPTestServer):
    """Sending without a username really is refused, so the AUTH tests above mean something."""
    with pytest.raises(NotifyError, match="530"):
        send_email(smtp_server.settings(username=""), ["soc@example.org"], "s", "b", None)
    assert smtp_server.messages == []


def test_password_from_the_real_keyring(
    smtp_server: SMTPTestServer, keyring_session: dict[str, str]
):
    set_secret("smtp", smtp_server.password)
    message_id = send_email_with_keyring(smtp_server.settings(), ["soc@example.org"], SUBJECT,
                                         BODY)
    assert [m.message["Message-ID"] for m in smtp_server.messages] == [message_id]
    assert smtp_server.messages[0].authenticated is True
    assert _content(smtp_server.messages[0].message.get_content()) == BODY


def test_password_missing_from_the_keyring(
    smtp_server: SMTPTestServer, keyring_session: dict[str, str]
):
    settings = smtp_server.settings(password_secret="smtp-ops")
    with pytest.raises(SecretError) as info:
        send_email_with_keyring(settings, ["soc@example.org"], "s", "b")
    assert info.value.fix == "run: irtui secrets set smtp-ops"
    assert smtp_server.messages == []
    assert smtp_server.auth_attempts == []


# ---- build_message: validation only, no network -----------------------------------------------

SETTINGS = EmailSettings(host="127.0.0.1", sender="IR Team <ir@example.org>")


@pytest.mark.parametrize(
    "bad",
    ["not-an-address", "soc@example.org\r\nBcc: spy@example.net", "a@example.org, b@example.org",
     "@example.org"],
)
def test_bad_recipient_is_named(bad: str):
    with pytest.raises(NotifyError) as info:
        build_message(SETTINGS, ["ok@example.org", bad], "s", "b")
    assert repr(bad) in info.value.problem


def test_no_recipients_anywhere():
    with pytest.raises(NotifyError) as info:
        build_message(SETTINGS, [], "s", "b")
    assert info.value.fix == "pass --to or set notify.email.to"


def test_bad_sender_is_named():
    with pytest.raises(NotifyError, match="sender 'ir-team'"):
        build_message(EmailSettings(sender="ir-team"), ["a@example.org"], "s", "b")


def test_build_message_headers():
    msg = build_message(SETTINGS, "soc@example.org", "line one\nline two", "body")
    assert msg["From"] == "IR Team <ir@example.org>"
    assert msg["To"] == "soc@example.org"
    assert msg["Subject"] == "line one line two"
    assert msg["Message-ID"].endswith("@example.org>")
    assert msg["Date"]
    assert msg.get_content() == "body\n"


# ---- Cc, attachments, provider hints ------------------------------------------------------------


def test_cc_and_attachments_arrive(smtp_server: SMTPTestServer, tmp_path: Path):
    report = tmp_path / "rapport-incident-42.pdf"
    report.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 40)
    notes = tmp_path / "notes.txt"
    notes.write_text("hôte isolé ✅\n", encoding="utf-8")
    send_email(smtp_server.settings(), ["soc@example.org"], SUBJECT, BODY, smtp_server.password,
               cc=["Ops <ops@example.net>", "cert@example.org"], attachments=[report, notes])
    [got] = smtp_server.messages
    assert got.rcpt_tos == ["soc@example.org", "ops@example.net", "cert@example.org"]
    assert got.message["Cc"] == "Ops <ops@example.net>, cert@example.org"
    assert got.message["Subject"] == SUBJECT
    assert _content(got.message.get_body(("plain",)).get_content()) == BODY
    files = {p.get_filename(): p for p in got.message.iter_attachments()}
    assert files["rapport-incident-42.pdf"].get_content_type() == "application/pdf"
    assert files["rapport-incident-42.pdf"].get_payload(decode=True) == report.read_bytes()
    assert files["notes.txt"].get_payload(decode=True) == notes.read_bytes()
    assert got.data.isascii()


def test_cc_only_keeps_the_configured_to(smtp_server: SMTPTestServer):
    settings = smtp_server.settings(to=("oncall@example.org",))
    send_email(settings, [], "s", "b\n", smtp_server.password, cc=["ops@example.net"])
    assert smtp_server.messages[0].rcpt_tos == ["oncall@example.org", "ops@example.net"]


def test_unreadable_attachment_is_named_and_nothing_is_sent(smtp_server: SMTPTestServer,
                                                            tmp_path: Path):
    with pytest.raises(NotifyError) as info:
        send_email(smtp_server.settings(), ["soc@example.org"], "s", "b", smtp_server.password,
                   attachments=[tmp_path / "missing.pdf"])
    assert "cannot read attachment" in info.value.problem and "missing.pdf" in info.value.problem
    assert smtp_server.auth_attempts == [] and smtp_server.messages == []


@pytest.mark.parametrize(("host", "reply", "hint"), [
    ("smtp.gmail.com", "535 5.7.8 Username and Password not accepted", "app password"),
    ("smtp.office365.com", "535 5.7.139 Authentication unsuccessful", "SMTP AUTH"),
    ("mail.example.org", "534 5.7.9 Application-specific password required", "app password"),
    ("smtp.mail.me.com", "535 5.7.8 Authentication failed", "app-specific password"),
])
def test_provider_hint_on_refused_login(host: str, reply: str, hint: str):
    from irtui.core.notify.email_errors import provider_hint

    assert hint in provider_hint(host, reply)


def test_no_hint_for_an_unknown_server():
    from irtui.core.notify.email_errors import provider_hint

    assert provider_hint("mail.example.org", "535 5.7.8 Authentication failed") == ""
