"""Reading the hosts' live state for the TUI, in worker threads: every host's firewall and
rollback timer (on start, on ``ctrl+r``, after each action and every ``ui.refresh_seconds``),
and a check at start that the audit trail can be written."""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor

from textual import work

from irtui.core.errors import IrtuiError
from irtui.core.firewall.state import HostState
from irtui.core.text import printable
from irtui.tui.blocklist import index_blocks
from irtui.tui.log_panel import ERROR_MARK


class LiveState:
    """Mixed into the app (before ``App``). Expects ``responder``, ``config``, ``views``,
    ``_post(kind, payload)`` and Textual's ``set_timer``/``screen_stack`` on the app."""

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

    def refresh_state(self, names: list[str] | None = None) -> None:
        """Read the live firewall state of ``names`` (default all hosts) in a worker."""
        self._refresh_worker(names or list(self.views))

    @work(thread=True, group="refresh", exit_on_error=False, description="read host state")
    def _refresh_worker(self, names: list[str]) -> None:
        def read(name: str) -> None:
            profile = None
            seq = next(self._reads)  # reads that start later win, whenever they finish
            try:
                got = self.responder.read_host(name)  # the probe rides along when due
                profile = got.profile
                state: HostState = got.state
                timer = self.responder.rollback_status(name)
                self._post("state", (name, seq, state, None, profile, index_blocks(state),
                                     timer))
            except IrtuiError as exc:  # may quote the host (an SSH banner, stderr): escaped
                profile = profile or self.responder.ctx.profiles.cached(name)
                self._post("state", (name, seq, None, printable(exc.line), profile, None,
                                     None))
            except Exception as exc:  # never let a surprise kill the TUI
                self._post("state", (name, seq, None, f"internal error: {exc!r}", profile,
                                     None, None))

        parallel = self.config.ssh.max_parallel
        with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(names)))) as pool:
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

