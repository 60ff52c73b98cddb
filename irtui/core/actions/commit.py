"""Commit-confirmed isolation of one host: the steps that make sure the host ends either
confirmed-isolated or rolled back by itself, whatever happens on the responder's side (quit,
Ctrl-C, SIGTERM, a closed terminal, SIGKILL) or on the host's (sshd killed, unreachable,
packet loss, another irtui run). The pattern is that of Junos ``commit confirmed`` and
``iptables-apply(8)``.

The steps, in order: save the rulesets; take the self-test's baseline (the canary must be
reachable before isolating); arm a rollback timer on the host; check and apply the isolation;
confirm over a NEW SSH connection (which disarms the timer); self-test (the canary must now
time out).

The rules:

- The timer lives on the host (its own session, SIGHUP ignored): nothing on the responder's
  side can stop it. irtui disarms it only by the confirmation over a new connection, or when
  nothing was isolated (the apply failed atomically, was refused, or never ran). Its token
  makes sure irtui only ever disarms the timer it armed itself.
- Every isolation command runs through :func:`~irtui.core.rollback.guarded`: a command that
  reaches the host late (after the timer fired) is refused, never applied.
- Arm, apply and confirm are never cut off half-way: they run to their exit status (bounded
  by the SSH timeouts), so irtui always knows what the host did.
- A cancel (quit, Ctrl-C, SIGTERM) before the arm stops with nothing changed; after the arm
  but before the apply, irtui disarms (nothing applied); once applied, irtui does not confirm
  and reports when the host rolls back by itself. Every change of the timer is a
  :class:`~irtui.core.events.RollbackEvent`, which the audit trail records as it happens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from irtui.core.actions.context import ActionContext
from irtui.core.actions.runner import run_captured
from irtui.core.audit import utc_now
from irtui.core.endpoints import join_port
from irtui.core.errors import IrtuiError
from irtui.core.events import Countdown, EventSink, Outcome, OutputCallback, RollbackEvent
from irtui.core.events import TimerPhase as Phase
from irtui.core.executor import failure_reason
from irtui.core.filenames import file_component
from irtui.core.firewall.backend import Command, FirewallBackend
from irtui.core.hostlock import ROLLBACK_LOCK_WAIT_SECONDS, locked
from irtui.core.plan import Step, StepOutcome, command_line
from irtui.core.rollback import (
    GUARD_REFUSED,
    CanaryResult,
    arm_command,
    canary_command,
    disarm_command,
    guarded,
    new_token,
    parse_canary,
    snapshot_command,
)
from irtui.core.settings import HostConfig
from irtui.core.ssh import SSHPool

ROLLBACK_GRACE_SECONDS = 3
"""How long past the timer's deadline irtui waits before reading back whether the host
rolled back (the timer's own ``sleep`` and the rollback script take a moment)."""

STANDS = "(the isolation itself is applied and confirmed: check isolation.allow)"
Cancel = threading.Event | None
IsolationBuilder = Callable[[str], list[Command]]
"""``build(since) -> commands`` applying the isolation, ``since`` stamped into the ruleset."""


def _done(started: float, stdout: str = "", stderr: str = "", code: int = 0,
          verdict: Outcome | None = None) -> StepOutcome:
    return StepOutcome(code, time.monotonic() - started, stdout, stderr, verdict)


def _interrupted(started: float, message: str) -> StepOutcome:
    return _done(started, stderr=message, code=130, verdict=Outcome.INTERRUPTED)


class CommitConfirmed:
    """The local steps of one host's commit-confirmed isolation.

    Args:
        ctx: the session.
        host: the host being isolated.
        backend: its firewall backend (its rollback script is what the timer runs).
        timeout: seconds from arming until the host rolls back by itself.
        canary: ``(address, port)`` for the self-test, or None for none.
    """

    def __init__(self, ctx: ActionContext, host: HostConfig, backend: FirewallBackend,
                 timeout: int, canary: tuple[str, int] | None) -> None:
        self.ctx = ctx
        self.host = host
        self.timeout = timeout
        self.canary = canary
        self.token = new_token()
        self.snapshot = snapshot_command()
        # The host's change lock (irtui.core.hostlock) serialises changes with other irtui
        # runs; the timer's own rollback takes it too, but runs anyway if it stays busy.
        undo = locked(backend.rollback_command(), "rollback", ROLLBACK_LOCK_WAIT_SECONDS,
                      run_anyway=True)
        self.arm = locked(arm_command(host.name, timeout, undo, self.token), "isolate",
                          ctx.lock_wait)
        self.disarm = disarm_command(host.name, self.token)
        self.armed_at: float | None = None  # time.monotonic() when the host armed it
        self.baseline: tuple[CanaryResult, str] | None = None
        self.since = ""
        self._commands: list[Command] = []
        audit = ctx.audit
        self.saved = audit.directory / (f"{file_component(audit.session)}-"
                                        f"{file_component(host.name)}-rulesets-before.txt")

    # ---- the plan -------------------------------------------------------------------------

    def _guarded(self, command: Command) -> Command:
        """An isolation command that runs only under the host's change lock and while this
        run's timer is armed (:func:`~irtui.core.rollback.guarded`)."""
        return locked(guarded(command, self.host.name, self.token), "isolate",
                      self.ctx.lock_wait)

    def line(self, argv: Sequence[str]) -> str:
        """The command line for ``argv`` on this host."""
        return command_line(self.host, argv)

    def steps(self, build: IsolationBuilder, plan_since: str) -> list[Step]:
        """Every step, in order. The isolation commands shown are those of ``build`` at
        ``plan_since``; the ones run are rebuilt with the time they are applied."""
        name = self.host.name
        steps = [Step(name, self.line(self.snapshot.argv), self.snapshot.purpose,
                      local=self.save)]
        if self.canary is not None:
            before = canary_command(*self.canary, before=True)
            steps.append(Step(name, self.line(before.argv), before.purpose,
                              local=self.take_baseline))
        steps.append(Step(name, self.line(self.arm.argv), self.arm.purpose,
                          local=self.arm_timer))
        shown = [self._guarded(c) for c in build(plan_since)]
        for i, command in enumerate(shown):
            steps.append(Step(name, self.line(command.argv), command.purpose, command.stdin,
                              local=self._apply_step(build, i, len(shown))))
        steps.append(Step(name, "# over a NEW SSH connection: " + self.line(self.disarm.argv),
                          "confirm over a new SSH connection, then disarm the rollback",
                          report_prefix="confirmed", local=self.confirm))
        if self.canary is not None:
            after = canary_command(*self.canary, before=False)
            steps.append(Step(name, self.line(after.argv), after.purpose,
                              report_prefix="self-test", local=self.self_test))
        return steps

    # ---- helpers --------------------------------------------------------------------------

    def _left(self) -> int:
        armed_at = self.armed_at if self.armed_at is not None else time.monotonic()
        return max(0, round(armed_at + self.timeout - time.monotonic()))

    def _when(self) -> str:
        left = self._left()
        at = time.strftime("%H:%M:%S", time.gmtime(time.time() + left))
        return f"in {left} s (at {at} UTC)"

    def _phase(self, on_event: EventSink, phase: Phase, detail: str,
               seconds: int | None = None) -> None:
        on_event(RollbackEvent(self.host.name, phase, seconds, detail))

    def _run(self, command: Command, on_output: OutputCallback | None,
             cancel: Cancel) -> StepOutcome:
        return run_captured(self.ctx.pool, self.host, self.line(command.argv), on_output,
                            cancel, command.stdin)

    def _disarm_unapplied(self, on_event: EventSink) -> str:
        """Disarm this run's timer because nothing was isolated; say what happened."""
        try:
            result = self._run(self.disarm, None, None)
        except IrtuiError as exc:
            self._phase(on_event, Phase.LEFT_ARMED, exc.line, self._left())
            return (f"could not disarm the rollback timer ({exc.line}); it fires harmlessly "
                    f"{self._when()}")
        if result.exit_code == 0:
            self._phase(on_event, Phase.DISARMED, "nothing was isolated")
            return "rollback timer disarmed"
        if result.exit_code == 4:
            self._phase(on_event, Phase.ROLLED_BACK, "the timer had fired; nothing was isolated")
            return "the rollback timer had already fired"
        why = result.stderr.strip().splitlines()[-1:] or [f"exit {result.exit_code}"]
        self._phase(on_event, Phase.LEFT_ARMED, why[0], self._left())
        return f"could not disarm the rollback timer ({why[0]}); it fires harmlessly {self._when()}"

    # ---- the steps ------------------------------------------------------------------------

    def save(self, on_output: OutputCallback, cancel: Cancel, on_event: EventSink) -> StepOutcome:
        """Dump every ruleset of the host into the audit directory (SHA-256 in the trail)."""
        started = time.monotonic()
        try:
            if cancel is not None and cancel.is_set():
                return _interrupted(started, "interrupted before any change")
            outcome = self._run(self.snapshot, None, cancel)
        except IrtuiError:
            if cancel is not None and cancel.is_set():
                return _interrupted(started, "interrupted before any change")
            raise
        self.ctx.audit.save_text(self.saved, outcome.stdout)
        on_output("stdout", f"saved {len(outcome.stdout.encode())} bytes to {self.saved}")
        return outcome

    def take_baseline(self, on_output: OutputCallback, cancel: Cancel,
                      on_event: EventSink) -> StepOutcome:
        """Try the canary before isolating: only if it is reachable now does its being
        unreachable afterwards prove anything. Never fails the isolation."""
        started = time.monotonic()
        if cancel is not None and cancel.is_set():
            return _interrupted(started, "interrupted before any change")
        assert self.canary is not None
        try:
            outcome = self._run(canary_command(*self.canary, before=True), on_output, cancel)
        except IrtuiError:
            if cancel is not None and cancel.is_set():
                return _interrupted(started, "interrupted before any change")
            raise
        self.baseline = parse_canary(outcome.stdout)
        result, detail = self.baseline
        where = join_port(*self.canary)
        text = (f"canary {where} reachable before isolating ({result.value})" if result.path_works
                else f"canary {where} NOT reachable before isolating ({result.value}"
                + (f": {detail}" if detail else "") + "): the self-test will prove nothing")
        on_output("stdout" if result.path_works else "stderr", f"self-test baseline: {text}")
        return _done(started, outcome.stdout)

    def arm_timer(self, on_output: OutputCallback, cancel: Cancel,
                  on_event: EventSink) -> StepOutcome:
        """Arm the rollback on the host (never cut off half-way) and note when."""
        started = time.monotonic()
        if cancel is not None and cancel.is_set():
            return _interrupted(started, "interrupted before any change")
        try:
            outcome = self._run(self.arm, on_output, None)
        except IrtuiError as exc:
            self.armed_at = started
            self._phase(on_event, Phase.ARMED, "the arming's result is unknown", self.timeout)
            return _done(started, stderr=f"lost the host while arming the rollback timer "
                         f"({exc.line}); nothing was isolated; "
                         f"{self._disarm_unapplied(on_event)}", code=1)
        if outcome.exit_code == 3:
            said = (outcome.stderr.strip().splitlines() or [""])[-1]
            when = f" {said[said.find('(pid '):]}" if "(pid " in said else ""  # when it fires
            return _done(started, stderr=f"a rollback timer is already armed on the host{when} "
                         "(another isolation runs or was interrupted, or one was released "
                         "before its confirmation; it fires by itself, then isolate again); "
                         "nothing was changed", code=3)
        if outcome.exit_code == 0:
            self.armed_at = started
            self._phase(on_event, Phase.ARMED,
                        f"the host removes the isolation by itself {self._when()} unless "
                        "confirmed", self.timeout)
        return outcome

    def _apply_step(self, build: IsolationBuilder, index: int, count: int):  # type: ignore[no-untyped-def]
        def apply(on_output: OutputCallback, cancel: Cancel, on_event: EventSink) -> StepOutcome:
            return self.apply(build, index, count, on_output, cancel, on_event)
        return apply

    def apply(self, build: IsolationBuilder, index: int, count: int, on_output: OutputCallback,
              cancel: Cancel, on_event: EventSink) -> StepOutcome:
        """Run isolation command ``index`` of ``count`` (rebuilt at the first, with the time
        it is applied as ``since``), guarded, never cut off half-way. On failure nothing was
        isolated (each command is one transaction), so the timer is disarmed; when the
        command's fate is unknown the timer stays armed and irtui waits for the rollback."""
        started = time.monotonic()
        if cancel is not None and cancel.is_set():
            return _interrupted(started, "interrupted before the isolation was applied: "
                                f"{self._disarm_unapplied(on_event)}; nothing was isolated")
        if index == 0:
            self.since = utc_now()
            self._commands = [self._guarded(c) for c in build(self.since)]
        if len(self._commands) != count:  # a backend whose commands depend on the time
            return _done(started, stderr=f"internal error: {len(self._commands)} isolation "
                         f"commands, {count} planned; {self._disarm_unapplied(on_event)}; "
                         "nothing was isolated", code=1)
        command = self._commands[index]
        try:
            outcome = self._run(command, on_output, None)
        except IrtuiError as exc:
            return self._unknown(f"lost the host during '{command.purpose}' ({exc.line})",
                                 cancel, on_event, started)
        if outcome.exit_code != 0:
            why = failure_reason(outcome.stderr) or f"exit {outcome.exit_code}"
            if outcome.exit_code == GUARD_REFUSED:
                why = f"the host refused it: {why}"
            return _done(started, stderr=f"{why}; {self._disarm_unapplied(on_event)}; "
                         "nothing was isolated", code=outcome.exit_code)
        if index == count - 1:
            on_output("stdout", f"isolation applied at {self.since}")
        return outcome

    def confirm(self, on_output: OutputCallback, cancel: Cancel,
                on_event: EventSink) -> StepOutcome:
        """Open a fresh connection and disarm this run's timer (never cut off half-way); if
        that fails, wait for the host's own rollback and report what the host did."""
        started = time.monotonic()
        if cancel is not None and cancel.is_set():
            return self._leave_armed("interrupted after the isolation was applied", on_event,
                                     started)
        left = max(1.0, self.timeout - (time.monotonic() - (self.armed_at or started)))
        settings = self.ctx.config.ssh
        fresh = SSHPool(replace(settings, connect_timeout=min(settings.connect_timeout,
                                                              max(2.0, left / 2))))
        try:
            result = fresh.run(self.host, self.line(self.disarm.argv), capture=True,
                               on_output=on_output, timeout=max(2.0, left))
            if result.exit_code == 0:
                self._phase(on_event, Phase.CONFIRMED, f"isolated since {self.since}")
                return _done(started, "confirmed: rollback timer disarmed over a new SSH "
                             "connection\n")
            reason = (result.stderr.strip().splitlines() or [f"exit {result.exit_code}"])[-1]
        except IrtuiError as exc:
            reason = exc.line
        finally:
            fresh.close()
        on_output("stderr", f"confirmation failed: {reason}")
        if cancel is not None and cancel.is_set():
            return self._leave_armed(f"could not confirm ({reason}), then interrupted",
                                     on_event, started)
        outcome, interrupted = self._wait_for_rollback(cancel, on_event)
        message = (f"could not confirm over a new SSH connection ({reason}); {outcome} — "
                   "check isolation.allow / --management")
        on_output("stderr", message)
        return (_interrupted(started, message) if interrupted
                else _done(started, stderr=message, code=1))

    def self_test(self, on_output: OutputCallback, cancel: Cancel,
                  on_event: EventSink) -> StepOutcome:
        """From the isolated host, the canary must time out: a refusal means a packet got
        through. A baseline that was not reachable, or a host that cannot run the test,
        makes the self-test inconclusive, never a pass."""
        started = time.monotonic()
        assert self.canary is not None
        where = join_port(*self.canary)
        if cancel is not None and cancel.is_set():
            return _interrupted(started, "interrupted: the isolation is confirmed (no "
                                "rollback pending); the self-test was not run")
        if self.baseline is not None and not self.baseline[0].path_works:
            result, detail = self.baseline
            why = result.cannot_test or (f"canary {where} was not reachable before isolating "
                                         f"({result.value}{': ' + detail if detail else ''}): "
                                         "the self-test proves nothing")
            return _done(started, stderr=f"self-test inconclusive: {why}",
                         verdict=Outcome.INCONCLUSIVE)
        try:
            outcome = self._run(canary_command(*self.canary, before=False), on_output, cancel)
        except IrtuiError as exc:
            if cancel is not None and cancel.is_set():
                return _interrupted(started, "interrupted: the isolation is confirmed (no "
                                    "rollback pending); the self-test was cut short")
            return _done(started, stderr=f"self-test inconclusive: it could not run "
                         f"({exc.line})", verdict=Outcome.INCONCLUSIVE)
        result, detail = parse_canary(outcome.stdout)
        if result.dropped:
            return _done(started, f"self-test: canary {where} unreachable ({result.value}), "
                         "as it should be\n")
        if result is CanaryResult.CONNECTED:
            return _done(started, stderr=f"self-test FAILED: canary {where} is REACHABLE "
                         f"from the isolated host {STANDS}", code=1)
        if result is CanaryResult.REFUSED:
            return _done(started, stderr=f"self-test FAILED: canary {where} refused the "
                         f"connection: a packet got through the isolation and back {STANDS}",
                         code=1)
        why = result.cannot_test or f"canary {where}: {result.value} {detail}".strip()
        return _done(started, stderr=f"self-test inconclusive: {why}",
                     verdict=Outcome.INCONCLUSIVE)

    # ---- when the host is left to roll back -----------------------------------------------

    def _leave_armed(self, why: str, on_event: EventSink, started: float) -> StepOutcome:
        self._phase(on_event, Phase.LEFT_ARMED, why, self._left())
        return _interrupted(started, f"{why}: not confirmed, the rollback timer stays armed; "
                            f"the host will roll back by itself {self._when()}")

    def _unknown(self, why: str, cancel: Cancel, on_event: EventSink,
                 started: float) -> StepOutcome:
        if cancel is not None and cancel.is_set():
            return self._leave_armed(f"{why}, then interrupted", on_event, started)
        self._phase(on_event, Phase.LEFT_ARMED, why, self._left())
        outcome, interrupted = self._wait_for_rollback(cancel, on_event)
        message = (f"{why}; whether it was applied is unknown, so the rollback timer stays "
                   f"armed; {outcome}")
        return (_interrupted(started, message) if interrupted
                else _done(started, stderr=message, code=1))

    def _wait_for_rollback(self, cancel: Cancel, on_event: EventSink) -> tuple[str, bool]:
        """Wait until the host's deadline has passed, then read whether it rolled back.
        Returns what the host did, and whether the wait was interrupted (the host is then
        left to its timer)."""
        armed_at = self.armed_at if self.armed_at is not None else time.monotonic()
        deadline = armed_at + self.timeout + ROLLBACK_GRACE_SECONDS
        while (remaining := deadline - time.monotonic()) > 0:
            if cancel is not None and cancel.is_set():
                self._phase(on_event, Phase.LEFT_ARMED, "interrupted while waiting",
                            self._left())
                return (f"interrupted while waiting: the host will roll back by itself "
                        f"{self._when()}", True)
            on_event(Countdown(self.host.name, "rollback", int(remaining)))
            if cancel is not None:
                cancel.wait(min(1.0, remaining))
            else:
                time.sleep(min(1.0, remaining))
        self.ctx.pool.drop(self.host.name)
        try:
            still = self.ctx.read_state(self.host.name).isolated
        except IrtuiError as exc:
            self._phase(on_event, Phase.UNKNOWN, exc.line)
            return (f"after the rollback deadline the host is unreachable ({exc.line}); its "
                    "timer should have removed the isolation: check it from its console", False)
        if still:
            self._phase(on_event, Phase.NOT_ROLLED_BACK, "still isolated after the deadline")
            return "the host did NOT roll back: it is still isolated", False
        self._phase(on_event, Phase.ROLLED_BACK, "isolation removed by the host's own timer")
        return "the host rolled back by itself: isolation removed, previous rules kept", False
