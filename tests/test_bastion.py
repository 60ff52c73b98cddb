"""Hosts reached only through a bastion (ProxyJump), on the bastion lab: the path, the
bastion's host key checked like a target's, each failing hop named, one bastion connection
for every target, and isolation that keeps the path through the bastion."""

from __future__ import annotations

import re
import subprocess
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from irtui.core.actions import Responder
from irtui.core.audit import AuditLog
from irtui.core.config import Config, load_config, parse_config
from irtui.core.errors import HostKeyError, SSHError
from irtui.core.ssh import SSHPool
from irtui.lab import LabHost, LabInfo, lab_down, lab_status, lab_up
from irtui.lab.netns import namespace_exists
from irtui.lab.probe import ns_run, tcp_connects
from irtui.lab.spec import LabSpec, lab_slot
from tests.bastion_fixtures import BASTION_SPEC


def _bastion(info: LabInfo) -> LabHost:
    assert info.bastion is not None
    return info.bastion


def _accepted(log: Path, source: str, since: int = 0) -> int:
    """Logins sshd accepted from ``source`` in ``log`` after byte ``since``."""
    text = log.read_bytes()[since:].decode(errors="replace")
    return len(re.findall(rf"Accepted publickey for \S+ from {re.escape(source)} port", text))


def _bastion_log(info: LabInfo) -> Path:
    return BASTION_SPEC.bastion_dir / "sshd.log"


def _openssh(info: LabInfo, namespace: str | None, target: str) -> subprocess.CompletedProcess:
    argv = ["ssh", "-F", "/dev/null", "-i", str(info.key_path), "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={info.known_hosts_path}", "-o", "IdentityAgent=none",
            "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=5", f"root@{target}",
            "hostname"]
    if namespace is not None:
        argv = ["ip", "netns", "exec", namespace, *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def test_hosts_are_reached_only_through_the_bastion(bastion_config: Config,
                                                    bastion_lab: LabInfo) -> None:
    bastion = _bastion(bastion_lab)
    host1 = bastion_config.host("host1")
    assert host1.address == bastion_lab.hosts[0].v4 and [j.address for j in host1.jump] == [
        bastion.v4]
    pool = SSHPool(bastion_config.ssh)
    try:
        out = pool.run(host1, 'hostname; echo "$SSH_CONNECTION"', capture=True).stdout.split()
    finally:
        pool.close()
    assert out[0] == "host1" and out[1] == bastion.v4  # the host sees the bastion
    direct = SSHPool(bastion_config.ssh)
    try:
        with pytest.raises(SSHError, match=r"authentication failed for root@host1 "
                                           rf"\({re.escape(host1.address)}:22\)"):
            direct.run(replace(host1, jump=()), "true")
    finally:
        direct.close()
    # the attacker (and the responder) reach port 22 but cannot log in; the bastion can
    attacker = _openssh(bastion_lab, bastion_lab.attacker.namespace, host1.address)
    assert attacker.returncode == 255 and "Permission denied" in attacker.stderr
    assert tcp_connects(bastion_lab.attacker.namespace, host1.address, 22)
    assert _openssh(bastion_lab, bastion.namespace, host1.address).stdout.strip() == "host1"
    # the lab's ssh_config is real OpenSSH config: ssh -F reaches host2 through the bastion
    via = subprocess.run(["ssh", "-F", str(bastion_lab.ssh_config_path), "-o", "BatchMode=yes",
                          "host2", "hostname"], capture_output=True, text=True, timeout=30)
    assert via.stdout.strip() == "host2", via.stderr


def test_one_bastion_connection_serves_every_target(bastion_config: Config,
                                                    bastion_lab: LabInfo) -> None:
    log = _bastion_log(bastion_lab)
    mark = log.stat().st_size
    target_marks = {h.name: (h.home.parent / "sshd.log").stat().st_size  # type: ignore[union-attr]
                    for h in bastion_lab.hosts}
    pool = SSHPool(bastion_config.ssh)
    names: list[str] = []
    try:
        workers = [threading.Thread(target=lambda h=h: names.append(
            pool.run(h, "hostname", capture=True).stdout.strip()))
            for h in bastion_config.hosts for _ in range(3)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(30)
        assert sorted(names) == ["host1"] * 3 + ["host2"] * 3
        assert pool.bastion_connections() == {"bastion": 1}
    finally:
        pool.close()
    assert _accepted(log, bastion_lab.responder_v4, mark) == 1
    for h in bastion_lab.hosts:  # one login per target, from the bastion's address
        target_log = h.home.parent / "sshd.log"  # type: ignore[union-attr]
        assert _accepted(target_log, _bastion(bastion_lab).v4, target_marks[h.name]) == 1


def _known_hosts_with(info: LabInfo, tmp_path: Path, bastion_key: str | None) -> str:
    bastion = _bastion(info)
    lines = [line for line in info.known_hosts_path.read_text().splitlines()
             if line.split()[0] not in (bastion.v4, bastion.v6)]
    if bastion_key is not None:
        lines.append(f"{bastion.v4} {bastion_key}")
    path = tmp_path / "known_hosts"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.mark.parametrize("case", ["changed", "unknown"])
def test_the_bastion_key_is_checked_like_a_targets(bastion_config: Config,
                                                   bastion_lab: LabInfo, tmp_path: Path,
                                                   case: str) -> None:
    other = (bastion_lab.lab_dir / "hosts" / "host1" / "ssh_host_ed25519_key.pub").read_text()
    key = " ".join(other.split()[:2]) if case == "changed" else None
    known = _known_hosts_with(bastion_lab, tmp_path, key)
    host1 = bastion_lab.hosts[0]
    target_log = host1.home.parent / "sshd.log"  # type: ignore[union-attr]
    mark = target_log.stat().st_size
    pool = SSHPool(replace(bastion_config.ssh, known_hosts=known))
    expected = (r"host1: host key for bastion .*CHANGED: offered ssh-ed25519 SHA256:"
                if case == "changed" else
                rf"host1: unknown host key for bastion \({_bastion(bastion_lab).v4}\)")
    try:
        with pytest.raises(HostKeyError, match=expected) as err:
            pool.run(bastion_config.host("host1"), "touch /tmp/should-not-exist")
    finally:
        pool.close()
    assert "nothing was run" in str(err.value) and known in str(err.value)
    assert _accepted(target_log, _bastion(bastion_lab).v4, mark) == 0  # never got that far


def test_each_failing_hop_is_named(bastion_config: Config, bastion_lab: LabInfo) -> None:
    host1 = bastion_config.host("host1")
    pool = SSHPool(replace(bastion_config.ssh, connect_timeout=1.5))
    nobody = BASTION_SPEC.v4(200)
    try:
        gone = replace(host1, jump=(replace(host1.jump[0], address=nobody),))
        with pytest.raises(SSHError, match=rf"host1: bastion \({nobody}:22\) unreachable"):
            pool.run(gone, "true")
        closed = replace(host1, port=2)  # the bastion is fine; the target refuses
        with pytest.raises(SSHError, match=rf"host1 \({re.escape(host1.address)}:2\) "
                                           r"unreachable through bastion: the connection was "
                                           r"refused"):
            pool.run(closed, "true")
        silent = replace(host1, address=BASTION_SPEC.v4(201))
        with pytest.raises(SSHError, match=r"unreachable through bastion"):
            pool.run(silent, "true")
        assert pool.run(host1, "true").exit_code == 0  # the bastion connection survived
    finally:
        pool.close()


def test_a_host_named_by_alias_only(bastion_lab: LabInfo, tmp_path: Path) -> None:
    host2 = bastion_lab.hosts[1]
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(
        f"Host web2-prod\n  HostName {host2.v6}\n  Port 22\n  User root\n"
        f"  ProxyJump root@{_bastion(bastion_lab).v4}:22\n"
        f"Host *\n  IdentityFile {bastion_lab.key_path}\n")
    # [ssh] user and key_file say otherwise: the ssh config's User and IdentityFile win
    config = parse_config({
        "ssh": {"user": "nobody", "key_file": "", "use_agent": False, "connect_timeout": 5,
                "known_hosts": str(bastion_lab.known_hosts_path),
                "config_file": str(ssh_config)},
        "hosts": [{"name": "web2", "ssh_alias": "web2-prod"}]})
    web2 = config.host("web2")
    assert (web2.address, web2.user, web2.port) == (host2.v6, "root", 22)
    pool = SSHPool(config.ssh)
    try:
        assert pool.run(web2, "hostname", capture=True).stdout.strip() == "host2"
    finally:
        pool.close()


def test_isolation_keeps_the_path_through_the_bastion(bastion_config: Config,
                                                      bastion_lab: LabInfo,
                                                      tmp_path: Path) -> None:
    bastion, attacker = _bastion(bastion_lab), bastion_lab.attacker
    h1, h2 = bastion_lab.hosts
    responder = Responder(bastion_config, audit=AuditLog(tmp_path / "audit"))
    try:
        plan = responder.plan_isolate(["host1"])
        notes = " ".join(plan.notes)
        assert f"{bastion.v4}/32 (the bastion this session comes through)" in notes
        assert bastion_lab.responder_v4 not in notes
        log = _bastion_log(bastion_lab)
        mark = log.stat().st_size
        result = responder.execute(plan, lambda e: None)
        assert result.ok, result
        # the confirmation came over a NEW connection, through a new bastion connection too
        assert _accepted(log, bastion_lab.responder_v4, mark) >= 1
        fresh = SSHPool(bastion_config.ssh)
        try:
            assert fresh.run(bastion_config.host("host1"), "hostname",
                             capture=True).stdout.strip() == "host1"
        finally:
            fresh.close()
        assert tcp_connects(bastion.namespace, h1.v4, 22)
        # a SYN-ACK on the lab bridge takes well under a millisecond: 1 s is plenty
        assert not tcp_connects(attacker.namespace, h1.v4, 22, timeout=1.0)
        assert not tcp_connects(attacker.namespace, h1.v6, 22, timeout=1.0)
        assert not tcp_connects(None, h1.v4, 22, timeout=1.0)  # only the bastion is kept
        assert not tcp_connects(h1.namespace, h2.v4, 22, timeout=1.0)
        assert responder.read_state("host1").isolated
        release = responder.plan_release(["host1"])
        assert responder.execute(release, lambda e: None).ok
        assert tcp_connects(attacker.namespace, h1.v4, 22)
        assert tcp_connects(None, h1.v4, 22)
    finally:
        responder.close()


def test_isolating_the_bastion_warns_about_the_hosts_behind_it(bastion_config: Config,
                                                               bastion_lab: LabInfo) -> None:
    bastion = _bastion(bastion_lab)
    config = replace(bastion_config, hosts=(*bastion_config.hosts,
                                            replace(bastion_config.hosts[0], name="jump",
                                                    address=bastion.v4, jump=())))
    responder = Responder(config)
    try:
        plan = responder.plan_isolate(["jump"])
    finally:
        responder.close()
    assert any("bastion irtui reaches host1, host2 through" in n for n in plan.notes)
    assert not ns_run(bastion.namespace, ["nft", "list", "tables"]).stdout  # nothing applied


def test_lab_bastion_comes_and_goes() -> None:
    slot = lab_slot()
    spec = LabSpec(prefix=f"irbdn{slot}", hosts=1, subnet4=f"198.18.{80 + slot}.0/24",
                   subnet6=f"fd00:1ab:{80 + slot:x}::/64",
                   lab_dir=Path(f"/run/irtui-lab-test-bdown-{slot}"), bastion=True)
    try:
        info = lab_up(spec)
        status = lab_status(replace(spec, bastion=False))  # as `irtui lab status` asks
        assert status.up and "bastion" in status.sshd and "bastion:" in str(status)
        config = load_config(info.config_path)
        assert config.host("host1").jump and config.ssh.config_file == str(spec.ssh_config_path)
        plain = lab_up(replace(spec, bastion=False))  # `lab up` without --bastion
        assert plain.bastion is None and not namespace_exists(spec.bastion_namespace)
        assert not spec.ssh_config_path.exists() and not spec.bastion_dir.exists()
        assert _openssh(plain, plain.attacker.namespace, plain.hosts[0].v4).returncode == 0
        lab_up(spec)
        done = lab_down(replace(spec, bastion=False))  # `irtui lab down`
        assert f"deleted namespace {spec.bastion_namespace}" in done
        assert not spec.lab_dir.exists()
    finally:
        lab_down(spec)
