"""What executing a plan emits, and the typed outcomes of hosts and plans.

Events flow from worker threads to the fronts (the TUI's log panel, the CLI's printer) and
into the record; nothing downstream parses their text back.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

OutputCallback = Callable[[str, str], None]
"""``on_output(stream, line)``: ``stream`` is ``"stdout"`` or ``"stderr"``; ``line`` has no
newline. Called from the thread running the command."""


@dataclass(frozen=True)
class StepStarted:
    """A step began on ``host``."""

    host: str
    purpose: str
    command: str
    """The step's one-line headline (:meth:`irtui.core.plan.Step.headline`)."""


@dataclass(frozen=True)
class OutputLine:
    """One line of a step's output, as it arrived (without its newline)."""

    host: str
    stream: str
    """``stdout`` or ``stderr``."""
    line: str


@dataclass(frozen=True)
class Countdown:
    """Something irtui waits for on ``host`` (e.g. a rollback timer): ``seconds`` left."""

    host: str
    what: str
    seconds: int


@dataclass(frozen=True)
class Progress:
    """Progress of a long step on ``host``: item ``index`` of ``total`` (1-based, e.g.
    artifact 3 of 17 of an evidence collection), called ``item``, with ``bytes`` received
    for it so far."""

    host: str
    item: str
    index: int
    total: int
    bytes: int


@dataclass(frozen=True)
class StepFinished:
    """A step ended with ``exit_code`` after ``duration`` seconds."""

    host: str
    purpose: str
    exit_code: int
    duration: float


class Outcome(enum.Enum):
    """How an action ended on one host.

    ``OK`` means the change was made AND read back as enforced; ``UNCHANGED`` that nothing
    needed doing (also a success). ``INCONCLUSIVE`` is never a success: irtui could not prove
    the effect (e.g. a self-test that could not run). ``INTERRUPTED``: cancelled or the
    process was stopped before the host's steps finished.
    """

    OK = "ok"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"
    INTERRUPTED = "interrupted"

    @property
    def success(self) -> bool:
        """True for ``OK`` and ``UNCHANGED`` only."""
        return self in (Outcome.OK, Outcome.UNCHANGED)


@dataclass(frozen=True)
class HostResult:
    """The outcome of a plan on one host. ``duration`` is in seconds."""

    host: str
    outcome: Outcome
    message: str
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the host succeeded (see :attr:`Outcome.success`)."""
        return self.outcome.success


@dataclass(frozen=True)
class PlanResult:
    """The outcome of a whole plan: one :class:`HostResult` per target host."""

    action: str
    summary: str
    results: tuple[HostResult, ...]

    @property
    def ok(self) -> bool:
        """True only when every host succeeded."""
        return all(r.ok for r in self.results)

    @property
    def counts(self) -> tuple[int, int]:
        """``(succeeded, failed)`` host counts (inconclusive and interrupted count as
        failed)."""
        good = sum(r.ok for r in self.results)
        return good, len(self.results) - good


Event = (StepStarted | OutputLine | Countdown | Progress | StepFinished | HostResult
         | PlanResult)
EventSink = Callable[[Event], None]
