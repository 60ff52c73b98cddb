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


class TimerPhase(enum.Enum):
    """What happened to a host's commit-confirmed rollback timer (see
    :mod:`irtui.core.actions.commit`).

    ``ARMED``: the host removes the isolation by itself at the deadline unless confirmed.
    ``CONFIRMED``: disarmed over a new SSH connection: the isolation stays.
    ``DISARMED``: disarmed because nothing was isolated (the apply failed or never ran).
    ``LEFT_ARMED``: irtui stopped (interrupted, or the apply's result is unknown) without
    confirming: the host rolls back by itself at the deadline.
    ``ROLLED_BACK``: irtui saw that the host rolled back by itself.
    ``NOT_ROLLED_BACK``: past the deadline the host still holds the isolation.
    ``UNKNOWN``: past the deadline the host could not be read.
    """

    ARMED = "armed"
    CONFIRMED = "confirmed"
    DISARMED = "disarmed"
    LEFT_ARMED = "left armed"
    ROLLED_BACK = "rolled back"
    NOT_ROLLED_BACK = "not rolled back"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class RollbackEvent:
    """A change of ``host``'s rollback timer. ``seconds`` (``ARMED``/``LEFT_ARMED``) is how
    long until the host rolls back by itself, counted when the event was made; ``detail``
    is one line for people (the host's own words where there are some)."""

    host: str
    phase: TimerPhase
    seconds: int | None = None
    detail: str = ""


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

    @property
    def line(self) -> str:
        """``host: message``, the host named once (an SSH error already starts with it)."""
        return self.message if self.message.startswith(f"{self.host}: ") \
            else f"{self.host}: {self.message}"


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
    def interrupted(self) -> bool:
        """True when any host's run was cut short (:attr:`Outcome.INTERRUPTED`)."""
        return any(r.outcome is Outcome.INTERRUPTED for r in self.results)

    @property
    def counts(self) -> tuple[int, int]:
        """``(succeeded, failed)`` host counts (inconclusive and interrupted count as
        failed)."""
        good = sum(r.ok for r in self.results)
        return good, len(self.results) - good

    def tally(self) -> str:
        """``"2 ok, 1 failed"``, then, when there are any, how many of the failed were
        inconclusive or interrupted (``"0 ok, 1 failed (1 interrupted)"``): an interrupted
        host may well be in a known, intended state — its own result says which."""
        good, bad = self.counts
        special = [f"{n} {outcome.value}" for outcome in (Outcome.INCONCLUSIVE,
                                                          Outcome.INTERRUPTED)
                   if (n := sum(r.outcome is outcome for r in self.results))]
        return f"{good} ok, {bad} failed" + (f" ({', '.join(special)})" if special else "")


Event = (StepStarted | OutputLine | Countdown | Progress | RollbackEvent | StepFinished
         | HostResult | PlanResult)
EventSink = Callable[[Event], None]
