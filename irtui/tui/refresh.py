"""Reading the hosts' live state, and the blocklist's aggregation, off the UI thread: every
host's firewall and rollback timer (on start, on ``ctrl+r``, after each action and every
``ui.refresh_seconds``), and a check at start that the audit trail can be written.

Poll with "worker finishes, then a timer schedules the next run" (Dolphie); skip a poll while
a dialog is open so rows never move under the responder. A mixin of
:class:`irtui.tui.app.IrtuiApp`; ``self`` is the app.
"""

from __future__ import annotations

import itertools
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from textual import work

from irtui.core.errors import IrtuiError
from irtui.core.firewall.state import HostState
from irtui.core.text import printable
from irtui.tui.blocklist import BlockModel, HostBlocks, aggregate_blocks, index_blocks
from irtui.tui.blocklist_view import BlockTable
from irtui.tui.log_panel import ERROR_MARK

if TYPE_CHECKING:
    from irtui.core.actions import Responder
    from irtui.core.config import Config
    from irtui.tui.host_view import HostView


class StateRefresh:
    """Host reads (newest read wins), the poll timer, and blocklist aggregation."""

    config: Config
    responder: Responder
    views: dict[str, HostView]

    def _init_refresh(self) -> None:
        self._blocks_generation = 0  # the newest blocklist aggregation wins
        self._reads = itertools.count(1)  # orders host reads (see the "state" event)
        self._drift_unknown = False
        self._refresh_timer: Any = None

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
            self._post("line", f"{ERROR_MARK}cannot write the audit trail in "  # type: ignore[attr-defined]
                               f"{directory} ({reason}) — set audit.dir to a writable "
                               "directory")

    def refresh_state(self, names: list[str] | None = None, probe: bool = False) -> None:
        """Read the live firewall state of ``names`` (default all hosts) in a worker.

        Args:
            probe: probe the hosts again too (their facts and backend choice), whatever the
                age of their cached profiles: ``ctrl+r`` ("read live state now") must not
                show a backend or drift from facts that changed since the last probe.
        """
        self._refresh_worker(names or list(self.views), probe)

    @work(thread=True, group="refresh", exit_on_error=False, description="read host state")
    def _refresh_worker(self, names: list[str], probe: bool = False) -> None:
        post = self._post  # type: ignore[attr-defined]
        read_back: dict[str, tuple[int, HostState]] = {}

        def read(name: str) -> None:
            profile = None
            seq = next(self._reads)  # reads that start later win, whenever they finish
            try:
                if probe:  # the probe then rides along with this read (one round trip)
                    self.responder.ctx.profiles.expire(name)
                got = self.responder.read_host(name)  # the probe rides along when due
                profile = got.profile
                state: HostState = got.state
                timer = self.responder.rollback_status(name)
                if profile is None or not profile.choice.conflict:  # else blocks unknown
                    read_back[name] = (seq, state)
                post("state", (name, seq, state, None, profile, index_blocks(state), timer))
            except IrtuiError as exc:  # may quote the host (an SSH banner, stderr): escaped
                profile = profile or self.responder.ctx.profiles.cached(name)
                post("state", (name, seq, None, printable(exc.line), profile, None, None))
            except Exception as exc:  # never let a surprise kill the TUI
                post("state", (name, seq, None, f"internal error: {exc!r}", profile, None,
                               None))

        parallel = self.config.ssh.max_parallel
        with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(names)))) as pool:
            list(pool.map(read, names))
        self._drift_of(read_back)
        post("call", self._schedule_refresh)

    def _drift_of(self, read_back: dict[str, tuple[int, HostState]]) -> None:
        """Compare the states just read with the incident record (the ≠ marks); a record
        that cannot be read leaves the marks unknown, said once in the log."""
        try:
            drifts = self.responder.drift_of({n: s for n, (_, s) in read_back.items()})
        except Exception as exc:  # never let it stop the polling
            if not self._drift_unknown:
                self._drift_unknown = True
                why = exc.line if isinstance(exc, IrtuiError) else f"internal error: {exc!r}"
                self._post("line", f"{ERROR_MARK}drift marks unknown: {why}")  # type: ignore[attr-defined]
            drifts = {}
        else:
            self._drift_unknown = False
        self._post("drift", {n: (seq, drifts.get(n)) for n, (seq, _) in read_back.items()})  # type: ignore[attr-defined]

    def _schedule_refresh(self) -> None:
        if self._refresh_timer is not None:
            self._refresh_timer.stop()
        self._refresh_timer = self.set_timer(  # type: ignore[attr-defined]
            self.config.ui.refresh_seconds, self._timed_refresh)

    def _timed_refresh(self) -> None:
        if len(self.screen_stack) > 1:  # type: ignore[attr-defined]
            self._schedule_refresh()  # a dialog is open: don't shift rows under the user
            return
        self.refresh_state()

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
            self._post("line",  # type: ignore[attr-defined]
                       f"{ERROR_MARK}internal error in the blocklist: {exc!r}")
            return
        self._post("call",  # type: ignore[attr-defined]
                   lambda: self._apply_blocklist(model, generation))

    def _apply_blocklist(self, model: BlockModel, generation: int) -> None:
        if generation == self._blocks_generation:  # else a newer aggregation is coming
            self.query_one(BlockTable).apply(model)  # type: ignore[attr-defined]

    def on_block_table_expired(self, message: BlockTable.Expired) -> None:
        """A copy of an entry on screen just expired: drop it from the view now and read
        the hosts (the truth) again."""
        self._update_blocklist()
        self.refresh_state()
