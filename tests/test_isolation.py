"""Containment that can never lock the responder out: commit-confirmed isolation on the lab,
for every backend, proven at the traffic level."""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from irtui.core.actions import HostProfile, Responder
from irtui.core.audit import AuditLog
from irtui.core.config import Config, HostConfig
from irtui.core.errors import InvalidTargetError
from irtui.core.events import Countdown, Event
from irtui.core.firewall.detect import BackendChoice, HostFacts
from irtui.core.rollback import TimerState
from irtui.core.ssh import SSHPool
from irtui.lab.probe import HeldConnection, ns_run, start_echo_server, tcp_connects
from tests.lab_fixtures import CONTAINER_V4, TEST_SPEC, container_behind

BACKENDS = ["nftables", "iptables-nft", "iptables-legacy"]


@pytest.fixture(params=BACKENDS)
def fw(request, lab_config: Config, tmp_path) -> Iterator[Responder]:
    config = replace(lab_config, hosts=tuple(replace(h, firewall=request.param)
                                             for h in lab_config.hosts))
    responder = Responder(config, audit=AuditLog(tmp_path / "audit"))
    yield responder
    responder.close()


def _new_session_works(config: Config, host: str) -> bool:
    pool = SSHPool(config.ssh)
    try:
        return pool.run(config.host(host), "hostname", capture=True).stdout.strip() == host
    finally:
        pool.close()


def test_isolate_and_release(fw: Responder, clean_lab) -> None:
    h1, h2, attacker = clean_lab.hosts[0], clean_lab.hosts[1], clean_lab.attacker
    assert ns_run(h1.namespace, ["nft", "add", "table", "inet", "site_rules"]).returncode == 0
    assert ns_run(h1.namespace, ["iptables-nft", "-A", "INPUT", "-p", "tcp", "--dport", "8080",
                                 "-j", "ACCEPT"]).returncode == 0
    with start_echo_server(h1.namespace, 7009), \
            HeldConnection(attacker.namespace, h1.v4, 7009) as held:
        assert held.alive()
        plan = fw.plan_isolate(["host1"], canary=f"{h2.v4}:22")
        assert plan.confirm_text == "host1"
        assert any(clean_lab.responder_v4 in note for note in plan.notes)
        result = fw.execute(plan, lambda e: None)
        assert result.ok, result
        assert not held.alive()  # the attacker's open session stops passing traffic
    # the existing session and a brand-new one both work
    assert fw.pool.run(fw.config.host("host1"), "true").exit_code == 0
    assert _new_session_works(fw.config, "host1")
    assert not tcp_connects(attacker.namespace, h1.v4, 22)
    assert not tcp_connects(attacker.namespace, h1.v6, 22)
    assert not tcp_connects(h1.namespace, h2.v4, 22)
    assert tcp_connects(attacker.namespace, h2.v4, 22)
    state = fw.read_state("host1")
    assert state.isolated and state.isolation is not None and state.isolation.since
    timer = fw.rollback_status("host1")  # disarmed by the confirmation, as the host logs it
    assert timer.state is TimerState.DISARMED and timer.detail.startswith("disarmed at")
    snapshots = list(fw.audit.directory.glob("*-host1-rulesets-before.txt"))
    assert len(snapshots) == 1 and "site_rules" in snapshots[0].read_text()
    trail = [json.loads(line) for line in fw.audit.trail_path.read_text().splitlines()]
    assert any(r["event"] == "saved" and len(r["sha256"]) == 64 for r in trail)

    again = fw.plan_isolate(["host1"])
    assert not again.steps and "already isolated" in again.skipped["host1"]

    release = fw.plan_release(["host1"])
    assert release.steps
    assert fw.execute(release, lambda e: None).ok
    assert tcp_connects(attacker.namespace, h1.v4, 22)
    assert tcp_connects(h1.namespace, h2.v4, 22)
    assert b"site_rules" in ns_run(h1.namespace, ["nft", "list", "tables"]).stdout
    assert b"--dport 8080" in ns_run(h1.namespace, ["iptables-nft-save"]).stdout


def test_isolation_drops_forwarded_traffic_even_from_management(fw: Responder,
                                                                 clean_lab) -> None:
    """A management address reaches the isolated host itself, never what it routes to."""
    with container_behind(clean_lab) as ctr, start_echo_server(ctr, 7010):
        assert tcp_connects(None, CONTAINER_V4, 7010)
        assert fw.execute(fw.plan_isolate(["host1"]), lambda e: None).ok
        assert tcp_connects(None, clean_lab.hosts[0].v4, 22)
        assert not tcp_connects(None, CONTAINER_V4, 7010)
        assert not tcp_connects(clean_lab.attacker.namespace, CONTAINER_V4, 7010)
        assert fw.execute(fw.plan_release(["host1"]), lambda e: None).ok
        assert tcp_connects(None, CONTAINER_V4, 7010)


def test_management_endpoint_with_a_port(fw: Responder, clean_lab) -> None:
    """`responder:22` keeps SSH (the confirmation goes through it) and nothing else."""
    h1 = clean_lab.hosts[0]
    with start_echo_server(h1.namespace, 7012):
        assert tcp_connects(None, h1.v4, 7012)
        plan = fw.plan_isolate(["host1"], keep_session_address=False,
                               extra_management=[f"{clean_lab.responder_v4}:22"])
        assert f"{clean_lab.responder_v4}/32 port 22" in " ".join(plan.notes)
        assert fw.execute(plan, lambda e: None).ok  # confirmed over a new SSH connection
        assert tcp_connects(None, h1.v4, 22)
        assert not tcp_connects(None, h1.v4, 7012)  # same address, other port: dropped
        assert fw.read_state("host1").isolation.management  # recorded in the ruleset
        assert fw.execute(fw.plan_release(["host1"]), lambda e: None).ok
        assert tcp_connects(None, h1.v4, 7012)


def test_ipv6_management_endpoint_outlives_its_neighbour_entries(fw: Responder,
                                                                clean_lab) -> None:
    """`[responder]:22` over IPv6: once both sides forget each other, the responder must ask
    host1's solicited-node address from its routable address and host1 must answer it there
    (RFC 4861 §7.2), which the endpoint's port rules do not take. Without its neighbour
    discovery the host could no longer be released over IPv6."""
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    v6_hosts = tuple(replace(h, address=clean_lab.host(h.name).v6) for h in fw.config.hosts)
    v6 = Responder(replace(fw.config, hosts=v6_hosts), audit=fw.audit)
    try:
        plan = v6.plan_isolate(["host1"], keep_session_address=False,
                               extra_management=[f"[{clean_lab.responder_v6}]:22"])
        assert v6.execute(plan, lambda e: None).ok
        assert ns_run(h1.namespace, ["ip", "neigh", "flush", "all"]).returncode == 0
        assert subprocess.run(["ip", "-6", "neigh", "flush", "to", h1.v6]).returncode == 0
        assert _new_session_works(v6.config, "host1")
        state = v6.read_state("host1")
        assert state.isolated, state.isolation
        assert state.isolation.management == (f"[{clean_lab.responder_v6}/128]:22",)
        assert not tcp_connects(attacker.namespace, h1.v6, 22)
        assert v6.execute(v6.plan_release(["host1"]), lambda e: None).ok
        assert tcp_connects(attacker.namespace, h1.v6, 22)
    finally:
        v6.close()


@pytest.mark.parametrize("entries", [["0.0.0.0/1", "128.0.0.0/1"],
                                     ["::/1", "8000::/1"],
                                     ["0.0.0.0/1:22", "128.0.0.0/1"]])
def test_management_entries_that_add_up_to_everything_are_refused(responder: Responder,
                                                                  clean_lab,
                                                                  entries: list[str]) -> None:
    """Each half passes the check for a /0 alone; together the firewall collapses them into
    one, and the isolation would keep everything reachable. Refused before any change."""
    h1, h2 = clean_lab.hosts[0], clean_lab.hosts[1]
    before = ns_run(h1.namespace, ["nft", "list", "ruleset"]).stdout
    with pytest.raises(InvalidTargetError, match="together cover every IPv") as err:
        responder.plan_isolate(["host1"], extra_management=entries)
    assert "nothing was changed" in err.value.line
    assert ns_run(h1.namespace, ["nft", "list", "ruleset"]).stdout == before
    assert tcp_connects(h2.namespace, h1.v4, 22)


def test_wrong_allowlist_rolls_back_by_itself(fw: Responder, clean_lab) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    events: list[Event] = []
    plan = fw.plan_isolate(["host1"], confirm_timeout=5, keep_session_address=False,
                           extra_management=[TEST_SPEC.v4(200)])
    assert TEST_SPEC.v4(200) in plan.render() and clean_lab.responder_v4 not in " ".join(plan.notes)
    started = time.monotonic()
    result = fw.execute(plan, events.append)
    took = time.monotonic() - started
    assert not result.ok
    message = result.results[0].message
    assert "could not confirm over a new SSH connection" in message
    assert "rolled back by itself" in message
    assert any(isinstance(e, Countdown) for e in events)
    assert took < 5 + 3 + 15
    assert tcp_connects(None, h1.v4, 22)
    assert tcp_connects(attacker.namespace, h1.v4, 22)
    assert not fw.read_state("host1").isolated
    assert fw.rollback_status("host1").state is TimerState.FIRED


def test_isolation_over_ipv6_management(fw: Responder, clean_lab) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    v6_hosts = tuple(replace(h, address=clean_lab.host(h.name).v6) for h in fw.config.hosts)
    v6 = Responder(replace(fw.config, hosts=v6_hosts), audit=fw.audit)
    try:
        plan = v6.plan_isolate(["host1"])
        assert any(clean_lab.responder_v6 in note for note in plan.notes)
        assert v6.execute(plan, lambda e: None).ok
        assert _new_session_works(v6.config, "host1")
        assert not tcp_connects(None, h1.v4, 22)  # only the v6 management address is kept
        assert not tcp_connects(attacker.namespace, h1.v6, 22)
        assert v6.execute(v6.plan_release(["host1"]), lambda e: None).ok
        assert tcp_connects(None, h1.v4, 22)
    finally:
        v6.close()


def test_self_test_fails_when_the_canary_is_reachable(responder: Responder, clean_lab) -> None:
    """The canary is on the management address, which isolation keeps: the self-test must
    notice and fail the action rather than report success."""
    server = socket.create_server((clean_lab.responder_v4, 0))
    port = server.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.close()
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        result = responder.execute(
            responder.plan_isolate(["host1"], canary=f"{clean_lab.responder_v4}:{port}"),
            lambda e: None)
    finally:
        stop.set()
        thread.join()
        server.close()
    assert not result.ok
    assert "self-test" in result.results[0].message
    responder.execute(responder.plan_release(["host1"]), lambda e: None)


def test_no_self_test_against_a_canary_isolated_in_the_same_plan(responder: Responder,
                                                               clean_lab) -> None:
    """The lab's canaries are host1:22 and host2:22. Isolating both at once, each one's
    canary is cut off by the same plan, so its timeout would prove nothing: the plan says
    so and no host claims a passed self-test; alone, host1 still tests against host2."""
    h1, h2 = clean_lab.hosts[0], clean_lab.hosts[1]
    alone = responder.plan_isolate(["host1"])
    assert f"irtui-canary {h2.v4} 22" in alone.render()
    plan = responder.plan_isolate(["host1", "host2"])
    notes = "\n".join(plan.notes)
    for host in ("host1", "host2"):
        assert f"{host}: every canary is a host this plan isolates too" in notes, notes
    assert "irtui-canary" not in plan.render()
    result = responder.execute(plan, lambda e: None)
    try:
        assert result.ok, result
        assert not any("self-test: canary" in r.message for r in result.results), result
        assert not tcp_connects(clean_lab.attacker.namespace, h1.v4, 22)
    finally:
        assert responder.execute(responder.plan_release(["host1", "host2"]),
                                 lambda e: None).ok


def test_a_canary_host_isolated_earlier_is_not_used(responder: Responder, clean_lab) -> None:
    """The lab's canaries are host1:22 and host2:22. With host1 isolated by an earlier run,
    isolating host3 tests against host2 (host1's silence would prove nothing, and the
    baseline could not reach it: the isolation would end inconclusive); the plan says why."""
    h1, h2 = clean_lab.hosts[0], clean_lab.hosts[1]
    assert responder.execute(responder.plan_isolate(["host1"]), lambda e: None).ok
    try:
        plan = responder.plan_isolate(["host3"])
        assert f"irtui-canary {h2.v4} 22" in plan.render()
        assert f"irtui-canary {h1.v4} " not in plan.render()
        assert f"canary {h1.v4} skipped: it is host1, which irtui finds isolated" in plan.notes
        result = responder.execute(plan, lambda e: None)
        assert result.ok, [r.message for r in result.results]
        assert "self-test" in result.results[0].message
    finally:
        assert responder.execute(responder.plan_release(["host1", "host3"]),
                                 lambda e: None).ok


def test_group_isolation_one_failure_does_not_stop_the_others(lab_config: Config, clean_lab,
                                                              tmp_path) -> None:
    base = clean_lab.hosts[0].v4.rsplit(".", 1)[0]
    config = replace(lab_config, hosts=(*lab_config.hosts[:2],
                                        HostConfig("ghost", f"{base}.99", groups=("lab",))),
                     ssh=replace(lab_config.ssh, connect_timeout=1.5))
    responder = Responder(config, audit=AuditLog(tmp_path / "audit"))
    try:
        plan = responder.plan_isolate(["@lab"])
        assert "ghost" in plan.failed
        result = responder.execute(plan, lambda e: None)
        by_host = {r.host: r for r in result.results}
        assert by_host["host1"].ok and by_host["host2"].ok
        assert not by_host["ghost"].ok and "unreachable" in by_host["ghost"].message
        assert not tcp_connects(clean_lab.attacker.namespace, clean_lab.hosts[1].v4, 22)
        responder.execute(responder.plan_release(["host1", "host2"]), lambda e: None)
        assert tcp_connects(clean_lab.attacker.namespace, clean_lab.hosts[1].v4, 22)
    finally:
        responder.close()


def test_refuses_to_isolate_the_machine_irtui_runs_on(lab_config: Config, tmp_path) -> None:
    """A session that comes from the target's own address means irtui runs on it. This
    fault needs SSH to oneself, which the lab does not have, so the probe result is given."""
    me = ipaddress.ip_address("192.0.2.10")
    config = replace(lab_config, hosts=(HostConfig("self", str(me)),))
    responder = Responder(config, audit=AuditLog(tmp_path / "audit"))
    facts = HostFacts(host="self", binaries={"nft": "/usr/sbin/nft"},
                      addresses=(ipaddress.ip_interface(f"{me}/24"),), ssh_client=me)
    responder.ctx.profiles.put("self", HostProfile(facts,
                                                   BackendChoice("nftables", "test", True)))
    with pytest.raises(InvalidTargetError, match="machine irtui runs on"):
        responder.plan_isolate(["self"])


def test_unresolvable_allow_name_refused(lab_config: Config, tmp_path, monkeypatch) -> None:
    """Failing DNS is simulated: a real lookup would send a query off this machine."""
    def no_dns(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    responder = Responder(lab_config, audit=AuditLog(tmp_path / "audit"))
    with pytest.raises(InvalidTargetError, match=r"does not resolve.*nothing was changed"):
        responder.plan_isolate(["host1"], extra_management=["edr.example.org"])
