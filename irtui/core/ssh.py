"""SSH execution with paramiko: strict host keys, reused connections, live line streaming,
and raw byte streaming to files with a cap (:meth:`SSHPool.stream`, for evidence).

Rules followed:
- Host keys are checked against the configured known_hosts file; an unknown or changed key is
  refused before authentication and nothing runs (never ``AutoAddPolicy``).
- stdout and stderr share one SSH channel window (RFC 4254 §5.2), so both are read at the same
  time; reading one to its end first deadlocks once the other holds ~2 MB (one read loop for
  both methods: :func:`irtui.core.channel_io.pump`).
- Non-root users get ``sudo -n`` (sudo(8): non-interactive, fails instead of prompting).
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import paramiko

from irtui.core.channel_io import (
    CappedSinks,
    End,
    LineSplitter,
    OutputCallback,
    ProgressCallback,
    pump,
)
from irtui.core.errors import HostKeyError, SSHError
from irtui.core.settings import HostConfig, SSHSettings
from irtui.core.ssh_jump import JumpPool

_STREAM_WINDOW = 8 * 1024 * 1024
"""Channel window for bulk streams: larger than paramiko's 2 MiB default so a fast sender
is not stalled waiting for window adjustments (RFC 4254 §5.2)."""
SUDO_PASSWORD_MARKERS = ("a password is required", "a terminal is required")


def fingerprint(key: paramiko.PKey) -> str:
    """Return the OpenSSH-style ``SHA256:<base64>`` fingerprint of a public key
    (as ``ssh-keygen -lf`` prints it: unpadded base64 of the SHA-256 of the key blob)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


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


class _RefuseUnknownKey(paramiko.MissingHostKeyPolicy):
    """Refuse any host key not in known_hosts, naming the offered fingerprint."""

    def __init__(self, host: HostConfig, known_hosts: Path) -> None:
        self.host = host
        self.known_hosts = known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        known = client.get_host_keys().get(hostname) or {}
        if known:
            expected = ", ".join(f"{t} {fingerprint(k)}" for t, k in known.items())
            raise HostKeyError(
                f"host key for {self.host.name} ({hostname}) CHANGED: offered "
                f"{key.get_name()} {fingerprint(key)}, known_hosts has {expected}; nothing was run",
                f"verify the new key out of band, then update {self.known_hosts}",
            )
        raise HostKeyError(
            f"unknown host key for {self.host.name} ({hostname}): offered {key.get_name()} "
            f"{fingerprint(key)}, not in {self.known_hosts}; nothing was run",
            "verify the fingerprint out of band, then add the key to known_hosts "
            "(e.g. ssh-keyscan, checked with ssh-keygen -lf)",
        )


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

    def _lock_for(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def _known_hosts(self) -> Path:
        path = Path(self.settings.known_hosts).expanduser()
        if not path.is_file():
            raise SSHError(
                f"known_hosts file {path} not found",
                "set ssh.known_hosts to a file holding your hosts' verified keys",
            )
        return path

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

    def _open(self, host: HostConfig, sock: paramiko.Channel | None = None
              ) -> paramiko.SSHClient:
        known_hosts = self._known_hosts()
        pkey = self._key_for(host)
        client = paramiko.SSHClient()
        try:
            client.load_system_host_keys(str(known_hosts))
        except (OSError, paramiko.SSHException) as exc:
            raise SSHError(f"cannot read known_hosts {known_hosts}: {exc}",
                           "fix or replace that file") from None
        client.set_missing_host_key_policy(_RefuseUnknownKey(host, known_hosts))
        where = f"{host.name} ({host.address}:{host.port}{host.via})"
        timeout = self.settings.connect_timeout
        if sock is None and host.jump:  # ProxyJump: through the bastions (ssh_jump)
            sock = self._jumps.channel_to(host)
        try:
            client.connect(
                host.address, port=host.port, username=host.user,
                pkey=pkey, allow_agent=self.settings.use_agent,
                look_for_keys=pkey is None, timeout=timeout, banner_timeout=timeout,
                auth_timeout=timeout, channel_timeout=timeout, sock=sock,
            )
        except HostKeyError:
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
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

    def _key_for(self, host: HostConfig) -> paramiko.PKey | None:
        """``host``'s own key (its ssh config ``IdentityFile``) or ``ssh.key_file``, loaded
        by :meth:`_load_key` with the same checks; errors name the IdentityFile."""
        if not host.key_file:
            return self._load_key()
        try:
            return SSHPool(replace(self.settings, key_file=host.key_file))._load_key()
        except SSHError as exc:
            source = f"the IdentityFile for {host.name} in your ssh config"
            raise SSHError(exc.problem, exc.fix.replace("ssh.key_file", source)) from None

    def _load_key(self) -> paramiko.PKey | None:
        """Load ``ssh.key_file`` before connecting, so a wrong file is named as such. A
        passphrase-protected key is opened with the passphrase from the keyring entry
        ``ssh.key_passphrase_secret`` (read here, never written anywhere).

        Raises:
            SSHError: missing, not a private key, passphrase-protected without a passphrase
                secret, or the stored passphrase does not open it.
            SecretError: the passphrase secret is missing or the keyring is unavailable.
        """
        if not self.settings.key_file:
            return None
        path = Path(self.settings.key_file).expanduser()
        agent_fix = "or leave ssh.key_file empty to use ssh-agent"
        if not path.is_file():
            raise SSHError(f"SSH key file {path} not found",
                           f"set ssh.key_file to your private key, {agent_fix}")
        name = self.settings.key_passphrase_secret
        passphrase = None
        if name:
            from irtui.core.secrets import get_secret

            passphrase = get_secret(name)
        try:
            return paramiko.PKey.from_path(
                path, password=passphrase.encode() if passphrase is not None else None)
        except (paramiko.PasswordRequiredException, TypeError) as exc:
            # cryptography raises TypeError("...password-protected...") for encrypted keys
            if isinstance(exc, TypeError) and "password" not in str(exc).lower():
                raise
            raise SSHError(f"SSH key file {path} is protected by a passphrase",
                           f"store it with irtui secrets set ssh-key and set "
                           f"ssh.key_passphrase_secret = \"ssh-key\", or load the key into "
                           f"ssh-agent (ssh-add {path}) and leave ssh.key_file empty") from None
        except (paramiko.SSHException, OSError, ValueError):
            if passphrase is not None:
                raise SSHError(f"the passphrase in keyring secret {name!r} does not open the "
                               f"SSH key file {path}",
                               f"store the right one with: irtui secrets set {name}") from None
            hint = " (that is the public key)" if path.suffix == ".pub" else ""
            raise SSHError(f"SSH key file {path} is not a usable private key{hint}",
                           f"point ssh.key_file at the private key, {agent_fix}") from None

    def _start(self, host: HostConfig, command: str, stdin: bytes | None,
               window_size: int | None = None) -> paramiko.Channel:
        """Open a session channel on ``host``'s connection, start ``command``, send
        ``stdin`` then EOF.

        Raises:
            SSHError, HostKeyError: see :meth:`connect`; the command could not be started.
        """
        client = self.connect(host)
        transport = client.get_transport()
        if transport is None or not transport.is_active():
            raise SSHError(f"connection to {host.name} closed", "retry the action")
        try:
            channel = transport.open_session(window_size=window_size,
                                             timeout=self.settings.connect_timeout)
            channel.exec_command(command)
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.drop(host.name)
            raise SSHError(f"{host.name}: could not start the command ({exc})",
                           "retry; if it persists check the host's sshd (MaxSessions)") from None
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
            SSHError: connection problems, timeout, cancellation, or sudo wanting a password.
            HostKeyError: see :meth:`connect`.
        """
        limit = timeout if timeout is not None else self.settings.command_timeout
        started = time.monotonic()
        channel = self._start(host, command, stdin)
        streams = {"stdout": LineSplitter("stdout", on_output, capture),
                   "stderr": LineSplitter("stderr", on_output, capture)}
        end = pump(channel, streams["stdout"].feed, streams["stderr"].feed,
                    started + limit, cancel)
        if end is End.CANCELLED:
            raise SSHError(f"{host.name}: cancelled; the remote command was signalled "
                           "by closing its channel", "check the host's state before retrying")
        if end is End.TIMEOUT:
            raise SSHError(f"{host.name}: command timed out after {limit:g} s",
                           "raise ssh.command_timeout or check the host")
        for splitter in streams.values():
            splitter.flush()
        exit_code = channel.exit_status if channel.exit_status_ready() else -1
        result = CommandResult(exit_code=exit_code, duration=time.monotonic() - started,
                               stdout=streams["stdout"].text(), stderr=streams["stderr"].text())
        if exit_code != 0 and host.user != "root" and command.startswith("sudo -n") and any(
                m in streams["stderr"].last for m in SUDO_PASSWORD_MARKERS):
            raise SSHError(f"sudo on {host.name} wants a password for {host.user}",
                           f"allow {host.user} passwordless sudo for nft/iptables, or use root")
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
        channel = self._start(host, command, None, window_size=_STREAM_WINDOW)
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
