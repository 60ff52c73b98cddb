"""The TUI driven by key presses only (Textual Pilot), asserting on real host state."""

from __future__ import annotations

import json
from dataclasses import replace

from textual.widgets import Input

from irtui.core.config import Config
from irtui.lab.probe import tcp_connects
from irtui.tui.app import IrtuiApp
from irtui.tui.hosts_table import HostTable
from irtui.tui.screens import ConfirmScreen, TargetPrompt
from tests.lab_fixtures import nft_set_elements
from tests.tui_helpers import isolation_cell, log_text, release_with_keys, settle


async def test_block_attacker_with_keys_only(lab_config: Config, clean_lab) -> None:
    attacker, h1 = clean_lab.attacker, clean_lab.hosts[0]
    app = IrtuiApp(lab_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        table = app.query_one(HostTable)
        assert table.get_row("host1")[2] == "✓ yes"
        assert table.selected_host() == "host1"
        await pilot.press("b")
        await pilot.press(*attacker.v4)
        await pilot.press("tab")
        await pilot.press(*["backspace"] * 10, "1", "h")
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert app.focused is not None and app.focused.id == "cancel"
        assert f"{attacker.v4} timeout 3600s" in app.screen.plan.render()
        await pilot.press("y")
        await settle(app, pilot)
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert table.get_row("host1")[4] == "1"
    elems = json.dumps(nft_set_elements(h1.namespace, "v4_32"))
    assert attacker.v4 in elems and '"timeout": 3600' in elems
    assert not tcp_connects(attacker.namespace, h1.v4, 22)
    assert nft_set_elements(clean_lab.hosts[1].namespace, "v4_32") == []


async def test_confirm_defaults_to_cancel(lab_config: Config, clean_lab) -> None:
    app = IrtuiApp(lab_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("b", *"203.0.113.9", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")  # Enter on the focused button: Cancel
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert "cancelled" in log_text(app)
    assert nft_set_elements(clean_lab.hosts[0].namespace, "v4_32") == []


async def test_bad_input_is_one_line_and_tui_keeps_running(lab_config: Config,
                                                           clean_lab) -> None:
    app = IrtuiApp(lab_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("b", *"203.0.113.999", "enter")
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert "'203.0.113.999' is not an IP address or CIDR" in log_text(app)
        assert app.is_running
        # the prompt stays open with what was typed, the bad token selected
        assert isinstance(app.screen, TargetPrompt)
        field = app.screen.query_one("#prompt-targets", Input)
        assert field.value == "203.0.113.999" and field.selected_text == "203.0.113.999"
        # the app still works afterwards
        await pilot.press("escape", "2")
        assert app.query_one("#tabs").active == "blocks"
    assert nft_set_elements(clean_lab.hosts[0].namespace, "v4_32") == []


async def test_unreachable_host_shown_not_fatal(lab_config: Config, clean_lab) -> None:
    from irtui.core.config import HostConfig

    base = clean_lab.hosts[0].v4.rsplit(".", 1)[0]
    config = replace(lab_config, hosts=(*lab_config.hosts, HostConfig("ghost", f"{base}.99")),
                     ssh=replace(lab_config.ssh, connect_timeout=1.0))
    app = IrtuiApp(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.pause(1.5)
        await settle(app, pilot)
        row = app.query_one(HostTable).get_row("ghost")
        assert row[2] == "✗ no"
        assert "ghost" in log_text(app) and "unreachable" in log_text(app)
        assert app.query_one(HostTable).get_row("host1")[2] == "✓ yes"


async def test_isolate_requires_typed_host_name(lab_config: Config, clean_lab) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    app = IrtuiApp(lab_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("i")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        typed = app.screen.query_one("#confirm-typed")
        assert app.focused is typed  # focus starts where the host name is typed
        await pilot.press("enter")  # nothing typed yet: refused, the dialog stays
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert tcp_connects(attacker.namespace, h1.v4, 22)
        await pilot.press("y")  # `y` goes into the field: it never confirms on its own
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen) and typed.value == "y"
        await pilot.press("backspace", *"host2", "enter")  # the wrong host: refused
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert tcp_connects(attacker.namespace, h1.v4, 22)
        assert app.query_one(HostTable).get_row("host1")[3] == "normal"
        await pilot.press(*["backspace"] * 5, *"host1", "enter")
        await settle(app, pilot)
        await settle(app, pilot)
        assert (await isolation_cell(app, pilot, "host1")).startswith("■ ISO ")
        assert not tcp_connects(attacker.namespace, h1.v4, 22)
        await release_with_keys(app, pilot)
        assert await isolation_cell(app, pilot, "host1") == "normal"
    assert tcp_connects(attacker.namespace, h1.v4, 22)


async def test_rollback_pending_is_read_back_from_the_host(lab_config: Config, clean_lab) -> None:
    """An armed rollback timer on the host shows as 'rollback pending' with its countdown."""
    from irtui.core.actions import Responder
    from irtui.core.plan import command_line
    from irtui.core.remote import run_script
    from irtui.core.rollback import arm_command, disarm_command

    responder = Responder(lab_config)
    host = lab_config.host("host1")
    harmless = run_script("nft_rollback", "irtui_not_a_table", purpose="no-op rollback")
    armed = responder.pool.run(host, command_line(host, arm_command("host1", 120,
                                                                    harmless).argv))
    assert armed.exit_code == 0
    try:
        app = IrtuiApp(lab_config)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            await pilot.pause(0.5)
            cell = app.query_one(HostTable).get_row("host1")[3]
            assert cell.startswith("⏳ rollback ")
            assert 100 < int(cell.split()[-1].rstrip("s")) <= 120
            assert app.query_one(HostTable).get_row("host2")[3] == "normal"
    finally:
        responder.pool.run(host, command_line(host, disarm_command("host1").argv))
        responder.close()
