"""Run a plan: hosts in parallel, steps in order per host, events as they happen."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from itertools import takewhile

from irtui.core.errors import IrtuiError
from irtui.core.events import (
    EventSink,
    HostResult,
    Outcome,
    OutputCallback,
    OutputLine,
    PlanResult,
    StepFinished,
    StepStarted,
)
from irtui.core.plan import Plan, Step, StepOutcome
from irtui.core.workers import each_result

MAX_PARALLEL = 64
"""Hosts run at once when the caller gives no ``max_parallel`` (``ssh.max_parallel``'s
default)."""


class Runner:
    """Something that can run one remote step: ``run_step(step, on_output, cancel)``."""

    def run_step(self, step: Step, on_output: OutputCallback,
                 cancel: threading.Event | None) -> StepOutcome:  # pragma: no cover
        raise NotImplementedError

    def run_batch(self, steps: list[Step], on_event: EventSink,
                  cancel: threading.Event | None,
                  readback: str | None = None) -> list[StepOutcome] | None:
        """Run consecutive remote steps of one host in one go, emitting their events and
        starting each next step only while ``cancel`` is not set, then ``readback`` (a
        read-only command line) whose stdout the last outcome carries (see
        :func:`irtui.core.step_batch.run_batch`). Returns the outcomes of the steps that
        ran, or None, with nothing run, when this runner cannot (the steps then run one by
        one)."""
        return None


def batchable(step: Step) -> bool:
    """True when ``step`` may travel in a batch: remote, with an input that can be a
    command-line argument (no NUL, encodable as UTF-8)."""
    text = step.stdin or ""
    if step.local is not None or "\0" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def failure_reason(stderr: str) -> str:
    """The telling line of a failed command's stderr: the last ``Error:`` line (nft, ipset),
    else the last line with words in it (not nft's ``^^^^`` marker line); ``""`` if none.
    nft's EEXIST (a ``create`` of what another run made meanwhile) says what it means."""
    lines = [line.strip() for line in stderr.splitlines()
             if any(c.isalnum() for c in line)]
    errors = [line for line in lines if line.lower().startswith(("error", "ipset v"))
              or ": Error: " in line]  # nft -f: "/dev/stdin:1:35-47: Error: …"
    why = errors[-1] if errors else (lines[-1] if lines else "")
    if "Error: Could not process rule: File exists" in why:  # nft's EEXIST
        why += (" (irtui creates only what the plan found absent: another run created it "
                "meanwhile; this transaction changed nothing: read the host and plan again)")
    return why


def _run_host(plan: Plan, host: str, runner: Runner, on_event: EventSink,
              cancel: threading.Event | None) -> HostResult:
    started = time.monotonic()

    def took() -> float:
        return time.monotonic() - started

    def cancelled() -> bool:
        return cancel is not None and cancel.is_set()

    if host in plan.failed:
        return HostResult(host, Outcome.FAILED, plan.failed[host], 0.0)
    if host in plan.skipped:
        return _recheck_skipped(plan, host, took)
    reports: list[str] = []
    doubts: list[str] = []
    ran = 0
    readback = plan.readback.get(host) if plan.batch_steps else None
    read: str | None = None
    try:
        steps = [s for s in plan.steps if s.host == host]
        for step, outcome in _outcomes(steps, runner, on_event, cancel, plan.batch_steps,
                                       readback.command if readback else None):
            if outcome is None:  # cancelled before this remote step started
                return HostResult(host, Outcome.INTERRUPTED, (
                    f"interrupted before: {step.purpose} (it and the steps after it were not "
                    "run)" if ran else "interrupted before any change"), took())
            ran += 1
            if outcome.verdict is Outcome.INTERRUPTED:
                return HostResult(host, Outcome.INTERRUPTED, outcome.stderr.strip()
                                  or f"interrupted during: {step.purpose}", took())
            if outcome.exit_code == -1:  # ssh.py: the channel closed without an exit status
                return HostResult(host, Outcome.FAILED, (
                    f"{step.purpose}: the SSH session ended without an exit status (sshd or "
                    "the connection went away mid-command), so whether it took effect is "
                    f"unknown — read the host with irtui status {host} before retrying"),
                    took())
            if outcome.exit_code != 0:
                why = failure_reason(outcome.stderr)
                return HostResult(host, Outcome.FAILED, f"{step.purpose}: exit code "
                                  f"{outcome.exit_code}" + (f": {why}" if why else ""), took())
            if outcome.verdict is Outcome.INCONCLUSIVE:
                doubts.append(outcome.stderr.strip() or f"{step.purpose}: inconclusive")
            if step.report_prefix:
                reports += [line.strip() for line in outcome.stdout.splitlines()
                            if line.startswith(step.report_prefix)]
            read = outcome.readback
        if plan.verify is not None:
            # the read sent with the batch when it came back, else a read of the host now
            problem = (readback.check(read) if readback is not None and read is not None
                       else plan.verify(host))
            if problem:
                return HostResult(host, Outcome.FAILED, f"verification failed: {problem}",
                                  took())
    except IrtuiError as exc:
        if cancelled():
            return HostResult(host, Outcome.INTERRUPTED, f"interrupted: {exc.line}", took())
        return HostResult(host, Outcome.FAILED, exc.line, took())
    if doubts:
        return HostResult(host, Outcome.INCONCLUSIVE, "; ".join(["done", *reports, *doubts]),
                          took())
    return HostResult(host, Outcome.OK, "; ".join(["done", *reports]), took())


def _recheck_skipped(plan: Plan, host: str, took: Callable[[], float]) -> HostResult:
    """A host the plan found needing no change, read again now (:attr:`Plan.recheck`): the
    plan may be minutes old, or another process may have changed the host since."""
    why = plan.skipped[host]
    if plan.recheck is None:
        return HostResult(host, Outcome.UNCHANGED, f"no change: {why}", 0.0)
    try:
        changed = plan.recheck(host)
    except IrtuiError as exc:
        return HostResult(host, Outcome.INCONCLUSIVE, (
            f"nothing was done ({why} when planned), but reading the host again failed: "
            f"{exc.line} — check it with irtui status {host}"), took())
    if changed:
        return HostResult(host, Outcome.FAILED, (
            f"nothing was done: when planned, {why}; it changed since: {changed} — "
            "run the action again"), took())
    return HostResult(host, Outcome.UNCHANGED, f"no change: {why} (read again now)", took())


def _outcomes(steps: list[Step], runner: Runner, on_event: EventSink,
              cancel: threading.Event | None, batch: bool, readback: str | None = None
              ) -> Iterator[tuple[Step, StepOutcome | None]]:
    """Run one host's steps in order, yielding each with its outcome, or with None (and
    stopping) when ``cancel`` is set before a remote step starts. With ``batch``,
    consecutive remote steps go as one batch when the runner can (same events; inside the
    batch, too, no step starts after a cancel); the batch that ends the host's steps
    carries ``readback`` after them."""
    i = 0
    while i < len(steps):
        step = steps[i]
        if cancel is not None and cancel.is_set() and step.local is None:
            yield step, None  # local steps decide for themselves
            return
        group = list(takewhile(batchable, steps[i:])) if batch else []
        last = i + len(group) == len(steps)
        outcomes = (runner.run_batch(group, on_event, cancel, readback if last else None)
                    if len(group) > 1 or (group and last and readback) else None)
        if outcomes is None:
            on_event(StepStarted(step.host, step.purpose, step.headline()))

            def emit(stream: str, line: str, h: str = step.host) -> None:
                on_event(OutputLine(h, stream, line))

            outcome = (step.local(emit, cancel, on_event) if step.local is not None
                       else runner.run_step(step, emit, cancel))
            on_event(StepFinished(step.host, step.purpose, outcome.exit_code,
                                  outcome.duration))
            outcomes = [outcome]
        yield from zip(steps[i:], outcomes, strict=False)
        i += len(outcomes)


def execute(plan: Plan, runner: Runner, on_event: EventSink,
            cancel: threading.Event | None = None,
            max_parallel: int = MAX_PARALLEL) -> PlanResult:
    """Run ``plan``: hosts in parallel (at most ``max_parallel``), steps in order per host.

    Events are delivered to ``on_event`` from worker threads: ``StepStarted``, ``OutputLine``
    per line, ``StepFinished``, one ``HostResult`` per host and finally the ``PlanResult``
    (also returned). A host whose step fails stops there; other hosts carry on. Never raises
    for per-host failures.

    Once ``cancel`` is set, no further remote step is started (the host's result is
    ``INTERRUPTED``), a running command's channel is closed, and local steps (e.g. the
    commit-confirmed ones) decide how to leave the host in a known state.
    """

    def deliver(host: str) -> HostResult:
        result = _run_host(plan, host, runner, on_event, cancel)
        on_event(result)
        return result

    results = tuple(each_result(deliver, plan.hosts, max_parallel))
    final = PlanResult(plan.action, plan.summary, results)
    on_event(final)
    return final
