"""Isolation under realistic configurations (issue 8, items 2, 3, 4, 7, 11, 14): proven on
the lab, by traffic or by the host's own state, for every backend where it matters."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from irtui.core.actions import Responder
from irtui.core.audit import AuditLog
from irtui.core.config import Config
from irtui.core.events import Outcome
from irtui.lab import LabInfo
from irtui.lab.info import LabHost
from irtui.lab.netns import NETNS_DIR
from irtui.lab.probe import CLONE_NEWNET, _setns_fn, ns_run, tcp_connects
from tests.isolation_helpers import (
    CONFIRMED,
    UNCHANGED,
    end_state,
    phases,
    sshd_pids,
    timer_files,
    trail,
)
from tests.lab_fixtures import TEST_SPEC

BACKENDS = ["nftables", "iptables-nft", "iptables-legacy"]


@pytest.fixture(params=BACKENDS)
def fw(request: pytest.FixtureRequest, lab_config: Config, tmp_path: Path) -> Iterator[Responder]:
    """A Responder whose hosts use each backend in turn, with a 5 s confirm timeout."""
    config = replace(lab_config,
                     hosts=tuple(replace(h, firewall=request.param) for h in lab_config.hosts),
                     isolation=replace(lab_config.isolation, confirm_timeout=5))
    responder = Responder(config, audit=AuditLog(tmp_path / "audit"))
    yield responder
    responder.close()


def _release(fw: Responder) -> None:
    assert fw.execute(fw.plan_release(["host1"]), lambda e: None).ok


# ---- item 2: the session address inside an allowed CIDR ----------------------------------


def test_session_address_inside_an_allowed_cidr(fw: Responder, clean_lab: LabInfo) -> None:
    """`--management <the responder's /30>` while the session comes from inside it: nft's
    interval set refused the overlap ("conflicting intervals specified")."""
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    cidr = ipaddress.ip_network(f"{clean_lab.responder_v4}/30", strict=False)
    assert attacker.v4 not in [str(a) for a in cidr]
    plan = fw.plan_isolate(["host1"], extra_management=[str(cidr)])
    result = fw.execute(plan, lambda e: None)
    assert result.ok, result
    assert tcp_connects(None, h1.v4, 22) and not tcp_connects(attacker.namespace, h1.v4, 22)
    state = fw.read_state("host1")
    assert state.isolation is not None
    assert str(cidr) in state.isolation.management  # collapsed: the /32 inside it is gone
    assert f"{clean_lab.responder_v4}/32" not in state.isolation.management
    _release(fw)


# ---- item 3: a realistic allowlist ---------------------------------------------------------

SIX = ["192.0.2.0/24", "198.51.100.17:443", "203.0.113.128/25", "2001:db8:100::/48",
       "[2001:db8:200::17]:443", "2001:db8:300::/64"]


def test_realistic_allowlist_of_six_entries(fw: Responder, clean_lab: LabInfo) -> None:
    """Six v4 and v6 entries (two with a port): nft refused the rule comment holding the
    whole list (128 characters at most). The list is read back from the ruleset itself."""
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    result = fw.execute(fw.plan_isolate(["host1"], extra_management=SIX), lambda e: None)
    assert result.ok, result
    assert not tcp_connects(attacker.namespace, h1.v4, 22)
    state = fw.read_state("host1")
    assert state.isolation is not None and state.isolation.since
    assert set(state.isolation.management) == {
        f"{clean_lab.responder_v4}/32", "192.0.2.0/24", "198.51.100.17/32:443",
        "203.0.113.128/25", "2001:db8:100::/48", "[2001:db8:200::17/128]:443",
        "2001:db8:300::/64"}
    _release(fw)


# ---- item 4: a failed isolation disarms what it armed ---------------------------------------


@pytest.mark.parametrize("backend", ["nftables", "iptables-nft"])
def test_failed_isolation_disarms_its_own_timer(lab_config: Config, clean_lab: LabInfo,
                                                tmp_path: Path, backend: str) -> None:
    """Between plan and apply another tool creates irtui's isolation table/chain, so the
    checked apply fails and nothing is isolated: the timer this run armed must be disarmed
    at once, so the next try is not refused with "a rollback timer is already armed"."""
    h1 = clean_lab.hosts[0]
    config = replace(lab_config, hosts=tuple(replace(h, firewall=backend)
                                             for h in lab_config.hosts),
                     isolation=replace(lab_config.isolation, confirm_timeout=30))
    responder = Responder(config, audit=AuditLog(tmp_path / "audit"))
    if backend == "nftables":
        make, remove = (["nft", "add", "table", "inet", "irtui_isolation"],
                        ["nft", "delete", "table", "inet", "irtui_isolation"])
    else:
        make, remove = (["iptables-nft", "-t", "raw", "-N", "IRTUI-ISOLATE-IN"],
                        ["iptables-nft", "-t", "raw", "-X", "IRTUI-ISOLATE-IN"])
    try:
        plan = responder.plan_isolate(["host1"])
        assert ns_run(h1.namespace, make).returncode == 0
        result = responder.execute(plan, lambda e: None)
        assert not result.ok and "nothing was isolated" in result.results[0].message
        files = timer_files(h1)
        assert not files.armed and files.log.startswith("disarmed at"), files
        assert phases(trail(tmp_path / "audit"), "host1") == ["armed", "disarmed"]
        assert ns_run(h1.namespace, remove).returncode == 0
        again = responder.execute(responder.plan_isolate(["host1"]), lambda e: None)
        assert again.ok, again
        assert responder.execute(responder.plan_release(["host1"]), lambda e: None).ok
    finally:
        responder.close()


# ---- item 7: the self-test proves the isolation, or says it cannot ---------------------------


def _closed_port(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


def test_canary_that_refuses_is_not_a_pass(responder: Responder, clean_lab: LabInfo) -> None:
    """A canary on the management address (kept reachable) with its port closed answers
    with a RST: a packet got through, so the self-test fails."""
    canary = f"{clean_lab.responder_v4}:{_closed_port(clean_lab.responder_v4)}"
    result = responder.execute(responder.plan_isolate(["host1"], canary=canary),
                               lambda e: None)
    host = result.results[0]
    assert host.outcome is Outcome.FAILED and "self-test" in host.message
    assert "refused" in host.message
    assert end_state(clean_lab.hosts[0]) == CONFIRMED  # the isolation itself stands
    responder.execute(responder.plan_release(["host1"]), lambda e: None)


def test_canary_unreachable_before_isolating_is_inconclusive(responder: Responder,
                                                              clean_lab: LabInfo) -> None:
    canary = f"{TEST_SPEC.v4(200)}:22"  # nothing answers there, isolated or not
    result = responder.execute(responder.plan_isolate(["host1"], canary=canary),
                               lambda e: None)
    host = result.results[0]
    assert host.outcome is Outcome.INCONCLUSIVE and not result.ok
    assert "before isolating" in host.message and "proves nothing" in host.message
    assert end_state(clean_lab.hosts[0]) == CONFIRMED
    responder.execute(responder.plan_release(["host1"]), lambda e: None)


@contextlib.contextmanager
def _in_mount_namespace_of(host: LabHost, *mounts: list[str]) -> Iterator[None]:
    """Run ``mount`` commands inside ``host``'s own mount namespace (its sshd's), undone
    afterwards: e.g. hide a binary from every command irtui runs there."""
    pid = sshd_pids(host)[0]
    done: list[str] = []
    try:
        for argv in mounts:
            out = ns_run(host.namespace, ["nsenter", "-t", str(pid), "-m", *argv])
            assert out.returncode == 0, out.stderr.decode()
            done.append(argv[-1])
        yield
    finally:
        for target in reversed(done):
            ns_run(host.namespace, ["nsenter", "-t", str(pid), "-m", "umount", target])


@pytest.mark.parametrize("missing", ["timeout", "devtcp"])
def test_self_test_that_cannot_run_is_inconclusive(responder: Responder, clean_lab: LabInfo,
                                                   tmp_path: Path, missing: str) -> None:
    """``timeout`` hidden on the host (an empty, non-executable file bound over it), or a
    ``bash`` without /dev/tcp (dash, first on the host's PATH): the self-test cannot prove
    anything and must say so, never pass."""
    h1 = clean_lab.hosts[0]
    if missing == "timeout":
        empty = tmp_path / "empty"
        empty.write_text("")
        mounts = [["mount", "--bind", str(empty), "/usr/bin/timeout"]]
    else:
        fake = Path(tempfile.mkdtemp(dir=tmp_path))
        (fake / "bash").write_text('#!/bin/sh\nexec /bin/dash "$@"\n')
        os.chmod(fake / "bash", 0o755)
        mounts = [["mount", "--bind", str(fake), "/usr/local/bin"]]
    with _in_mount_namespace_of(h1, *mounts):
        result = responder.execute(responder.plan_isolate(["host1"]), lambda e: None)
    host = result.results[0]
    assert host.outcome is Outcome.INCONCLUSIVE and not result.ok, host
    reason = "timeout(1) is not installed" if missing == "timeout" else "/dev/tcp"
    assert "self-test inconclusive" in host.message and reason in host.message
    assert end_state(h1) == CONFIRMED
    responder.execute(responder.plan_release(["host1"]), lambda e: None)


# ---- item 11: DHCP and neighbour discovery stay link-scoped -----------------------------------


def _link_local(namespace: str) -> tuple[str, int]:
    """(fe80:: address, ifindex) of eth0 in ``namespace``."""
    out = ns_run(namespace, ["ip", "-j", "-6", "addr", "show", "dev", "eth0"])
    link = json.loads(out.stdout)[0]
    local = next(a["local"] for a in link["addr_info"]
                 if a.get("local", "").startswith("fe80:"))
    return local, int(link["ifindex"])


def _socket(namespace: str, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket that lives in ``namespace`` (made by a thread that entered it with
    setns(2); a socket stays in the namespace it was created in)."""
    made: list[socket.socket | BaseException] = []

    def worker() -> None:
        try:
            with open(NETNS_DIR / namespace, "rb") as target:
                if _setns_fn()(target.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(f"setns({namespace}) failed")
                made.append(socket.socket(family, kind, proto))
        except BaseException as exc:
            made.append(exc)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    thread.join()
    if isinstance(made[0], BaseException):
        raise made[0]
    return made[0]


class Listener:
    """A UDP socket (or, with ``raw``, an ICMPv6 raw socket) inside a namespace that tells
    whether a datagram carrying a given marker arrived."""

    def __init__(self, namespace: str, family: int, bind: tuple = (),  # type: ignore[type-arg]
                 raw: bool = False) -> None:
        if raw:
            self.sock = _socket(namespace, socket.AF_INET6, socket.SOCK_RAW,
                                socket.IPPROTO_ICMPV6)
        else:
            self.sock = _socket(namespace, family, socket.SOCK_DGRAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(bind)
        self.sock.settimeout(0.1)

    def got(self, marker: bytes, wait: float = 1.0) -> bool:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            if marker in data:
                return True
        return False

    def close(self) -> None:
        self.sock.close()


def _udp_from(namespace: str, family: int, source: tuple, dest: tuple, marker: bytes,  # type: ignore[type-arg]
              broadcast: bool = False) -> None:
    sock = _socket(namespace, family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if broadcast:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
        sock.bind(source)
        for _ in range(3):
            with contextlib.suppress(PermissionError):  # EPERM: the sender's firewall
                sock.sendto(marker, dest)               # dropped it (isolation output)
    finally:
        sock.close()


def _neighbour_advert(namespace: str, source: tuple, dest: tuple, hops: int,  # type: ignore[type-arg]
                      target: str) -> None:
    """Send an ICMPv6 neighbour advertisement (RFC 4861 §4.4; type 136) for ``target``."""
    sock = _socket(namespace, socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, hops)
        sock.bind(source)
        body = bytes([136, 0, 0, 0, 0x20, 0, 0, 0]) + ipaddress.IPv6Address(target).packed
        for _ in range(3):
            sock.sendto(body, dest)  # the kernel fills in the ICMPv6 checksum
    finally:
        sock.close()


def test_dhcp_and_nd_exceptions_are_link_scoped(fw: Responder, clean_lab: LabInfo) -> None:
    """Isolated host1 still takes DHCP broadcasts and link-local DHCPv6/ND with hop limit 255
    (RFC 2131, RFC 8415, RFC 4861 §7.1), but a routable peer using the DHCP source ports, or
    sending ND, reaches nothing — and host1 cannot send to one from the DHCP client ports."""
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    h1_ll, _ = _link_local(h1.namespace)
    at_ll, at_if = _link_local(attacker.namespace)
    plan = fw.plan_isolate(["host1"], extra_management=[clean_lab.responder_v6])
    assert fw.execute(plan, lambda e: None).ok
    v4 = Listener(h1.namespace, socket.AF_INET, ("0.0.0.0", 68))
    v6 = Listener(h1.namespace, socket.AF_INET6, ("::", 546))
    nd = Listener(h1.namespace, socket.AF_INET6, raw=True)
    back4 = Listener(attacker.namespace, socket.AF_INET, ("0.0.0.0", 67))
    back6 = Listener(attacker.namespace, socket.AF_INET6, ("::", 547))
    try:
        # allowed: what DHCP and ND really look like
        _udp_from(attacker.namespace, socket.AF_INET, ("0.0.0.0", 67),
                  ("255.255.255.255", 68), b"bcast4", broadcast=True)
        assert v4.got(b"bcast4")
        _udp_from(attacker.namespace, socket.AF_INET6, (at_ll, 547, 0, at_if),
                  (h1_ll, 546, 0, at_if), b"ll6")
        assert v6.got(b"ll6")
        _neighbour_advert(attacker.namespace, (at_ll, 0, 0, at_if), (h1_ll, 0, 0, at_if), 255,
                          "2001:db8::a1")
        assert nd.got(ipaddress.IPv6Address("2001:db8::a1").packed)
        # refused: a routable peer on the DHCP ports, ND from a routable address or with a
        # hop limit below 255, and host1 talking to a routable peer from the client ports
        _udp_from(attacker.namespace, socket.AF_INET, (attacker.v4, 67), (h1.v4, 68), b"uni4")
        _udp_from(attacker.namespace, socket.AF_INET6, (attacker.v6, 547), (h1.v6, 546),
                  b"uni6")
        _neighbour_advert(attacker.namespace, (attacker.v6, 0), (h1.v6, 0), 255,
                          "2001:db8::a2")
        _neighbour_advert(attacker.namespace, (at_ll, 0, 0, at_if), (h1_ll, 0, 0, at_if), 64,
                          "2001:db8::a3")
        _udp_from(h1.namespace, socket.AF_INET, (h1.v4, 68), (attacker.v4, 67), b"out4")
        _udp_from(h1.namespace, socket.AF_INET6, (h1.v6, 546), (attacker.v6, 547), b"out6")
        assert not v4.got(b"uni4", 0.5) and not v6.got(b"uni6", 0.5)
        assert not nd.got(ipaddress.IPv6Address("2001:db8::a2").packed, 0.5)
        assert not nd.got(ipaddress.IPv6Address("2001:db8::a3").packed, 0.5)
        assert not back4.got(b"out4", 0.5) and not back6.got(b"out6", 0.5)
    finally:
        for listener in (v4, v6, nd, back4, back6):
            listener.close()
    # neighbour discovery still works for management over IPv6: host1 forgets every
    # neighbour, so answering needs its own solicitation (to a multicast group) to pass; and
    # the responder forgets host1, so it must ask host1's solicited-node multicast address
    # from its own routable address (RFC 4861 §7.2.2), as once its entry expires
    assert ns_run(h1.namespace, ["ip", "neigh", "flush", "all"]).returncode == 0
    assert subprocess.run(["ip", "-6", "neigh", "flush", "to", h1.v6]).returncode == 0
    v6_config = replace(fw.config, hosts=tuple(replace(h, address=h1.v6) if h.name == "host1"
                                               else h for h in fw.config.hosts))
    over_v6 = Responder(v6_config, audit=fw.audit)
    try:
        assert over_v6.pool.run(v6_config.host("host1"), "true").exit_code == 0
    finally:
        over_v6.close()
    _release(fw)


# ---- item 14: "isolated since" is when it was applied ----------------------------------------


def test_isolated_since_is_the_apply_time(responder: Responder, clean_lab: LabInfo) -> None:
    plan = responder.plan_isolate(["host1"])
    time.sleep(1.5)  # the responder reads the plan before confirming it
    applied_after = datetime.now(UTC).replace(microsecond=0)
    assert responder.execute(plan, lambda e: None).ok
    state = responder.read_state("host1")
    assert state.isolation is not None
    since = datetime.fromisoformat(state.isolation.since.replace("Z", "+00:00"))
    assert since >= applied_after
    assert end_state(clean_lab.hosts[0]) == CONFIRMED
    responder.execute(responder.plan_release(["host1"]), lambda e: None)
    assert end_state(clean_lab.hosts[0]) == UNCHANGED
