"""The console for a responder under pressure (issue 14), driven by key presses through Pilot
on fixed host states (no lab: the host reads return fixed states; the record, the plans and
the app are real): marking, the plan summary, prompts that keep the input, toasts, the log,
read-only mode, remapped keys, themes, the incident header and switch, the timeline and the
report key, the palette, the layout."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from textual import events
from textual.containers import VerticalScroll
from textual.widgets import Footer, Input, Static

from irtui import cli, launcher
from irtui.core.config import parse_config
from irtui.core.errors import ConfigError, SSHError
from irtui.core.events import OutputLine
from irtui.tui.app import IrtuiApp
from irtui.tui.blocklist_view import BlockTable
from irtui.tui.flow import Run
from irtui.tui.host_view import HostView
from irtui.tui.hosts_table import HostTable
from irtui.tui.log_panel import LogPanel
from irtui.tui.palette import IrtuiCommands
from irtui.tui.prompt import TargetPrompt
from irtui.tui.record_screens import IncidentScreen, TimelineScreen
from irtui.tui.screens import ConfirmScreen, HelpScreen, LogDetailScreen
from tests.tui_fixtures import (
    FIXED_NOW,
    HOSTS,
    CannedResponder,
    fixed_config,
    mixed_plan,
    record_actions,
)
from tests.tui_helpers import settle


def _app(tmp_path: Path, states: dict | None = None, **kwargs: object) -> IrtuiApp:
    config = kwargs.pop("config", None) or fixed_config(tmp_path)
    return IrtuiApp(config, CannedResponder(config, states),  # type: ignore[arg-type]
                    clock=lambda: FIXED_NOW, **kwargs)  # type: ignore[arg-type]


def _toasts(app: IrtuiApp) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "error"]


def _footer_keys(app: IrtuiApp) -> set[str]:
    return {getattr(k, "key", "") for k in app.query_one(Footer).children}


# ---- marking --------------------------------------------------------------------------------


async def test_space_marks_hosts_and_actions_take_the_marked_set(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        table = app.query_one(HostTable)
        await pilot.press("space", "down", "space")  # host1, then (cursor on host3) host3
        assert list(table.marked) == ["host1", "host3"]
        assert table.get_row("host1")[0] == "● host1" and table.get_row("host2")[0] == "host2"
        assert table.targets() == ["host1", "host3"]
        await pilot.press("b")
        assert isinstance(app.screen, TargetPrompt)
        assert app.screen.query_one("#prompt-hosts", Input).value == "host1 host3"
        await pilot.press("escape", "escape")  # the prompt, then the marks
        assert table.marked == {} and table.targets() == [table.selected_host()]


async def test_blocklist_marks_prefill_b_and_esc_clears(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("2")
        table = app.query_one(BlockTable)
        assert list(table.keys) == ["198.51.100.0/24", "203.0.113.7", "2001:db8::/32"]
        await pilot.press("space", "space")
        assert list(table.marked) == ["198.51.100.0/24", "203.0.113.7"]
        assert table.render_line(1).text.startswith("●198.51.100.0/24")
        status = str(app.query_one("#block-status", Static).render())
        assert "● 2 marked" in status and "? host3 unreachable" in status
        assert [r.entry for r in table.targets()] == ["198.51.100.0/24", "203.0.113.7"]
        await pilot.press("b")  # the marked entries and the hosts that hold them
        prompt = app.screen
        assert isinstance(prompt, TargetPrompt)
        assert prompt.query_one("#prompt-targets", Input).value == "198.51.100.0/24 203.0.113.7"
        assert prompt.query_one("#prompt-hosts", Input).value == "host1 host2"
        await pilot.press("escape", "escape")
        assert table.marked == {}


# ---- the plan summary ------------------------------------------------------------------------


async def test_plan_dialog_shows_the_summary_first_and_commands_one_key_away(
        tmp_path: Path) -> None:
    results: list[bool | None] = []
    app = _app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        plan = mixed_plan()
        plan.steps = plan.steps * 30  # a long plan: 60 commands
        app.push_screen(ConfirmScreen(plan, reason="C2 of the beacon"), results.append)
        await pilot.pause(0.2)
        body = str(app.screen.query_one("#confirm-commands", Static).render())
        lines = body.splitlines()
        assert lines[0].startswith("host1") and "1 to add" in lines[0]
        assert lines[1].startswith("host2") and "1 already present" in lines[1]
        assert lines[2].startswith("host3") and "FAILED before any change: unreachable" in lines[2]
        assert "127.0.0.1 — overlaps 127.0.0.0/8, loopback" in body
        assert "nft -f -" not in body  # no command before the summary
        failed = str(app.screen.query_one("#confirm-failed").render())
        assert failed.startswith("✗ host3 FAILED before any change")
        assert app.focused is app.screen.query_one("#cancel")
        await pilot.press("c")  # the exact commands
        body = str(app.screen.query_one("#confirm-commands", Static).render())
        assert "nft -f -" in body and "[host3] FAILED before any change" in body
        scroll = app.screen.query_one("#confirm-plan", VerticalScroll)
        assert scroll.max_scroll_y > 0 and scroll.scroll_y == 0
        await pilot.press("pagedown")  # focus is on Cancel: no Tab needed
        await pilot.pause(0.1)
        assert scroll.scroll_y > 0 and app.focused is app.screen.query_one("#cancel")
        await pilot.press("c")
        assert "nft -f -" not in str(app.screen.query_one("#confirm-commands",
                                                          Static).render())
        await pilot.press("n")
    assert results == [False]


# ---- prompts and toasts ------------------------------------------------------------------------


async def test_prompt_keeps_input_marks_bad_tokens_and_drops_them(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("b")
        prompt = app.screen
        assert isinstance(prompt, TargetPrompt)
        field = prompt.query_one("#prompt-targets", Input)
        long_token = "9" * 1500
        pasted = f"203.0.113.7\n203[.]0[.]113[.]8\nhxxp://198.51.100.9/x\n{long_token}\n"
        field.post_message(events.Paste(pasted))
        await pilot.pause(0.1)
        assert field.value == f"203.0.113.7 203[.]0[.]113[.]8 hxxp://198.51.100.9/x {long_token}"
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is prompt  # still open, input kept
        error = str(prompt.query_one("#prompt-error").render())
        assert error.startswith("✗ 2 of 4 tokens are not addresses")
        assert "give 198.51.100.9 to block that address" in error and len(error) < 300
        assert field.marks.bad == {"hxxp://198.51.100.9/x", long_token}
        assert field.selected_text == "hxxp://198.51.100.9/x"  # typing replaces it
        assert all(len(t) <= 240 for t in _toasts(app))  # capped, not half the screen
        await pilot.press("ctrl+t")
        assert field.value == "203.0.113.7 203[.]0[.]113[.]8"
        # a bad TTL and an unknown host: the same, in their own fields
        await pilot.press("tab", "ctrl+a", "ctrl+k", *"3x", "enter")
        assert app.screen is prompt and app.focused is prompt.query_one("#prompt-ttl")
        assert "TTL '3x' is not a duration" in str(prompt.query_one("#prompt-error").render())
        await pilot.press("ctrl+a", "ctrl+k", *"2h", "tab", "ctrl+a", "ctrl+k",
                          *"host1 ghost", "enter")
        assert app.focused is prompt.query_one("#prompt-hosts")
        assert prompt.query_one("#prompt-hosts", Input).selected_text == "ghost"
        assert "unknown host 'ghost'" in str(prompt.query_one("#prompt-error").render())


async def test_keys_typed_in_one_burst_after_b_land_in_the_address_field(
        tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        for char in "b203.0.113.7 2001:db8::1":  # as a terminal delivers a paste
            app.post_message(events.Key(char if char != " " else "space", char))
        await settle(app, pilot)
        assert isinstance(app.screen, TargetPrompt)
        assert app.screen.query_one("#prompt-targets", Input).value == "203.0.113.7 2001:db8::1"
        assert app.query_one("#tabs").active == "hosts"  # the 2s typed no tab switch


async def test_a_burst_with_tab_types_each_field_where_the_tab_moved_the_cursor(
        tmp_path: Path) -> None:
    """A burst (a laggy SSH link delivers keys together) reaches the field focused when it
    arrived, while Tab and ctrl+u act on the field focused by then: the characters follow
    the focus too, or the TTL and hosts are typed into the address field."""
    app = _app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("b")
        await settle(app, pilot)
        burst = ["2", "0", "3", ".", "0", ".", "1", "1", "3", ".", "7", "tab", "ctrl+u",
                 "3", "0", "m", "tab", "ctrl+u", "a", "l", "l"]
        for key in burst:
            app.post_message(events.Key(key, key if len(key) == 1 else None))
        await settle(app, pilot)
        assert isinstance(app.screen, TargetPrompt)
        values = [app.screen.query_one(f"#prompt-{name}", Input).value
                  for name in ("targets", "ttl", "hosts")]
        assert values == ["203.0.113.7", "30m", "all"]


async def test_a_prompt_problem_is_shown_in_the_prompt_not_toasted_over_it(
        tmp_path: Path) -> None:
    """At 80x24 a toast covers the prompt's own error line; after the responder fixed the
    TTL it kept showing the old problem over the new one."""
    app = _app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("b", *"203.0.113.7", "tab", "ctrl+a", "ctrl+k", *"100d", "enter")
        await settle(app, pilot)
        prompt = app.screen
        assert isinstance(prompt, TargetPrompt)
        assert "TTL '100d' is longer" in str(prompt.query_one("#prompt-error").render())
        assert not [t for t in _toasts(app) if "TTL" in t]
        assert any("TTL '100d' is longer" in line for line in app.query_one(LogPanel).lines)


async def test_the_typed_confirmation_then_enter_in_one_burst_confirms(
        tmp_path: Path) -> None:
    """'host2', Enter and the next key arriving together (a laggy link): the key after Enter
    was typed into the field before Enter ran, so the isolation was refused as mistyped."""
    app = _app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        answers: list[bool | None] = []
        app.push_screen(ConfirmScreen(replace(mixed_plan(), action="isolate"),
                                      require="host1", reason=""), answers.append)
        await settle(app, pilot)
        for key in [*"host1", "enter", "x"]:
            app.post_message(events.Key(key, key if len(key) == 1 else None))
        await settle(app, pilot)
        assert answers == [True]


async def test_a_key_right_after_enter_in_the_block_prompt_is_not_part_of_the_address(
        tmp_path: Path) -> None:
    """b, the address, Enter and y (for the confirmation to come) in one burst: the y was
    typed into the address before Enter ran, and '203.0.113.7y' was refused."""
    app = _app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("b")
        await settle(app, pilot)
        for key in [*"203.0.113.7", "enter", "y"]:
            app.post_message(events.Key(key, key if len(key) == 1 else None))
        await settle(app, pilot)
        # the address went on to planning (these fixed hosts then fail it: no known_hosts)
        assert not [line for line in app.query_one(LogPanel).lines
                    if "is not an IP address" in line]
        assert any("known_hosts" in line for line in app.query_one(LogPanel).lines)


async def test_same_error_on_three_hosts_is_one_toast(tmp_path: Path) -> None:
    missing = {h: SSHError(f"{h}: cannot read the key file /root/.ssh/id_lab (No such file)",
                           "set ssh.key_file to an existing private key") for h in HOSTS}
    app = _app(tmp_path, states=missing)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert _toasts(app) == ["host1, host2, host3: cannot read the key file /root/.ssh/"
                                "id_lab (No such file) — set ssh.key_file to an existing "
                                "private key ×3"]
        log = app.query_one(LogPanel).lines
        assert sum("cannot read the key file" in line for line in log) == 3  # all logged


# ---- the log -----------------------------------------------------------------------------------


async def test_log_times_host_filter_streams_new_lines_and_detail(tmp_path: Path) -> None:
    app = _app(tmp_path, config=replace(fixed_config(tmp_path), ui=replace(
        fixed_config(tmp_path).ui, log_max_lines=200)))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        log = app.query_one(LogPanel)
        log.clear()
        long_line = "x" * 300
        for i in range(40):
            host = HOSTS[i % 2]
            app._post("event", OutputLine(host, "stderr" if i % 4 == 0 else "stdout",
                                          f"{host} line {i}"))
        app._post("event", OutputLine("host2", "stdout", long_line))
        await settle(app, pilot)
        assert log.render_line(0).text.startswith("10:00:00 ")  # every line has its time
        assert log.scroll_offset.y == log.max_scroll_y > 0  # it follows the end
        assert "host2 | " + "x" * 60 in log.render_line(log.size.height - 1).text
        await pilot.press("l")
        assert app.focused is log
        await pilot.press("enter")  # the cursor follows the last line: the long one
        assert isinstance(app.screen, LogDetailScreen)
        detail = str(app.screen.query_one("#detail-text").render())
        assert long_line in detail.replace("\n", "") and "host2" in detail.splitlines()[0]
        await pilot.press("escape")
        await pilot.press("h")  # the host of the line under the cursor
        assert log.host_filter == "host2" and {line.host for line in log.shown} == {"host2"}
        assert log.border_title == "Log · host host2"
        await pilot.press("h")
        assert log.host_filter == "host3" and list(log.shown) == []
        await pilot.press("h", "s")  # all hosts, stderr and errors only
        assert log.host_filter == "" and {line.text for line in log.shown} == {
            f"{HOSTS[i % 2]} ! {HOSTS[i % 2]} line {i}" for i in range(0, 40, 4)}
        await pilot.press("s", "s")
        assert len(log.shown) == 41
        await pilot.press("k", "k")  # scrolled up: new lines are counted, not followed
        for i in range(3):
            app._post("event", OutputLine("host1", "stdout", f"late {i}"))
        await settle(app, pilot)
        assert log.border_subtitle == "+3 new lines — End" and log.cursor_row == 38
        await pilot.press("end")
        assert log.border_subtitle == "" and log.cursor_row == 43
        for i in range(500):  # memory stays bounded
            app._post("event", OutputLine("host1", "stdout", f"flood {i}"))
        await settle(app, pilot)
        assert len(log.lines) == 200 and log.lines[-1] == "host1 | flood 499"
        await pilot.press("escape")
        assert app.focused is app.query_one(HostTable)


# ---- read-only, keymap, themes ------------------------------------------------------------------


async def test_read_only_removes_every_action_that_changes_a_host(tmp_path: Path) -> None:
    for app in (_app(tmp_path, read_only=True),
                _app(tmp_path, config=fixed_config(tmp_path, read_only=True))):
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            keys = _footer_keys(app)
            assert {"b", "u", "i", "r"}.isdisjoint(keys) and {"q", "question_mark"} <= keys
            for key in ("b", "i", "r", "u", "a"):
                app.clear_notifications()
                await pilot.press(key)
                assert len(app.screen_stack) == 1, key
                said = [n.message for n in app._notifications]
                assert any(m.startswith("read-only:") and "nothing was changed" in m
                           for m in said), (key, said)
            app.clear_notifications()
            await pilot.press("j")  # moving is not a change: no hint
            assert not [n for n in app._notifications if "read-only" in n.message]
            await pilot.press("2", "u", "U", "p")
            assert len(app.screen_stack) == 1
            texts = [text for text, _, _ in app.palette_commands()]
            labels = {t.split(" (")[0] for t in texts}
            assert labels.isdisjoint({"Block", "Unblock", "Isolate", "Release",
                                      "Unblock shown", "Complete", "Retry failed"})
            assert any(t.startswith("Timeline") for t in texts)
            await pilot.press("f1")
            help_text = str(app.screen.query_one("#help-text").render())
            assert "Read-only mode" in help_text and "isolate the marked" not in help_text
            assert "READ-ONLY" in str(app.query_one("#status-header").render())
    for argv in (["--read-only"], ["tui", "--read-only"]):
        assert cli.tui_read_only(cli.build_parser().parse_args(argv))
    assert not cli.tui_read_only(cli.build_parser().parse_args([]))
    assert launcher.main(["--read-only", "status"]) == 2  # a verb: said, nothing run


async def test_keys_remapped_from_config(tmp_path: Path) -> None:
    config = parse_config({"keys": {"block": "ctrl+b", "hosts.mark": "m", "nope": "z"},
                           "audit": {"dir": str(tmp_path / "audit")}})
    assert dict(config.ui.keys) == {"block": "ctrl+b", "hosts.mark": "m", "nope": "z"}
    config = replace(fixed_config(tmp_path), ui=config.ui)
    app = _app(tmp_path, config=config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("b")
        assert len(app.screen_stack) == 1  # b is free now
        await pilot.press("m")
        assert list(app.query_one(HostTable).marked) == ["host1"]
        await pilot.press("ctrl+b")
        assert isinstance(app.screen, TargetPrompt)
        await pilot.press("escape", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        assert any(line.split()[:2] == ["ctrl+b", "block"] for line in text.splitlines())
        assert any("[keys] nope: no such binding id" in line
                   for line in app.query_one(LogPanel).lines)
    with pytest.raises(ConfigError, match=r"keys\.block: 'ctrl b' is not a key list"):
        parse_config({"keys": {"block": "ctrl b"}})


async def test_themes_and_fallback(tmp_path: Path) -> None:
    for name in ("irtui-dark", "irtui-light", "irtui-high-contrast", "irtui-16", "nope"):
        app = _app(tmp_path, config=fixed_config(tmp_path, theme=name))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            assert app.theme == (name if name != "nope" else "irtui-dark")
            if name == "irtui-16":
                assert app.current_theme.ansi
            warned = [line for line in app.query_one(LogPanel).lines if "theme 'nope'" in line]
            assert bool(warned) == (name == "nope")
            if warned:
                assert "irtui-high-contrast" in warned[0] and "irtui-16" in warned[0]


# ---- the incident record -----------------------------------------------------------------------


async def test_incident_header_switch_and_open(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        header = app.query_one("#status-header")
        assert "no incident" in str(header.render())
        first = record_actions(app.responder)
        app.refresh_incident()
        await settle(app, pilot)
        assert f"{first} (detected) · Beacon from web1" in str(header.render())
        await pilot.press("o")
        await settle(app, pilot)
        assert isinstance(app.screen, IncidentScreen)
        await pilot.press("n", *"Second intrusion on db1", "enter")
        await settle(app, pilot)
        recorder = app.responder.recorder
        second = recorder.incident_id()
        assert second != first and "Second intrusion on db1" in str(header.render())
        assert recorder.register.get(second).severity == "medium"
        await pilot.press("o")
        await settle(app, pilot)
        await pilot.press("down", "enter")  # newest first: the first incident is second
        await settle(app, pilot)
        assert recorder.incident_id() == first and first in str(header.render())
        # the palette lists the incidents too
        provider = IrtuiCommands(app.screen)
        await provider.startup()
        texts = [hit.text async for hit in provider.search("INC-")]
        assert any(first in t for t in texts) and any(second in t for t in texts)


async def test_timeline_filters_by_host_and_action(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        record_actions(app.responder)
        await pilot.press("t")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, TimelineScreen)
        assert [a.action for a in screen.shown()] == ["block", "notify"]
        await pilot.press("h")  # host1
        assert screen.host == "host1" and [a.action for a in screen.shown()] == ["block"]
        await pilot.press("h", "h", "h")  # host2, host3, all
        assert screen.host == "" and len(screen.shown()) == 2
        await pilot.press("a", "a")  # block, then notify
        assert [a.action for a in screen.shown()] == ["notify"]
        await pilot.press("a", "enter")  # all; details of the first row
        await settle(app, pilot)
        assert isinstance(app.screen, LogDetailScreen)
        detail = str(app.screen.query_one("#detail-text").render())
        assert "host3: failed — unreachable" in detail


async def test_report_key_writes_the_incident_report(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("w")  # no incident yet: said, nothing written
        await settle(app, pilot)
        assert any("no incident to report on yet" in line
                   for line in app.query_one(LogPanel).lines)
        incident = record_actions(app.responder)
        await pilot.press("w")
        await settle(app, pilot)
        reports = tmp_path / "audit" / "reports"
        html = reports / f"{incident}.html"
        assert html.is_file() and (reports / f"{incident}.md").is_file()
        assert "Beacon from web1 to 203.0.113.9" in html.read_text(encoding="utf-8")
        assert any(f"✓ report of {incident}" in line for line in app.query_one(LogPanel).lines)


# ---- running actions ----------------------------------------------------------------------------


async def test_spinner_and_cancel_only_where_safe(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        table = app.query_one(HostTable)
        app.views["host1"].running = "block"
        table.spin()
        first = table.get_row("host1")[6]
        table.spin()
        assert first.endswith(" block…") and table.get_row("host1")[6] != first
        isolation, block = Run(replace(mixed_plan(), action="isolate")), Run(mixed_plan())
        app.runs = {1: isolation}
        await pilot.press("x")
        assert not isolation.cancel.is_set()  # an isolation is never cancelled
        app.runs = {1: isolation, 2: block}
        await pilot.press("x")  # host1 is in both: the latest, the block
        assert block.cancel.is_set() and not isolation.cancel.is_set()


# ---- layout -------------------------------------------------------------------------------------


async def test_layout_uses_the_screen(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(app, pilot)
        view: HostView = app.views["host2"]
        view.busy = "✗ unblock failed: host2 did not answer in time"
        app.query_one(HostTable).show(list(app.views.values()))
        await pilot.pause(0.1)
        assert app.query_one(HostTable).get_row("host2")[6] == view.busy  # not cut
        assert app.query_one(LogPanel).size.height >= 15  # the log grows with the screen
        await pilot.resize_terminal(80, 24)  # narrower: the Activity column shrinks again
        await settle(app, pilot)
        table = app.query_one(HostTable)
        assert table.get_row("host2")[6].endswith("…") and table.selected_host() == "host1"
        assert table.virtual_size.width <= table.scrollable_content_region.width
    app = _app(tmp_path)
    async with app.run_test(size=(60, 20)) as pilot:
        await settle(app, pilot)
        for tab in ("1", "2"):
            await pilot.press(tab)
            await pilot.pause(0.2)
            footer = app.query_one(Footer)
            keys = _footer_keys(app)
            assert {"q", "question_mark"} <= keys, tab  # Quit and Help stay
            assert footer.max_scroll_x == 0, tab


async def test_command_palette_has_actions_hosts_and_groups(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        provider = IrtuiCommands(app.screen)
        await provider.startup()
        found = [hit.text async for hit in provider.search("block")]
        assert {"Block (b)", "Unblock (u)", "Unblock shown (U)"} <= set(found)
        assert "group @web: mark its 2 hosts" in [h.text async for h in provider.search("web")]
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"host host3", "enter")  # through the palette itself
        await settle(app, pilot)
        assert app.query_one(HostTable).selected_host() == "host3"
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"group @web", "enter")
        await settle(app, pilot)
        assert list(app.query_one(HostTable).marked) == ["host1", "host2"]


async def test_expired_copy_never_sticks_at_zero(tmp_path: Path) -> None:
    """host1's copy of an entry expires (its kernel drops it; the next read no longer has
    it) while host2 keeps it: the row goes to host2's expiry at once, never a stuck "0s"."""
    import ipaddress

    from irtui.core.firewall.state import BlockEntry, HostState

    entry = "203.0.113.50"
    short = BlockEntry(ipaddress.ip_network(entry), 6, 6)  # room for a loaded machine
    states = {"host1": HostState("host1", (short,), backend="nftables"),
              "host2": HostState("host2", (BlockEntry(ipaddress.ip_network(entry)),),
                                 backend="nftables"),
              "host3": HostState("host3", (), backend="nftables")}
    app = _app(tmp_path, states=states)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("2")
        table = app.query_one(BlockTable)
        assert table.get_row(entry)[2] == "host1,host2" and table.get_row(entry)[3] in (
            "6s", "5s", "4s", "3s", "2s", "1s")
        app.responder.states["host1"] = HostState("host1", (), backend="nftables")  # type: ignore[attr-defined]
        for _ in range(60):  # the copy runs out; the 1 s tick notices: read again
            await pilot.pause(0.25)
            if table.get_row(entry)[2] == "host2":
                break
        await settle(app, pilot)
        assert table.get_row(entry)[2:4] == ["host2", "permanent"]
        assert table.get_row(entry)[4] == "⚠ lab: 1/3, web: 1/2"
