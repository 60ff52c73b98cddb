"""The Notify tab driven by keys (Textual Pilot): what is not configured shows when the tab
opens, a missing secret is stored from a masked field, the preview, per-channel results in
the log, and a retry of the failed channel only — with a real SMTP server, a real webhook
server and a real Secret Service."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from irtui.core.config import load_config, write_toml_atomic
from irtui.core.secrets import get_secret
from irtui.tui.app import IrtuiApp
from irtui.tui.compose_screens import PreviewScreen, RetryScreen, SecretPrompt
from tests.service_fixtures import HTTPTestServer, SMTPTestServer
from tests.tui_helpers import log_text, settle

TOKEN = "tuitoken-51be03c2a9"


def _app(tmp_path: Path, smtp: SMTPTestServer) -> IrtuiApp:
    path = tmp_path / "config.toml"
    write_toml_atomic(path, {
        "notify": {"email": {"host": smtp.host, "port": smtp.port, "username": smtp.username,
                             "sender": "irtui@example.org", "to": ["soc@example.org"],
                             "cafile": smtp.cafile, "timeout": 10},
                   "channels": {"soc": "keyring:apprise-soc"}},
        "audit": {"dir": str(tmp_path / "audit")},
    })
    return IrtuiApp(load_config(path))


async def _store_with_keys(app: IrtuiApp, pilot, value: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("ctrl+g")
    await pilot.pause(0.2)
    assert isinstance(app.screen, SecretPrompt)
    field = app.screen.query_one("#secret-value", Input)
    assert field.password is True and app.focused is field
    await pilot.press(*value)
    assert value not in str(app.screen.query_one("#secret-value").render())  # masked
    await pilot.press("enter")
    await settle(app, pilot)


async def test_not_configured_on_open_then_stored_from_a_masked_field(
        tmp_path: Path, smtp_server: SMTPTestServer, http_server: HTTPTestServer,
        keyring_session: dict[str, str]) -> None:
    app = _app(tmp_path, smtp_server)
    url = f"json://{http_server.base}/hooks/{TOKEN}"
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("3")
        await settle(app, pilot)
        status = str(app.query_one("#notify-status").render())
        assert "not configured: email, soc" in status and "ctrl+g" in status
        text = log_text(app)
        assert ("note: notify: soc: secret 'apprise-soc' is not in the OS keyring (service "
                "irtui) — press ctrl+g in the Notify tab to store it (masked), or run: irtui "
                "secrets set apprise-soc") in text
        assert "irtui secrets set smtp" in text
        await _store_with_keys(app, pilot, smtp_server.password)
        await _store_with_keys(app, pilot, url)
        assert "✓ every channel is configured" in str(app.query_one("#notify-status").render())
        assert "✓ stored secret 'smtp' in the keyring" in log_text(app)
        for secret in (smtp_server.password, url, TOKEN):
            assert secret not in log_text(app)
    assert get_secret("smtp") == smtp_server.password
    assert get_secret("apprise-soc") == url


async def test_send_shows_each_result_and_retries_only_the_failed_channel(
        tmp_path: Path, smtp_server: SMTPTestServer, http_server: HTTPTestServer,
        keyring_session: dict[str, str]) -> None:
    from irtui.core.secrets import set_secret

    set_secret("smtp", smtp_server.password)
    set_secret("apprise-soc", f"json://{http_server.base}/hooks/{TOKEN}")
    http_server.replies[f"/hooks/{TOKEN}"] = (500, '{"error": "chat is down for {path}"}')
    app = _app(tmp_path, smtp_server)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("3")
        await settle(app, pilot)
        await pilot.press("ctrl+o")
        await settle(app, pilot)
        assert isinstance(app.screen, PreviewScreen)
        preview = str(app.screen.query_one("#preview-text").render())
        assert "── email (email)" in preview and "── soc (JSON)" in preview
        assert TOKEN not in preview and smtp_server.password not in preview
        assert http_server.requests == [] and smtp_server.messages == []
        await pilot.press("escape", "ctrl+s")
        await settle(app, pilot)
        text = log_text(app)
        assert "✓ email (email): sent — message <" in text
        assert "✗ soc (JSON): FAILED" in text and "500" in text and TOKEN not in text
        assert isinstance(app.screen, RetryScreen)
        assert "chat is down" in str(app.screen.query_one("#retry-text").render())
        http_server.replies.clear()  # the chat server is back
        await pilot.press("y")
        await settle(app, pilot)
        assert "✓ soc (JSON): sent" in log_text(app)
        assert "last send: 1 of 1 channel(s) took it (soc)" in str(
            app.query_one("#notify-status").render())
    assert len(smtp_server.messages) == 1  # the retry did not send the e-mail twice
    assert len(http_server.requests) == 2
