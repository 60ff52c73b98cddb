"""The irtui Textual application: host list, blocklist, notify compose and a live log.

Threads never touch widgets: workers put events on a queue that the UI drains every 80 ms
(one batched write per tick, as k9s does), so output streams without freezing the screen.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.keys import format_key
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from irtui.core.actions import Responder
from irtui.core.config import Config
from irtui.core.durations import exact_duration
from irtui.core.errors import IrtuiError
from irtui.core.events import Countdown, Event, HostResult, OutputLine, PlanResult, StepStarted
from irtui.core.firewall.state import HostState
from irtui.core.plan import Plan
from irtui.core.text import printable
from irtui.tui.screens import ConfirmScreen, HelpScreen, TargetPrompt, TargetRequest
from irtui.tui.themes import DEFAULT_THEME, load_themes
from irtui.tui.widgets import (
    ERROR_MARK,
    STDERR_MARK,
    STDOUT_MARK,
    WAIT_MARK,
    BlockModel,
    BlockPane,
    BlockTable,
    HostBlocks,
    HostPane,
    HostTable,
    HostView,
    LogPanel,
    NotifyPane,
    aggregate_blocks,
    index_blocks,
)

DRAIN_SECONDS = 0.08
MAX_TOASTS_PER_DRAIN = 3
"""Error toasts shown at once; more errors in the same batch get one "N more" toast."""
TOAST_SECONDS = 10


def key_display(keys: str) -> str:
    """``question_mark,f1`` → ``?/F1``; ``ctrl+r`` stays ``ctrl+r``; ``slash`` → ``/``."""
    shown = []
    for key in keys.split(","):
        *modifiers, name = key.strip().split("+")
        name = format_key(name)
        if len(name) > 1 and name[0] == "f" and name[1:].isdigit():
            name = name.upper()
        shown.append("+".join([*modifiers, name]))
    return "/".join(shown)


class IrtuiApp(App[int]):
    """The TUI. All actions go through one :class:`Responder` (the same API as the CLI).

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
        self.responder = responder or Responder(config)
        self.views = {h.name: HostView(h) for h in config.hosts}
        self._blocks_generation = 0  # the newest blocklist aggregation wins
        self._planning = False  # a plan is being built: its confirmation is coming
        self.events: deque[tuple[str, Any]] = deque()
        self.cancel = threading.Event()
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
                    yield NotifyPane(list(self.config.email.to), id="notify-pane")
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
        self.query_one(NotifyPane).fill_body(self.responder.audit.summary())
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
        self.refresh_state()

    @work(thread=True, group="audit-probe", exit_on_error=False,
          description="check the audit trail is writable")
    def _audit_probe_worker(self) -> None:
        """Surface an unwritable audit directory now, not at the first action (the core
        refuses to execute without an audit trail): create it and write a probe file."""
        directory = self.responder.audit.directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=directory, prefix=".irtui-probe-") as probe:
                probe.write(b"probe\n")
        except OSError as exc:
            reason = exc.strerror or str(exc)
            self._post("line", f"{ERROR_MARK}cannot write the audit trail in {directory} "
                               f"({reason}) — set audit.dir to a writable directory")

    # ---- thread → UI bridge ---------------------------------------------------------------

    def _post(self, kind: str, payload: Any) -> None:
        """Thread-safe: queue something for the UI thread (deque.append is atomic)."""
        self.events.append((kind, payload))

    def _drain(self) -> None:
        if not self.events:
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
                lines.extend(self._render_event(payload))
            elif kind == "line":
                lines.append(payload)
            elif kind == "state":
                name, state, error, profile, blocks = payload
                view = self.views[name]
                if error and error != view.error:
                    lines.append(f"{ERROR_MARK}{error}")
                view.update(state, error, profile, blocks)
                hosts_changed = blocks_changed = True
            elif kind == "busy":
                name, text = payload
                self.views[name].busy = text
                hosts_changed = True
            elif kind == "rollback":
                name, text = payload
                self.views[name].rollback = text
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

    def _render_event(self, event: Event) -> list[str]:
        if isinstance(event, OutputLine):
            mark = STDOUT_MARK if event.stream == "stdout" else STDERR_MARK
            return [f"{event.host}{mark}{event.line}"]
        if isinstance(event, StepStarted):
            return [f"$ {event.host}: {event.command}   # {event.purpose}"]
        if isinstance(event, HostResult):
            if event.ok:
                return [f"✓ {event.host}: {event.message} ({event.duration:.2f} s)"]
            return [f"{ERROR_MARK}{event.host}: {event.message}"]
        if isinstance(event, PlanResult):
            good, bad = event.counts
            return [f"── {event.summary}: {good} ok, {bad} failed"]
        return []

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

    # ---- state refresh --------------------------------------------------------------------

    def refresh_state(self, names: list[str] | None = None) -> None:
        """Read the live firewall state of ``names`` (default all hosts) in a worker."""
        self._refresh_worker(names or list(self.views))

    @work(thread=True, group="refresh", exit_on_error=False, description="read host state")
    def _refresh_worker(self, names: list[str]) -> None:
        def read(name: str) -> None:
            profile = None
            try:
                profile = self.responder.profile(name)  # probed once, then cached
                state: HostState = self.responder.read_state(name)
                self._post("state", (name, state, None, profile, index_blocks(state)))
                self._post("rollback", (name, str(self.responder.rollback_status(name))))
            except IrtuiError as exc:  # may quote the host (an SSH banner, stderr): escaped
                self._post("state", (name, None, printable(exc.line), profile, None))
            except Exception as exc:  # never let a surprise kill the TUI
                self._post("state", (name, None, f"internal error: {exc!r}", profile, None))

        with ThreadPoolExecutor(max_workers=max(1, min(16, len(names)))) as pool:
            list(pool.map(read, names))
        self._post("call", self._schedule_refresh)

    def _schedule_refresh(self) -> None:
        timer = getattr(self, "_refresh_timer", None)
        if timer is not None:
            timer.stop()
        self._refresh_timer = self.set_timer(self.config.ui.refresh_seconds, self._timed_refresh)

    def _timed_refresh(self) -> None:
        if len(self.screen_stack) > 1:  # a modal is open: don't shift rows under the user
            self._schedule_refresh()
            return
        self.refresh_state()

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
                 ("tab", "next field / button"),
                 ("esc", "close a dialog · leave the notify fields · clear the filter"),
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
            request.targets.replace(",", " ").split(), request.hosts.replace(",", " ").split(),
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
            request.targets.replace(",", " ").split(), request.hosts.replace(",", " ").split()))

    def action_isolate(self) -> None:
        host = self._selected_host()
        if host:
            self._plan_then_confirm(lambda: self.responder.plan_isolate([host]))

    def action_release(self) -> None:
        host = self._selected_host()
        if host:
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
        self._log(f"── {plan.summary}")
        for host in plan.hosts:
            self.views[host].busy = f"⟳ {plan.action}…"
        self.query_one(HostTable).show(list(self.views.values()))
        self._execute_worker(plan)

    @work(thread=True, group="action", exit_on_error=False, description="run plan")
    def _execute_worker(self, plan: Plan) -> None:
        started = time.monotonic()
        done: set[str] = set()
        try:
            result = self.responder.execute(plan, lambda e: self._post("event", e), self.cancel)
            for r in result.results:
                mark, outcome = ("✓", "ok") if r.ok else ("✗", "failed")
                self._post("busy", (r.host, f"{mark} {plan.action} {outcome}"))
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
            self._post("call", lambda: self.refresh_state(plan.hosts))
            self._post("call", lambda: self.query_one(NotifyPane).refill_body(
                self.responder.audit.summary()))

    def action_send(self) -> None:
        if self.query_one(TabbedContent).active == "notify":
            self.query_one(NotifyPane).request_send()

    def action_fill_summary(self) -> None:
        """``ctrl+l``: replace the body with the session summary (the draft is lost)."""
        self.query_one(NotifyPane).fill_body(self.responder.audit.summary())

    @on(NotifyPane.Send)
    def _send(self, message: NotifyPane.Send) -> None:
        self._log(f"── sending email '{message.subject}'")
        self._send_worker(message.to, message.subject, message.body)

    @work(thread=True, group="notify", exit_on_error=False, description="send email")
    def _send_worker(self, to: list[str], subject: str, body: str) -> None:
        try:
            message_id = self.responder.notify_email(to, subject, body)
            self._post("line", f"✓ email sent ({message_id})")
        except IrtuiError as exc:
            self._post("line", f"{ERROR_MARK}{exc.line}")
        except Exception as exc:
            self._post("line", f"{ERROR_MARK}internal error while sending: {exc!r}")

    async def action_quit(self) -> None:
        self.cancel.set()
        self.exit(0)

    def on_unmount(self) -> None:
        self.cancel.set()
        self.responder.close()


def run_app(config: Config) -> int:
    """Run the TUI until the responder quits; returns the exit code."""
    return IrtuiApp(config).run() or 0
