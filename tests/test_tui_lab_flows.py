"""The console's flows on the practice lab, driven by keys (Pilot) and checked where it
matters — the attacker's TCP connects and the incident record: marked hosts and entries,
completing a partial block, unblocking everything a filter shows, the reason and the
screenshot kept with a confirmed plan, a declined plan, a core refusal that brings the prompt
back with its input, and retrying the hosts that failed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

from textual.pilot import Pilot
from textual.widgets import Input

from irtui.core.actions import Responder
from irtui.core.config import Config, HostConfig
from irtui.lab.probe import ns_run, tcp_connects
from irtui.tui.app import IrtuiApp
from irtui.tui.blocklist_view import BlockTable
from irtui.tui.hosts_table import HostTable
from irtui.tui.log_panel import LogPanel
from irtui.tui.prompt import TargetPrompt
from irtui.tui.screens import ConfirmScreen
from tests.tui_helpers import hosts_read, log_text, settle


def _block(responder: Responder, targets: list[str], hosts: list[str], ttl: str) -> None:
    result = responder.execute(responder.plan_block(targets, hosts, ttl), lambda e: None)
    assert result.ok, result


async def _confirm(app: IrtuiApp, pilot, keys: tuple[str, ...] = ("y",)) -> ConfirmScreen:
    """Wait for the plan's confirmation, then press ``keys`` and let it run."""
    await settle(app, pilot)
    screen = app.screen
    assert isinstance(screen, ConfirmScreen), type(screen)
    await pilot.press(*keys)
    await settle(app, pilot)
    await settle(app, pilot)
    return screen


async def _until(pilot: Pilot, done: Callable[[], bool], shown: Callable[[], object],
                 seconds: float = 15) -> None:
    """Poll until ``done()``: the Blocklist's read-back after a change may land a moment
    after the change's own result under load."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not done():
        assert asyncio.get_running_loop().time() < deadline, shown()
        await pilot.pause(0.1)


async def test_partial_block_completed_filtered_unblocked_and_marked_unblock(
        lab_config: Config, clean_lab, responder: Responder) -> None:
    attacker, hosts = clean_lab.attacker, clean_lab.hosts
    _block(responder, [attacker.v4], ["host1"], "10m")
    _block(responder, ["203.0.113.10", "203.0.113.11"], ["all"], "1h")
    assert tcp_connects(attacker.namespace, hosts[1].v4, 22)
    app = IrtuiApp(lab_config)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("2")
        table = app.query_one(BlockTable)
        table.move_cursor(list(table.keys).index(attacker.v4))
        assert table.get_row(attacker.v4)[4] == "⚠ lab: 1/3"
        # p: the rest of the group, with the time left on the copy (under 10 minutes)
        await pilot.press("p")
        screen = await _confirm(app, pilot)
        assert screen.plan.action == "block" and screen.plan.hosts == ["host2", "host3"]
        ttl = int(screen.plan.render().split(f"{attacker.v4} timeout ")[1].split("s")[0])
        assert 500 < ttl <= 600
        assert not tcp_connects(attacker.namespace, hosts[1].v4, 22)
        assert not tcp_connects(attacker.namespace, hosts[2].v4, 22)
        assert table.get_row(attacker.v4)[4] == ""  # complete now
        # U: everything the filter shows, on the hosts holding it
        await pilot.press("slash", *"203.0.113.", "enter")
        assert sorted(table.keys) == ["203.0.113.10", "203.0.113.11"]
        await hosts_read(app, pilot)
        await pilot.press("U")
        screen = await _confirm(app, pilot)
        assert screen.plan.action == "unblock"
        assert "host2" in screen.plan.entries, (screen.plan.render(), log_text(app))
        assert sorted(screen.plan.entries["host2"]) == ["203.0.113.10/32", "203.0.113.11/32"]
        await pilot.press("escape")  # the filter
        await settle(app, pilot)
        await _until(pilot, lambda: list(table.keys) == [attacker.v4], lambda: table.keys)
        # space + u: the marked entries on every host holding them
        await pilot.press("space", "u")
        screen = await _confirm(app, pilot)
        assert screen.plan.hosts == ["host1", "host2", "host3"]
        await _until(pilot, lambda: table.row_count == 0 and table.marked == {},
                     lambda: (table.keys, table.marked))
    for host in hosts:
        assert tcp_connects(attacker.namespace, host.v4, 22)
        state = responder.read_state(host.name)
        assert state.blocks == ()


async def test_marked_hosts_reason_screenshot_and_declined_plan(lab_config: Config,
                                                                clean_lab) -> None:
    attacker, hosts = clean_lab.attacker, clean_lab.hosts
    config = replace(lab_config, ui=replace(lab_config.ui, screenshots=True))
    app = IrtuiApp(config)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("space", "down", "space")  # host1 and host3
        await pilot.press("b", *attacker.v4, "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.plan.hosts == ["host1", "host3"]
        await pilot.press("shift+tab", "ctrl+a", "ctrl+k", *"C2 of the beacon", "enter")
        assert app.focused is app.screen.query_one("#cancel")  # Enter never confirms here
        await _confirm(app, pilot, ("y",))
        recorder = app.responder.recorder
        plans = recorder.store.records(kinds=["plan"])
        assert len(plans) == 1
        plan = plans[0]
        assert plan.get("hosts") == ["host1", "host3"]
        assert plan.get("reason") == "C2 of the beacon" and plan.get("reason_given") is True
        assert plan.get("confirmation") == "tui"
        shots = [r for r in recorder.store.records(kinds=["artifact"])
                 if r.get("role") == "screenshot"]
        assert len(shots) == 1 and shots[0].get("action_id") == plan.seq
        svg = recorder.store.read_artifact(str(shots[0].get("sha256")))
        assert svg is not None and b"<svg" in svg and b"Confirm:" in svg
        # the reason is offered again for the next action; n declines and is recorded
        await pilot.press("b", *"203.0.113.77", "enter")
        await settle(app, pilot)
        assert app.screen.query_one("#confirm-reason", Input).value == "C2 of the beacon"
        await pilot.press("n")
        await settle(app, pilot)
        declined = recorder.store.records(kinds=["plan.declined"])
        assert [r.get("summary") for r in declined] == [app_summary(declined)]
        assert "203.0.113.77" in str(declined[0].get("summary"))
    assert not tcp_connects(attacker.namespace, hosts[0].v4, 22)
    assert tcp_connects(attacker.namespace, hosts[1].v4, 22)
    assert not tcp_connects(attacker.namespace, hosts[2].v4, 22)


def app_summary(records: list) -> str:
    """The one declined plan's summary (for a readable assertion)."""
    return str(records[0].get("summary"))


async def test_core_refusal_reopens_the_prompt_and_failed_hosts_retry(lab_config: Config,
                                                                      clean_lab) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    base = h1.v4.rsplit(".", 1)[0]
    config = replace(lab_config, hosts=(*lab_config.hosts, HostConfig("ghost", f"{base}.99")),
                     ssh=replace(lab_config.ssh, connect_timeout=1.0))
    app = IrtuiApp(config)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        # host1's own address: the core refuses it; the prompt comes back with the input
        await pilot.press("b", *h1.v4, "enter")
        await settle(app, pilot)
        prompt = app.screen
        assert isinstance(prompt, TargetPrompt)
        assert prompt.query_one("#prompt-targets", Input).value == h1.v4
        assert "nothing to block" in str(prompt.query_one("#prompt-error").render())
        # the attacker on host1 and the unreachable ghost: host1 goes ahead
        await pilot.press("ctrl+a", "ctrl+k", *attacker.v4, "tab", "tab", "ctrl+a",
                          "ctrl+k", *"host1 ghost", "enter")
        screen = await _confirm(app, pilot)
        assert screen.plan.failed and "ghost" in screen.plan.failed
        lines = app.query_one(LogPanel).lines
        assert any("a retries ghost" in line for line in lines)
        assert app.query_one(HostTable).get_row("ghost")[6].startswith("✗ block")
        assert not tcp_connects(attacker.namespace, h1.v4, 22)
        await pilot.press("a")  # planned again on ghost only: still unreachable
        await settle(app, pilot)
        lines = app.query_one(LogPanel).lines
        assert any(line.startswith("── retrying on ghost: block") for line in lines)
        assert not isinstance(app.screen, ConfirmScreen)
        assert "ghost" in lines[-1] and lines[-1].startswith("✗ ")


async def test_drill_from_the_palette(clean_lab, tmp_path, monkeypatch) -> None:
    """The palette's drill (auto) runs the practice-lab exercise in a worker: the TUI
    follows the drill's incident, the log shows its progress, the report gets the TUI's
    screen, and the lab is as before afterwards."""
    from irtui.core.config import load_config
    from irtui.launcher import _drill_runner

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    config = load_config(clean_lab.config_path)  # the drill reads the lab's own config
    assert _drill_runner(replace(config, path=str(tmp_path / "elsewhere.toml"))) is None
    app = IrtuiApp(config, drill=_drill_runner(config))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        commands = {text: run for text, run, _ in app.palette_commands()}
        commands["drill: irtui contains the simulated attack (auto)"]()
        await pilot.pause(0.5)
        deadline = asyncio.get_running_loop().time() + 400
        while app.drill_running:
            assert asyncio.get_running_loop().time() < deadline, "the drill never ended"
            await pilot.pause(0.5)
        await settle(app, pilot)
        lines = app.query_one(LogPanel).lines
        done = [line for line in lines if line.startswith("drill: drill PASSED")]
        assert done, lines[-15:]
        incident = app.responder.recorder.incident_id()
        assert incident and incident in done[0]
        header = str(app.query_one("#status-header").render())
        assert incident in header and "DRILL" in header
        report = next(config.resolved_audit_dir.joinpath("drills").glob(f"{incident}*.html"))
        html = report.read_text(encoding="utf-8")
        assert "data:image/svg+xml" in html
    attacker = clean_lab.attacker
    for host in clean_lab.hosts:
        assert tcp_connects(attacker.namespace, host.v4, 22)  # recovered


async def test_a_block_confirmed_late_is_planned_again(lab_config: Config, clean_lab,
                                                       responder: Responder,
                                                       monkeypatch) -> None:
    """A confirmation given after the facts a plan rests on may have changed (10 s; 0.3 s
    here) plans again first: the same outcome runs at once; a default route added to the
    very address meanwhile makes it refused, and nothing is blocked."""
    from irtui.core.actions import reads
    from irtui.tui import replan

    monkeypatch.setattr(reads, "PLAN_PROFILE_MAX_AGE", 0.3)
    monkeypatch.setattr(replan, "PLAN_PROFILE_MAX_AGE", 0.3)
    h1, gateway = clean_lab.hosts[0], clean_lab.hosts[2].v4
    app = IrtuiApp(lab_config)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("b", *"203.0.113.77", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.pause(0.5)
        await pilot.press("y")
        await _until(pilot, lambda: any(e.text == "203.0.113.77"
                                        for e in responder.read_state("host1").blocks),
                     lambda: log_text(app))
        assert "reading the hosts again before the change" in log_text(app)
        assert not isinstance(app.screen, ConfirmScreen)  # same outcome: no second question
        await pilot.press("b", *gateway, "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        ns_run(h1.namespace, ["ip", "route", "add", "default", "via", gateway])
        try:
            await pilot.pause(0.5)
            await pilot.press("y")
            await _until(pilot, lambda: "default gateway" in log_text(app),
                         lambda: log_text(app))
            assert not isinstance(app.screen, ConfirmScreen)
            # with another entry: the new plan (gateway refused) is asked for again
            ns_run(h1.namespace, ["ip", "route", "del", "default"])
            await pilot.pause(0.5)
            await pilot.press("b", *f"{gateway} 203.0.113.78", "enter")
            await settle(app, pilot)
            first = app.screen
            assert isinstance(first, ConfirmScreen)
            ns_run(h1.namespace, ["ip", "route", "add", "default", "via", gateway])
            await pilot.pause(0.5)
            await pilot.press("y")
            await _until(pilot, lambda: isinstance(app.screen, ConfirmScreen)
                         and app.screen is not first, lambda: log_text(app))
            again = app.screen
            assert isinstance(again, ConfirmScreen)
            assert again.plan.entries["host1"][f"{gateway}/32"].refused
            assert "here is the plan as of now" in log_text(app)
            await pilot.press("y")
            await _until(pilot, lambda: any(e.text == "203.0.113.78" for e in
                                            responder.read_state("host1").blocks),
                         lambda: log_text(app))
        finally:
            ns_run(h1.namespace, ["ip", "route", "del", "default"])
    assert gateway not in {e.text for e in responder.read_state("host1").blocks}
