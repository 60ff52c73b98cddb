"""What runs on which host, and stopping safely.

:class:`RunningActions` keeps, for the TUI, which change runs on each host and what each
host's rollback timer is doing (from the run's :class:`~irtui.core.events.RollbackEvent`\\ s),
so that the TUI never starts a second change on a busy host and, before quitting, can say
what quitting means for each one.

:class:`ActionGuard` is the part of the app that refuses a second change on a busy host
and that quits: while an action runs, ``q`` asks first;
quitting anyway (or SIGTERM, SIGHUP from a closed terminal, SIGINT) sets the run's cancel
event, waits for the running actions to leave their hosts in a known state and record their
result, then exits. Nothing on this side can stop a host's own rollback timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from textual.css.query import NoMatches

from irtui.core.events import Event, RollbackEvent, TimerPhase
from irtui.core.plan import Plan
from irtui.tui.screens import QuitScreen

STOP_WAIT_SECONDS = 30.0
"""How long quitting waits for running actions to stop and record their result (they stop
within a second or two; the hosts are safe either way, their timers run on the hosts)."""
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


_AFTER_QUIT = {
    TimerPhase.CONFIRMED: "it is confirmed and stays; its self-test will not run",
    TimerPhase.DISARMED: "nothing was isolated; it stops",
    TimerPhase.ROLLED_BACK: "the host has already rolled back by itself; it stops",
    TimerPhase.NOT_ROLLED_BACK: "the host did NOT roll back by itself and stays isolated: "
                                "check it",
    TimerPhase.UNKNOWN: "the host could not be read after its rollback deadline: check it",
}
"""What quitting means for an isolation whose timer is in each phase (armed: see
:meth:`RunningActions.question`)."""


@dataclass(frozen=True)
class _Running:
    action: str
    summary: str


class RunningActions:
    """Thread-safe record of the changes running now (worker threads report events, the UI
    thread asks questions)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, _Running] = {}
        self._timers: dict[str, tuple[TimerPhase, float | None]] = {}

    def busy(self, hosts: Iterable[str]) -> str | None:
        """Why a change on ``hosts`` must wait (one line naming what runs), or None."""
        with self._lock:
            taken = [(h, self._running[h]) for h in hosts if h in self._running]
        if not taken:
            return None
        names = ", ".join(h for h, _ in taken)
        return (f"{names}: {taken[0][1].summary} is still running — nothing was started; "
                "press the key again once it has ended")

    def start(self, plan: Plan) -> str | None:
        """Mark ``plan``'s hosts busy, unless one already is: then nothing is marked and the
        reason is returned (see :meth:`busy`)."""
        with self._lock:
            if any(h in self._running for h in plan.hosts):
                refused = True
            else:
                refused = False
                for host in plan.hosts:
                    self._running[host] = _Running(plan.action, plan.summary)
                    self._timers.pop(host, None)
        return self.busy(plan.hosts) if refused else None

    def finish(self, plan: Plan) -> None:
        """``plan`` has ended (its result is recorded): its hosts take changes again."""
        with self._lock:
            for host in plan.hosts:
                self._running.pop(host, None)
                self._timers.pop(host, None)

    def observe(self, event: Event) -> None:
        """Follow a running plan's events (any thread): rollback timer changes."""
        if isinstance(event, RollbackEvent):
            deadline = (time.monotonic() + event.seconds if event.seconds is not None
                        else None)
            with self._lock:
                self._timers[event.host] = (event.phase, deadline)

    @property
    def any(self) -> bool:
        """True while some change runs."""
        with self._lock:
            return bool(self._running)

    def question(self) -> str | None:
        """What quitting now means, one clause per busy host, or None when nothing runs."""
        with self._lock:
            running = dict(self._running)
            timers = dict(self._timers)
        parts = []
        for host, what in running.items():
            phase, deadline = timers.get(host, (None, None))
            if what.action != "isolate":
                parts.append(f"a {what.action} on {host} is in progress: quit anyway? it "
                             "stops before its next step and is recorded as interrupted")
            elif phase in (TimerPhase.ARMED, TimerPhase.LEFT_ARMED) and deadline is not None:
                left = round(deadline - time.monotonic())
                when = f"in {left} s unless confirmed" if left > 0 else "now (it is due)"
                parts.append(f"an isolation of {host} is in progress: quit anyway? the host "
                             f"will roll back by itself {when}")
            else:
                parts.append(f"an isolation of {host} is in progress: quit anyway? "
                             + _AFTER_QUIT.get(phase, "nothing is isolated yet; it stops "
                                               "without isolating"))
        return "; ".join(parts) or None


class ActionGuard:
    """Mixed into the app (before ``App``): no second change on a busy host, and quitting
    that never strands a host.

    Expects on the app: ``running`` (:class:`RunningActions`), ``cancel`` (the event passed
    to every run), ``_log(line)``, and Textual's ``notify``/``push_screen``/``exit``.
    """

    _stopping = False

    def _refuse_if_busy(self, hosts: list[str]) -> bool:
        """Toast and return True when a change already runs on one of ``hosts``."""
        reason = self.running.busy(hosts)
        if reason:
            self.notify(reason, severity="warning", timeout=10, markup=False)
        return reason is not None

    def _ask_quit(self, question: str, decided: Callable[[bool | None], None]) -> None:
        if not any(isinstance(s, QuitScreen) for s in self.screen_stack):
            self.push_screen(QuitScreen(question, self.running.question), decided)

    async def action_quit(self) -> None:
        """``q``: quit at once when nothing runs; else ask (see
        :meth:`RunningActions.question`)."""
        question = self.running.question()
        if question is None:
            self._stop(0)
            return

        def decided(anyway: bool | None) -> None:
            if anyway:
                self._stop(0)

        self._ask_quit(question, decided)

    def _stop(self, code: int) -> None:
        """Stop every running action safely, wait for their results to be recorded, exit."""
        self.cancel.set()
        if self._stopping:
            return
        self._stopping = True
        if not self.running.any:
            self.exit(code)
            return
        self._log("── quitting: running actions stop safely and record their result "
                  "(a host left armed rolls back by itself)…")
        self.run_worker(self._exit_when_stopped(code), group="quit",
                        exit_on_error=False)

    async def _exit_when_stopped(self, code: int) -> None:
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        while self.running.any and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # let the log show the results before the screen goes
        self.exit(code)

    def _install_stop_signals(self) -> None:
        """SIGTERM, SIGHUP (the terminal closed) and SIGINT stop like "quit anyway", with
        exit status 128 + the signal number. Only in a real terminal run (never in headless
        test runs, whose event loop belongs to the test process)."""
        if self.is_headless or threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._on_stop_signal, sig)

    def _on_stop_signal(self, sig: int) -> None:
        self.cancel.set()  # first, whatever else fails
        # The terminal is gone (nothing to draw or restore: Textual would spin on the dead
        # tty), or irtui is already quitting and still there: a worker thread (a report
        # of a large record) holds the process after the screen went. End it from a
        # thread once the actions have recorded their results.
        if sig == signal.SIGHUP or self._stopping:
            threading.Thread(target=self._exit_after_stopping, args=(128 + sig,),
                             daemon=True).start()
        with contextlib.suppress(NoMatches):  # no log panel once the screen is gone
            self._log(f"── {signal.Signals(sig).name} received: stopping safely")
        self._stop(128 + sig)

    def _exit_after_stopping(self, code: int) -> None:
        """Wait (in a thread) for the running actions to record their results, then end the
        process at once (os._exit: the audit trail is written file by file already)."""
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        while self.running.any and time.monotonic() < deadline:
            time.sleep(0.05)
        os._exit(code)
