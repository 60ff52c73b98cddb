"""SSH execution with paramiko: strict host keys, reused connections, live line streaming,
and raw byte streaming to files with a cap (:meth:`SSHPool.stream`, for evidence).

Rules followed:
- Host keys are checked against the configured known_hosts file; an unknown or changed key is
  refused before authentication and nothing runs (never ``AutoAddPolicy``).
- stdout and stderr share one SSH channel window (RFC 4254 §5.2), so both are read at the same
  time; reading one to its end first deadlocks once the other holds ~2 MB (one read loop for
  both methods: :func:`irtui.core.channel_io.pump`).
- Non-root users get ``sudo -n`` (sudo(8): non-interactive, fails instead of prompting); a
  sudo that wants a password or a tty (sudoers(5) ``requiretty``) is named with its fix.
- known_hosts is read by :mod:`irtui.core.known_hosts`: ``@revoked`` keys are refused,
  ``@cert-authority`` lines explained, unreadable lines skipped.
- The private key is loaded, checked and kept once per pool (:mod:`irtui.core.ssh_keys`:
  a key file that group or others can access is refused, as OpenSSH refuses it); known_hosts
  is parsed once and again only when the file changes.
- Output lines keep bytes that are not UTF-8 as lone surrogates (``surrogateescape``, PEP 383)
  so the record can keep them exactly; the fronts show them escaped
  (:func:`irtui.core.text.printable`). Captured text replaces them with U+FFFD.
"""

from __future__ import annotations

import logging
import stat
import threading
import time
from dataclasses import dataclass
from typing import BinaryIO

import paramiko

from irtui.core.channel_io import (
    CappedSinks,
    End,
    ExecCancelled,
    LineSplitter,
    OutputCallback,
    ProgressCallback,
    Replies,
    exec_command,
    pump,
)
from irtui.core.endpoints import join_port
from irtui.core.errors import HostKeyError, SSHError
from irtui.core.known_hosts import KnownHosts, RefuseUnknownKey, load_known_hosts
from irtui.core.settings import HostConfig, SSHSettings
from irtui.core.ssh_failures import connect_failed, start_failed
from irtui.core.ssh_hold import (
    EndWatch,
    HeldSessions,
    HoldWatch,
    IdleSession,
    held_line,
    new_mark,
)
from irtui.core.ssh_jump import JumpPool
from irtui.core.ssh_keys import KeyCache, expand_path
from irtui.core.sudo import check_sudo
from irtui.core.tcp_connection import tcp_connection
from irtui.core.textfile import special_kind

CHECK_FIRST = "check the host's state before retrying"

# paramiko logs a connection that failed (with its traceback) from its transport thread;
# with no handler Python prints that on stderr, over the TUI's screen and after the CLI's
# one-line error. irtui reports every such failure itself (SSHError).
logging.getLogger("paramiko").addHandler(logging.NullHandler())

_STREAM_WINDOW = 8 * 1024 * 1024
"""Channel window for bulk streams: larger than paramiko's 2 MiB default so a fast sender
is not stalled waiting for window adjustments (RFC 4254 §5.2)."""


@dataclass(frozen=True)
class CommandResult:
    """Outcome of one remote command.

    Attributes:
        exit_code: the remote exit status (``-1`` if the channel closed without one).
        duration: wall time in seconds.
        stdout / stderr: the captured text when ``capture=True`` was asked, else ``""``.
    """

    exit_code: int
    duration: float
    stdout: str = ""
    stderr: str = ""


@dataclass(frozen=True)
class StreamResult:
    """Outcome of :meth:`SSHPool.stream`.

    Attributes:
        exit_code: the remote exit status; None when the channel was closed by irtui (cap,
            timeout, cancel) or ended without one.
        duration: wall time in seconds.
        stdout_bytes / stderr_bytes: bytes written to each file.
        truncated: a stream reached ``max_bytes``; reading stopped there.
        timed_out: the timeout expired first.
        cancelled: the cancel event was set first.
    """

    exit_code: int | None
    duration: float
    stdout_bytes: int
    stderr_bytes: int
    truncated: bool = False
    timed_out: bool = False
    cancelled: bool = False


class SSHPool:
    """Keeps one authenticated SSH connection per host and runs commands over it.

    Thread-safe: commands on different hosts run in parallel; each host's connection is
    opened once and reused (paramiko multiplexes channels over one transport).

    Args:
        settings: the ``[ssh]`` config section.
    """

    def __init__(self, settings: SSHSettings) -> None:
        self.settings = settings
        self._clients: dict[str, paramiko.SSHClient] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._jumps = JumpPool(self._open, settings.connect_timeout)
        self._known: tuple[tuple[int, int], KnownHosts] | None = None
        self._known_load = threading.Lock()  # concurrent first connections parse it once
        self._keys = KeyCache()
        self._generations: dict[str, int] = {}
        self.held = HeldSessions()
        self.sessions_opened = 0  # session channels opened (benchmarks and tests count them)

    def generation(self, name: str) -> int:
        """A number that changes each time a new connection to host ``name`` is opened (0
        before the first): what was learnt over an older connection may be out of date (the
        host may have rebooted, or the session now comes from another address)."""
        with self._guard:
            return self._generations.get(name, 0)

    def _lock_for(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def _known_hosts(self) -> KnownHosts:
        """known_hosts, parsed once and again only when the file changes (mtime, size)."""
        path = expand_path(self.settings.known_hosts, "ssh.known_hosts")
        try:
            info = path.stat()
        except (OSError, ValueError):
            info = None
        fix = "set ssh.known_hosts to a file holding your hosts' verified keys"
        if info is None:
            raise SSHError(f"known_hosts file {path} not found", fix)
        if not stat.S_ISREG(info.st_mode):  # a FIFO is never opened: open(2) would block
            kind = special_kind(path) or "a directory or device"
            raise SSHError(f"known_hosts file {path} is {kind}, not a file", fix)
        version = (info.st_mtime_ns, info.st_size)
        with self._known_load:
            cached = self._known
            if cached is not None and cached[0] == version and cached[1].path == path:
                return cached[1]
            known = load_known_hosts(path)
            self._known = (version, known)
            return known

    def connect(self, host: HostConfig) -> paramiko.SSHClient:
        """Return a live connection to ``host``, opening one if needed.

        Raises:
            HostKeyError: the host key is unknown or changed (nothing was sent after the
                key exchange).
            SSHError: unreachable (timeout after ``ssh.connect_timeout`` seconds, refused,
                no route), authentication failed, or a missing key file.
        """
        with self._lock_for(host.name):
            client = self._clients.get(host.name)
            transport = client.get_transport() if client else None
            if client and transport and transport.is_active():
                return client
            if client:
                client.close()
            client = self._open(host)
            self._clients[host.name] = client
            with self._guard:
                self._generations[host.name] = self._generations.get(host.name, 0) + 1
            return client

    def _open(self, host: HostConfig, sock: paramiko.Channel | None = None
              ) -> paramiko.SSHClient:
        known = self._known_hosts()
        pkey = self._key_for(host)
        client = paramiko.SSHClient()
        # the name paramiko looks keys up by (SSHClient.connect): host, or [host]:port
        name = host.address if host.port == 22 else f"[{host.address}]:{host.port}"
        for key in reversed(known.keys_for(name)):  # one key per type: the first listed wins
            client.get_host_keys().add(name, key.get_name(), key)
        client.set_missing_host_key_policy(RefuseUnknownKey(host, known))
        where = f"{host.name} ({join_port(host.address, host.port)}{host.via})"
        timeout = self.settings.connect_timeout
        if sock is None and host.jump:  # ProxyJump: through the bastions (ssh_jump)
            sock = self._jumps.channel_to(host)
        try:
            if sock is None:
                sock = tcp_connection(host.address, host.port, timeout)
            client.connect(
                host.address, port=host.port, username=host.user,
                pkey=pkey, allow_agent=self.settings.use_agent,
                look_for_keys=pkey is None, timeout=timeout, banner_timeout=timeout,
                auth_timeout=timeout, channel_timeout=timeout, sock=sock,
            )
        except HostKeyError:
            client.close()
            raise
        except (paramiko.BadHostKeyException, paramiko.AuthenticationException, TimeoutError,
                UnicodeError, ValueError, OSError, paramiko.SSHException, EOFError) as exc:
            client.close()
            raise connect_failed(exc, host, name, where, known, timeout) from None
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(15)
        return client

    def _key_for(self, host: HostConfig) -> paramiko.PKey | None:
        """``host``'s own key (its ssh config ``IdentityFile``) or ``ssh.key_file`` (None:
        ssh-agent or paramiko's own search), loaded once per pool (:class:`KeyCache`) with
        the checks of :func:`~irtui.core.ssh_keys.load_private_key`; errors about a host's
        IdentityFile name it.

        Raises:
            SSHError, SecretError: see :func:`~irtui.core.ssh_keys.load_private_key`.
        """
        secret = self.settings.key_passphrase_secret
        if not host.key_file:
            return self._keys.get(self.settings.key_file, secret) if self.settings.key_file \
                else None
        try:
            return self._keys.get(host.key_file, secret)
        except SSHError as exc:
            source = f"the IdentityFile for {host.name} in your ssh config"
            raise SSHError(exc.problem, exc.fix.replace("ssh.key_file", source)) from None

    def _start(self, host: HostConfig, command: str, stdin: bytes | None,
               window_size: int | None = None, replies: Replies | None = None,
               cancel: threading.Event | None = None) -> paramiko.Channel:
        """Open a session channel on ``host``'s connection, start ``command``, send
        ``stdin`` then EOF (with ``replies``: no EOF, the channel is handed to it).

        Raises:
            SSHError, HostKeyError: see :meth:`connect`; the command could not be started,
                or ``cancel`` came first (whether it started is then unknown).
        """
        for retry in (True, False):
            client = self.connect(host)
            transport = client.get_transport()
            if transport is None or not transport.is_active():
                raise SSHError(f"connection to {host.name} closed", "retry the action")
            try:
                channel = transport.open_session(window_size=window_size,
                                                 timeout=self.settings.connect_timeout)
                break
            except (paramiko.SSHException, OSError, EOFError) as exc:
                # closed under it (another command dropped it): nothing started, try anew
                if not (retry and not transport.is_active()):
                    self.drop(host.name)
                    raise start_failed(host.name, exc, self.settings.connect_timeout) from None
        try:
            with self._guard:
                self.sessions_opened += 1
            exec_command(channel, command, cancel)
            if stdin:
                channel.sendall(stdin)
            if replies is None:
                channel.shutdown_write()
            else:
                replies.attach(channel)
        except ExecCancelled:
            raise SSHError(f"{host.name}: cancelled while the host was starting the command; "
                           "whether it started is unknown", CHECK_FIRST) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.drop(host.name)
            raise start_failed(host.name, exc, self.settings.connect_timeout) from None
        return channel

    def run(
        self,
        host: HostConfig,
        command: str,
        *,
        stdin: bytes | None = None,
        on_output: OutputCallback | None = None,
        cancel: threading.Event | None = None,
        timeout: float | None = None,
        capture: bool = False,
        replies: Replies | None = None,
        hold: bool = False,
        keep: bool = False,
        carried: bool = False,
    ) -> CommandResult:
        """Run one command line on ``host`` and stream its output line by line.

        Args:
            host: target host.
            command: the exact command line (see :func:`irtui.core.plan.command_line`).
            stdin: bytes written to the command's stdin, then EOF; None sends EOF at once.
            on_output: ``on_output(stream, line)`` for every line as it arrives.
            cancel: when set, the channel is closed and :class:`SSHError` raised.
            timeout: seconds before giving up (default ``ssh.command_timeout``).
            capture: also return the whole stdout/stderr text in the result.
            replies: keep the command's stdin open after ``stdin`` so that ``on_output``
                can answer it through this object (see :class:`Replies`).
            hold: a read (no ``stdin``, no ``replies``) whose session then stays open for the
                change planned on it (:mod:`irtui.core.ssh_hold`); the result is the read's.
            keep: a read-only command (no ``stdin``, no ``replies``) run over the host's
                idle session when there is one, its session then kept idle for the next.
            carried: run over the session held for ``host``, when there is a usable one
                (no ``stdin``), else over a new one.

        Returns:
            The :class:`CommandResult`.

        Raises:
            SSHError: connection problems, timeout, cancellation, or sudo wanting a password
                or a tty (``requiretty``).
            HostKeyError: see :meth:`connect`.
        """
        limit = timeout if timeout is not None else self.settings.command_timeout
        started = time.monotonic()
        generation = self.generation(host.name)
        self.held.sweep()
        reuse = hold or keep
        mark = new_mark() if reuse else ""
        held = self.held.take(host.name, generation) if carried and not stdin else None
        channel = (held.carry(command, replies, self.settings.connect_timeout)
                   if held is not None else None)
        ended = EndWatch(held.mark, on_output) if held is not None and channel else None
        idle = self.held.take_idle(host.name, generation) if reuse else None
        if idle is not None:
            channel = idle.ask(command, mark, self.settings.connect_timeout)
        if channel is None:
            channel = self._start(host, held_line(command, mark) if reuse else command, stdin,
                                  replies=Replies() if reuse else replies, cancel=cancel)
        lines = ended or on_output
        streams = {"stdout": LineSplitter("stdout", lines, capture or reuse),
                   "stderr": LineSplitter("stderr", lines, capture or reuse)}
        watch = HoldWatch(mark, streams["stdout"], streams["stderr"]) if reuse else None
        end = pump(channel, streams["stdout"].feed, streams["stderr"].feed, started + limit,
                   cancel, watch.done if watch else ended.done if ended else None)
        if ended is not None and end is End.HELD:  # the change is over; the session stays
            self.held.keep_idle(host.name, IdleSession(channel, self.generation(host.name),
                                                       time.monotonic()))
            return CommandResult(-1 if ended.status is None else ended.status,
                                 time.monotonic() - started,
                                 *ended.texts(streams["stdout"].text(), streams["stderr"].text()))
        if watch is not None and end is End.HELD:
            # the generation now: the read may have opened the connection it ran on
            self.held.after_read(host.name, channel, mark, self.generation(host.name), hold)
            out, err = watch.texts()
            if watch.exit_code() != 0 and host.user != "root" and command.startswith("sudo -n"):
                check_sudo(host, (err.strip().splitlines() or [""])[-1])
            return CommandResult(watch.exit_code(), time.monotonic() - started, out, err)
        if end is End.CANCELLED:
            raise SSHError(f"{host.name}: cancelled; the remote command was signalled "
                           "by closing its channel", CHECK_FIRST)
        if end is End.TIMEOUT:
            raise SSHError(f"{host.name}: command timed out after {limit:g} s",
                           "raise ssh.command_timeout or check the host")
        for splitter in streams.values():
            splitter.flush()
        exit_code = channel.exit_status if channel.exit_status_ready() else -1
        result = CommandResult(exit_code=exit_code, duration=time.monotonic() - started,
                               stdout=streams["stdout"].text(), stderr=streams["stderr"].text())
        if exit_code != 0 and host.user != "root" and command.startswith("sudo -n"):
            check_sudo(host, streams["stderr"].last)
        return result

    def stream(
        self,
        host: HostConfig,
        command: str,
        *,
        stdout: BinaryIO,
        stderr: BinaryIO,
        max_bytes: int | None = None,
        timeout: float | None = None,
        cancel: threading.Event | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> StreamResult:
        """Run one command line on ``host`` and stream its raw output bytes straight into
        ``stdout`` and ``stderr`` (file objects), never holding more than one read chunk
        (64 KiB) of it in memory. Both streams are drained together (they share one channel
        window, RFC 4254 §5.2; paramiko#1778).

        Args:
            host: target host.
            command: the exact command line.
            stdout / stderr: binary file objects the bytes are written to, as they arrive.
            max_bytes: cap per stream in bytes (None: no cap). Past it the channel is closed
                (the remote command gets SIGPIPE), the result says ``truncated`` and exactly
                ``max_bytes`` bytes were written.
            timeout: seconds before the channel is closed and ``timed_out`` set (default
                ``ssh.command_timeout``); what arrived until then is kept.
            cancel: when set, the channel is closed and ``cancelled`` set.
            on_progress: ``on_progress(stdout_bytes, stderr_bytes)`` at most every
                0.25 s while data arrives, and once at the end.

        Returns:
            The :class:`StreamResult` (a timeout, cap or cancel is reported there, not
            raised).

        Raises:
            SSHError, HostKeyError: the connection could not be made or was lost
                (:meth:`connect`), or writing to a file failed (``OSError`` is passed on).
        """
        limit = timeout if timeout is not None else self.settings.command_timeout
        started = time.monotonic()
        channel = self._start(host, command, None, window_size=_STREAM_WINDOW, cancel=cancel)
        sinks = CappedSinks(stdout, stderr, max_bytes, on_progress)
        end = pump(channel, sinks.stdout, sinks.stderr, started + limit, cancel)
        sinks.report()
        exit_code = (channel.exit_status if end is End.EOF and channel.exit_status_ready()
                     else None)
        return StreamResult(exit_code=exit_code, duration=time.monotonic() - started,
                            stdout_bytes=sinks.counts[0], stderr_bytes=sinks.counts[1],
                            truncated=end is End.CAPPED, timed_out=end is End.TIMEOUT,
                            cancelled=end is End.CANCELLED)

    def drop(self, name: str) -> None:
        """Close and forget the connection to host ``name`` (if any)."""
        self.held.drop(name)
        with self._lock_for(name):
            client = self._clients.pop(name, None)
        if client:
            client.close()

    def bastion_connections(self) -> dict[str, int]:
        """Connections opened so far to each bastion chain (``{"b1": 1}``); see
        :meth:`JumpPool.opened`."""
        return self._jumps.opened()

    def close(self) -> None:
        """Close every connection (targets first, then their bastions)."""
        for name in list(self._clients):
            self.drop(name)
        self._jumps.close()
