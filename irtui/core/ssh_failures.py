"""What an SSH failure means, in words the responder can act on: a command that could not be
started on an open connection (:func:`start_failed`), and paramiko's own wording for a
connection that never completed (:func:`connect_reason`).

paramiko's messages name its internals: ``Timeout opening channel.`` (sshd did not answer
the channel open), ``No existing session`` (authentication asked on a transport whose key
exchange never finished or that died), and an ``EOFError`` with no text at all (the
connection was closed under a waiting call). Each gets its meaning and the fix that fits
its cause: only a refused channel (RFC 4254 §5.1 "administratively prohibited") points at
sshd's ``MaxSessions``.
"""

from __future__ import annotations

import paramiko

from irtui.core.errors import HostKeyError, SSHError
from irtui.core.known_hosts import KnownHosts, fingerprint, revoked_error
from irtui.core.settings import HostConfig

_CLOSED = ("SSH session not active", "Unable to open channel")
"""paramiko's words for a channel asked on a connection that is (or just went) down."""


def start_failed(name: str, exc: BaseException, timeout: float) -> SSHError:
    """The error for a command that could not be started on host ``name``'s connection
    (opening its session channel or sending the command failed with ``exc``); ``timeout``
    is the seconds the channel open was given (``ssh.connect_timeout``). The reason is
    never empty and the host is named once, at the start."""
    text = str(exc).strip()
    if isinstance(exc, paramiko.ChannelException):
        reason = f"sshd refused a new session: {exc.text}"
        fix = ("retry; if it persists check the host's sshd (MaxSessions) and its log"
               if exc.code == paramiko.common.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
               else "retry; if it persists check the host's sshd log")
    elif "Timeout opening channel" in text:
        reason = (f"the host did not answer within {timeout:g} s: the connection or the "
                  "host's sshd is not responding")
        fix = ("check that the host and its sshd respond (a stalled or overloaded host, a "
               "lost link), then retry")
    elif isinstance(exc, EOFError) or not text or any(w in text for w in _CLOSED):
        reason = "the SSH connection was closed" + (f" ({text})" if text else "")
        fix = "retry (irtui opens a new connection); if it recurs check the host and the network"
    else:
        reason = f"{type(exc).__name__}: {text}" if isinstance(exc, OSError) else text
        fix = "retry; if it persists check the host's sshd log"
    return SSHError(f"{name}: could not start the command ({reason})", fix)


def connect_reason(exc: BaseException, timeout: float) -> str:
    """Why a new connection failed, from ``exc`` (``OSError``, ``paramiko.SSHException``
    or ``EOFError``): the system's words for a socket error, else paramiko's, with its
    internal wording replaced by what it means; never empty."""
    reason = getattr(exc, "strerror", None) or str(exc).strip()
    if "protocol banner" in reason:  # paramiko: no "SSH-2.0-…" line came
        return "something answered on that port, but not an SSH server"
    if "No existing session" in reason:  # authentication on an unfinished or dead transport
        return (f"the SSH connection was lost or could not be established (the SSH "
                f"handshake did not complete within {timeout:g} s: the host's sshd accepted "
                "the connection but does not answer, or the connection dropped)")
    if isinstance(exc, EOFError) or not reason:
        return "the connection was closed by the host or the network during the SSH handshake"
    return reason


def connect_failed(exc: BaseException, host: HostConfig, name: str, where: str,
                   known: KnownHosts, timeout: float) -> SSHError:
    """The error for a connection to ``host`` that ``paramiko.SSHClient.connect`` refused
    with ``exc``: a changed or revoked host key (:class:`HostKeyError`), failed
    authentication, no answer within ``timeout`` s, a name that cannot be resolved, or the
    host unreachable (:func:`connect_reason`).

    Args:
        name: the name paramiko looked the host key up by (``host`` or ``[host]:port``).
        where: the host as messages name it (name, address, port and route).
        known: the known_hosts the key was checked against.
    """
    if isinstance(exc, paramiko.BadHostKeyException):
        if known.is_revoked(exc.key):
            return revoked_error(host, name, exc.key, known.path)
        return HostKeyError(
            f"host key for {where} CHANGED: offered {exc.key.get_name()} "
            f"{fingerprint(exc.key)}, known_hosts has {exc.expected_key.get_name()} "
            f"{fingerprint(exc.expected_key)}; nothing was run",
            f"verify the new key out of band, then update {known.path}",
        )
    if isinstance(exc, paramiko.AuthenticationException) and "timeout" in str(exc).lower():
        # paramiko's "Authentication timeout." (the same class as a refusal): no answer to
        # the key in time, as on a link losing packets; the key was not refused
        return SSHError(f"{where}: no answer to authentication within {timeout:g} s (a slow "
                        "or lossy link, or a busy host; the key was not refused)",
                        "check the network to the host, or raise ssh.connect_timeout")
    if isinstance(exc, paramiko.AuthenticationException):
        return SSHError(f"authentication failed for {host.user}@{where}",
                        "check ssh.key_file (or ssh-agent) and the host's authorized_keys")
    if isinstance(exc, TimeoutError):
        return SSHError(f"{where} unreachable: no answer within {timeout:g} s",
                        "check the address and port in the config and that the host is up")
    if isinstance(exc, ValueError):  # the idna codec (UnicodeError); a NUL in the name
        return SSHError(f"{where}: {host.address!r} cannot be resolved ({exc})",
                        "fix the host's address in the config")
    return SSHError(f"{where} unreachable: {connect_reason(exc, timeout)}",
                    "check the address and port in the config and that sshd runs "
                    "(and answers) there")
