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
"""

from __future__ import annotations

import contextlib
import secrets
import shlex
import threading
import time
from dataclasses import dataclass

import paramiko

from irtui.core.channel_io import LineSplitter, Replies
from irtui.core.errors import SSHError
from irtui.core.remote import script

HOLD_SECONDS = 30.0
"""Longest a held session waits for its change (s); older ones are closed unused. A plan is
built again after 10 s anyway (``PLAN_PROFILE_MAX_AGE``), which makes new ones."""


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


@dataclass
class HeldSession:
    """A session whose read is over, waiting for its change.

    Attributes:
        channel: the paramiko channel (stdin still open).
        mark: the marker ``remote/hold.sh`` was started with.
        generation: the pool's connection generation it was opened on.
        since: ``time.monotonic()`` when its read ended.
    """

    channel: paramiko.Channel
    mark: str
    generation: int
    since: float

    def usable(self, generation: int) -> bool:
        """Still open, on the current connection, and young enough (:data:`HOLD_SECONDS`)."""
        ch = self.channel
        return (not ch.closed and not ch.eof_received and not ch.exit_status_ready()
                and self.generation == generation
                and time.monotonic() - self.since <= HOLD_SECONDS)

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
            acknowledged = self._acknowledged(wait)
        except (OSError, EOFError, paramiko.SSHException):
            acknowledged = False
        if not acknowledged:
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

    def _acknowledged(self, wait: float) -> bool:
        """Read the host's "got" line (nothing else comes before it) within ``wait`` s."""
        want = f"{self.mark} got\n".encode()
        got = b""
        deadline = time.monotonic() + wait
        try:
            while not got.endswith(want):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.channel.settimeout(left)
                chunk = self.channel.recv(256)
                if not chunk:
                    return False
                got = (got + chunk)[-len(want) - 256:]
            return True
        except TimeoutError:
            return False
        finally:
            self.channel.settimeout(None)

    def close(self) -> None:
        """Close the session unused: the script sees EOF and runs nothing."""
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            self.channel.close()


class HeldSessions:
    """At most one held session per host, thread-safe."""

    def __init__(self) -> None:
        self._held: dict[str, HeldSession] = {}
        self._guard = threading.Lock()

    def put(self, name: str, session: HeldSession) -> None:
        """Keep ``session`` for host ``name`` (closing the one it replaces)."""
        with self._guard:
            old = self._held.pop(name, None)
            self._held[name] = session
        if old is not None:
            old.close()

    def take(self, name: str, generation: int) -> HeldSession | None:
        """The held session of host ``name``, removed; None when there is none usable (an
        unusable one is closed)."""
        with self._guard:
            session = self._held.pop(name, None)
        if session is None or session.usable(generation):
            return session
        session.close()
        return None

    def sweep(self) -> None:
        """Close every held session too old to be used (:data:`HOLD_SECONDS`)."""
        now = time.monotonic()
        with self._guard:
            old = [n for n, s in self._held.items() if now - s.since > HOLD_SECONDS]
            gone = [self._held.pop(n) for n in old]
        for session in gone:
            session.close()

    def release(self, name: str | None = None) -> None:
        """Close the held session of ``name`` unused (every host's with None)."""
        with self._guard:
            names = list(self._held) if name is None else [name]
            gone = [s for n in names if (s := self._held.pop(n, None)) is not None]
        for session in gone:
            session.close()

    def __len__(self) -> int:
        with self._guard:
            return len(self._held)
