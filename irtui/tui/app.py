"""The irtui Textual application: host list, blocklist, notify compose and a live log.

The app is split by job: :mod:`~irtui.tui.bridge` (the thread → UI queue, log and toasts),
:mod:`~irtui.tui.refresh` (reading the hosts, the blocklist aggregation),
:mod:`~irtui.tui.flow` (prompt → plan → confirm → execute, cancel, retry),
:mod:`~irtui.tui.record_view` (incident, timeline, report, screenshots, drill); every key
comes from :mod:`~irtui.tui.registry`; :mod:`~irtui.tui.running` keeps one change per host
and makes quitting safe. Threads never touch widgets: workers queue events that the UI drains
every 80 ms (one batched write per tick, as k9s does).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import Static, TabbedContent, TabPane

from irtui.core.config import Config
from irtui.tui.blocklist_view import BlockPane, BlockTable
from irtui.tui.bridge import DRAIN_SECONDS, EventBridge
from irtui.tui.flow import ActionFlow
from irtui.tui.footer import KeyFooter
from irtui.tui.header import StatusHeader
from irtui.tui.help_text import help_notes
from irtui.tui.host_view import HostView
from irtui.tui.hosts_table import HostPane, HostTable
from irtui.tui.log_panel import LogPanel
from irtui.tui.palette import Command, IrtuiCommands
from irtui.tui.record_view import DrillRunner, RecordView
from irtui.tui.refresh import StateRefresh
from irtui.tui.registry import (
    ACTIONS,
    APP,
    DIALOG,
    bindings,
    current_keys,
    help_rows,
    key_display,
    specs,
)
from irtui.tui.running import ActionGuard, RunningActions
from irtui.tui.screens import HelpScreen, LogDetailScreen, TargetPrompt
from irtui.tui.themes import DEFAULT_THEME, load_themes

if TYPE_CHECKING:
    from irtui.core.actions import Responder
    from irtui.tui.compose import ComposePane

__all__ = ["DRAIN_SECONDS", "IrtuiApp", "key_display", "run_app"]

TAB_TABLES = {"hosts": HostTable, "blocks": BlockTable}


class IrtuiApp(EventBridge, StateRefresh, ActionFlow, RecordView, ActionGuard, App[int]):
    """The TUI. All actions go through one :class:`Responder` (the same API as the CLI).
    At most one change runs per host; quitting while one runs asks first and then stops it
    safely (:mod:`irtui.tui.running`).

    Args:
        config: the loaded config.
        responder: injected for tests; default builds one from ``config``.
        read_only: offer no action that changes a host (``--read-only``; also
            ``ui.read_only``).
        clock: seconds since the epoch, for the header and the log (fixed in snapshots).
        drill: runs the practice-lab drill (from the launcher), or None.
        freeze_gc: once mounted, move every object made so far out of the cyclic garbage
            collector's sight (``gc.freeze``): the app's widgets, styles and caches are
            never freed anyway, and each full collection that scanned them stopped the UI
            for 30 ms and more (``benchmarks/bench_log_panel.py``). The real program
            (:func:`run_app`) does it; tests that start many apps in one process do not.
    """

    CSS_PATH = "app.tcss"
    TITLE = "irtui"
    ENABLE_COMMAND_PALETTE = True
    COMMANDS: ClassVar = App.COMMANDS | {IrtuiCommands}
    BINDINGS: ClassVar[list[BindingType]] = bindings(APP)

    def __init__(self, config: Config, responder: Responder | None = None, *,
                 read_only: bool = False, clock: Callable[[], float] = time.time,
                 drill: DrillRunner | None = None, freeze_gc: bool = False) -> None:
        super().__init__()
        self.config = config
        self._responder = responder
        self.read_only = read_only or config.ui.read_only
        self.clock = clock
        self.drill = drill
        self.freeze_gc = freeze_gc
        self.views = {h.name: HostView(h) for h in config.hosts}
        self.cancel = threading.Event()
        self.running = RunningActions()
        self.keymap_used: dict[str, str] = {}
        self._started = False
        self._by_action = {s.action.split("(")[0]: s for s in specs(APP)}
        self._init_bridge()
        self._init_refresh()
        self._init_flow()
        self._init_record()
        self.sub_title = config.path or "config"

    @property
    def responder(self) -> Responder:
        """The session's :class:`Responder` (the core's action API), made at first use:
        importing the core's SSH and record stack takes longer than drawing the first
        frame, so :meth:`on_mount` leaves it until that frame is on screen."""
        if self._responder is None:
            from irtui.core.actions import Responder

            self._responder = Responder(self.config)
        return self._responder

    # ---- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusHeader(self.config.path or "config", self.clock, self.read_only)
        with Vertical(id="main"):
            with TabbedContent(id="tabs", initial="hosts"):
                with TabPane("1 Hosts", id="hosts"):
                    yield HostPane(id="host-pane")
                with TabPane("2 Blocklist", id="blocks"):
                    yield BlockPane(id="block-pane")
                yield TabPane("3 Notify", id="notify")  # the compose pane comes at start
            log = LogPanel(max_lines=self.config.ui.log_max_lines, clock=self.clock,
                           hosts=list(self.views), id="log")
            log.border_title = "Log"
            yield log
        yield KeyFooter()

    def on_mount(self) -> None:
        self._apply_theme()
        self._apply_keymap()
        self.query_one(HostTable).show(list(self.views.values()))
        self.query_one(HostTable).focus()
        self.set_interval(DRAIN_SECONDS, self._drain)
        self.set_interval(1.0, self.query_one(BlockTable).tick)
        self.set_interval(0.1, self.query_one(HostTable).spin)
        if not self.views:
            hint = (f"no hosts configured — add [[hosts]] tables to "
                    f"{self.config.path or 'the config file'} (see config.example.toml)")
            self.query_one("#host-detail", Static).update(hint)
        self.call_after_refresh(self._start)  # the first frame first

    async def _start(self) -> None:
        """After the first frame (or at the first key that needs it): the keyring choice,
        the session, the record, the compose pane, the first reads."""
        if self._started:
            return
        self._started = True
        from irtui.core import secret_backend
        from irtui.tui.compose import ComposePane

        secret_backend.configure(self.config.secrets)  # which keyring, before any secret
        await self.query_one("#notify", TabPane).mount(ComposePane(self.responder,
                                                                   id="notify-pane"))
        self._log(f"── irtui session {self.responder.audit.session}; "
                  f"audit trail {self.responder.audit.trail_path}")
        if self.read_only:
            self._log("── read-only: no action that changes a host is offered")
        if not self.views:
            self._log(f"note: {self.query_one('#host-detail', Static).render()}")
        self._audit_probe_worker()
        self._install_stop_signals()
        self.refresh_state()
        self.refresh_incident()
        if self.freeze_gc:
            gc.collect()
            gc.freeze()

    def _apply_theme(self) -> None:
        themes, problems = load_themes()
        for theme in themes:
            self.register_theme(theme)
        wanted = self.config.ui.theme
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            ours = sorted(t.name for t in themes)
            problems.append(f"theme {wanted!r} not found; using {DEFAULT_THEME} "
                            f"(set ui.theme to one of {', '.join(ours)})")
            if DEFAULT_THEME in self.available_themes:
                self.theme = DEFAULT_THEME
        for problem in problems:
            self._log_error(problem)

    def _apply_keymap(self) -> None:
        """``[keys]`` from the config: unknown ids and clashes are named in the log."""
        wanted = dict(self.config.ui.keys)
        known = {s.id: s for s in ACTIONS if s.scope != DIALOG and not s.hook}
        for bad in sorted(set(wanted) - set(known)):
            self._log_error(f"[keys] {bad}: no such binding id — use an id from the README's "
                            "Keys table (e.g. block, isolate, hosts.mark)")
        self.keymap_used = {k: v for k, v in wanted.items() if k in known}
        taken: dict[tuple[str, str], str] = {}
        for spec in known.values():
            for key in self.keymap_used.get(spec.id, spec.keys).split(","):
                other = taken.setdefault((spec.scope, key.strip()), spec.id)
                if other != spec.id:
                    self._log_error(f"[keys] {key.strip()} is bound to both {other} and "
                                    f"{spec.id}; give one of them another key")
        if self.keymap_used:
            self.set_keymap(self.keymap_used)

    # ---- keys ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Read-only mode removes every action that changes a host; tab-bound actions
        (``U``, ``p``, ``ctrl+s``) only show on their tab."""
        spec = self._by_action.get(action)
        if spec is None:
            return True
        if self.read_only and (spec.changes_hosts or spec.id == "cancel"):
            return False  # nothing runs in read-only mode: nothing to cancel either
        if spec.tabs:
            try:
                return self._tab() in spec.tabs
            except NoMatches:
                return False
        return True

    def on_key(self, event: events.Key) -> None:
        """A character that bubbled up from the main screen while the block prompt is open
        was typed for the prompt (a burst right after ``b``): it goes there, in order."""
        prompt = self.screen
        if isinstance(prompt, TargetPrompt) and prompt.take_key(event):
            event.stop()
            event.prevent_default()
        elif self.read_only and self.screen is self.screen_stack[0]:
            self._read_only_hint(event.key)

    def _read_only_hint(self, key: str) -> None:
        """A key that would change a host in read-only mode says why nothing happens."""
        for spec in ACTIONS:
            keys = [k.strip() for k in self.keymap_used.get(spec.id, spec.keys).split(",")]
            if spec.changes_hosts and spec.scope != DIALOG and key in keys:
                self.notify(f"read-only: {spec.label} is not offered (started with "
                            "--read-only or ui.read_only); nothing was changed",
                            severity="warning", timeout=4)
                return

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.refresh_bindings()

    async def action_tab(self, tab: str) -> None:
        await self._start()  # a key pressed before the first frame was drawn
        self._show_tab(tab)

    def _show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        target = TAB_TABLES.get(tab)
        if target is not None:
            self.query_one(target).focus()
        else:
            self.query_one("#notify-to").focus()
            # the hosts may have changed since the last fill (the CLI, another responder, a
            # timer): an untouched message is read back again, never sent stale
            self._refill_notify()

    def action_help(self) -> None:
        rows = help_rows(read_only=self.read_only, keymap=self.keymap_used,
                         palette_key=self.COMMAND_PALETTE_BINDING)
        self.push_screen(HelpScreen(rows, help_notes(self.read_only)))

    def action_refresh(self) -> None:
        self._log("── refreshing live state from every host (probing them again)")
        self.refresh_state(probe=True)

    def action_filter(self) -> None:
        """``/``: the blocklist's filter line (Enter applies, Esc clears)."""
        self.query_one(TabbedContent).active = "blocks"
        self.query_one(BlockPane).start_filter()

    # ---- the log ------------------------------------------------------------------------

    def action_focus_log(self) -> None:
        """``l``: the log takes the keys (j/k, Enter, h, s; Esc back)."""
        self.query_one(LogPanel).focus()

    def on_log_panel_leave(self, message: LogPanel.Leave) -> None:
        self._show_tab(self._tab())

    def on_log_panel_detail(self, message: LogPanel.Detail) -> None:
        self.push_screen(LogDetailScreen(self.query_one(LogPanel).line_text(message.line)))

    # ---- the command palette --------------------------------------------------------------

    def palette_commands(self) -> list[Command]:
        """Every action the mode allows, every host and group, the drill."""
        commands: list[Command] = []
        for spec in specs(APP, read_only=self.read_only):
            if spec.palette:
                keys = current_keys(spec, self.keymap_used)
                commands.append((f"{spec.label} ({keys})",
                                 lambda a=spec.action: self.call_later(self.run_action, a),
                                 spec.description))
        for host in self.config.hosts:
            name = host.name
            commands.append((f"host {name} ({host.address})",
                             lambda n=name: self._select_host(n), "select it in the host table"))
            commands.append((f"log of {name}", lambda n=name: self._log_of(n),
                             f"show only {name}'s lines in the log"))
        for group in sorted({g for h in self.config.hosts for g in h.groups}):
            members = [h.name for h in self.config.hosts if group in h.groups]
            commands.append((f"group @{group}: mark its {len(members)} hosts",
                             lambda m=members: self._mark_hosts(m),
                             f"{', '.join(members)}; the next action applies to them"))
        if self.drill is not None and not self.read_only:
            commands += [("drill: irtui contains the simulated attack (auto)",
                          lambda: self.run_drill(True), "the practice-lab exercise, unattended"),
                         ("drill: start the attack, you contain it",
                          lambda: self.run_drill(False), "block, isolate and notify in time")]
        return commands

    def incident_commands(self) -> list[Command]:
        """(thread) One command per open incident: record in it from now on."""
        recorder = self._recorder()
        if recorder is None:
            return []
        return [(f"incident {i.id}: {i.title} ({i.status.value})",
                 lambda n=i.id: self.switch_to(n), "record every action in it from now on")
                for i in recorder.register.all().values() if not i.closed]

    def _select_host(self, name: str) -> None:
        self._show_tab("hosts")
        table = self.query_one(HostTable)
        table.move_cursor(row=table.get_row_index(name))

    def _mark_hosts(self, names: list[str]) -> None:
        table = self.query_one(HostTable)
        table.marked = dict.fromkeys(names)
        table.show(list(self.views.values()))
        self._show_tab("hosts")

    def _log_of(self, name: str) -> None:
        self.query_one(LogPanel).set_filter(host=name)
        self.action_focus_log()

    # ---- notify ---------------------------------------------------------------------------

    def _compose(self) -> ComposePane:
        """The Notify tab's compose pane (imported and mounted after the first frame)."""
        return self.query_one("#notify-pane")  # type: ignore[return-value]

    def action_send(self) -> None:
        if self._tab() == "notify":
            self._compose().request_send()

    def action_fill_summary(self) -> None:
        """``ctrl+l``: refill subject and body from the template (the draft is lost)."""
        self._compose().fill_from_template(force=True)

    def _refill_notify(self) -> None:
        if not self._stopping:
            self._compose().refill()

    def on_compose_pane_log_lines(self, message: Message) -> None:
        self._write(list(getattr(message, "lines", [])))

    # ---- quitting -------------------------------------------------------------------------

    def on_unmount(self) -> None:
        self.cancel.set()
        if self._responder is not None:
            self._responder.close()
        if self.freeze_gc:
            gc.unfreeze()


def run_app(config: Config, *, read_only: bool = False, drill: DrillRunner | None = None) -> int:
    """Run the TUI until the responder quits; returns the exit code."""
    return IrtuiApp(config, read_only=read_only, drill=drill, freeze_gc=True).run() or 0
