"""Test helpers that act from inside a lab namespace: run a command, try a TCP connection,
hold a connection open, run an echo server.

Sockets "in" a namespace are created by a short-lived thread that enters the namespace with
setns(2), creates the socket and exits; a socket stays in the namespace it was created in, so
the caller then uses it normally. Only literal IP addresses are accepted — nothing here ever
resolves a name or connects anywhere but the address it is given.
"""

from __future__ import annotations

import atexit
import ctypes
import ipaddress
import itertools
import os
import select
import socket
import subprocess
import sys
import threading
import time
from types import TracebackType

from irtui.core.errors import IrtuiError
from irtui.lab.netns import NETNS_DIR, find_binary

CLONE_NEWNET = 0x40000000


def ns_run(namespace: str, argv: list[str], input: bytes | None = None,
           timeout: float = 10) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` inside ``namespace`` via ``ip netns exec`` and capture its output.

    Args:
        namespace: a named network namespace, e.g. ``irtest-host1``.
        argv: the command and its arguments.
        input: bytes for its stdin (None: empty stdin).
        timeout: seconds before it is killed.

    Returns:
        The completed process; stdout and stderr are bytes. A non-zero exit status is not an
        error here — check ``returncode``.

    Raises:
        subprocess.TimeoutExpired: it ran longer than ``timeout``.
    """
    ip = find_binary("ip") or "ip"
    return subprocess.run([ip, "netns", "exec", namespace, *argv], input=input,
                          capture_output=True, timeout=timeout, check=False)


def _setns_fn():  # type: ignore[no-untyped-def]
    libc = ctypes.CDLL(None, use_errno=True)
    fn = libc.setns
    fn.argtypes = [ctypes.c_int, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def socket_in_namespace(namespace: str | None, family: int,
                        kind: int = socket.SOCK_STREAM) -> socket.socket:
    """Create a socket that lives in ``namespace`` (None: the caller's own namespace).

    Raises:
        IrtuiError: the namespace does not exist or cannot be entered (needs root).
    """
    if namespace is None:
        return socket.socket(family, kind)
    path = NETNS_DIR / namespace
    if not path.exists():
        raise IrtuiError(f"network namespace {namespace} does not exist", "start the lab first")
    result: list[socket.socket | BaseException] = []

    def worker() -> None:
        try:
            setns = _setns_fn()
            with open(path, "rb") as target:
                if setns(target.fileno(), CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({namespace}): {os.strerror(err)}")
                # This thread now lives in the namespace and ends right after; it never
                # returns to the caller's namespace, so nothing else runs in it.
                result.append(socket.socket(family, kind))
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=worker, name=f"netns-{namespace}", daemon=True)
    thread.start()
    thread.join()
    out = result[0] if result else RuntimeError("setns thread produced nothing")
    if isinstance(out, BaseException):
        raise IrtuiError(f"cannot open a socket in namespace {namespace} ({out})",
                         "run as root with the lab up") from out
    return out


def _family(address: str) -> int:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"{address!r} is not an IP address; probes take literal addresses "
                         "only") from None
    return socket.AF_INET6 if ip.version == 6 else socket.AF_INET


def _connect(namespace: str | None, address: str, port: int, timeout: float,
             source: str | None = None) -> socket.socket:
    sock = socket_in_namespace(namespace, _family(address))
    try:
        sock.settimeout(timeout)
        if source is not None:
            _family(source)  # a literal address, never a name
            sock.bind((source, 0))
        sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    return sock


HANDSHAKE_WAIT = 1.0
"""Default seconds :func:`tcp_connects` waits for a handshake: one initial retransmission
timeout (1 s, RFC 6298 section 2.1), so it sees what becomes of the first SYN — answered
within a millisecond on a lab veth, or dropped. Waiting longer only adds the retransmitted
SYN, and makes every "the attacker is cut off" check pay the whole wait."""


def tcp_connects(namespace: str | None, address: str, port: int,
                 timeout: float = HANDSHAKE_WAIT, source: str | None = None) -> bool:
    """Whether a TCP connection from ``namespace`` to ``address``:``port`` completes.

    Args:
        namespace: where to connect from; None is the caller's (root) namespace.
        address: a literal IPv4 or IPv6 address (never a name).
        port: TCP port.
        timeout: seconds to wait for the handshake (default :data:`HANDSHAKE_WAIT`).
        source: a literal address of ``namespace`` to connect from (default: the kernel's
            choice), e.g. one of several addresses an attacker machine holds.

    Returns:
        True if the handshake completed (the connection is closed at once); False on refusal,
        timeout or unreachable network.

    Raises:
        ValueError: ``address`` is not an IP address.
        IrtuiError: the namespace does not exist.
    """
    try:
        sock = _connect(namespace, address, port, timeout, source)
    except OSError:
        return False
    sock.close()
    return True


class HeldConnection:
    """A TCP connection from a namespace to an echo server, kept open to check later whether
    it still carries data (e.g. after a block is applied).

    Args:
        namespace: where to connect from (None: the caller's namespace).
        address: literal IP address of the echo server.
        port: its TCP port.
        timeout: seconds for the initial handshake.

    Raises:
        ValueError: ``address`` is not an IP address.
        OSError: the connection could not be made.
        IrtuiError: the namespace does not exist.
    """

    def __init__(self, namespace: str | None, address: str, port: int,
                 timeout: float = 2.0) -> None:
        self.namespace = namespace
        self.address = address
        self.port = port
        self._sock: socket.socket | None = _connect(namespace, address, port, timeout)
        self._counter = itertools.count(1)
        self._buffer = b""

    def alive(self, timeout: float = 1.0) -> bool:
        """Send a short token and wait up to ``timeout`` seconds for it to come back.

        Returns:
            True if the echo arrived; False on timeout, reset or a closed connection. A
            connection that was reset or closed stays dead; one that timed out may recover.
        """
        sock = self._sock
        if sock is None:
            return False
        token = f"<{next(self._counter)}>".encode()
        try:
            sock.settimeout(timeout)
            sock.sendall(token)
        except OSError:
            self.close()
            return False
        deadline = time.monotonic() + timeout
        while token not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                ready, _, _ = select.select([sock], [], [], left)
                if not ready:
                    return False
                data = sock.recv(4096)
            except OSError:
                self.close()
                return False
            if not data:
                self.close()
                return False
            self._buffer += data
        self._buffer = self._buffer.split(token, 1)[1]
        return True

    @property
    def closed(self) -> bool:
        """True once the connection was closed, reset, or found dead."""
        return self._sock is None

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> HeldConnection:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


_ECHO_SERVER = r"""
import socket, sys, threading
srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
srv.bind(("::", int(sys.argv[1])))
srv.listen(128)
print("ready", flush=True)
def serve(conn):
    with conn:
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            conn.sendall(data)
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


class EchoServer:
    """A TCP echo server running as a Python subprocess inside a namespace, listening on all
    IPv4 and IPv6 addresses there. Stop it with :meth:`close` or a ``with`` block.

    Attributes:
        namespace: where it runs.
        port: its TCP port.
        process: the subprocess (its PID is ``process.pid``).
    """

    def __init__(self, namespace: str, port: int, process: subprocess.Popen[bytes]) -> None:
        self.namespace = namespace
        self.port = port
        self.process = process

    @property
    def pid(self) -> int:
        """PID of the server process."""
        return self.process.pid

    def running(self) -> bool:
        """True while the server process is alive."""
        return self.process.poll() is None

    def close(self) -> None:
        """Kill the server (only this subprocess) and reap it; idempotent."""
        _RUNNING.discard(self)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> EchoServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


_RUNNING: set[EchoServer] = set()


@atexit.register
def _stop_echo_servers() -> None:
    for server in list(_RUNNING):
        server.close()


def start_echo_server(namespace: str, port: int, timeout: float = 5.0) -> EchoServer:
    """Start a TCP echo server inside ``namespace`` on ``port`` (all addresses, v4 and v6).

    Args:
        namespace: a named network namespace, e.g. a lab host's.
        port: TCP port to listen on.
        timeout: seconds to wait for it to be listening.

    Returns:
        The running server; close it when done (any still running are killed when the
        calling Python process exits normally).

    Raises:
        IrtuiError: it did not start listening (port in use, namespace missing, ...).
    """
    if not (NETNS_DIR / namespace).exists():
        raise IrtuiError(f"network namespace {namespace} does not exist", "start the lab first")
    ip = find_binary("ip") or "ip"
    proc = subprocess.Popen(
        [ip, "netns", "exec", namespace, sys.executable, "-I", "-S", "-c", _ECHO_SERVER,
         str(port)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    server = EchoServer(namespace, port, proc)
    assert proc.stdout is not None and proc.stderr is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else b""
    if line.strip() != b"ready":
        if proc.poll() is None:
            proc.kill()
        err = proc.stderr.read() or b""
        server.close()
        detail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise IrtuiError(f"echo server on port {port} in {namespace} did not start ({detail[0]})",
                         "pick a free port and check the namespace exists")
    _RUNNING.add(server)
    return server


