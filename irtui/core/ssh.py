"""SSH execution with paramiko: strict host keys, reused connections, live line streaming.

Rules followed:
- Host keys are checked against the configured known_hosts file; an unknown or changed key is
  refused before authentication and nothing runs (never ``AutoAddPolicy``).
- stdout and stderr share one SSH channel window (RFC 4254 §5.2), so both are read at the same
  time; reading one to its end first deadlocks once the other holds ~2 MB.
- Non-root users get ``sudo -n`` (sudo(8): non-interactive, fails instead of prompting); a
  sudo that wants a password or a tty (sudoers(5) ``requiretty``) is named with its fix.
- known_hosts is read by :mod:`irtui.core.known_hosts`: ``@revoked`` keys are refused,
  ``@cert-authority`` lines explained, unreadable lines skipped.
- A private key file that group or others can access is refused, as OpenSSH refuses it
  (ssh(1), "UNPROTECTED PRIVATE KEY FILE").
- Output lines keep bytes that are not UTF-8 as lone surrogates (``surrogateescape``, PEP 383)
  so the record can keep them exactly; the fronts show them escaped
  (:func:`irtui.core.text.printable`). Captured text replaces them with U+FFFD.
"""

from __future__ import annotations

import codecs
import select
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paramiko

from irtui.core.errors import HostKeyError, SSHError
from irtui.core.known_hosts import (
    KnownHosts,
    RefuseUnknownKey,
    fingerprint,
    load_known_hosts,
    revoked_error,
)
from irtui.core.settings import HostConfig, SSHSettings

OutputCallback = Callable[[str, str], None]
"""Called as ``on_output(stream, line)`` with stream ``"stdout"`` or ``"stderr"`` and the line
without its newline, from the thread running the command."""

_READ_CHUNK = 65536
_POLL_SECONDS = 0.2
SUDO_PASSWORD_MARKERS = ("a password is required", "a terminal is required")
SUDO_REQUIRETTY_MARKERS = ("you must have a tty",)
"""sudo's refusal under sudoers(5) ``Defaults requiretty`` ("sorry, you must have a tty to
run sudo"); ``sudo -n`` cannot get past it."""


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
        self._known: tuple[tuple[int, int], KnownHosts] | None = None

    def _lock_for(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def _known_hosts(self) -> KnownHosts:
        """known_hosts, parsed once and again only when the file changes (mtime, size)."""
        path = _expand(self.settings.known_hosts, "ssh.known_hosts")
        try:
            info = path.stat()
        except (OSError, ValueError):
            info = None
        if info is None or not stat.S_ISREG(info.st_mode):
            raise SSHError(f"known_hosts file {path} not found",
                           "set ssh.known_hosts to a file holding your hosts' verified keys")
        version = (info.st_mtime_ns, info.st_size)
        with self._guard:
            cached = self._known
        if cached is not None and cached[0] == version and cached[1].path == path:
            return cached[1]
        known = load_known_hosts(path)
        with self._guard:
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
            return client

    def _open(self, host: HostConfig) -> paramiko.SSHClient:
        known = self._known_hosts()
        known_hosts = known.path
        pkey = self._load_key()
        client = paramiko.SSHClient()
        # the name paramiko looks keys up by (SSHClient.connect): host, or [host]:port
        name = host.address if host.port == 22 else f"[{host.address}]:{host.port}"
        for key in reversed(known.keys_for(name)):  # one key per type: the first listed wins
            client.get_host_keys().add(name, key.get_name(), key)
        client.set_missing_host_key_policy(RefuseUnknownKey(host, known))
        where = f"{host.name} ({host.address}:{host.port})"
        timeout = self.settings.connect_timeout
        try:
            client.connect(
                host.address, port=host.port, username=host.user,
                pkey=pkey, allow_agent=self.settings.use_agent,
                look_for_keys=pkey is None, timeout=timeout, banner_timeout=timeout,
                auth_timeout=timeout, channel_timeout=timeout,
            )
        except HostKeyError:
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            if known.is_revoked(exc.key):
                raise revoked_error(host, name, exc.key, known_hosts) from None
            raise HostKeyError(
                f"host key for {where} CHANGED: offered {exc.key.get_name()} "
                f"{fingerprint(exc.key)}, known_hosts has {exc.expected_key.get_name()} "
                f"{fingerprint(exc.expected_key)}; nothing was run",
                f"verify the new key out of band, then update {known_hosts}",
            ) from None
        except paramiko.AuthenticationException:
            client.close()
            raise SSHError(f"authentication failed for {host.user}@{where}",
                           "check ssh.key_file (or ssh-agent) and the host's authorized_keys"
                           ) from None
        except TimeoutError:
            client.close()
            raise SSHError(f"{where} unreachable: no answer within {timeout:g} s",
                           "check the address and port in the config and that the host is up"
                           ) from None
        except (UnicodeError, ValueError) as exc:  # the idna codec; a NUL in the name
            client.close()
            raise SSHError(f"{where}: {host.address!r} cannot be resolved ({exc})",
                           "fix the host's address in the config") from None
        except (OSError, paramiko.SSHException, EOFError) as exc:
            client.close()
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise SSHError(f"{where} unreachable: {reason}",
                           "check the address and port in the config and that sshd runs there"
                           ) from None
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(15)
        return client

    def _load_key(self) -> paramiko.PKey | None:
        """Load ``ssh.key_file`` before connecting, so a wrong file is named as such.

        Raises:
            SSHError: missing, accessible by group or others, not a private key, or
                passphrase-protected.
        """
        if not self.settings.key_file:
            return None
        path = _expand(self.settings.key_file, "ssh.key_file")
        agent_fix = "or leave ssh.key_file empty to use ssh-agent"
        if not path.is_file():
            raise SSHError(f"SSH key file {path} not found",
                           f"set ssh.key_file to your private key, {agent_fix}")
        try:
            key = paramiko.PKey.from_path(path)
        except (paramiko.PasswordRequiredException, TypeError) as exc:
            # cryptography raises TypeError("...password-protected...") for encrypted keys
            if isinstance(exc, TypeError) and "password" not in str(exc).lower():
                raise
            raise SSHError(f"SSH key file {path} is protected by a passphrase",
                           f"load it into ssh-agent (ssh-add {path}) and leave ssh.key_file "
                           "empty") from None
        except (paramiko.SSHException, OSError, ValueError):
            hint = " (that is the public key)" if path.suffix == ".pub" else ""
            raise SSHError(f"SSH key file {path} is not a usable private key{hint}",
                           f"point ssh.key_file at the private key, {agent_fix}") from None
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            # ssh(1) refuses such a key (sshkey_perm_ok: "UNPROTECTED PRIVATE KEY FILE");
            # irtui also refuses it when another user owns it
            raise SSHError(f"SSH key file {path} is accessible by group or others (mode "
                           f"{mode:04o}): UNPROTECTED PRIVATE KEY FILE, refused as OpenSSH "
                           "refuses it", f"chmod 600 {path}")
        return key

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

        Returns:
            The :class:`CommandResult`.

        Raises:
            SSHError: connection problems, timeout, cancellation, or sudo wanting a password
                or a tty (``requiretty``).
            HostKeyError: see :meth:`connect`.
        """
        client = self.connect(host)
        transport = client.get_transport()
        if transport is None or not transport.is_active():
            raise SSHError(f"connection to {host.name} closed", "retry the action")
        limit = timeout if timeout is not None else self.settings.command_timeout
        started = time.monotonic()
        try:
            channel = transport.open_session(timeout=self.settings.connect_timeout)
            channel.exec_command(command)
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.drop(host.name)
            raise SSHError(f"{host.name}: could not start the command ({exc})",
                           "retry; if it persists check the host's sshd (MaxSessions)") from None
        streams = {"stdout": _LineSplitter("stdout", on_output, capture),
                   "stderr": _LineSplitter("stderr", on_output, capture)}
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    raise SSHError(f"{host.name}: cancelled; the remote command was signalled "
                                   "by closing its channel",
                                   "check the host's state before retrying")
                if time.monotonic() - started > limit:
                    raise SSHError(f"{host.name}: command timed out after {limit:g} s",
                                   "raise ssh.command_timeout or check the host")
                got = False
                if channel.recv_ready():
                    streams["stdout"].feed(channel.recv(_READ_CHUNK))
                    got = True
                if channel.recv_stderr_ready():
                    streams["stderr"].feed(channel.recv_stderr(_READ_CHUNK))
                    got = True
                if got:
                    continue
                # EOF (RFC 4254 §5.3) ends both streams; the exit status alone may arrive
                # before the last stderr bytes, so it is not a reason to stop reading.
                if (channel.eof_received or channel.closed) and not channel.recv_ready() \
                        and not channel.recv_stderr_ready():
                    if channel.exit_status_ready() or channel.closed:
                        break
                    channel.status_event.wait(_POLL_SECONDS)
                    continue
                select.select([channel], [], [], _POLL_SECONDS)
        finally:
            if not channel.closed:
                channel.close()
        for splitter in streams.values():
            splitter.flush()
        exit_code = channel.exit_status if channel.exit_status_ready() else -1
        result = CommandResult(exit_code=exit_code, duration=time.monotonic() - started,
                               stdout=streams["stdout"].text(), stderr=streams["stderr"].text())
        if exit_code != 0 and host.user != "root" and command.startswith("sudo -n"):
            _check_sudo(host, streams["stderr"].last)
        return result

    def drop(self, name: str) -> None:
        """Close and forget the connection to host ``name`` (if any)."""
        with self._lock_for(name):
            client = self._clients.pop(name, None)
        if client:
            client.close()

    def close(self) -> None:
        """Close every connection."""
        for name in list(self._clients):
            self.drop(name)


def _expand(text: str, key: str) -> Path:
    """``text`` with ``~`` expanded; a home that cannot be found (a UID with no passwd entry
    and no ``$HOME``) is an error naming the config key."""
    try:
        return Path(text).expanduser()
    except RuntimeError:
        raise SSHError(f"{key} {text!r} starts with ~ but this user has no home directory",
                       f"give {key} as an absolute path") from None


def _check_sudo(host: HostConfig, last_stderr: str) -> None:
    """Turn sudo's own refusals (sudo(8) ``-n``, sudoers(5) ``requiretty``) into one error
    naming the sudoers fix.

    Raises:
        SSHError: when ``last_stderr`` is one of those refusals.
    """
    if any(m in last_stderr for m in SUDO_REQUIRETTY_MARKERS):
        raise SSHError(f"sudo on {host.name} refuses {host.user} without a terminal: sudoers "
                       "has requiretty",
                       f"add 'Defaults:{host.user} !requiretty' to the host's sudoers (visudo "
                       "-f /etc/sudoers.d/irtui), or use root")
    if any(m in last_stderr for m in SUDO_PASSWORD_MARKERS):
        raise SSHError(f"sudo on {host.name} wants a password for {host.user}",
                       f"allow {host.user} passwordless sudo for nft/iptables, or use root")


class _LineSplitter:
    """Incremental UTF-8 decoder that emits complete lines; undecodable bytes stay in the
    lines as lone surrogates (``surrogateescape``) and become U+FFFD in the captured text."""

    def __init__(self, stream: str, on_output: OutputCallback | None, capture: bool) -> None:
        self.stream = stream
        self.on_output = on_output
        self.capture = capture
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self.partial = ""
        self.parts: list[str] = []
        self.last = ""

    def feed(self, data: bytes) -> None:
        if not data:
            return
        text = self.decoder.decode(data)
        if self.capture:
            self.parts.append(_replaced(text))
        text = self.partial + text
        *lines, self.partial = text.split("\n")
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
        self.partial = ""
        if rest:
            self._emit(rest)

    def text(self) -> str:
        return "".join(self.parts)


def _replaced(text: str) -> str:
    """``text`` with each surrogate-escaped byte as U+FFFD (what ``errors="replace"`` gives)."""
    if text.isascii() or not any("\udc80" <= c <= "\udcff" for c in text):
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
