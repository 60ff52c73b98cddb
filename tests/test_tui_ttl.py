"""One TTL rule in both fronts (issue 8, item 14): the TUI's TTL field comes prefilled with
``firewall.default_ttl`` exactly, and an empty TTL is refused with the CLI's own message,
instead of silently becoming the default."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from textual.widgets import Input

from irtui.core.config import Config
from irtui.tui.app import IrtuiApp
from irtui.tui.screens import ConfirmScreen, TargetPrompt
from tests.cli_helpers import config_copy, refusal_line, run_irtui
from tests.lab_fixtures import nft_set_elements
from tests.tui_helpers import settle

ODD_TTL = 3661  # 1h1m1s: a default that a rounded display (1h01m) would change


async def test_prefilled_ttl_is_the_exact_default(lab_config: Config, clean_lab) -> None:
    config = replace(lab_config, firewall=replace(lab_config.firewall, default_ttl=ODD_TTL))
    app = IrtuiApp(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("b")
        await settle(app, pilot)
        assert app.screen.query_one("#prompt-ttl", Input).value == "1h1m1s"
        await pilot.press(*"203.0.113.9", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert f"timeout {ODD_TTL}s" in app.screen.plan.render()
        await pilot.press("n")
        await settle(app, pilot)


async def test_empty_ttl_is_refused_with_the_cli_message(lab_config: Config, clean_lab,
                                                         tmp_path: Path) -> None:
    config_path = config_copy(clean_lab, tmp_path / "config.toml",
                              audit={"dir": str(tmp_path / "audit")})
    cli = refusal_line(run_irtui("--config", str(config_path), "block", "203.0.113.9",
                                 "--on", "host1", "--ttl", ""))
    app = IrtuiApp(lab_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("b", *"203.0.113.9", "tab")
        app.screen.query_one("#prompt-ttl", Input).value = ""
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, TargetPrompt)  # still asking; no plan was built
        error = str(app.screen.query_one("#prompt-error").render())
        assert error == "✗ " + cli.removeprefix("irtui: ")  # the CLI's message, in place
        assert app.focused is not None and app.focused.id == "prompt-ttl"
        assert "required" in app.screen.query_one("#prompt-ttl", Input).placeholder
    assert nft_set_elements(clean_lab.hosts[0].namespace, "v4_32") == []
