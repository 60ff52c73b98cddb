"""The drill's simulated attacker and the traffic-level checks of containment, plus the
manual way measured for comparison.

The attacker (the lab's attacker namespace) holds a live TCP session to the compromised host
(an echo service there) and scans the other hosts' SSH ports; each containment step is
judged only by what that traffic does afterwards.
"""

from __future__ import annotations

import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from irtui.lab.info import LabHost, LabInfo
from irtui.lab.netns import find_binary
from irtui.lab.probe import EchoServer, HeldConnection, ns_run, start_echo_server, tcp_connects

PROBE_TIMEOUT_S = 1.5
"""How long a probe waits for a TCP handshake before calling the path blocked (one SYN
retransmission on Linux comes after 1 s, RFC 6298 §2's initial RTO)."""


@dataclass
class Attacker:
    """A running simulated attack: a live session to ``target`` and a scan of ``others``.

    Attributes:
        scans: attempts made so far; ``reached``: host → time of the last successful scan.
    """

    info: LabInfo
    target: LabHost
    others: list[LabHost]
    port: int
    server: EchoServer
    session: HeldConnection
    scans: int = 0
    reached: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _scan(self) -> None:
        while not self._stop.is_set():
            for host in self.others:
                if tcp_connects(self.info.attacker.namespace, host.v4, 22, timeout=0.3):
                    self.reached[host.name] = time.monotonic()
                self.scans += 1
            self._stop.wait(0.2)

    def stop(self) -> None:
        """Stop the scan, close the session and the echo service."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.session.close()
        self.server.close()


def start_attack(info: LabInfo, port: int = 7777) -> Attacker:
    """Start the attack on ``info.hosts[0]``: an echo service there, the attacker's live
    session to it (checked alive), and a background scan of the other hosts.

    Raises:
        IrtuiError: the echo service or the session cannot be set up.
        OSError: the attacker cannot connect (the lab already blocks it).
    """
    target, others = info.hosts[0], info.hosts[1:]
    server = start_echo_server(target.namespace, port)
    try:
        session = HeldConnection(info.attacker.namespace, target.v4, port)
    except BaseException:
        server.close()
        raise
    attack = Attacker(info, target, others, port, server, session)
    attack._thread = threading.Thread(target=attack._scan, name="drill-scan", daemon=True)
    attack._thread.start()
    return attack


def reachable(pairs: list[tuple[str | None, str, int]]) -> dict[tuple[str | None, str, int], bool]:
    """Probe every ``(namespace, address, port)`` at once (None: the root namespace)."""
    with ThreadPoolExecutor(max_workers=max(1, len(pairs))) as pool:
        results = pool.map(lambda p: tcp_connects(p[0], p[1], p[2], PROBE_TIMEOUT_S), pairs)
        return dict(zip(pairs, results, strict=True))


def attacker_paths(info: LabInfo) -> list[tuple[str | None, str, int]]:
    """The attacker's SSH connects to every host, over IPv4 and IPv6."""
    return [(info.attacker.namespace, addr, 22) for h in info.hosts for addr in (h.v4, h.v6)]


@dataclass(frozen=True)
class ManualRun:
    """The manual way, timed: one ``ssh host iptables -A INPUT -s ADDR -j DROP`` per host per
    address, one after the other. ``seconds`` is the total; ``failures`` the commands that
    did not exit 0."""

    commands: int
    seconds: float
    failures: tuple[str, ...]


def _ssh(info: LabInfo, host: LabHost, *argv: str) -> subprocess.CompletedProcess[bytes]:
    ssh = find_binary("ssh") or "ssh"
    return subprocess.run([ssh, "-i", str(info.key_path), "-o", "BatchMode=yes",
                           "-o", f"UserKnownHostsFile={info.known_hosts_path}",
                           "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=5",
                           f"root@{host.v4}", *argv], capture_output=True, timeout=60,
                          check=False)


def manual_block(info: LabInfo, addresses: list[str]) -> ManualRun:
    """Time the manual way on the lab, then undo it (``-D``, not timed). Tables that did
    not exist before are removed again, so irtui's backend detection is not misled."""
    before = {h.name: ns_run(h.namespace, ["nft", "list", "tables"]).stdout for h in info.hosts}
    failures: list[str] = []
    started = time.monotonic()
    for host in info.hosts:
        for addr in addresses:
            tool = "ip6tables" if ":" in addr else "iptables"
            if _ssh(info, host, tool, "-A", "INPUT", "-s", addr, "-j", "DROP").returncode:
                failures.append(f"{host.name}: {tool} -A … {addr}")
    seconds = time.monotonic() - started
    for host in info.hosts:
        for addr in addresses:
            tool = "ip6tables" if ":" in addr else "iptables"
            _ssh(info, host, tool, "-D", "INPUT", "-s", addr, "-j", "DROP")
        for family in ("ip", "ip6"):
            if f"table {family} filter".encode() not in before[host.name]:
                ns_run(host.namespace, ["nft", "delete", "table", family, "filter"])
    return ManualRun(len(info.hosts) * len(addresses), seconds, tuple(failures))
