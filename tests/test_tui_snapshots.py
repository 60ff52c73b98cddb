"""Snapshots of every screen and dialog at 80×24 and 120×40 (and the themes at 80×24), from
Textual's own SVG export, compared as text plus per-row style fingerprints (see
:mod:`tests.snapshots`). Deterministic: fixed host states and clock, no cursor blink, no
toasts, incident ids and record times masked. ``IRTUI_SNAPSHOT_UPDATE=1`` rewrites them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Label, TextArea

from irtui.tui.app import IrtuiApp
from irtui.tui.log_panel import LogPanel
from irtui.tui.screens import ConfirmScreen
from tests.snapshots import compare
from tests.tui_fixtures import FIXED_NOW, CannedResponder, fixed_config, mixed_plan, record_actions
from tests.tui_helpers import settle

Step = Callable[[IrtuiApp, Pilot], Awaitable[None]]
SIZES = ((80, 24), (120, 40))


async def _keys(app: IrtuiApp, pilot: Pilot, *keys: str) -> None:
    await pilot.press(*keys)
    await settle(app, pilot)


async def hosts(app: IrtuiApp, pilot: Pilot) -> None:
    await _keys(app, pilot, "down", "space")  # host2 marked, cursor on host3


async def blocklist(app: IrtuiApp, pilot: Pilot) -> None:
    await _keys(app, pilot, "2", "space")


async def notify(app: IrtuiApp, pilot: Pilot) -> None:
    await _keys(app, pilot, "3", "escape")  # the template fill and the check ran: now fixed
    app.query_one("#notify-subject", Input).value = "[INC] containment update"
    app.query_one("#notify-body", TextArea).text = "Team: host2 is isolated; 203.0.113.7 blocked."
    app.query_one("#notify-status", Label).update("(status fixed for the snapshot)")
    await settle(app, pilot)


async def log_detail(app: IrtuiApp, pilot: Pilot) -> None:
    app._write(["host1 | " + "output that goes on " * 12, "host2 ! nft: warning"])
    await _keys(app, pilot, "l", "k", "enter")


async def confirm_summary(app: IrtuiApp, pilot: Pilot) -> None:
    app.push_screen(ConfirmScreen(mixed_plan(), reason="C2 of the beacon"))
    await settle(app, pilot)


async def confirm_commands(app: IrtuiApp, pilot: Pilot) -> None:
    await confirm_summary(app, pilot)
    await _keys(app, pilot, "c")


async def confirm_isolate(app: IrtuiApp, pilot: Pilot) -> None:
    plan = mixed_plan()
    plan.action, plan.failed, plan.entries = "isolate", {}, {}
    plan.summary = "isolate host1 (commit-confirmed, rollback in 60 s unless confirmed)"
    app.push_screen(ConfirmScreen(plan, "host1", reason="lateral movement from host1"))
    await settle(app, pilot)


async def prompt_error(app: IrtuiApp, pilot: Pilot) -> None:
    await _keys(app, pilot, "b", *"203.0.113.7 hxxp://198.51.100.9/x", "enter")


async def help_screen(app: IrtuiApp, pilot: Pilot) -> None:
    await _keys(app, pilot, "question_mark")


async def incidents(app: IrtuiApp, pilot: Pilot) -> None:
    record_actions(app.responder)
    app.refresh_incident()
    await settle(app, pilot)
    await _keys(app, pilot, "o")


async def timeline(app: IrtuiApp, pilot: Pilot) -> None:
    record_actions(app.responder)
    app.refresh_incident()
    await settle(app, pilot)
    await _keys(app, pilot, "t")


async def read_only(app: IrtuiApp, pilot: Pilot) -> None:
    await settle(app, pilot)


MAIN_SCREENS = {"hosts", "blocklist", "notify", "read-only", "theme-irtui-light",
                "theme-irtui-high-contrast", "theme-irtui-16"}
"""Snapshots without a dialog on top (the others are taken over the Blocklist tab)."""
SCREENS: dict[str, tuple[Step, dict[str, object]]] = {
    "hosts": (hosts, {}), "blocklist": (blocklist, {}), "notify": (notify, {}),
    "log-detail": (log_detail, {}), "confirm-summary": (confirm_summary, {}),
    "confirm-commands": (confirm_commands, {}), "confirm-isolate": (confirm_isolate, {}),
    "prompt-error": (prompt_error, {}), "help": (help_screen, {}),
    "incidents": (incidents, {}), "timeline": (timeline, {}),
    "read-only": (read_only, {"read_only": True}),
}


async def _shoot(tmp_path: Path, name: str, size: tuple[int, int], step: Step,
                 theme: str = "irtui-dark", **kwargs: object) -> None:
    config = fixed_config(tmp_path, theme=theme)
    app = IrtuiApp(config, CannedResponder(config), clock=lambda: FIXED_NOW,
                   **kwargs)  # type: ignore[arg-type]
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        app.query_one(LogPanel).clear()  # the session id and paths differ on every run
        app._log("── irtui session (fixed for the snapshot)")
        await settle(app, pilot)
        if name not in MAIN_SCREENS:
            # dialogs over the Blocklist, whose line-API table sizes its columns at once: a
            # DataTable sizes them when it next idles, which may come after a dialog opened,
            # and Textual does not lay a background screen out again
            await _keys(app, pilot, "2")
        await step(app, pilot)
        for field in app.screen.query(Input):
            field.cursor_blink = False
        app.clear_notifications()
        for table in app.screen.query(DataTable):
            # a DataTable sizes its columns when its queue next empties (Idle): a message
            # to it guarantees one, a bare refresh() does not
            table.call_later(table.refresh)
        await settle(app, pilot)
        compare(f"{name}-{size[0]}x{size[1]}", app.export_screenshot(), size,
                tmp_path / "snapshots")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", list(SCREENS))
async def test_screen_snapshot(tmp_path: Path, name: str, size: tuple[int, int]) -> None:
    step, kwargs = SCREENS[name]
    await _shoot(tmp_path, name, size, step, **kwargs)


@pytest.mark.parametrize("theme", ["irtui-light", "irtui-high-contrast", "irtui-16"])
async def test_theme_snapshot(tmp_path: Path, theme: str) -> None:
    await _shoot(tmp_path, f"theme-{theme}", (80, 24), blocklist, theme=theme)
