"""How the events of a running plan read in the TUI's live log."""

from __future__ import annotations

from irtui.core.events import (
    Event,
    HostResult,
    Outcome,
    OutputLine,
    PlanResult,
    RollbackEvent,
    StepStarted,
)
from irtui.tui.log_panel import ERROR_MARK, STDERR_MARK, STDOUT_MARK, WAIT_MARK


def _unnamed(host: str, message: str) -> str:
    """``message`` without a leading ``"host: "`` (an SSH error names its host, and the log
    line already starts with it: ``✗ host1: could not start …``, not ``host1: host1: …``)."""
    prefix = f"{host}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def event_lines(event: Event) -> list[str]:
    """The log lines for ``event`` (none for events the log does not show). A host that did
    not succeed gets an ``ERROR_MARK`` line (also a toast), naming its outcome unless it
    simply failed (``inconclusive: …``, ``interrupted: …``)."""
    if isinstance(event, OutputLine):
        mark = STDOUT_MARK if event.stream == "stdout" else STDERR_MARK
        return [f"{event.host}{mark}{event.line}"]
    if isinstance(event, StepStarted):
        return [f"$ {event.host}: {event.command}   # {event.purpose}"]
    if isinstance(event, HostResult):
        if event.ok:
            return [f"✓ {event.host}: {event.message} ({event.duration:.2f} s)"]
        word = "" if event.outcome is Outcome.FAILED else f"{event.outcome.value}: "
        return [f"{ERROR_MARK}{event.host}: {word}{_unnamed(event.host, event.message)}"]
    if isinstance(event, RollbackEvent):
        return [f"{WAIT_MARK}{event.host}: rollback timer {event.phase.value}"
                + (f": {event.detail}" if event.detail else "")]
    if isinstance(event, PlanResult):
        return [f"── {event.summary}: {event.tally()}"]
    return []
