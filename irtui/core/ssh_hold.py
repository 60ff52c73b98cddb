"""Held sessions: a read whose SSH session stays open for the change planned on it.

A block or unblock reads each host (the plan rests on that read), then runs its change and
read-back on the host as one remote command. Over SSH that was two sessions per host: each
costs sshd a fork and the login shell a start, on every host, which on 50 hosts is about a
sixth of a block's whole work. A read asked to *hold* (``SSHPool.run(..., hold=True)``) runs
under ``remote/hold.sh``: after the read's output it prints a marker and waits on its stdin;
the change, when it comes (``SSHPool.run(..., carried=True)``), is sent over that same
session (its length, then the command line) and runs there exactly as it would in a session
of its own: same command line, same stdin for its "go" lines, same output and exit status.

Rules:

* A held session carries one change, once: it is taken from :class:`HeldSessions` before
  use; a session that has ended, or is older than :data:`HOLD_SECONDS`, is closed and a new
  session is opened instead (nothing had been sent on it, so nothing can run twice).
* A plan that is not carried out is dropped by closing its sessions: the script sees EOF and
  exits without running anything. So is a message cut short by a lost session (the script
  checks the length in bytes before it runs anything).
* The change runs only on irtui's go-ahead, sent once the host has acknowledged the whole
  command line: a message that reaches the host after irtui gave up on it (a stalled
  process, a link down for a while) never runs. Without the acknowledgement within
  ``ssh.connect_timeout`` the session is closed and a new one opened (nothing ran). Only a
  failure while sending the go-ahead itself leaves it unknown whether the change ran, and
  is reported so.
* Once the change is over the session is kept again, *idle*, for the host's next read
  (:class:`IdleSession`): ``remote/hold.sh`` says the change ended, with its exit status, on
  both streams (:class:`EndWatch`), then waits for a read, framed like a change and with a
  marker of its own. Any read-only command irtui runs (``SSHPool.run(..., keep=True)``:
  firewall reads, the probe, the rollback timer's status) takes the idle session too, and
  gives it back once read (it tells the script no change comes: ``idle``). A warm block (the
  TUI's, after its refresh) thus costs a host no new session, no sshd fork and no login
  shell. The host answers a read at once; an idle session that does not
  within ``ssh.connect_timeout`` (ended, or its shell stalled) is closed and the read goes
  over a new session (a read changes nothing, so nothing runs twice). Idle sessions older
  than :data:`IDLE_SECONDS` are closed unused.
"""

from __future__ import annotations

import contextlib
import secrets
import shlex
import threading
import time
from dataclasses import dataclass
from typing import Any

import paramiko

from irtui.core.channel_io import LineSplitter, OutputCallback, Replies
from irtui.core.errors import SSHError
from irtui.core.remote import script

HOLD_SECONDS = 30.0
"""Longest a held session waits for its change (s); older ones are closed unused. A plan is
built again after 10 s anyway (``PLAN_PROFILE_MAX_AGE``), which makes new ones."""


IDLE_SECONDS = 600.0
"""Longest an idle session (a change over, no read since) is kept for the host's next read (s)."""


def new_mark() -> str:
    """A fresh random marker (64 bits) no output can guess."""
    return f"irtui-hold-{secrets.token_hex(8)}"


def held_line(command: str, mark: str) -> str:
    """The command line running ``command`` (a login-shell command line) under
    ``remote/hold.sh`` with ``mark``."""
    return shlex.join(("sh", "-c", script("hold"), "irtui-hold", mark, command))


class HoldWatch:
    """Watches a held read's two streams for the markers that end the read (see
    ``remote/hold.sh``) and takes them out of the captured text."""

    def __init__(self, mark: str, stdout: LineSplitter, stderr: LineSplitter) -> None:
        self.mark = mark
        self.stdout = stdout
        self.stderr = stderr

    def done(self) -> bool:
        """Both markers arrived: the read is over and the script waits for the change."""
        # `pending`, not `partial`: no join of a long unfinished line (a large ruleset's
        # one-line JSON) after every chunk
        return (not self.stdout.pending and not self.stderr.pending
                and self.stdout.last.startswith(f"{self.mark} held ")
                and self.stderr.last == f"{self.mark} held")

    def exit_code(self) -> int:
        """The read's exit status, from the stdout marker (-1 when it is not a number)."""
        code = self.stdout.last.rsplit(" ", 1)[-1]
        return int(code) if code.isdigit() else -1

    def texts(self) -> tuple[str, str]:
        """The read's stdout and stderr as captured, without the markers."""
        out, err = self.stdout.text(), self.stderr.text()
        cut_out = out.rfind(f"\n{self.mark} held ")
        cut_err = err.rfind(f"\n{self.mark} held\n")
        return (out[:cut_out] if cut_out >= 0 else out,
                err[:cut_err] if cut_err >= 0 else err)


class EndWatch:
    """Passes a carried change's output lines on, without the markers ``remote/hold.sh``
    prints when the change is over (``MARK ended STATUS`` on stdout, ``MARK ended`` on
    stderr); a marker glued to a last line without a newline is split off it."""

    def __init__(self, mark: str, on_output: OutputCallback | None) -> None:
        self.mark = f"{mark} ended"
        self.on_output = on_output
        self.seen = {"stdout": False, "stderr": False}
        self.status: int | None = None
        """The change's exit status, once the stdout marker arrived (-1: not a number)."""

    def __call__(self, stream: str, line: str) -> None:
        at = line.find(self.mark) if not self.seen[stream] else -1
        if at >= 0:  # the marker is drawn at random: no output holds it by chance
            if at > 0 and self.on_output is not None:
                self.on_output(stream, line[:at])
            self.seen[stream] = True
            if stream == "stdout":
                code = line[at + len(self.mark):].strip()
                self.status = int(code) if code.isdigit() else -1
            return
        if self.on_output is not None:
            self.on_output(stream, line)

    def done(self) -> bool:
        """Both markers arrived: the change is over and the session waits for a read."""
        return self.seen["stdout"] and self.seen["stderr"]

    def texts(self, out: str, err: str) -> tuple[str, str]:
        """The change's stdout and stderr as captured (``out``, ``err``), without the
        markers."""
        return tuple(text[:cut] if (cut := text.rfind(self.mark)) >= 0 else text
                     for text in (out, err))  # type: ignore[return-value]


def acknowledged(channel: paramiko.Channel, mark: str, wait: float) -> bool:
    """Read the host's ``MARK got`` line within ``wait`` s (``remote/hold.sh``): nothing
    comes before it, and nothing after it is read (it is the read's or the change's)."""
    want = f"{mark} got\n".encode()
    got = b""
    deadline = time.monotonic() + wait
    try:
        while len(got) < len(want):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            channel.settimeout(left)
            chunk = channel.recv(len(want) - len(got))
            if not chunk or not want.startswith(got + chunk):
                return False
            got += chunk
        return True
    except TimeoutError:
        return False
    finally:
        channel.settimeout(None)


@dataclass
class _KeptSession:
    """A session irtui keeps open on a host between two of its commands.

    Attributes:
        channel: the paramiko channel (stdin still open).
        generation: the pool's connection generation it was opened on.
        since: ``time.monotonic()`` when it began to wait.
    """

    channel: paramiko.Channel
    generation: int
    since: float

    def limit(self) -> float:
        """Longest it may wait (s)."""
        raise NotImplementedError

    def usable(self, generation: int) -> bool:
        """Still open both ways, on the current connection, and young enough
        (:meth:`limit`)."""
        ch = self.channel
        return (not ch.closed and not ch.eof_received and not ch.eof_sent
                and not ch.exit_status_ready() and self.generation == generation
                and time.monotonic() - self.since <= self.limit())

    def close(self) -> None:
        """Close the session: the script sees EOF and runs nothing more."""
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            self.channel.close()


@dataclass
class HeldSession(_KeptSession):
    """A session whose read is over, waiting for its change (``since``: when the read
    ended; ``mark``: the marker ``remote/hold.sh`` was started with)."""

    mark: str

    def limit(self) -> float:
        """:data:`HOLD_SECONDS`."""
        return HOLD_SECONDS

    def carry(self, command: str, replies: Replies | None,
              wait: float) -> paramiko.Channel | None:
        """Send ``command`` (one command line) to run in this session, and the go-ahead once
        the host has it all (``remote/hold.sh``); the channel is then the command's own
        (``replies`` attached, or EOF sent after it).

        Args:
            wait: seconds to wait for the host's acknowledgement (``ssh.connect_timeout``).

        Returns:
            The channel; None when the host did not acknowledge within ``wait`` or the
            session ended: the session is closed and nothing ran (no go-ahead was sent), so
            the caller opens a new session.

        Raises:
            SSHError: sending the go-ahead failed: the change may or may not have started.
        """
        data = command.rstrip("\n").encode()
        try:
            self.channel.sendall(f"{len(data)}\n".encode() + data)
            ok = acknowledged(self.channel, self.mark, wait)
        except (OSError, EOFError, paramiko.SSHException):
            ok = False
        if not ok:
            self.close()
            return None
        try:
            self.channel.sendall(f"{self.mark} go\n".encode())
            if replies is None:
                self.channel.shutdown_write()
            else:
                replies.attach(self.channel)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self.close()
            raise SSHError(f"connection lost while starting the change ({exc}); whether it "
                           "ran is unknown", "check the host's state (irtui status) before "
                           "retrying") from None
        return self.channel


@dataclass
class IdleSession(_KeptSession):
    """A session whose change (or read) is over, waiting for the host's next read
    (``since``: when it began to wait)."""

    def limit(self) -> float:
        """:data:`IDLE_SECONDS`."""
        return IDLE_SECONDS

    def ask(self, command: str, mark: str, wait: float) -> paramiko.Channel | None:
        """Send the read ``command`` (a login-shell command line) with its ``mark``, and
        wait up to ``wait`` s (``ssh.connect_timeout``) for the host's answer.

        Returns:
            The channel, now the read's; None, the session closed, when the read could not
            be sent or got no answer (the caller reads over a new session: a read changes
            nothing, so running it twice is harmless).
        """
        data = f"{mark} {command.rstrip(chr(10))}".encode()
        # a one-line read goes as a line, which the shell reads itself (remote/hold.sh)
        frame = (f"{len(data)} line\n".encode() + data + b"\n" if b"\n" not in data
                 else f"{len(data)}\n".encode() + data)
        try:
            self.channel.sendall(frame)
            answered = acknowledged(self.channel, mark, wait)
        except (OSError, EOFError, paramiko.SSHException):
            answered = False
        if not answered:
            self.close()
            return None
        return self.channel


class HeldSessions:
    """At most one held session per host, and one idle session per host; thread-safe."""

    def __init__(self) -> None:
        self._held: dict[str, HeldSession] = {}
        self._idle: dict[str, IdleSession] = {}
        self._guard = threading.Lock()

    def _keep(self, store: dict[str, Any], name: str, session: _KeptSession) -> None:
        with self._guard:
            old = store.pop(name, None)
            store[name] = session
        if old is not None:
            old.close()

    def _take(self, store: dict[str, Any], name: str, generation: int) -> Any:
        with self._guard:
            session = store.pop(name, None)
        if session is None or session.usable(generation):
            return session
        session.close()
        return None

    def _close(self, store: dict[str, Any], name: str | None) -> None:
        with self._guard:
            names = list(store) if name is None else [name]
            gone = [s for n in names if (s := store.pop(n, None)) is not None]
        for session in gone:
            session.close()

    def put(self, name: str, session: HeldSession) -> None:
        """Keep ``session`` for host ``name`` (closing the one it replaces)."""
        self._keep(self._held, name, session)

    def take(self, name: str, generation: int) -> HeldSession | None:
        """The held session of host ``name``, removed; None when there is none usable (an
        unusable one is closed)."""
        return self._take(self._held, name, generation)

    def after_read(self, name: str, channel: paramiko.Channel, mark: str, generation: int,
                   change: bool) -> None:
        """The read over ``channel`` (run under ``remote/hold.sh`` with ``mark``) is over:
        keep its session held for the change planned on it (``change``), else idle for
        host ``name``'s next read (the script is told no change comes: ``idle``)."""
        if change:
            self.put(name, HeldSession(channel, generation, time.monotonic(), mark=mark))
            return
        idle = IdleSession(channel, generation, time.monotonic())
        try:
            channel.sendall(b"idle\n")
        except (OSError, EOFError, paramiko.SSHException):
            idle.close()
            return
        self.keep_idle(name, idle)

    def keep_idle(self, name: str, session: IdleSession) -> None:
        """Keep ``session`` for host ``name``'s next read (closing the one it replaces)."""
        self._keep(self._idle, name, session)

    def take_idle(self, name: str, generation: int) -> IdleSession | None:
        """The idle session of host ``name``, removed; None when there is none usable (an
        unusable one is closed)."""
        return self._take(self._idle, name, generation)

    def release(self, name: str | None = None) -> None:
        """Close the held session of ``name`` unused (every host's with None)."""
        self._close(self._held, name)

    def drop(self, name: str | None = None) -> None:
        """Close the held and the idle session of ``name`` (every host's with None)."""
        self._close(self._held, name)
        self._close(self._idle, name)

    def sweep(self) -> None:
        """Close every held or idle session too old to be used (:data:`HOLD_SECONDS`,
        :data:`IDLE_SECONDS`)."""
        now = time.monotonic()
        gone: list[_KeptSession] = []
        with self._guard:
            for store in (self._held, self._idle):
                old = [n for n, s in store.items() if now - s.since > s.limit()]
                gone += [store.pop(n) for n in old]
        for session in gone:
            session.close()

    def idle_count(self) -> int:
        """How many idle sessions are kept."""
        with self._guard:
            return len(self._idle)

    def __len__(self) -> int:
        with self._guard:
            return len(self._held)
