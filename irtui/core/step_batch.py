"""A block's or unblock's consecutive remote steps sent as one remote command.

A block is an apply under the host's change lock (on iptables hosts an ipset step and a
checked restore) and a conntrack flow cut: two or three steps, which would cost as many SSH
sessions per host. Run together through ``remote/steps.sh`` they cost one, and nothing else
changes:

* the plan shows the same commands; each step gets its own input, its own
  ``StepStarted``/``OutputLine``/``StepFinished`` events (in the same order) and outcome;
* the next step starts only when irtui says so: after each step the script waits for a
  "go" line on its stdin, which irtui sends only when the step succeeded and the run was not
  cancelled (the executor's rule, :func:`~irtui.core.executor.execute`: no new remote step
  after a cancel). A cancel between two steps therefore leaves the next one unstarted, and
  the host's result says so, exactly as when the steps run one by one;
* the read-back verification is not a step: with a :class:`~irtui.core.plan.ReadBack`
  for the host, the firewall's read runs after the last step in the same remote command,
  again only on irtui's "go" (never after a failure or a cancel), and its output is
  captured for the verification, not shown or recorded as a step's output. Without one
  (or when it did not run) the executor reads the host itself, as before.

Only block and unblock plans are batched (:attr:`~irtui.core.plan.Plan.batch_steps`); an
isolation's steps are irtui's own guarded, interruptible local steps and run one by one.

The command lines and inputs travel as the wrapper's arguments (values, never script text),
so nothing is written on the host. That bounds a batch: the whole command line is one
argument of the remote login shell, and Linux caps one argument at 128 KiB
(``MAX_ARG_STRLEN``, execve(2)); a batch over :data:`MAX_BATCH_BYTES` (a large feed) runs
step by step instead, where the saved round trips no longer matter next to the work.
"""

from __future__ import annotations

import secrets
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from irtui.core.channel_io import Replies
from irtui.core.errors import SSHError
from irtui.core.events import EventSink, OutputLine, StepFinished, StepStarted
from irtui.core.plan import Step, StepOutcome
from irtui.core.remote import script
from irtui.core.settings import HostConfig
from irtui.core.ssh import SSHPool
from irtui.core.sudo import check_sudo

MAX_BATCH_BYTES = 96 * 1024
"""Largest batch command line sent (bytes); see the module docstring."""


def batch_args(steps: list[Step], mark: str) -> list[str]:
    """The arguments of ``remote/steps.sh`` for ``steps`` (see the script's header)."""
    args = [mark]
    previous: str | None = None
    for step in steps:
        if step.stdin is None:
            args += [step.command, "none", ""]
        elif step.stdin == previous:
            args += [step.command, "same", ""]
        else:
            args += [step.command, "text", step.stdin]
        previous = step.stdin
    return args


@dataclass
class _Captured:
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    status: int | None = None
    began: float = 0.0
    ended: float = 0.0

    def text(self, stream: str) -> str:
        """The lines of ``stream`` (``stdout``/``stderr``), each ended by a newline."""
        return "".join(f"{line}\n" for line in getattr(self, stream))


class _Router:
    """Splits the batch's output back into steps by the markers, emitting events live, and
    answers the script after each step: "go", or EOF to stop there."""

    def __init__(self, steps: list[Step], mark: str, on_event: EventSink,
                 proceed: Callable[[], bool], replies: Replies, readback: bool = False) -> None:
        self.steps = steps
        self.mark = mark
        self.on_event = on_event
        self.proceed = proceed
        self.replies = replies
        self.total = len(steps) + (1 if readback else 0)
        """The steps, and the read-back after them when one was sent (captured silently)."""
        self.captured = [_Captured() for _ in range(self.total)]
        self.captured[0].began = time.monotonic()
        self.index = {"stdout": 0, "stderr": 0}
        self.finished = 0
        self.stopped = False
        """irtui chose not to start the next step (the run was cancelled)."""

    def __call__(self, stream: str, line: str) -> None:
        at = line.find(self.mark + " done ")
        if at > 0:  # the step's last line had no newline: the marker follows it directly
            self(stream, line[:at])
            line = line[at:]
        i = self.index[stream]
        if at >= 0:
            words = line.split()
            if stream == "stdout" and i < self.total and len(words) == 4:
                self.captured[i].status = int(words[3]) if words[3].isdigit() else -1
            self.index[stream] = i + 1
            if self.finished == i < min(self.index.values()):  # both markers of step i
                self._finish(i)
            return
        if i >= self.total:
            return
        getattr(self.captured[i], stream).append(line)
        if i < len(self.steps):  # the read-back's output is the verification's, not shown
            self.on_event(OutputLine(self.steps[i].host, stream, line))

    def _finish(self, i: int) -> None:
        got = self.captured[i]
        got.ended = time.monotonic()
        self.finished = i + 1
        status = -1 if got.status is None else got.status
        got.status = status
        if i < len(self.steps):
            step = self.steps[i]
            self.on_event(StepFinished(step.host, step.purpose, status, got.ended - got.began))
        if status != 0 or i + 1 == self.total:
            # the script ends by itself: no EOF, so a session kept for the next read
            # (irtui/core/ssh_hold.py) stays usable
            return
        if not self.proceed():
            self.stopped = True
            self.replies.close()
            return
        self.captured[i + 1].began = time.monotonic()
        if i + 1 < len(self.steps):
            nxt = self.steps[i + 1]
            self.on_event(StepStarted(nxt.host, nxt.purpose, nxt.headline()))
        self.replies.send("go\n")

    def readback(self) -> str | None:
        """The read-back's stdout when it ran to exit status 0, else None."""
        if self.total == len(self.steps):
            return None
        got = self.captured[-1]
        return got.text("stdout") if got.status == 0 else None

    def outcomes(self, exit_code: int) -> list[StepOutcome]:
        """The outcome of each step that started, in order; one that did not finish (the
        connection lost, the wrapper killed) takes ``exit_code``, or -1."""
        out = []
        ran = self.captured[:min(len(self.steps), self.finished + (0 if self.stopped else 1))]
        for got in ran:
            text_out, text_err = got.text("stdout"), got.text("stderr")
            if got.status is None:
                code = exit_code if exit_code != 0 else -1
                out.append(StepOutcome(code, time.monotonic() - got.began, text_out, text_err))
                break
            out.append(StepOutcome(got.status, got.ended - got.began, text_out, text_err))
            if got.status != 0:
                break
        return out[:len(self.steps)]


def run_batch(pool: SSHPool, host: HostConfig, steps: list[Step], on_event: EventSink,
              cancel: threading.Event | None, readback: str | None = None
              ) -> list[StepOutcome] | None:
    """Run ``steps`` (all on ``host``, all remote, consecutive) as one remote command.

    Emits ``StepStarted`` for the first step, then for each step its ``OutputLine`` events
    and ``StepFinished``, and ``StepStarted`` of the next once irtui let it start.

    Args:
        readback: a read-only command line (:attr:`ReadBack.command
            <irtui.core.plan.ReadBack.command>`) run after the last step when every step
            succeeded and the run was not cancelled; no events for it.

    Returns:
        One outcome per step that ran, in order: all of them; or up to the first failure;
        or, when ``cancel`` was set between two steps, up to the last finished one (the
        caller then reports the next as not started). The last step's outcome carries the
        read-back's stdout (``StepOutcome.readback``) when it ran and exited 0; when the
        session ends during the read-back, the steps' outcomes are returned without it.
        None, with nothing sent, when the batch is too large (:data:`MAX_BATCH_BYTES`).

    Raises:
        SSHError, HostKeyError: as :meth:`SSHPool.run` (connection, timeout, a cancel
        during a step), and sudo's refusals (a password or a tty wanted).
    """
    mark = f"irtui-{secrets.token_hex(8)}"
    # the steps carry their own `sudo -n`; the wrapper runs as the login user
    args = batch_args(steps, mark) + ([readback, "none", ""] if readback else [])
    line = shlex.join(("sh", "-c", script("steps"), "irtui-steps", *args))
    if len(line.encode()) > MAX_BATCH_BYTES:
        return None
    first = steps[0]
    on_event(StepStarted(first.host, first.purpose, first.headline()))
    replies = Replies()
    router = _Router(steps, mark, on_event,
                     lambda: not (cancel is not None and cancel.is_set()), replies,
                     readback is not None)
    try:
        result = pool.run(host, line, on_output=router, cancel=cancel, replies=replies,
                          carried=True,
                          timeout=pool.settings.command_timeout * router.total)
    except SSHError:
        if not router.stopped and router.finished < len(steps):
            raise
        # cancelled between two steps, or lost during the read-back: the finished steps
        # (the executor then reads the host itself, and that read reports the loss)
        return router.outcomes(0)
    outcomes = router.outcomes(result.exit_code)
    text = router.readback()
    if text is not None and len(outcomes) == len(steps):
        outcomes[-1] = replace(outcomes[-1], readback=text)
    last, step = outcomes[-1], steps[len(outcomes) - 1]
    if router.captured[len(outcomes) - 1].status is None:
        on_event(StepFinished(step.host, step.purpose, last.exit_code, last.duration))
    if last.exit_code != 0 and host.user != "root" and step.command.startswith("sudo -n"):
        check_sudo(host, (last.stderr.strip().splitlines() or [""])[-1])
    return outcomes
