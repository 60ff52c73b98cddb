"""Tests of the practice lab (irtui.lab) against real namespaces, sshd and OpenSSH.

All traffic goes to lab addresses (198.18.0.0/15, fd00:1ab::/48) or stays on loopback;
``ip route get`` lookups send nothing.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from irtui.core.config import load_config
from irtui.core.errors import IrtuiError
from irtui.lab import LabInfo, LabSpec, lab_down, lab_status, lab_up
from irtui.lab import lab as lab_module
from irtui.lab.netns import list_namespaces, namespace_exists
from irtui.lab.probe import HeldConnection, ns_run, start_echo_server, tcp_connects
from irtui.lab.sshd import is_lab_sshd, pid_running, read_pid, stop_sshd
from tests.lab_fixtures import TEST_SPEC, extra_test_spec, reset_lab_firewalls

DOWN_SPEC = extra_test_spec("down", hosts=1)
SHRINK_SPEC = extra_test_spec("shrink", hosts=2)
ECHO_PORT = 7007


def _ssh(info: LabInfo, address: str, command: str) -> subprocess.CompletedProcess[str]:
    argv = ["ssh", "-F", "/dev/null", "-i", str(info.key_path),
            "-o", f"UserKnownHostsFile={info.known_hosts_path}",
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
            "-o", "ConnectTimeout=5", f"root@{address}", command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def _routes(namespace: str | None, family: str) -> list[dict]:
    prefix = ["ip"] if namespace is None else ["ip", "-n", namespace]
    out = subprocess.run([*prefix, "-j", f"-{family}", "route", "show"], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out or "[]")


def _sshd_pids(info: LabInfo) -> dict[str, int | None]:
    return {h.name: read_pid(h.pid_file) for h in info.hosts if h.pid_file}


def _host_keys(info: LabInfo) -> dict[str, str]:
    return {h.name: (info.lab_dir / "hosts" / h.name / "ssh_host_ed25519_key.pub").read_text()
            for h in info.hosts}


def _ifindex(namespace: str | None, ifname: str) -> int:
    prefix = ["ip"] if namespace is None else ["ip", "-n", namespace]
    out = subprocess.run([*prefix, "-j", "link", "show", "dev", ifname], capture_output=True,
                         text=True, check=True).stdout
    return int(json.loads(out)[0]["ifindex"])


# -- pure: addresses, names, requirements ------------------------------------------------------


def test_spec_addresses_and_names() -> None:
    spec = LabSpec()
    info = LabInfo.from_spec(spec)
    assert [h.name for h in info.hosts] == ["host1", "host2", "host3"]
    assert [h.namespace for h in info.hosts] == ["irtui-host1", "irtui-host2", "irtui-host3"]
    assert [h.v4 for h in info.hosts] == ["198.18.0.11", "198.18.0.12", "198.18.0.13"]
    assert [h.v6 for h in info.hosts] == ["fd00:1ab::b", "fd00:1ab::c", "fd00:1ab::d"]
    assert (info.attacker.namespace, info.attacker.v4) == ("irtui-attacker", "198.18.0.66")
    assert ipaddress.ip_address(info.attacker.v6) == ipaddress.ip_address("fd00:1ab::") + 66
    assert (info.responder_v4, info.responder_v6, info.responder_ifname) == (
        "198.18.0.1", "fd00:1ab::1", "irtui0")
    assert spec.switch_namespace == "irtui-sw"
    # every lab address is in the never-routed ranges
    for h in [*info.hosts, info.attacker]:
        assert ipaddress.ip_address(h.v4) in ipaddress.ip_network("198.18.0.0/15")
        assert ipaddress.ip_address(h.v6) in ipaddress.ip_network("fd00::/8")


@pytest.mark.parametrize("kwargs", [
    {"prefix": "Bad_Prefix"},
    {"prefix": "a" * 15},
    {"hosts": 0},
    {"hosts": 51},
    {"subnet4": "198.18.0.0/26"},
    {"subnet6": "not-a-net"},
    {"lab_dir": Path("/root/lab")},
    {"lab_dir": Path("relative")},
])
def test_spec_rejects_bad_values(kwargs: dict) -> None:
    with pytest.raises(IrtuiError):
        LabSpec(**kwargs)


def test_lab_up_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab_module.os, "geteuid", lambda: 1000)
    with pytest.raises(IrtuiError, match="needs root") as err:
        lab_up(TEST_SPEC)
    assert "sudo" in err.value.fix


def test_lab_up_names_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab_module.os, "geteuid", lambda: 0)
    real = lab_module.netns.find_binary
    monkeypatch.setattr(lab_module.netns, "find_binary",
                        lambda name: None if name == "nft" else real(name))
    with pytest.raises(IrtuiError, match="nft") as err:
        lab_up(TEST_SPEC)
    assert "nftables" in err.value.fix


# -- the running test lab -----------------------------------------------------------------------


@pytest.mark.lab
def test_namespaces_exist(lab: LabInfo) -> None:
    present = set(list_namespaces())
    pre = TEST_SPEC.prefix
    hosts = sorted(ns for ns in present if ns.startswith(f"{pre}-host"))
    assert hosts == [f"{pre}-host1", f"{pre}-host2", f"{pre}-host3"]
    assert {f"{pre}-attacker", f"{pre}-sw"} <= present
    assert len(lab.hosts) == 3


@pytest.mark.lab
def test_openssh_client_reaches_each_host_over_v4_and_v6(clean_lab: LabInfo) -> None:
    for host in clean_lab.hosts:
        proc = _ssh(clean_lab, host.v4, "hostname")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == host.name
    host1 = clean_lab.hosts[0]
    proc = _ssh(clean_lab, host1.v6, "hostname; echo $HOME; ls -A /root | wc -l")
    assert proc.returncode == 0, proc.stderr
    # each host has its own host name and its own (initially empty) /root
    assert proc.stdout.split() == ["host1", "/root", "0"]


@pytest.mark.lab
def test_each_host_has_its_own_run(clean_lab: LabInfo) -> None:
    """irtui keeps its rollback timer files in the host's /run: lab hosts (of this lab, or of
    another lab on the same machine) must not share one, as real machines do not."""
    host1, host2 = clean_lab.hosts[0], clean_lab.hosts[1]
    marker = f"irtui-test-own-run-{os.getpid()}"
    written = _ssh(clean_lab, host1.v4, f"echo host1 > /run/{marker} && cat /run/{marker}")
    assert written.returncode == 0 and written.stdout.strip() == "host1", written.stderr
    try:
        other = _ssh(clean_lab, host2.v4, f"test ! -e /run/{marker} && test -d /run/sshd")
        assert other.returncode == 0, other.stderr
        assert not Path("/run", marker).exists()
        own = clean_lab.lab_dir / "hosts" / host1.name / "run" / marker
        assert own.read_text() == "host1\n"
    finally:
        _ssh(clean_lab, host1.v4, f"rm -f /run/{marker}")


@pytest.mark.lab
def test_attacker_reaches_host_ssh_and_nothing_else(clean_lab: LabInfo) -> None:
    ns = clean_lab.attacker.namespace
    host1 = clean_lab.hosts[0]
    assert tcp_connects(ns, host1.v4, 22)
    assert tcp_connects(ns, host1.v6, 22)
    assert not tcp_connects(ns, host1.v4, 23, timeout=1)  # nothing listens there: refused


@pytest.mark.lab
def test_routes_are_only_the_connected_lab_subnet(lab: LabInfo) -> None:
    ifname = lab.responder_ifname
    v4 = [r for r in _routes(None, "4") if r.get("dev") == ifname]
    v6 = [r for r in _routes(None, "6") if r.get("dev") == ifname]
    assert [(r["dst"], r.get("protocol"), r.get("scope")) for r in v4] == [
        (lab.subnet4, "kernel", "link")]
    assert {r["dst"] for r in v6} == {lab.subnet6, "fe80::/64"}
    assert all(r.get("protocol") == "kernel" and "gateway" not in r for r in v6)
    # the kernel picks the lab veth for lab addresses only (lookups send no packets)
    def dev_for(address: str) -> str:
        out = subprocess.run(["ip", "-j", "route", "get", address], capture_output=True,
                             text=True, check=False).stdout
        return json.loads(out)[0].get("dev", "") if out.strip() else ""
    assert dev_for(lab.hosts[0].v4) == ifname
    assert dev_for(lab.hosts[0].v6) == ifname
    assert dev_for("198.18.9.9") != ifname
    # inside the lab: connected subnet only, no default route
    for machine in [*lab.hosts, lab.attacker]:
        r4 = _routes(machine.namespace, "4")
        r6 = _routes(machine.namespace, "6")
        assert [r["dst"] for r in r4] == [lab.subnet4], machine.name
        assert {r["dst"] for r in r6} <= {lab.subnet6, "fe80::/64"}, machine.name
        proc = ns_run(machine.namespace, ["ip", "route", "get", "192.0.2.1"])
        assert proc.returncode != 0 and b"unreachable" in proc.stderr
        proc = ns_run(machine.namespace, ["sysctl", "-n", "net.ipv6.conf.all.accept_ra",
                                          "net.ipv6.conf.eth0.accept_ra"])
        assert proc.stdout.split() == [b"0", b"0"], machine.name


@pytest.mark.lab
def test_lab_files_and_config(lab: LabInfo) -> None:
    assert LabInfo.load(lab.lab_dir) == lab
    config = load_config(lab.config_path)
    assert [(h.name, h.address, h.port, h.groups) for h in config.hosts] == [
        (h.name, h.v4, 22, ("lab",)) for h in lab.hosts]
    assert config.ssh.user == "root"
    assert config.ssh.key_file == str(lab.key_path)
    assert config.ssh.known_hosts == str(lab.known_hosts_path)
    assert (config.ssh.connect_timeout, config.ssh.command_timeout) == (5, 60)
    assert config.audit_dir == str(lab.lab_dir / "audit")
    assert config.ui.refresh_seconds == 10
    known = lab.known_hosts_path.read_text().splitlines()
    keys = _host_keys(lab)
    for h in lab.hosts:
        key = " ".join(keys[h.name].split()[:2])
        assert f"{h.v4} {key}" in known
        assert f"{h.v6} {key}" in known
    assert len(known) == 2 * len(lab.hosts)
    doc = json.loads((lab.lab_dir / "lab.json").read_text())
    assert doc["hosts"]["host1"]["namespace"] == f"{TEST_SPEC.prefix}-host1"
    assert doc["responder"]["ifname"] == f"{TEST_SPEC.prefix}0"


@pytest.mark.lab
def test_lab_status_reports_up(lab: LabInfo) -> None:
    status = lab_status(TEST_SPEC)
    assert status.up, str(status)
    text = str(status)
    for h in lab.hosts:
        assert f"{h.name}: namespace {h.namespace} present" in text
        assert f"sshd pid {read_pid(h.pid_file)}" in text


@pytest.mark.lab
def test_lab_up_again_is_idempotent(lab: LabInfo) -> None:
    pids = _sshd_pids(lab)
    keys = _host_keys(lab)
    client_key = lab.key_path.read_bytes()
    links = (_ifindex(None, lab.responder_ifname), _ifindex(lab.hosts[0].namespace, "eth0"))
    again = lab_up(TEST_SPEC)
    assert again == lab
    assert _sshd_pids(again) == pids
    for h in again.hosts:
        assert is_lab_sshd(pids[h.name], lab.lab_dir / "hosts" / h.name / "sshd_config")
    assert _host_keys(again) == keys
    assert lab.key_path.read_bytes() == client_key
    assert (_ifindex(None, lab.responder_ifname),
            _ifindex(lab.hosts[0].namespace, "eth0")) == links


@pytest.mark.lab
def test_lab_up_restarts_a_dead_sshd(lab: LabInfo) -> None:
    host2 = lab.hosts[1]
    config = lab.lab_dir / "hosts" / host2.name / "sshd_config"
    [old] = stop_sshd(host2.pid_file, config, host2.namespace)
    assert not pid_running(old)
    assert not lab_status(TEST_SPEC).up
    lab_up(TEST_SPEC)
    new = read_pid(host2.pid_file)
    assert new is not None and new != old and is_lab_sshd(new, config)
    assert tcp_connects(lab.attacker.namespace, host2.v4, 22)
    assert lab_status(TEST_SPEC).up


@pytest.mark.lab
def test_lab_up_repairs_a_deleted_host_namespace(lab: LabInfo) -> None:
    host3 = lab.hosts[2]
    config = lab.lab_dir / "hosts" / host3.name / "sshd_config"
    old = read_pid(host3.pid_file)
    assert old is not None
    subprocess.run(["ip", "netns", "delete", host3.namespace], check=True)
    assert not namespace_exists(host3.namespace)
    assert pid_running(old)  # it keeps the old namespace alive, unnamed
    lab_up(TEST_SPEC)
    # the sshd stranded in the old, unnamed namespace is gone; a new one serves the new one
    assert not pid_running(old)
    new = read_pid(host3.pid_file)
    assert new is not None and new != old and is_lab_sshd(new, config)
    # reachable at once from everywhere (fixed MACs keep neighbour caches valid)
    for source in (None, lab.attacker.namespace, lab.hosts[0].namespace):
        for address in (host3.v4, host3.v6):
            assert tcp_connects(source, address, 22, timeout=1), (source, address)


@pytest.mark.lab
def test_held_connection_sees_a_block_and_reset_clears_it(clean_lab: LabInfo) -> None:
    host1, attacker = clean_lab.hosts[0], clean_lab.attacker
    with start_echo_server(host1.namespace, ECHO_PORT) as server, \
            HeldConnection(attacker.namespace, host1.v4, ECHO_PORT) as held:
        assert held.alive()
        rules = ("add table inet irtestx; add chain inet irtestx input "
                 f"{{ type filter hook input priority 0; tcp dport {ECHO_PORT} drop; }}")
        proc = ns_run(host1.namespace, ["nft", rules])
        assert proc.returncode == 0, proc.stderr
        assert not held.alive(timeout=0.5)
        assert not tcp_connects(attacker.namespace, host1.v4, ECHO_PORT, timeout=0.5)
        reset_lab_firewalls(clean_lab)
        assert ns_run(host1.namespace, ["nft", "list", "ruleset"]).stdout.strip() == b""
        assert held.alive(timeout=5)  # the dropped bytes are retransmitted
        assert tcp_connects(attacker.namespace, host1.v4, ECHO_PORT)
        server.close()
        assert not held.alive()
        assert held.closed


# -- separate small labs --------------------------------------------------------------------------


def _root_routes_of(ifname: str) -> list[dict]:
    """Root-namespace routes through ``ifname`` (other labs on this machine, other slots,
    add and remove their own routes concurrently, so only this lab's are compared)."""
    return [r for fam in ("4", "6") for r in _routes(None, fam) if r.get("dev") == ifname]


@pytest.mark.lab
def test_lab_down_removes_only_its_own_lab(lab: LabInfo) -> None:
    main_pids = _sshd_pids(lab)
    routes_before = _root_routes_of(TEST_SPEC.root_ifname)
    lab_down(DOWN_SPEC)  # leftovers from an interrupted run, if any
    try:
        small = lab_up(DOWN_SPEC)
        pid = read_pid(small.hosts[0].pid_file)
        assert pid is not None and pid_running(pid)
        sinks = {role: read_pid(DOWN_SPEC.lab_dir / "notify" / f"{role}.pid")
                 for role in ("sinks", "keyring", "bus")}
        assert all(p is not None and pid_running(p) for p in sinks.values())
        assert all(namespace_exists(ns) for ns in small.namespaces)
        assert _ifindex(None, DOWN_SPEC.root_ifname) > 0
    finally:
        removed = lab_down(DOWN_SPEC)
    assert f"deleted namespace {DOWN_SPEC.prefix}-host1" in removed
    assert f"deleted interface {DOWN_SPEC.root_ifname}" in removed
    assert f"stopped sshd pid {pid} (host1)" in removed
    assert not pid_running(pid)
    for role, sink_pid in sinks.items():  # the notification sinks and the lab keyring
        assert f"stopped lab {role} pid {sink_pid}" in removed
        assert sink_pid is not None and not pid_running(sink_pid)
    assert not [ns for ns in list_namespaces() if ns.startswith(f"{DOWN_SPEC.prefix}-")]
    link = subprocess.run(["ip", "link", "show", "dev", DOWN_SPEC.root_ifname],
                          capture_output=True, check=False)
    assert link.returncode != 0
    assert not DOWN_SPEC.lab_dir.exists()
    assert _root_routes_of(TEST_SPEC.root_ifname) == routes_before
    assert _root_routes_of(DOWN_SPEC.root_ifname) == []
    assert not [r for fam in ("4", "6") for r in _routes(None, fam)
                if r.get("dst") in (DOWN_SPEC.subnet4, DOWN_SPEC.subnet6)]
    assert lab_down(DOWN_SPEC) == []  # nothing left: a no-op
    # the main test lab is untouched
    assert _sshd_pids(lab) == main_pids
    assert lab_status(TEST_SPEC).up
    assert tcp_connects(None, lab.hosts[0].v4, 22)


@pytest.mark.lab
def test_lab_up_with_fewer_hosts_removes_the_extra_ones(lab: LabInfo) -> None:
    lab_down(SHRINK_SPEC)
    try:
        two = lab_up(SHRINK_SPEC)
        host1_pid = read_pid(two.hosts[0].pid_file)
        host2_pid = read_pid(two.hosts[1].pid_file)
        assert host1_pid and host2_pid
        one_spec = LabSpec(prefix=SHRINK_SPEC.prefix, hosts=1, subnet4=SHRINK_SPEC.subnet4,
                           subnet6=SHRINK_SPEC.subnet6, lab_dir=SHRINK_SPEC.lab_dir)
        one = lab_up(one_spec)
        assert [h.name for h in one.hosts] == ["host1"]
        assert not namespace_exists(f"{SHRINK_SPEC.prefix}-host2")
        assert not pid_running(host2_pid)
        assert read_pid(one.hosts[0].pid_file) == host1_pid
        assert [h.name for h in load_config(one.config_path).hosts] == ["host1"]
        assert lab_status(one_spec).up
    finally:
        lab_down(SHRINK_SPEC)
    assert not [ns for ns in list_namespaces() if ns.startswith(f"{SHRINK_SPEC.prefix}-")]


@pytest.mark.lab
def test_a_second_lab_on_the_same_subnet_is_refused(lab: LabInfo) -> None:
    clash = replace(extra_test_spec("clash"), subnet4=lab.subnet4)
    with pytest.raises(IrtuiError, match=rf"already used by {TEST_SPEC.prefix}0"):
        lab_up(clash)
    assert not namespace_exists(clash.namespace("host1"))
    assert not clash.lab_dir.exists()
