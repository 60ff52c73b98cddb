"""The TUI while an action runs (issue 8): it asks before quitting, naming what runs and
when the host rolls back by itself, and never starts a second change on a busy host."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

from textual.pilot import Pilot

from irtui.core.actions import Responder
from irtui.core.audit import AuditLog
from irtui.core.config import Config
from irtui.lab import LabInfo
from irtui.tui.app import IrtuiApp
from irtui.tui.screens import ConfirmScreen
from tests.isolation_helpers import ROLLED_BACK, end_state, result_for, trail
from tests.lab_fixtures import TEST_SPEC
from tests.tui_helpers import log_text, settle


class WithoutSessionAddress(Responder):
    """Isolation plans that do not keep the responder's own address: the confirmation over
    a new connection fails, and irtui waits for the host to roll back by itself (a few
    seconds of an action that keeps running, with the timer armed)."""

    def plan_isolate(self, hosts, **options):  # type: ignore[no-untyped-def]
        return super().plan_isolate(hosts, **{**options, "keep_session_address": False})


def _slow(lab_config: Config, tmp_path: Path) -> tuple[Config, Responder]:
    config = replace(lab_config, isolation=replace(
        lab_config.isolation, confirm_timeout=10, allow=(TEST_SPEC.v4(200),)))
    return config, WithoutSessionAddress(config, audit=AuditLog(tmp_path / "audit"))


@contextlib.asynccontextmanager
async def _isolating(lab_config: Config, tmp_path: Path) -> AsyncIterator[tuple[IrtuiApp, Pilot]]:
    """The TUI on the lab with a slow isolation of host1 started by keys, at its apply step
    (the timer is armed). The apply cuts its own session (the responder's address is not
    kept), so it hangs until the host rolls back by itself after ``confirm_timeout``: a
    window of seconds. (The confirmation step after it lasts a fraction of a second, too
    short to catch reliably on a loaded machine.)"""
    config, responder = _slow(lab_config, tmp_path)
    app = IrtuiApp(config, responder)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("i")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press(*"host1", "enter")
        await _until_log(app, pilot, "# isolate (drop all but management traffic)", 15)
        yield app, pilot


async def _until_log(app: IrtuiApp, pilot, text: str, limit: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while text not in log_text(app):
        assert time.monotonic() < deadline, f"no {text!r} in the log:\n{log_text(app)}"
        await pilot.pause(0.05)


def _toasts(app: IrtuiApp) -> str:
    return " | ".join(str(n.message) for n in app._notifications)


async def test_no_second_change_on_a_host_while_one_runs(lab_config: Config, clean_lab: LabInfo,
                                                         tmp_path: Path) -> None:
    async with _isolating(lab_config, tmp_path) as (app, pilot):
        for key in ("r", "i"):  # release / isolate the same host while it runs
            await pilot.press(key)
            await pilot.pause(0.4)
            assert not isinstance(app.screen, ConfirmScreen), key
        assert "host1: isolate host1" in _toasts(app) and "still running" in _toasts(app)
        await _until_log(app, pilot, "── took", 30)
        await settle(app, pilot)
        await pilot.press("r")  # once it has ended, the host takes changes again
        await settle(app, pilot)
        assert "release host1 from isolation: nothing to do" in log_text(app)
    plans = [r["action"] for r in trail(tmp_path / "audit") if r["event"] == "plan"]
    assert plans == ["isolate"]
    assert end_state(clean_lab.hosts[0]) == ROLLED_BACK


async def test_quit_asks_while_an_isolation_runs(lab_config: Config, clean_lab: LabInfo,
                                                 tmp_path: Path) -> None:
    async with _isolating(lab_config, tmp_path) as (app, pilot):
        await pilot.press("q")
        await pilot.pause(0.3)
        question = getattr(app.screen, "question", "")
        assert "isolation of host1 is in progress: quit anyway?" in question
        assert "the host will roll back by itself" in question
        await pilot.press("n")  # stay
        await pilot.pause(0.3)
        assert app.is_running and not getattr(app.screen, "question", "")
        await _until_log(app, pilot, "── took", 30)
        await settle(app, pilot)
        await pilot.press("q")  # nothing runs any more: quits at once
        await pilot.pause(0.3)
        assert not app.is_running
    result = result_for(trail(tmp_path / "audit"), "host1")
    assert result is not None and "rolled back by itself" in result["message"]
    assert end_state(clean_lab.hosts[0]) == ROLLED_BACK


async def test_the_quit_question_follows_the_action_live(lab_config: Config,
                                                         clean_lab: LabInfo,
                                                         tmp_path: Path) -> None:
    """The dialog never shows what was true when it opened: once the isolation has ended
    behind it (here: rolled back by itself) it says nothing runs any more."""
    async with _isolating(lab_config, tmp_path) as (app, pilot):
        await pilot.press("q")
        await pilot.pause(0.3)
        first = getattr(app.screen, "question", "")
        assert "the host will roll back by itself" in first
        await _until_log(app, pilot, "── took", 30)
        await pilot.pause(0.5)
        shown = str(app.screen.query_one("#quit-question").render())
        assert "nothing runs any more" in shown, shown
        assert "roll back by itself" not in shown
        assert str(app.screen.query_one("#quit-title").render()) == "Quit? The action has ended"
        await pilot.press("y")
        await pilot.pause(0.3)
        assert not app.is_running
    result = result_for(trail(tmp_path / "audit"), "host1")
    assert result is not None and "rolled back by itself" in result["message"]
    assert end_state(clean_lab.hosts[0]) == ROLLED_BACK
