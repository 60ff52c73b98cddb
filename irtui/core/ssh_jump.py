"""Reaching hosts through bastions (OpenSSH ``ProxyJump``) with paramiko.

Each hop is a full SSH connection whose socket is a ``direct-tcpip`` channel (RFC 4254
§7.2) opened over the previous hop's transport; the first hop is a plain TCP connection.
Every hop's host key is checked exactly like a target's (same known_hosts, same refusal),
because the hops are opened by the same :meth:`SSHPool._open`.

One authenticated transport per bastion chain is kept and shared by every target behind it
(paramiko multiplexes channels over one transport), so reaching 50 hosts through a bastion
costs one bastion login, not 50.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import paramiko

from irtui.core.endpoints import join_port
from irtui.core.errors import IrtuiError, SSHError
from irtui.core.settings import HostConfig, JumpHost

OpenHop = Callable[[HostConfig, "paramiko.Channel | None"], paramiko.SSHClient]
"""``open_hop(host, sock)``: an authenticated client for ``host`` over ``sock`` (None =
a direct TCP connection), raising IrtuiError subclasses naming ``host.name``."""

Chain = tuple[JumpHost, ...]

# RFC 4254 §5.1 reason codes of SSH_MSG_CHANNEL_OPEN_FAILURE
_PROHIBITED = 1
_CONNECT_FAILED = 2


def chain_label(chain: Chain) -> str:
    """``"b1 > b2"``: the bastions of ``chain`` in order."""
    return " > ".join(hop.name for hop in chain)


def hop_host(chain: Chain) -> HostConfig:
    """The last hop of ``chain`` as a :class:`HostConfig` named by its label (so every
    message about it names it as the bastion), reached through the hops before it."""
    hop = chain[-1]
    return HostConfig(name=hop.label, address=hop.address, port=hop.port,
                      user=hop.user, key_file=hop.key_file, jump=chain[:-1])


class _StaleTransport(Exception):
    """The bastion's transport died between checks; reconnect once and retry."""


class JumpPool:
    """Bastion connections shared by the targets behind them. Thread-safe.

    Args:
        open_hop: opens one authenticated hop (see :data:`OpenHop`).
        timeout: seconds to wait for a bastion to open a forwarded connection.
    """

    def __init__(self, open_hop: OpenHop, timeout: float) -> None:
        self._open_hop = open_hop
        self._timeout = timeout
        self._clients: dict[Chain, paramiko.SSHClient] = {}
        self._opened: dict[Chain, int] = {}
        self._locks: dict[Chain, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock_for(self, chain: Chain) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(chain, threading.Lock())

    def channel_to(self, host: HostConfig) -> paramiko.Channel:
        """A ``direct-tcpip`` channel from ``host``'s last bastion to ``host.address:port``,
        to be the ``sock`` of the connection to ``host``. Bastions are connected (or
        reused) first hop first.

        Raises:
            HostKeyError: a bastion's key is unknown or changed (message names the bastion).
            SSHError: a bastion unreachable or refusing the login, or the bastion cannot
                reach ``host`` (refused, timed out, forwarding prohibited) — each naming the
                hop that failed.
        """
        try:
            return self._forward(self._transport(host), host)
        except _StaleTransport:
            self._drop(host.jump)
            return self._forward(self._transport(host), host)

    def _transport(self, target: HostConfig) -> paramiko.Transport:
        """The live transport of ``target``'s last bastion (opening the hops as needed);
        errors about a hop are raised naming ``target`` too."""
        chain = target.jump
        for depth in range(1, len(chain) + 1):
            prefix = chain[:depth]
            with self._lock_for(prefix):
                client = self._clients.get(prefix)
                transport = client.get_transport() if client else None
                if client is not None and transport is not None and transport.is_active():
                    continue
                if client is not None:
                    client.close()
                    del self._clients[prefix]
                hop = hop_host(prefix)
                try:
                    sock = self._forward(self._live(prefix[:-1]), hop) if depth > 1 else None
                    self._clients[prefix] = self._open_hop(hop, sock)
                except _StaleTransport:
                    raise SSHError(f"{target.name}: the connection to {prefix[-2].label} "
                                   f"closed while opening the way to {prefix[-1].label}",
                                   "retry; if it persists check that bastion") from None
                except IrtuiError as exc:
                    raise type(exc)(f"{target.name}: {exc.problem}", exc.fix) from None
                self._opened[prefix] = self._opened.get(prefix, 0) + 1
        return self._live(chain)

    def _live(self, chain: Chain) -> paramiko.Transport:
        client = self._clients.get(chain)
        transport = client.get_transport() if client else None
        if transport is None or not transport.is_active():
            raise _StaleTransport()
        return transport

    def _forward(self, transport: paramiko.Transport, dest: HostConfig) -> paramiko.Channel:
        bastion = dest.jump[-1].label
        where = f"{dest.name} ({join_port(dest.address, dest.port)})"
        try:
            return transport.open_channel("direct-tcpip", (dest.address, dest.port),
                                          ("127.0.0.1", 0), timeout=self._timeout)
        except paramiko.ChannelException as exc:
            if exc.code == _PROHIBITED:
                raise SSHError(f"{bastion} refused to forward to {where} "
                               f"({exc.text})", "allow TCP forwarding to it on the bastion "
                               "(sshd AllowTcpForwarding, PermitOpen)") from None
            reason = "the connection was refused or has no route" \
                if exc.code == _CONNECT_FAILED else exc.text
            raise SSHError(f"{where} unreachable through {bastion}: {reason}",
                           "check that the host is up, its SSH port, and that the bastion "
                           "may reach it") from None
        except paramiko.SSHException as exc:
            if "Timeout" in str(exc):
                raise SSHError(f"{where} unreachable through {bastion}: no answer "
                               f"within {self._timeout:g} s",
                               "check that the host is up and that the bastion may reach "
                               "it") from None
            raise _StaleTransport() from None
        except (EOFError, OSError):
            raise _StaleTransport() from None

    def _drop(self, chain: Chain) -> None:
        for depth in range(len(chain), 0, -1):
            with self._lock_for(chain[:depth]):
                client = self._clients.pop(chain[:depth], None)
            if client is not None:
                client.close()

    def opened(self) -> dict[str, int]:
        """How many connections this pool opened to each bastion chain
        (``{"b1": 1, "b1 > b2": 1}``); one per chain while it stays up."""
        with self._guard:
            return {chain_label(c): n for c, n in self._opened.items()}

    def close(self) -> None:
        """Close every bastion connection, innermost hops first."""
        with self._guard:
            chains = sorted(self._clients, key=len, reverse=True)
        for chain in chains:
            client = self._clients.pop(chain, None)
            if client is not None:
                client.close()
