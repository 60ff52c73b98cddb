"""TUI usability fixes, driven by key presses (Textual Pilot): modals dismiss once, rows never
stay busy after a failed action, errors pop up in full, drafts survive, the notify pane and the
dialogs fit small terminals, help shows real key names, the footer fits 80 columns.

Tests without the practice lab use a config with no hosts; the others use the lab."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from textual import events
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Footer, Input, TextArea
from textual.widgets._footer import FooterKey

from irtui.core.actions import Responder
from irtui.core.config import Config
from irtui.core.events import HostResult, Outcome, OutputLine
from irtui.core.plan import Plan, Step
from irtui.lab.probe import tcp_connects
from irtui.tui.app import IrtuiApp
from irtui.tui.compose import ComposePane
from irtui.tui.hosts_table import HostTable
from irtui.tui.log_panel import ERROR_MARK
from irtui.tui.screens import ConfirmScreen, HelpScreen, TargetPrompt
from tests.tui_helpers import isolation_cell, release_with_keys, settle


def _log_lines(app: IrtuiApp) -> list[str]:
    return list(app.query_one("#log").lines)


def _toasts(app: IrtuiApp, severity: str = "error") -> list[str]:
    return [n.message for n in app._notifications if n.severity == severity]


def _no_hosts(tmp_path: Path, **kwargs: object) -> Config:
    return Config(audit_dir=str(tmp_path / "audit"), **kwargs)  # type: ignore[arg-type]


def _fast_enters(app: IrtuiApp, count: int = 2) -> None:
    """Queue ``count`` Enter keys at once, as a quick double press does (Pilot's ``press``
    waits for the app to be idle between keys, so it never reproduces this)."""
    for _ in range(count):
        app.post_message(events.Key("enter", "\r"))


def _plans_in_trail(app: IrtuiApp) -> list[dict]:
    """The plan records the session wrote to the incident record (none if no store yet)."""
    store = app.responder.recorder.store
    if not Path(store.location).exists():
        return []
    return [dict(r.body) for r in store.records(kinds=["plan"])]


def _visible(widget: Widget, screen_region: Region) -> bool:
    """On screen with a non-zero size, and not clipped by its container nor covered: the
    widget (or a child of it) is what the screen shows at its first and last cell."""
    region = widget.region
    if not (region.width > 0 and region.height > 0 and screen_region.contains_region(region)):
        return False
    screen = widget.screen
    for x, y in ((region.x, region.y), (region.right - 1, region.bottom - 1)):
        hit, _ = screen.get_widget_at(x, y)
        if hit is not widget and widget not in hit.ancestors:
            return False
    return True


def _long_plan(lines: int = 40) -> Plan:
    steps = [Step("host1", f"nft add element inet irtui v4_32 {{ 203.0.113.{i} timeout 1d }}",
                  "block") for i in range(lines)]
    return Plan("isolate", "isolate host1 (cut it off the network except irtui)", ["host1"],
                steps=steps)


# ---- 1. modals dismiss once -----------------------------------------------------------------


async def test_double_enter_in_block_prompt_plans_once(lab_config: Config, clean_lab) -> None:
    app = IrtuiApp(lab_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("b", *"203.0.113.80")
        assert isinstance(app.screen, TargetPrompt)
        _fast_enters(app)
        await settle(app, pilot)
        assert app.is_running
        assert _log_lines(app).count("── reading live state to build the plan…") == 1
        assert [type(s) for s in app.screen_stack[1:]] == [ConfirmScreen]
        await pilot.press("n")
        await settle(app, pilot)
        assert len(app.screen_stack) == 1
        assert sum("── cancelled: block 203.0.113.80" in line for line in _log_lines(app)) == 1
        assert _plans_in_trail(app) == []


async def test_double_enter_in_typed_confirmation_isolates_once(lab_config: Config,
                                                                clean_lab) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    app = IrtuiApp(lab_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("i")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press(*"host1")
        _fast_enters(app)
        await settle(app, pilot)
        await settle(app, pilot)
        assert app.is_running and len(app.screen_stack) == 1
        assert [p["action"] for p in _plans_in_trail(app)] == ["isolate"]
        assert (await isolation_cell(app, pilot, "host1")).startswith("■ ISO ")
        assert not tcp_connects(attacker.namespace, h1.v4, 22)
        await release_with_keys(app, pilot)
        assert await isolation_cell(app, pilot, "host1") == "normal"
    assert tcp_connects(attacker.namespace, h1.v4, 22)


async def test_every_modal_dismisses_at_most_once(tmp_path: Path) -> None:
    results: list[object] = []
    app = IrtuiApp(_no_hosts(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        for screen in (ConfirmScreen(_long_plan(3)), ConfirmScreen(_long_plan(3), "host1"),
                       TargetPrompt("Block", "host1", "1d"), HelpScreen([("q", "Quit")])):
            app.push_screen(screen, results.append)
            await pilot.pause(0.1)
            screen.dismiss(None)
            screen.dismiss(None)  # a queued second key: nothing, not a pop of the main screen
            await pilot.pause(0.1)
            assert app.is_running and len(app.screen_stack) == 1
        assert results == [None] * 4


# ---- 2. a failed action never leaves a row busy; the audit trail is checked at start ------


async def test_failed_action_resets_the_busy_row(lab_config: Config, clean_lab) -> None:
    responder = Responder(lab_config)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the SSH pool fell over")

    responder.execute = broken  # type: ignore[method-assign]
    app = IrtuiApp(lab_config, responder)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("b", *"203.0.113.81", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(app, pilot)
        assert app.is_running
        assert app.views["host1"].busy == "✗ block failed"
        assert not app.query_one(HostTable).get_row("host1")[6].startswith("⟳")
        assert any("internal error while executing" in line for line in _log_lines(app))
        assert any("the SSH pool fell over" in t for t in _toasts(app))


async def test_unwritable_audit_dir_is_reported_at_start(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the audit directory should be\n")
    audit_dir = blocker / "audit"
    app = IrtuiApp(Config(audit_dir=str(audit_dir)))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        want = f"cannot write the audit trail in {audit_dir} (Not a directory) — " \
               "set audit.dir to a writable directory"
        assert f"{ERROR_MARK}{want}" in _log_lines(app)
        assert _toasts(app) == [want]


async def test_writable_audit_dir_is_quiet(tmp_path: Path) -> None:
    app = IrtuiApp(_no_hosts(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert _toasts(app) == []
        assert (tmp_path / "audit").is_dir()
        assert list((tmp_path / "audit").iterdir()) == []  # the probe left nothing behind


# ---- 3. errors as toasts ------------------------------------------------------------------


async def test_errors_are_toasted_in_full_but_remote_stderr_is_not(tmp_path: Path) -> None:
    app = IrtuiApp(_no_hosts(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("b", *"203.0.113.9", "tab", "tab", *"nohost", "enter")
        await settle(app, pilot)
        want = ("unknown host 'nohost' — use a host name from the config (none) "
                "or add it under [[hosts]]")
        assert len(want) > 80  # what the 80-column log cuts
        assert f"{ERROR_MARK}{want}" in _log_lines(app)  # still logged
        error = app.screen.query_one("#prompt-error").render()
        assert str(error) == f"✗ {want}"  # and shown whole, in the prompt (it wraps)
        assert _toasts(app) == []  # not toasted over the prompt that shows it
        app._post("event", OutputLine("host1", "stderr", "nft: warning from the host"))
        app._post("event", HostResult("host1", Outcome.OK, "blocked"))
        await settle(app, pilot)
        assert "host1 ! nft: warning from the host" in _log_lines(app)
        assert _toasts(app) == []  # remote stderr and successes: log only
        app._post("event", HostResult("host1", Outcome.FAILED,
                                        "verification failed — read it back"))
        await settle(app, pilot)
        assert _toasts(app)[-1] == "host1: verification failed — read it back"


# ---- 4. notify drafts survive actions -----------------------------------------------------


async def test_notify_draft_is_kept_after_an_action(lab_config: Config, clean_lab) -> None:
    app = IrtuiApp(lab_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        body = app.query_one("#notify-body", TextArea)
        assert f"Incident {app.responder.audit.session} — containment update" in body.text
        assert "Addresses blocked (read back from the firewalls):\nnone\n" in body.text
        # untouched: refilled from the template after the action
        await pilot.press("b", *"203.0.113.82", "enter")
        await settle(app, pilot)
        await pilot.press("y")
        await settle(app, pilot)
        await settle(app, pilot)
        assert "  - 203.0.113.82 on host1" in body.text  # read back from host1's firewall
        assert "block 203.0.113.82" in body.text  # the action, from the audit records
        # the responder writes a draft: the next action keeps it
        await pilot.press("3", "tab", "tab")
        assert app.focused is body
        await pilot.press(*"Team: host1 blocks 203.0.113.82. ")
        draft = body.text
        assert "Team: host1 blocks 203.0.113.82. " in draft
        await pilot.press("escape", "1", "u", *"203.0.113.82", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(app, pilot)
        await settle(app, pilot)
        assert "unblock 203.0.113.82" in app.responder.audit.summary()
        assert body.text == draft
        # ctrl+l still refills on demand, from the new read-back
        await pilot.press("ctrl+l")
        await settle(app, pilot)
        assert "unblock 203.0.113.82" in body.text
        assert "Addresses blocked (read back from the firewalls):\nnone\n" in body.text


async def test_notify_tab_reads_the_hosts_again_when_shown(
        lab_config: Config, clean_lab, responder: Responder) -> None:
    """A change made outside this TUI (the CLI, another responder) after the message was
    filled: opening the Notify tab refills an untouched message from a new read-back, or
    ctrl+s tells the team a state the hosts no longer hold."""
    app = IrtuiApp(lab_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        body = app.query_one("#notify-body", TextArea)
        assert "Addresses blocked (read back from the firewalls):\nnone\n" in body.text
        result = responder.execute(responder.plan_block(["203.0.113.84"], ["host1"], "1h"),
                                   lambda event: None)
        assert result.ok
        app.post_message(events.Key("3", "3"))  # ctrl+s before the refill arrived:
        app.post_message(events.Key("ctrl+s", None))  # the stale message is not sent
        await settle(app, pilot)
        assert "  - 203.0.113.84 on host1" in body.text
        assert not [line for line in _log_lines(app) if "── sending" in line]


# ---- 5. the notify pane at 80x24 ----------------------------------------------------------


async def test_notify_pane_fits_80x24_and_esc_leaves_the_fields(tmp_path: Path) -> None:
    app = IrtuiApp(_no_hosts(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("3")
        await pilot.pause(0.2)
        screen = app.screen.region
        log = app.query_one("#log").region
        for field_id in ("#notify-to", "#notify-subject"):
            field = app.query_one(field_id, Input)
            assert field.region.height == 1 and _visible(field, screen)
        body = app.query_one("#notify-body", TextArea)
        assert body.region.height >= 5
        hint = app.query_one("#notify-hint")
        assert _visible(hint, screen) and hint.region.bottom <= log.y
        assert "esc" in str(hint.render())
        for start in ("#notify-to", "#notify-subject", "#notify-body"):
            app.query_one(start).focus()
            await pilot.press("escape")
            assert not isinstance(app.focused, Input | TextArea)
            assert app.query_one(ComposePane).has_focus is False
        await pilot.press("2")
        assert app.query_one("#tabs").active == "blocks"
        await pilot.press("3", "escape", "1")
        assert app.query_one("#tabs").active == "hosts"
        await pilot.press("3", "escape", "tab")  # tab goes back into the form
        assert app.focused is app.query_one("#notify-to")
        to = app.query_one("#notify-to", Input)
        before = to.value = "soc@example.org"
        to.cursor_position = len(before)
        await pilot.press("escape", "tab", "x")  # focus never selects: a key never wipes it
        assert to.value == before + "x"


# ---- 6. typed confirmation ----------------------------------------------------------------


async def test_typed_confirmation_focus_and_exact_match(tmp_path: Path) -> None:
    results: list[bool | None] = []
    app = IrtuiApp(_no_hosts(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        app.push_screen(ConfirmScreen(_long_plan(2), require="host1"), results.append)
        await pilot.pause(0.1)
        typed = app.screen.query_one("#confirm-typed", Input)
        assert app.focused is typed
        await pilot.press("enter")
        await pilot.press("y")
        await pilot.press("backspace", *"host1x", "enter")
        await pilot.press(*["backspace"] * 6, *"Host1", "enter")
        assert isinstance(app.screen, ConfirmScreen) and results == []
        assert _toasts(app, "warning")
        await pilot.press(*["backspace"] * 5, *"host1", "enter")
        assert results == [True]
        # no typed text: focus on Cancel, Enter cancels, y confirms
        app.push_screen(ConfirmScreen(_long_plan(2)), results.append)
        await pilot.pause(0.1)
        assert app.focused is app.screen.query_one("#cancel")
        await pilot.press("enter")
        app.push_screen(ConfirmScreen(_long_plan(2)), results.append)
        await pilot.pause(0.1)
        await pilot.press("y")
        assert results == [True, False, True]


# ---- 7. dialogs fit small terminals -------------------------------------------------------


async def test_dialogs_fit_small_terminals(tmp_path: Path) -> None:
    for size in ((80, 24), (60, 20)):
        app = IrtuiApp(_no_hosts(tmp_path))
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            for require in ("host1", None):
                app.push_screen(ConfirmScreen(_long_plan(), require=require))
                await pilot.pause(0.2)
                screen = app.screen
                wanted = ["#cancel", "#confirm", "#confirm-plan"]
                wanted += ["#confirm-typed"] if require else []
                for selector in wanted:
                    assert _visible(screen.query_one(selector), screen.region), (size, selector)
                assert screen.query_one("#confirm-plan").region.height >= 5, size
                await pilot.press("escape")
            app.push_screen(TargetPrompt("Block address(es)", "host1", "1d"))
            await pilot.pause(0.2)
            for selector in ("#prompt-targets", "#prompt-ttl", "#prompt-hosts", ".modal-hint"):
                assert _visible(app.screen.query_one(selector), app.screen.region), selector
            await pilot.press("escape")
            await pilot.press("question_mark")
            await pilot.pause(0.2)
            assert isinstance(app.screen, HelpScreen)
            for selector in ("#help-scroll", ".modal-hint"):
                assert _visible(app.screen.query_one(selector), app.screen.region), selector
            await pilot.press("escape")
            assert len(app.screen_stack) == 1


# ---- 8. help, empty blocklist, no hosts, footer -------------------------------------------


async def test_help_shows_keys_as_typed(tmp_path: Path) -> None:
    app = IrtuiApp(_no_hosts(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        keys = {line.split(None, 1)[0] for line in text.splitlines()}
        assert {"/", "?/F1", "ctrl+r", "ctrl+s", "b", "q"} <= keys
        assert "slash" not in text and "question_mark" not in text


async def test_unblock_on_empty_blocklist_says_so(lab_config: Config, clean_lab) -> None:
    app = IrtuiApp(lab_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("2", "u")
        await pilot.pause(0.2)
        assert "no blocklist entry selected" in _toasts(app, "warning")
        assert len(app.screen_stack) == 1


async def test_no_hosts_hint(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    app = IrtuiApp(_no_hosts(tmp_path, path=str(path)))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        hint = (f"no hosts configured — add [[hosts]] tables to {path} "
                "(see config.example.toml)")
        assert any(hint in line for line in _log_lines(app))
        assert hint in str(app.query_one("#host-detail").render())


async def test_footer_fits_80_columns(tmp_path: Path) -> None:
    app = IrtuiApp(_no_hosts(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        for tab in ("1", "2", "3"):
            await pilot.press(tab)
            if tab == "3":  # typing in a field hides the letter keys; Esc brings them back
                await pilot.press("escape")
            await pilot.pause(0.2)
            footer = app.query_one(Footer)
            keys = sorted(footer.query(FooterKey), key=lambda k: k.region.x)
            assert {"b", "q", "?"} <= {k.key_display for k in keys}, tab
            assert footer.max_scroll_x == 0, tab
            for left, right in pairwise(keys):
                assert left.region.right <= right.region.x, (tab, left.key, right.key)
            assert all(footer.region.contains_region(k.region) for k in keys), tab
            assert sum(k.region.width for k in keys) <= 80, tab
