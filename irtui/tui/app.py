"""The irtui Textual application: host list, blocklist, notify compose and a live log.

Threads never touch widgets: workers put events on a queue that the UI drains every 80 ms
(one batched write per tick, as k9s does), so output streams without freezing the screen.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from irtui.core import secret_backend
from irtui.core.actions import Responder
from irtui.core.config import Config
from irtui.core.durations import exact_duration
from irtui.core.errors import IrtuiError
from irtui.core.events import (
    Countdown,
    Event,
    Outcome,
)
from irtui.core.ioc_paste import split_pasted
from irtui.core.plan import Plan
from irtui.core.text import printable
from irtui.tui.blocklist import BlockModel, HostBlocks, aggregate_blocks
from irtui.tui.blocklist_view import BlockPane, BlockTable
from irtui.tui.compose import ComposePane
from irtui.tui.eventlog import event_lines
from irtui.tui.host_view import HostView
from irtui.tui.hosts_table import HostPane, HostTable
from irtui.tui.log_panel import ERROR_MARK, WAIT_MARK, LogPanel
from irtui.tui.refresh import LiveState
from irtui.tui.running import ActionGuard, RunningActions
from irtui.tui.screens import (
    ConfirmScreen,
    HelpScreen,
    TargetPrompt,
    TargetRequest,
    key_display,
)
from irtui.tui.themes import DEFAULT_THEME, load_themes

DRAIN_SECONDS = 0.08
MAX_TOASTS_PER_DRAIN = 3
"""Error toasts shown at once; more errors in the same batch get one "N more" toast."""
TOAST_SECONDS = 10


class IrtuiApp(ActionGuard, LiveState, App[int]):
    """The TUI. All actions go through one :class:`Responder` (the same API as the CLI).
    At most one change runs per host; quitting while one runs asks first and then stops it
    safely (:mod:`irtui.tui.running`).

    Args:
        config: the loaded config.
        responder: injected for tests; default builds one from ``config``.
    """

    CSS_PATH = "app.tcss"
    TITLE = "irtui"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("b", "block", "Block", id="block"),
        Binding("u", "unblock", "Unblock", id="unblock"),
        Binding("i", "isolate", "Isolate", id="isolate"),
        Binding("r", "release", "Release", id="release"),
        Binding("ctrl+r", "refresh", "Refresh", id="refresh", show=False),
        Binding("1", "tab('hosts')", "Hosts", id="tab.hosts", show=False),
        Binding("2", "tab('blocks')", "Blocklist", id="tab.blocks", show=False),
        Binding("3", "tab('notify')", "Notify", id="tab.notify", show=False),
        Binding("ctrl+s", "send", "Send", id="send", show=False),
        Binding("ctrl+l", "fill_summary", "Summary", id="fill_summary", show=False),
        Binding("slash", "filter", "Filter", id="filter", show=False),
        Binding("question_mark,f1", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    def __init__(self, config: Config, responder: Responder | None = None) -> None:
        super().__init__()
        self.config = config
        secret_backend.configure(config.secrets)  # which keyring, before any secret is used
        self.responder = responder or Responder(config)
        self.views = {h.name: HostView(h) for h in config.hosts}
        self._blocks_generation = 0  # the newest blocklist aggregation wins
        self._planning = False  # a plan is being built: its confirmation is coming
        self._reads = itertools.count(1)  # orders host reads (see the "state" event)
        self.events: deque[tuple[str, Any]] = deque()
        self.cancel = threading.Event()
        self.running = RunningActions()
        self.sub_title = config.path or "config"

    # ---- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(show_clock=True)
        with Vertical(id="main"):
            with TabbedContent(id="tabs", initial="hosts"):
                with TabPane("1 Hosts", id="hosts"):
                    yield HostPane(id="host-pane")
                with TabPane("2 Blocklist", id="blocks"):
                    yield BlockPane(id="block-pane")
                with TabPane("3 Notify", id="notify"):
                    yield ComposePane(self.responder, id="notify-pane")
            log = LogPanel(max_lines=self.config.ui.log_max_lines, id="log")
            log.border_title = "Log"
            yield log
        yield Footer()

    def on_mount(self) -> None:
        themes, problems = load_themes()
        for theme in themes:
            self.register_theme(theme)
        wanted = self.config.ui.theme
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            problems.append(f"theme {wanted!r} not found; using {DEFAULT_THEME} "
                            "(set ui.theme to irtui-dark or irtui-light)")
            if DEFAULT_THEME in self.available_themes:
                self.theme = DEFAULT_THEME
        for problem in problems:
            self._log_error(problem)
        self.query_one(HostTable).show(list(self.views.values()))
        self.query_one(HostTable).focus()
        self.set_interval(DRAIN_SECONDS, self._drain)
        self.set_interval(1.0, self.query_one(BlockTable).tick)
        self._log(f"── irtui session {self.responder.audit.session}; "
                  f"audit trail {self.responder.audit.trail_path}")
        if not self.views:
            hint = (f"no hosts configured — add [[hosts]] tables to "
                    f"{self.config.path or 'the config file'} (see config.example.toml)")
            self._log(f"note: {hint}")
            self.query_one("#host-detail", Static).update(hint)
        self._audit_probe_worker()
        self._install_stop_signals()
        self.refresh_state()

    # ---- thread → UI bridge ---------------------------------------------------------------

    def _post(self, kind: str, payload: Any) -> None:
        """Thread-safe: queue something for the UI thread (deque.append is atomic)."""
        self.events.append((kind, payload))

    def _drain(self) -> None:
        if not self.events or not self.is_running:  # nothing to show, or no screen left
            return
        lines: list[str] = []
        hosts_changed = blocks_changed = False
        while self.events:
            kind, payload = self.events.popleft()
            if kind == "event" and isinstance(payload, Countdown):
                self.views[payload.host].busy = f"⏳ {payload.what} {payload.seconds}s"
                hosts_changed = True
                if payload.seconds % 5 == 0:
                    lines.append(f"{WAIT_MARK}{payload.host}: waiting for the host's "
                                 f"{payload.what}: {payload.seconds} s left")
            elif kind == "event":
                lines.extend(event_lines(payload))
            elif kind == "line":
                lines.append(payload)
            elif kind == "state":
                name, seq, state, error, profile, blocks, timer = payload
                view = self.views[name]
                if seq < view.read_seq:  # a slower, older read: never show stale state
                    continue
                view.read_seq = seq
                if error and error != view.error:
                    lines.append(f"{ERROR_MARK}{error}")
                view.update(state, error, profile, blocks)
                if timer is not None:
                    view.rollback = timer
                hosts_changed = blocks_changed = True
            elif kind == "busy":
                name, text = payload
                self.views[name].busy = text
                hosts_changed = True
            elif kind == "call":
                payload()
        if lines:
            self._write(lines)
        if hosts_changed:
            with self.batch_update():
                self.query_one(HostTable).show(list(self.views.values()))
        if blocks_changed:
            self._update_blocklist()

    def _update_blocklist(self) -> None:
        """Aggregate every host's blocklist by entry in a worker (50,000 entries take a
        noticeable fraction of a second); the table then updates its rows in place."""
        self._blocks_generation += 1
        self._aggregate_worker([v.snapshot() for v in self.views.values()],
                               self._blocks_generation)

    @work(thread=True, group="blocklist", exit_on_error=False,
          description="aggregate blocklists")
    def _aggregate_worker(self, hosts: list[HostBlocks], generation: int) -> None:
        try:
            model = aggregate_blocks(hosts)
        except Exception as exc:  # never let a surprise kill the TUI
            self._post("line", f"{ERROR_MARK}internal error in the blocklist: {exc!r}")
            return
        self._post("call", lambda: self._apply_blocklist(model, generation))

    def _apply_blocklist(self, model: BlockModel, generation: int) -> None:
        if generation == self._blocks_generation:  # else a newer aggregation is coming
            self.query_one(BlockTable).apply(model)

    def _write(self, lines: list[str]) -> None:
        """The one place log lines are written, control characters escaped (``printable``).
        irtui's own error lines (``ERROR_MARK``: failed host results, refused input,
        unreachable hosts…) also pop up as a toast, which wraps, so the fix half of
        ``problem — fix`` is never cut off at 80 columns. Remote stderr lines (``host ! …``)
        are only logged."""
        lines = [printable(line) for line in lines]  # a host's output never drives the tty
        self.query_one(LogPanel).write_lines(lines)
        errors = [line.removeprefix(ERROR_MARK) for line in lines
                  if line.startswith(ERROR_MARK)]
        for text in errors[:MAX_TOASTS_PER_DRAIN]:
            self.notify(text, severity="error", timeout=TOAST_SECONDS, markup=False)
        if len(errors) > MAX_TOASTS_PER_DRAIN:
            self.notify(f"{len(errors) - MAX_TOASTS_PER_DRAIN} more errors — see the log",
                        severity="error", timeout=TOAST_SECONDS, markup=False)

    def _log(self, line: str) -> None:
        self._write([line])

    def _log_error(self, line: str) -> None:
        self._write([f"{ERROR_MARK}{line}"])

    # ---- actions --------------------------------------------------------------------------

    def _selected_host(self) -> str | None:
        return self.query_one(HostTable).selected_host()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        target = {"hosts": HostTable, "blocks": BlockTable}.get(tab)
        if target is not None:
            self.query_one(target).focus()
        else:
            self.query_one("#notify-to").focus()

    def action_help(self) -> None:
        rows = [(key_display(b.key), b.description)
                for b in self.BINDINGS if isinstance(b, Binding)]
        rows += [("j/k ↑/↓", "move in a table"),
                 ("g/G", "first / last blocklist entry (also home/end, pgup/pgdn)"),
                 ("tab", "next field / button"),
                 ("esc", "close a dialog · leave the notify fields · clear the filter"),
                 ("ctrl+o / ctrl+g", "notify: preview per channel / store a missing secret"),
                 ("y/n", "confirm / cancel a plan"),
                 ("⏎", "confirm when the host name was typed")]
        if self.ENABLE_COMMAND_PALETTE:
            rows.append((key_display(self.COMMAND_PALETTE_BINDING), "command palette"))
        self.push_screen(HelpScreen(rows))

    def action_refresh(self) -> None:
        self._log("── refreshing live state from every host")
        self.refresh_state()

    def action_filter(self) -> None:
        """``/``: the blocklist's filter line (Enter applies, Esc clears)."""
        self.query_one(TabbedContent).active = "blocks"
        self.query_one(BlockPane).start_filter()

    def action_block(self) -> None:
        host = self._selected_host() or ""
        ttl = exact_duration(self.config.firewall.default_ttl)  # prefilled; empty is refused
        self.push_screen(TargetPrompt("Block address(es) — the IOC to drop", host, ttl),
                         self._block_requested)

    def _block_requested(self, request: TargetRequest | None) -> None:
        if request is None:
            return
        self._plan_then_confirm(lambda: self.responder.plan_block(
            split_pasted(request.targets), request.hosts.replace(",", " ").split(),
            request.ttl))  # as the CLI's --ttl: empty is refused, the default is prefilled

    def action_unblock(self) -> None:
        if self.query_one(TabbedContent).active == "blocks":
            row = self.query_one(BlockTable).selected()
            if row is None:
                self.notify("no blocklist entry selected", severity="warning")
                return
            if row.unreachable:
                self._log(f"note: {row.entry} is also in the last known blocklist of "
                          f"unreachable {', '.join(row.unreachable)}: not included")
            if not row.targets:
                self.notify(f"{row.entry} is only on unreachable hosts", severity="warning")
                return
            entry, hosts = row.entry, list(row.targets)
            self._plan_then_confirm(lambda: self.responder.plan_unblock([entry], hosts))
            return
        self.push_screen(TargetPrompt("Unblock address(es)", self._selected_host() or "", None),
                         self._unblock_requested)

    def _unblock_requested(self, request: TargetRequest | None) -> None:
        if request is None:
            return
        self._plan_then_confirm(lambda: self.responder.plan_unblock(
            split_pasted(request.targets), request.hosts.replace(",", " ").split()))

    def action_isolate(self) -> None:
        host = self._selected_host()
        if host and not self._refuse_if_busy([host]):
            self._plan_then_confirm(lambda: self.responder.plan_isolate([host]))

    def action_release(self) -> None:
        host = self._selected_host()
        if host and not self._refuse_if_busy([host]):
            self._plan_then_confirm(lambda: self.responder.plan_release([host]))

    def _plan_then_confirm(self, build: Callable[[], Plan]) -> None:
        if self._planning:  # e.g. `i` pressed twice: one confirmation, not two stacked
            self.notify("a plan is already being prepared", severity="warning")
            return
        self._planning = True
        self._log("── reading live state to build the plan…")
        self._plan_worker(build)

    def _planned(self) -> None:
        self._planning = False

    @work(thread=True, group="plan", exit_on_error=False, description="build plan")
    def _plan_worker(self, build: Callable[[], Plan]) -> None:
        try:
            plan = build()
        except IrtuiError as exc:
            self._post("line", f"{ERROR_MARK}{exc.line}")
        except Exception as exc:
            self._post("line", f"{ERROR_MARK}internal error while planning: {exc!r}")
        else:
            self._post("call", lambda: self._confirm(plan))
        finally:  # after the confirmation was pushed (the queue keeps the order)
            self._post("call", self._planned)

    def _confirm(self, plan: Plan) -> None:
        if plan.steps and self._refuse_if_busy(plan.hosts):
            return
        for note in plan.notes:
            self._log(f"note: {note}")
        if not plan.steps:
            self._log(f"── {plan.summary}: nothing to do — "
                      + "; ".join(f"{h}: {why}" for h, why in plan.skipped.items()))
            return

        def decided(ok: bool | None) -> None:
            if ok:
                self._execute(plan)
            else:
                self._log(f"── cancelled: {plan.summary}")

        self.push_screen(ConfirmScreen(plan, require=plan.confirm_text), decided)

    def _execute(self, plan: Plan) -> None:
        refused = self.running.start(plan)
        if refused:
            self.notify(refused, severity="warning", timeout=TOAST_SECONDS, markup=False)
            self._log(f"── not started: {refused}")
            return
        self._log(f"── {plan.summary}")
        for host in plan.hosts:
            self.views[host].busy = f"⟳ {plan.action}…"
        self.query_one(HostTable).show(list(self.views.values()))
        self._execute_worker(plan)

    @work(thread=True, group="action", exit_on_error=False, description="run plan")
    def _execute_worker(self, plan: Plan) -> None:
        started = time.monotonic()
        done: set[str] = set()

        def on_event(event: Event) -> None:
            self.running.observe(event)
            self._post("event", event)

        try:
            result = self.responder.execute(plan, on_event, self.cancel)
            for r in result.results:
                mark = "✓" if r.ok else "?" if r.outcome is Outcome.INCONCLUSIVE else "✗"
                word = "ok" if r.ok else r.outcome.value
                self._post("busy", (r.host, f"{mark} {plan.action} {word}"))
                done.add(r.host)
        except IrtuiError as exc:
            self._post("line", f"{ERROR_MARK}{exc.line}")
        except Exception as exc:
            self._post("line", f"{ERROR_MARK}internal error while executing: {exc!r}")
        finally:  # never leave a row at "⟳ block…"
            for host in plan.hosts:
                if host not in done:
                    self._post("busy", (host, f"✗ {plan.action} failed"))
            self._post("line", f"── took {time.monotonic() - started:.2f} s")
            self._post("call", lambda: self._after_action(plan))
            self.running.finish(plan)  # last: quitting waits for this

    def _after_action(self, plan: Plan) -> None:
        if not self._stopping:
            self.refresh_state(plan.hosts)
            self.query_one(ComposePane).refill()

    def action_send(self) -> None:
        if self.query_one(TabbedContent).active == "notify":
            self.query_one(ComposePane).request_send()

    def action_fill_summary(self) -> None:
        """``ctrl+l``: refill subject and body from the template (the draft is lost)."""
        self.query_one(ComposePane).fill_from_template(force=True)

    @on(ComposePane.LogLines)
    def _compose_log(self, message: ComposePane.LogLines) -> None:
        self._write(message.lines)

    def on_unmount(self) -> None:
        self.cancel.set()
        self.responder.close()


def run_app(config: Config) -> int:
    """Run the TUI until the responder quits; returns the exit code."""
    return IrtuiApp(config).run() or 0
