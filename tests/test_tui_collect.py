"""Forensic triage from the console, driven by keys (Pilot) on the lab: ``c`` collects from
the selected host (the evidence folder verifies), ``C`` collects the volatile part and then
isolates, commit-confirmed with the host's name typed — the attacker's TCP connect fails only
after the evidence was sealed."""

from __future__ import annotations

from pathlib import Path

from irtui.core.config import Config
from irtui.core.triage.verify import verify
from irtui.lab.probe import tcp_connects
from irtui.tui.app import IrtuiApp
from irtui.tui.screens import ConfirmScreen
from tests.triage_helpers import log_of, triage_config
from tests.tui_helpers import isolation_cell, log_text, release_with_keys, settle


def _folders(base: Path) -> list[Path]:
    """Collection folders under the evidence directory, oldest first."""
    return sorted((p.parent for p in base.rglob("collection.json")),
                  key=lambda p: p.stat().st_mtime)


async def test_collect_then_collect_and_contain_from_the_keys(
        lab_config: Config, clean_lab, tmp_path: Path) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    config = triage_config(lab_config, tmp_path)
    evidence = tmp_path / "evidence"
    app = IrtuiApp(config)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("c")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.plan.action == "collect" and app.screen.plan.hosts == ["host1"]
        await pilot.press("y")
        await settle(app, pilot)
        await settle(app, pilot)
        folders = _folders(evidence)
        assert len(folders) == 1, log_text(app)
        assert verify(folders[0]).ok
        assert "/host1/" in str(folders[0])
        assert any(a["order"] > 2 for a in log_of(folders[0]).values())  # the full set
        assert tcp_connects(attacker.namespace, h1.v4, 22)  # collecting changes nothing

        await pilot.press("C")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.plan.confirm_text == "host1"
        await pilot.press("y", "enter")  # anything but the host's name is refused
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert tcp_connects(attacker.namespace, h1.v4, 22)
        await pilot.press("backspace", *"host1", "enter")
        await settle(app, pilot)
        await settle(app, pilot)
        folders = _folders(evidence)
        assert len(folders) == 2, log_text(app)
        assert verify(folders[1]).ok
        assert all(a["order"] <= 2 for a in log_of(folders[1]).values())  # volatile only
        assert not tcp_connects(attacker.namespace, h1.v4, 22)
        assert (await isolation_cell(app, pilot, "host1")).startswith("■ ISO ")
        await release_with_keys(app, pilot)
        assert await isolation_cell(app, pilot, "host1") == "normal"
    assert tcp_connects(attacker.namespace, h1.v4, 22)
