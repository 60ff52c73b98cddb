"""Drift in the TUI, driven by keys (Pilot) on the lab: a block flushed behind irtui's back
shows ``≠`` in the host table (compared with the incident record at every read, reading
nothing more and recording nothing), ``R`` re-applies it after the usual confirmation, and
the attacker's TCP connect fails again."""

from __future__ import annotations

from irtui.core.config import Config
from irtui.lab.probe import ns_run, tcp_connects
from irtui.tui.app import IrtuiApp
from irtui.tui.hosts_table import DRIFT, HostTable
from irtui.tui.screens import ConfirmScreen
from tests.tui_helpers import log_text, settle


def _row(app: IrtuiApp, host: str) -> list[str]:
    return [str(c) for c in app.query_one(HostTable).get_row(host)]


async def test_lost_block_is_marked_and_reapplied_with_keys(lab_config: Config,
                                                            clean_lab) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    app = IrtuiApp(lab_config)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        fw = app.responder
        assert fw.execute(fw.plan_block([attacker.v4], ["host1"], "1h"), lambda e: None).ok
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert not _row(app, "host1")[4].endswith(DRIFT)  # as recorded
        records = len(fw.recorder.store.records())
        out = ns_run(h1.namespace, ["nft", "flush", "set", "inet", "irtui", "v4_32"])
        assert out.returncode == 0, out.stderr
        assert tcp_connects(attacker.namespace, h1.v4, 22)
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert _row(app, "host1")[4] == "0" + DRIFT, _row(app, "host1")
        assert not _row(app, "host2")[4].endswith(DRIFT)
        detail = str(app.query_one("#host-detail").render())
        assert "drift: 1 lost block(s) (R re-applies)" in detail, detail
        assert len(fw.recorder.store.records()) == records  # the marks record nothing

        await pilot.press("R")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen), log_text(app)
        assert app.screen.plan.action == "block" and app.screen.plan.hosts == ["host1"]
        assert tcp_connects(attacker.namespace, h1.v4, 22)  # nothing before the confirmation
        await pilot.press("y")
        await settle(app, pilot)
        await settle(app, pilot)
        assert not tcp_connects(attacker.namespace, h1.v4, 22)
        assert _row(app, "host1")[4] == "1", (_row(app, "host1"), log_text(app))
        assert _row(app, "host1")[6].startswith("✓ block ok"), _row(app, "host1")

        # lost again: the Activity cell's ✓ of that block is no longer true, so it goes
        out = ns_run(h1.namespace, ["nft", "flush", "set", "inet", "irtui", "v4_32"])
        assert out.returncode == 0, out.stderr
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert _row(app, "host1")[4] == "0" + DRIFT and "✓" not in _row(app, "host1")[6]
        await pilot.press("R")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen), log_text(app)
        await pilot.press("y")
        await settle(app, pilot)
        await settle(app, pilot)
        assert not tcp_connects(attacker.namespace, h1.v4, 22)

        await pilot.press("R")  # nothing drifted any more: said, nothing planned
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert "nothing to re-apply on host1" in log_text(app)


async def test_partial_isolation_is_marked_and_r_changes_nothing(lab_config: Config,
                                                                 clean_lab) -> None:
    """An isolation opened by hand reads PARTIAL and ≠; R cannot re-isolate it before a
    release, says so, and changes nothing (no dialog)."""
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    app = IrtuiApp(lab_config)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        fw = app.responder
        assert fw.execute(fw.plan_isolate(["host1"], confirm_timeout=30), lambda e: None).ok
        try:
            for chain in ("input", "output"):
                out = ns_run(h1.namespace, ["nft", "insert", "rule", "inet",
                                            "irtui_isolation", chain, "accept"])
                assert out.returncode == 0, out.stderr
            await pilot.press("ctrl+r")
            await settle(app, pilot)
            assert _row(app, "host1")[3] == "◐ PARTIAL" + DRIFT, _row(app, "host1")
            records = len(fw.recorder.store.records())
            await pilot.press("R")
            await settle(app, pilot)
            assert not isinstance(app.screen, ConfirmScreen)
            text = log_text(app)
            assert "release it first" in text and "nothing changed — 1 host(s) refused" in text
            assert tcp_connects(attacker.namespace, h1.v4, 22)  # as it was: nothing applied
            assert len(fw.recorder.store.records()) >= records
        finally:
            assert fw.execute(fw.plan_release(["host1"]), lambda e: None).ok
