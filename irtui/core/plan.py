"""Plans (the exact remote commands per host), the events their execution emits, and the
executor that runs them over SSH."""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from irtui.core.config import HostConfig
from irtui.core.errors import IrtuiError

HEREDOC_MARK = "IRTUI_EOF"


def command_line(host: HostConfig, argv: Sequence[str]) -> str:
    """The command line sent to ``host`` for ``argv``: every word ``shlex.quote``d, with
    ``sudo -n`` (sudo(8): never prompt) in front when the login user is not root."""
    words = list(argv) if host.user == "root" else ["sudo", "-n", *argv]
    return shlex.join(words)


@dataclass(frozen=True)
class Step:
    """One remote command.

    Attributes:
        host: the host name.
        command: the exact command line (see :func:`command_line`).
        stdin: text fed to the command's stdin, or None.
        purpose: a short human description ("add 203.0.113.7 to the blocklist").
        report_prefix: stdout lines starting with it (e.g. ``flows cut:``) are added to the
            host's result message.
        local: when set, irtui runs this instead of sending ``command`` (e.g. "confirm over
            a new SSH connection"); ``command`` then describes what it does remotely.
    """

    host: str
    command: str
    purpose: str
    stdin: str | None = None
    report_prefix: str | None = None
    local: LocalAction | None = field(default=None, compare=False)

    def headline(self, limit: int = 100) -> str:
        """The command on one line for live logs: scripts (``sh -c '…'``) are shortened; the
        full text is in the plan and the audit trail."""
        first = self.command.splitlines()[0] if self.command else ""
        if "\n" in self.command or len(first) > limit:
            return first[:limit].rstrip() + " …"
        return first

    def render(self) -> str:
        """The step as a shell would read it (stdin shown as a here-document)."""
        if self.stdin is None:
            return self.command
        body = self.stdin if self.stdin.endswith("\n") else self.stdin + "\n"
        return f"{self.command} <<'{HEREDOC_MARK}'\n{body}{HEREDOC_MARK}"


@dataclass(frozen=True)
class StepOutcome:
    """What running one step gave: exit code, seconds, and the captured output."""

    exit_code: int
    duration: float
    stdout: str = ""
    stderr: str = ""


OutputCallback = Callable[[str, str], None]
LocalAction = Callable[[OutputCallback, "threading.Event | None", "EventSink"], StepOutcome]
"""A step irtui performs itself: ``action(on_output, cancel, on_event) -> StepOutcome``;
``on_event`` lets it report e.g. a :class:`Countdown` for its own plan run only."""

Verifier = Callable[[str], str | None]
"""``verify(host) -> problem or None``: reads the host's live state after the steps ran."""


@dataclass
class Plan:
    """What an action will do, before it does it.

    Attributes:
        action: ``block``, ``unblock``, ``isolate``, ``release``.
        summary: one line for the confirmation modal, the CLI and the audit trail.
        hosts: the target host names in order.
        steps: the commands, in order; a host's steps stop at its first failure.
        notes: things the responder should know (normalised input, no-ops).
        skipped: host → reason it needs no change (e.g. "already isolated").
        failed: host → why it could not even be planned (e.g. unreachable); reported as
            that host's failure while the other hosts go ahead.
        dangerous: True when the action needs confirmation.
        verify: optional read-back check run per host after its steps succeeded.
        confirm_text: when set, the responder must type exactly this to confirm (a host name
            before isolating, a large prefix before blocking it).
        entries: host → {entry → status} accounting for every requested entry
            (``to add``, ``already present (TTL refreshed)``, ``refused: <rule>``).
    """

    action: str
    summary: str
    hosts: list[str]
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    dangerous: bool = True
    verify: Verifier | None = None
    confirm_text: str | None = None
    entries: dict[str, dict[str, str]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """How many entry/host pairs fall in each status family (``to add``,
        ``already present``, ``refused``)."""
        out: dict[str, int] = {}
        for per_host in self.entries.values():
            for status in per_host.values():
                key = status.split(":")[0].split(" (")[0]
                out[key] = out.get(key, 0) + 1
        return out

    def render(self) -> str:
        """The plan as text: the summary, notes, then each host's exact commands."""
        out = [self.summary]
        out += [f"note: {n}" for n in self.notes]
        for host in self.hosts:
            if host in self.failed:
                out.append(f"[{host}] FAILED before any change: {self.failed[host]}")
                continue
            if host in self.skipped:
                out.append(f"[{host}] nothing to do: {self.skipped[host]}")
                continue
            out.append(f"[{host}]")
            refused = [(e, st) for e, st in self.entries.get(host, {}).items()
                       if st.startswith("refused")]
            out += [f"  # {entry} {status}" for entry, status in refused[:20]]
            if len(refused) > 20:
                out.append(f"  # … and {len(refused) - 20} more refused")
            out += ["  " + line for s in self.steps if s.host == host
                    for line in s.render().splitlines()]
        counts = self.counts()
        if counts:
            out.append("entries: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
        return "\n".join(out)


@dataclass(frozen=True)
class StepStarted:
    """A step began on ``host``; ``command`` is its one-line headline
    (:meth:`Step.headline`)."""

    host: str
    purpose: str
    command: str


@dataclass(frozen=True)
class OutputLine:
    """One line of a step's output; ``stream`` is ``stdout`` or ``stderr``."""

    host: str
    stream: str
    line: str


@dataclass(frozen=True)
class Countdown:
    """Something irtui waits for on ``host`` (e.g. a rollback timer): ``seconds`` left."""

    host: str
    what: str
    seconds: int


@dataclass(frozen=True)
class StepFinished:
    """A step ended with ``exit_code`` after ``duration`` seconds."""

    host: str
    purpose: str
    exit_code: int
    duration: float


@dataclass(frozen=True)
class HostResult:
    """The outcome of a plan on one host. ``duration`` is in seconds."""

    host: str
    ok: bool
    message: str
    duration: float = 0.0


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
        """``(succeeded, failed)`` host counts."""
        good = sum(r.ok for r in self.results)
        return good, len(self.results) - good


Event = StepStarted | OutputLine | Countdown | StepFinished | HostResult | PlanResult
EventSink = Callable[[Event], None]


class Runner:
    """Something that can run one remote step: ``run_step(step, on_output, cancel)``."""

    def run_step(self, step: Step, on_output: OutputCallback,
                 cancel: threading.Event | None) -> StepOutcome:  # pragma: no cover
        raise NotImplementedError


def _reason(stderr: str) -> str:
    """The telling line of a failed command's stderr: the last ``Error:`` line (nft, ipset),
    else the last line with words in it (not nft's ``^^^^`` marker line)."""
    lines = [line.strip() for line in stderr.splitlines()
             if any(c.isalnum() for c in line)]
    errors = [line for line in lines if line.lower().startswith(("error", "ipset v"))]
    pick = errors[-1] if errors else (lines[-1] if lines else "")
    return f": {pick}" if pick else ""


def execute(plan: Plan, runner: Runner, on_event: EventSink,
            cancel: threading.Event | None = None, max_parallel: int = 16) -> PlanResult:
    """Run ``plan``: hosts in parallel (at most ``max_parallel``), steps in order per host.

    Events are delivered to ``on_event`` from worker threads: :class:`StepStarted`,
    :class:`OutputLine` per line, :class:`StepFinished`, one :class:`HostResult` per host and
    finally the :class:`PlanResult` (also returned). A host whose step fails or is refused
    stops there; other hosts carry on. Never raises for per-host failures.
    """

    def run_host(host: str) -> HostResult:
        started = time.monotonic()
        if host in plan.failed:
            return HostResult(host, False, plan.failed[host], 0.0)
        if host in plan.skipped:
            return HostResult(host, True, f"no change: {plan.skipped[host]}", 0.0)
        reports: list[str] = []
        try:
            for step in (s for s in plan.steps if s.host == host):
                on_event(StepStarted(host, step.purpose, step.headline()))
                def emit(stream: str, line: str, h: str = host) -> None:
                    on_event(OutputLine(h, stream, line))

                outcome = (step.local(emit, cancel, on_event) if step.local is not None
                           else runner.run_step(step, emit, cancel))
                on_event(StepFinished(host, step.purpose, outcome.exit_code, outcome.duration))
                if outcome.exit_code != 0:
                    why = _reason(outcome.stderr)
                    return HostResult(host, False, f"{step.purpose}: exit code "
                                      f"{outcome.exit_code}{why}", time.monotonic() - started)
                if step.report_prefix:
                    reports += [line.strip() for line in outcome.stdout.splitlines()
                                if line.startswith(step.report_prefix)]
            if plan.verify is not None:
                problem = plan.verify(host)
                if problem:
                    return HostResult(host, False, f"verification failed: {problem}",
                                      time.monotonic() - started)
        except IrtuiError as exc:
            return HostResult(host, False, exc.line, time.monotonic() - started)
        return HostResult(host, True, "; ".join(["done", *reports]), time.monotonic() - started)

    def deliver(host: str) -> HostResult:
        result = run_host(host)
        on_event(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, min(max_parallel, len(plan.hosts)))) as pool:
        results = tuple(pool.map(deliver, plan.hosts))
    final = PlanResult(plan.action, plan.summary, results)
    on_event(final)
    return final
