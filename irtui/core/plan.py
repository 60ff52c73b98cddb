"""Plans: the exact remote commands per host, and the typed fate of every requested entry.

A plan is built by an action (see :mod:`irtui.core.actions`), shown to the responder (the
TUI's confirmation, the CLI's ``--dry-run``), then run by :func:`irtui.core.executor.execute`.
"""

from __future__ import annotations

import enum
import shlex
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from irtui.core.errors import InvalidTargetError
from irtui.core.events import EventSink, Outcome, OutputCallback
from irtui.core.settings import HostConfig

HEREDOC_MARK = "IRTUI_EOF"


def command_line(host: HostConfig, argv: Sequence[str]) -> str:
    """The command line sent to ``host`` for ``argv``: every word ``shlex.quote``d, with
    ``sudo -n`` (sudo(8): never prompt) in front when the login user is not root. The
    host's shell (``sh -c``) gives back exactly ``argv``.

    Raises:
        InvalidTargetError: a word holds a NUL (execve(2) would cut the word there, so the
            host would run something else) or cannot be encoded as UTF-8 (a lone surrogate).
    """
    words = list(argv) if host.user == "root" else ["sudo", "-n", *argv]
    for word in words:
        if "\0" in word or not _encodable(word):
            raise InvalidTargetError(
                f"a command word for {host.name} holds a NUL or undecodable character "
                f"({word!r}); nothing was sent", "remove it from the value given")
    return shlex.join(words)


def _encodable(word: str) -> bool:
    try:
        word.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class EntryFate(enum.Enum):
    """What a plan will do with one requested entry on one host."""

    TO_ADD = "to add"
    REFRESH = "already present (TTL refreshed)"
    REFUSED = "refused"
    TO_REMOVE = "to remove"
    NOT_PRESENT = "not blocked"

    @property
    def family(self) -> str:
        """The short name used in counts: ``to add``, ``already present``, ``refused``,
        ``to remove``, ``not blocked``."""
        return "already present" if self is EntryFate.REFRESH else self.value


@dataclass(frozen=True)
class EntryStatus:
    """An entry's fate in a plan; ``reason`` names the rule that matched for ``REFUSED``."""

    fate: EntryFate
    reason: str = ""

    @property
    def refused(self) -> bool:
        """True when a guardrail or the parser refused the entry."""
        return self.fate is EntryFate.REFUSED

    def __str__(self) -> str:
        return f"{self.fate.value}: {self.reason}" if self.reason else self.fate.value


LocalAction = Callable[[OutputCallback, "threading.Event | None", EventSink], "StepOutcome"]
"""A step irtui performs itself: ``action(on_output, cancel, on_event) -> StepOutcome``;
``on_event`` lets it report e.g. a :class:`~irtui.core.events.Countdown` for its own run."""

Verifier = Callable[[str], "str | None"]
"""``verify(host) -> problem or None``: reads the host's live state after the steps ran."""


@dataclass(frozen=True)
class ReadBack:
    """A host's read-back sent in the same remote command as its last steps (a block's or
    unblock's batch, :mod:`irtui.core.step_batch`): the firewall is read again after the
    change, without another SSH session.

    Attributes:
        command: the read's exact command line (the backend's read, ``sudo -n`` included).
        check: ``check(stdout) -> problem or None``, the plan's verification applied to
            that read's output (the same rule as :attr:`Plan.verify`, which reads the host
            itself when the batch could not carry the read).
    """

    command: str
    check: Callable[[str], str | None]


@dataclass(frozen=True)
class StepOutcome:
    """What running one step gave: exit code, seconds, and the captured output.

    ``verdict`` lets a local step say more than an exit code: ``Outcome.INTERRUPTED`` stops
    the host's run there (``stderr`` says in what state the host was left);
    ``Outcome.INCONCLUSIVE`` (with exit code 0) lets the run go on but the host's result can
    be no better than inconclusive (``stderr`` says why).
    """

    exit_code: int
    duration: float
    stdout: str = ""
    stderr: str = ""
    verdict: Outcome | None = None
    readback: str | None = None
    """The last step of a batch only: stdout of the plan's :class:`ReadBack` read, run
    after it in the same remote command; None when it did not run or failed."""


@dataclass(frozen=True)
class Step:
    """One remote command.

    Attributes:
        host: the host name.
        command: the exact command line (see :func:`command_line`).
        purpose: a short human description ("add 203.0.113.7 to the blocklist").
        stdin: text fed to the command's stdin, or None.
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
        recheck: optional read-back of a host in ``skipped``, run when the plan executes:
            None while the reason it needed no change still holds, else what changed since
            the plan (another process isolated it, say); such a host is then not reported
            as unchanged.
        confirm_text: when set, the responder must type exactly this to confirm (a host name
            before isolating, a large prefix before blocking it).
        entries: host → {entry → :class:`EntryStatus`} for every requested entry.
        batch_steps: a host's consecutive remote steps may travel as one remote command
            (:mod:`irtui.core.step_batch`; set by block and unblock plans only), with the
            same events, outcomes and "no new step after a cancel".
        management: isolate plans: host → what its isolation keeps reachable, as the
            read-back lists it (``Isolation.management``); recorded, so drift sees a
            management list widened by hand.
        kept_ttl: block plans: host → {entry → the TTL in seconds (None: permanent) it keeps
            because the host already holds it longer than asked (a block is never
            shortened by blocking again); recorded, so drift expects that TTL, not the asked.
        readback: host → its :class:`ReadBack`, run at the end of the host's batch (with
            ``batch_steps``): its output is verified instead of reading the host again.
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
    recheck: Verifier | None = None
    confirm_text: str | None = None
    entries: dict[str, dict[str, EntryStatus]] = field(default_factory=dict)
    batch_steps: bool = False
    management: dict[str, list[str]] = field(default_factory=dict)
    kept_ttl: dict[str, dict[str, int | None]] = field(default_factory=dict)
    readback: dict[str, ReadBack] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """How many entry/host pairs fall in each fate family (:attr:`EntryFate.family`),
        in the order each family first appears."""
        fates = Counter(status.fate for per_host in self.entries.values()
                        for status in per_host.values())  # 100,000 entries: one C loop
        out: dict[str, int] = {}
        for fate, n in fates.items():
            out[fate.family] = out.get(fate.family, 0) + n
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
            refused = [(e, st) for e, st in self.entries.get(host, {}).items() if st.refused]
            out += [f"  # {entry} {status}" for entry, status in refused[:20]]
            if len(refused) > 20:
                out.append(f"  # … and {len(refused) - 20} more refused")
            out += ["  " + line for s in self.steps if s.host == host
                    for line in s.render().splitlines()]
        counts = self.counts()
        if counts:
            out.append("entries: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
        return "\n".join(out)
