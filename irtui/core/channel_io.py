"""Reading an SSH channel's two streams together: the one read loop behind
:meth:`~irtui.core.ssh.SSHPool.run` (lines) and :meth:`~irtui.core.ssh.SSHPool.stream`
(raw bytes to files, with a cap).

stdout and stderr share one SSH channel window (RFC 4254 §5.2): reading one to its end first
deadlocks once the other holds the window's worth (paramiko#1778), so both are read in the
same loop, a chunk at a time.
"""

from __future__ import annotations

import codecs
import enum
import select
import threading
import time
from collections.abc import Callable
from typing import BinaryIO

import paramiko

OutputCallback = Callable[[str, str], None]
"""Called as ``on_output(stream, line)`` with stream ``"stdout"`` or ``"stderr"`` and the line
without its newline, from the thread running the command."""

ProgressCallback = Callable[[int, int], None]
"""Called as ``on_progress(stdout_bytes, stderr_bytes)`` (totals so far) by
:meth:`~irtui.core.ssh.SSHPool.stream`."""

READ_CHUNK = 65536
"""Bytes asked for per read: the most of a stream held in memory at once."""
POLL_SECONDS = 0.2


class End(enum.Enum):
    """Why the read loop stopped."""

    EOF = "eof"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    CAPPED = "capped"
    HELD = "held"


def pump(channel: paramiko.Channel, on_stdout: Callable[[bytes], bool | None],
          on_stderr: Callable[[bytes], bool | None], deadline: float,
          cancel: threading.Event | None, until: Callable[[], bool] | None = None) -> End:
    """Read both streams of ``channel`` together until EOF, the monotonic ``deadline``,
    ``cancel``, or a sink returning False (a cap); the channel is closed on return. With
    ``until``, also until ``until()`` is true after a chunk: then (``End.HELD``) the channel
    is left open (:mod:`irtui.core.ssh_hold`)."""
    held = False
    try:
        while True:
            if cancel is not None and cancel.is_set():
                return End.CANCELLED
            if time.monotonic() > deadline:
                return End.TIMEOUT
            got = False
            if channel.recv_ready():
                if on_stdout(channel.recv(READ_CHUNK)) is False:
                    return End.CAPPED
                got = True
            if channel.recv_stderr_ready():
                if on_stderr(channel.recv_stderr(READ_CHUNK)) is False:
                    return End.CAPPED
                got = True
            if got:
                if until is not None and until():
                    held = True
                    return End.HELD
                continue
            # EOF (RFC 4254 §5.3) ends both streams; the exit status alone may arrive
            # before the last stderr bytes, so it is not a reason to stop reading.
            if (channel.eof_received or channel.closed) and not channel.recv_ready() \
                    and not channel.recv_stderr_ready():
                if channel.exit_status_ready() or channel.closed:
                    return End.EOF
                channel.status_event.wait(POLL_SECONDS)
                continue
            select.select([channel], [], [], POLL_SECONDS)
    finally:
        if not held and not channel.closed:
            channel.close()


class Replies:
    """A running command's stdin, kept open so the caller can answer what the command prints
    (:meth:`~irtui.core.ssh.SSHPool.run` with ``replies=``): the line callback calls
    :meth:`send`, or :meth:`close` to send EOF (RFC 4254 §5.3). Both run in the thread reading
    the channel; a channel already gone makes them return False, never raise."""

    def __init__(self) -> None:
        self.channel: paramiko.Channel | None = None

    def attach(self, channel: paramiko.Channel) -> None:
        """Answer on ``channel`` from now on (called when the command has started)."""
        self.channel = channel

    def send(self, text: str) -> bool:
        """Write ``text`` (UTF-8) to the command's stdin; False when it could not be sent."""
        try:
            if self.channel is None or self.channel.closed:
                return False
            self.channel.sendall(text.encode())
            return True
        except (OSError, EOFError, paramiko.SSHException):
            return False

    def close(self) -> bool:
        """Send EOF on the command's stdin; False when the channel is already gone."""
        try:
            if self.channel is None or self.channel.closed:
                return False
            self.channel.shutdown_write()
            return True
        except (OSError, EOFError, paramiko.SSHException):
            return False


class CappedSinks:
    """Writes each stream's bytes to its file, up to ``cap`` bytes per stream."""

    def __init__(self, stdout: BinaryIO, stderr: BinaryIO, cap: int | None,
                 on_progress: ProgressCallback | None) -> None:
        self.files = (stdout, stderr)
        self.cap = cap
        self.counts = [0, 0]
        self.on_progress = on_progress
        self.reported = 0.0  # the first bytes are reported at once

    def _write(self, index: int, data: bytes) -> bool:
        if self.cap is not None:
            room = self.cap - self.counts[index]
            if len(data) > room:
                self.files[index].write(data[:room])
                self.counts[index] += room
                return False
        self.files[index].write(data)
        self.counts[index] += len(data)
        if self.on_progress is not None and time.monotonic() - self.reported >= 0.25:
            self.report()
        return True

    def stdout(self, data: bytes) -> bool:
        """Write stdout bytes; False once the cap is reached."""
        return self._write(0, data)

    def stderr(self, data: bytes) -> bool:
        """Write stderr bytes; False once the cap is reached."""
        return self._write(1, data)

    def report(self) -> None:
        """Call ``on_progress`` with the totals so far."""
        self.reported = time.monotonic()
        if self.on_progress is not None:
            self.on_progress(self.counts[0], self.counts[1])


class LineSplitter:
    """Incremental UTF-8 decoder that emits complete lines; undecodable bytes stay in the
    lines as lone surrogates (``surrogateescape``, PEP 383, so the record keeps them exactly)
    and become U+FFFD in the captured text."""

    def __init__(self, stream: str, on_output: OutputCallback | None, capture: bool) -> None:
        self.stream = stream
        self.on_output = on_output
        self.capture = capture
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self.pending: list[str] = []  # the unfinished line, in pieces: joined once it ends
        self.parts: list[str] = []
        self.last = ""

    @property
    def partial(self) -> str:
        """The text after the last newline so far."""
        return "".join(self.pending)

    def feed(self, data: bytes) -> None:
        if not data:
            return
        text = self.decoder.decode(data)
        if self.capture:
            self.parts.append(_replaced(text))
        if "\n" not in text:  # e.g. nft's JSON: one line of megabytes in 64 KiB chunks
            self.pending.append(text)
            return
        *lines, rest = (self.partial + text).split("\n")
        self.pending = [rest] if rest else []
        for line in lines:
            self._emit(line)

    def _emit(self, line: str) -> None:
        line = line.rstrip("\r")
        self.last = line
        if self.on_output:
            self.on_output(self.stream, line)

    def flush(self) -> None:
        tail = self.decoder.decode(b"", final=True)
        if self.capture and tail:
            self.parts.append(_replaced(tail))
        rest = self.partial + tail
        self.pending = []
        if rest:
            self._emit(rest)

    def text(self) -> str:
        return "".join(self.parts)


def _replaced(text: str) -> str:
    """``text`` with each surrogate-escaped byte as U+FFFD (what ``errors="replace"`` gives)."""
    if text.isascii() or not any("\udc80" <= c <= "\udcff" for c in text):
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class ExecCancelled(Exception):
    """The run was cancelled while the host had not yet said the command started."""


def exec_command(channel: paramiko.Channel, command: str,
                 cancel: threading.Event | None) -> None:
    """``channel.exec_command(command)`` that a ``cancel`` interrupts.

    paramiko's own waits for the host's answer to the "exec" request (RFC 4254 §6.5) with no
    end (``Channel._wait_for_event``); on a lossy link that answer can take minutes of TCP
    retransmission, and a Ctrl-C then waited as long. This sends the same request and waits
    in slices of :data:`POLL_SECONDS`, closing the channel once ``cancel`` is set.

    Raises:
        ExecCancelled: ``cancel`` was set first; the channel is closed, and whether the
            command started is unknown (the request had been sent).
        paramiko.SSHException, OSError, EOFError: as ``exec_command``.
    """
    if cancel is None or not hasattr(channel, "_event_pending"):
        channel.exec_command(command)
        return
    request = paramiko.Message()
    request.add_byte(paramiko.common.cMSG_CHANNEL_REQUEST)
    request.add_int(channel.remote_chanid)
    request.add_string("exec")
    request.add_boolean(True)
    request.add_string(command)
    channel._event_pending()
    channel.transport._send_user_message(request)
    while not channel.event.wait(POLL_SECONDS):
        if cancel.is_set():
            channel.close()
            raise ExecCancelled()
    if not channel.event_ready:
        raise channel.transport.get_exception() or paramiko.SSHException("Channel closed.")
