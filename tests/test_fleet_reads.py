"""Acting on many hosts at once (issue 13), on the lab: one round trip per read with the probe
riding along (again after a reconnection or when too old), a dead host that delays nobody,
results in the order hosts finish, a block's steps as one remote command with the read-back
after it and no step started after a cancel, and the key (with its keyring passphrase) and
known_hosts read once per pool. Speed itself is measured in benchmarks/fleet.py, not here."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import tomli_w

from irtui.core import secrets as irtui_secrets
from irtui.core import ssh as ssh_module
from irtui.core.actions import Responder, profiles
from irtui.core.actions.reads import HostRead
from irtui.core.audit import AuditLog
from irtui.core.config import Config, HostConfig
from irtui.core.errors import SSHError
from irtui.core.events import Event, HostResult, Outcome, StepFinished, StepStarted
from irtui.core.secrets import set_secret
from irtui.core.settings import SSHSettings
from irtui.core.ssh import CommandResult, SSHPool
from irtui.lab.probe import ns_run, tcp_connects
from tests.lab_fixtures import TEST_SPEC, nft_set_elements, protected_key_copy

pytestmark = pytest.mark.lab


class CountingPool(SSHPool):
    """A real pool that also notes every command line it sends (a spy: nothing is faked)."""

    def __init__(self, settings: SSHSettings) -> None:
        super().__init__(settings)
        self.sent: list[tuple[str, str]] = []
        self._sent_lock = threading.Lock()

    def run(self, host: HostConfig, command: str, **kwargs: object) -> CommandResult:
        with self._sent_lock:
            self.sent.append((host.name, command))
        return super().run(host, command, **kwargs)  # type: ignore[arg-type]


def _responder(config: Config, tmp_path: Path) -> tuple[Responder, CountingPool]:
    pool = CountingPool(config.ssh)
    return Responder(config, pool=pool, audit=AuditLog(tmp_path / "audit")), pool


def _dead_host() -> HostConfig:
    """An address in the lab's subnet that nothing answers."""
    address = ipaddress.ip_network(TEST_SPEC.subnet4).network_address + 200
    return HostConfig("dead", str(address), groups=("lab",))


def _with_dead_host_first(config: Config) -> Config:
    return replace(config, hosts=(_dead_host(), *config.hosts),
                   ssh=replace(config.ssh, connect_timeout=2.0))


def test_first_read_is_one_command_with_the_probe(lab_config: Config, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    responder, pool = _responder(lab_config, tmp_path)
    try:
        state = responder.read_state("host1")
        assert state.backend == "nftables"
        [(_, first)] = pool.sent
        assert "irtui-probe" in first and first.endswith(" nft -j list ruleset")
        assert responder.profile("host1").choice.name == "nftables"
        assert len(pool.sent) == 1  # the profile came with the read

        responder.read_state("host1")
        assert len(pool.sent) == 2 and "irtui-probe" not in pool.sent[1][1]

        pool.drop("host1")  # a new connection: the host may have rebooted
        responder.read_state("host1")
        assert "irtui-probe" in pool.sent[2][1]

        monkeypatch.setattr(profiles, "PROFILE_MAX_AGE", 0.0)  # facts too old: re-probe
        responder.read_state("host1")
        assert "irtui-probe" in pool.sent[3][1] and len(pool.sent) == 4
    finally:
        responder.close()


def test_a_host_on_another_backend_is_read_with_its_own_tool(lab_config: Config, clean_lab,
                                                             tmp_path: Path) -> None:
    ns_run(clean_lab.hosts[0].namespace,
           ["iptables-legacy", "-A", "INPUT", "-p", "tcp", "--dport", "80", "-j", "ACCEPT"])
    responder, pool = _responder(lab_config, tmp_path)
    try:
        state = responder.read_state("host1")
        assert state.backend == "iptables-legacy"
        assert responder.profile("host1").choice.name == "iptables-legacy"
        assert len(pool.sent) == 2  # the expected (nft) read came with the probe; then its own
        responder.read_state("host1")
        assert len(pool.sent) == 3 and "irtui-probe" not in pool.sent[2][1]
    finally:
        responder.close()


class Tarpit:
    """A host that hangs: a TCP listener on loopback that accepts SSH connections and says
    nothing (no banner) until :meth:`release` or ``limit`` seconds, then hangs up."""

    def __init__(self, limit: float = 40.0) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.released = threading.Event()
        self.timed_out = False
        self._thread = threading.Thread(target=self._serve, args=(limit,), daemon=True)
        self._thread.start()

    def _serve(self, limit: float) -> None:
        conn, _ = self.server.accept()
        self.timed_out = not self.released.wait(limit)
        conn.close()
        self.server.close()

    def release(self) -> None:
        self.released.set()

    def host(self) -> HostConfig:
        return HostConfig("slow", "127.0.0.1", port=self.port, groups=("lab",))


def test_results_come_while_a_hanging_host_still_hangs(lab_config: Config,
                                                       tmp_path: Path) -> None:
    tarpit = Tarpit()
    config = replace(lab_config, hosts=(tarpit.host(), *lab_config.hosts),
                     ssh=replace(lab_config.ssh, connect_timeout=60.0))
    live = {h.name for h in lab_config.hosts}
    order: list[str] = []

    def arrived(name: str, outcome: object) -> None:
        order.append(name)
        if live <= set(order):
            tarpit.release()  # every live host answered while "slow" still hangs

    responder = Responder(config, audit=AuditLog(tmp_path / "audit"))
    try:
        got = responder.read_many([h.name for h in config.hosts], arrived)
    finally:
        responder.close()
    assert not tarpit.timed_out, "the live hosts' results waited for the hanging host"
    assert list(got) == [h.name for h in config.hosts]  # returned in the order asked
    assert order[-1] == "slow" and set(order[:-1]) == live  # handed over as they finished
    assert isinstance(got["slow"], SSHError)
    assert all(isinstance(got[name], HostRead) for name in live)


def test_status_prints_each_host_as_it_answers(lab_config: Config, tmp_path: Path) -> None:
    tarpit = Tarpit()
    slow = tarpit.host()
    doc = {"ssh": {"key_file": lab_config.ssh.key_file,
                   "known_hosts": lab_config.ssh.known_hosts, "connect_timeout": 60,
                   "use_agent": False, "max_parallel": 8},
           "hosts": [{"name": slow.name, "address": slow.address, "port": slow.port}]
           + [{"name": h.name, "address": h.address} for h in lab_config.hosts],
           "audit": {"dir": str(tmp_path / "audit")},
           "record": {"path": str(tmp_path / "record.db")}}
    path = tmp_path / "config.toml"
    path.write_text(tomli_w.dumps(doc))
    lines: list[str] = []
    with subprocess.Popen([sys.executable, "-m", "irtui", "--config", str(path), "status"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if len(lines) == len(lab_config.hosts):
                tarpit.release()  # printed while "slow" still hangs
        code = proc.wait(timeout=60)
    assert not tarpit.timed_out, f"status printed nothing before the hanging host: {lines}"
    assert code == 1  # one of several hosts could not be read
    assert {line.split()[0] for line in lines[:-1]} == {h.name for h in lab_config.hosts}
    assert all("reachable" in line for line in lines[:-1])
    assert lines[-1].startswith("slow") and "unreachable" in lines[-1]


def test_a_dead_address_is_one_clear_failure_among_good_reads(lab_config: Config,
                                                              tmp_path: Path) -> None:
    config = _with_dead_host_first(lab_config)
    responder = Responder(config, audit=AuditLog(tmp_path / "audit"))
    try:
        got = responder.read_many([h.name for h in config.hosts])
    finally:
        responder.close()
    assert isinstance(got["dead"], SSHError) and "unreachable" in got["dead"].line
    assert all(isinstance(got[h.name], HostRead) for h in lab_config.hosts)


def test_block_on_all_with_a_dead_host_blocks_the_others(lab_config: Config, clean_lab,
                                                         tmp_path: Path) -> None:
    attacker = clean_lab.attacker
    config = _with_dead_host_first(lab_config)
    responder = Responder(config, audit=AuditLog(tmp_path / "audit"))
    results: list[HostResult] = []
    try:
        plan = responder.plan_block([attacker.v4], ["all"], 600)
        assert "unreachable" in plan.failed["dead"]
        outcome = responder.execute(plan, lambda e: isinstance(e, HostResult)
                                    and results.append(e))
    finally:
        responder.close()
    by_host = {r.host: r for r in outcome.results}
    assert not by_host["dead"].ok
    assert all(by_host[h.name].ok for h in lab_config.hosts), outcome.results
    assert results[0].host == "dead"  # its failure was known before anything ran
    for host in clean_lab.hosts:
        assert not tcp_connects(attacker.namespace, host.v4, 22)


def test_a_block_is_two_commands_with_every_step_reported(lab_config: Config, clean_lab,
                                                          tmp_path: Path) -> None:
    attacker, h1 = clean_lab.attacker, clean_lab.hosts[0]
    assert tcp_connects(attacker.namespace, h1.v4, 22)
    responder, pool = _responder(lab_config, tmp_path)
    events: list[Event] = []
    try:
        plan = responder.plan_block([attacker.v4], ["host1"], 600)
        result = responder.execute(plan, events.append)
    finally:
        responder.close()
    assert result.ok, result.results
    # read (with the probe), then the apply + flow cut + read-back as one remote command
    assert len(pool.sent) == 2, [c[:60] for _, c in pool.sent]
    assert "irtui-steps" in pool.sent[1][1]
    assert pool.sent[1][1].endswith(" 'nft -j list ruleset' none ''")  # the read-back, last
    started = [e.purpose for e in events if isinstance(e, StepStarted)]
    finished = [e for e in events if isinstance(e, StepFinished)]
    assert started == [s.purpose for s in plan.steps] == [e.purpose for e in finished]
    assert [e.exit_code for e in finished] == [0, 0]
    assert started[0].startswith("add ") and "conntrack" in started[1]
    kinds = [type(e).__name__ for e in events if isinstance(e, StepStarted | StepFinished)]
    assert kinds == ["StepStarted", "StepFinished"] * 2
    # the read-back's ruleset is the verification's, not step output shown or recorded
    assert not any('"nftables"' in getattr(e, "line", "") for e in events)
    assert "flows cut:" in result.results[0].message
    assert not tcp_connects(attacker.namespace, h1.v4, 22)


def test_the_read_back_in_the_batch_fails_an_apply_that_is_not_enforced(
        lab_config: Config, clean_lab, tmp_path: Path) -> None:
    """The apply "succeeds" but leaves the entry in a set no rule uses: the read-back that
    travels with the batch finds it NOT ENFORCED, and the host fails (never a false ✓)."""
    attacker, h1 = clean_lab.attacker, clean_lab.hosts[0]
    responder, pool = _responder(lab_config, tmp_path)
    try:
        plan = responder.plan_block([attacker.v4], ["host1"], 600)
        apply = plan.steps[0]
        unenforced = "".join(line + "\n" for line in (apply.stdin or "").splitlines()
                             if not line.startswith("add rule "))
        plan.steps[0] = replace(apply, stdin=unenforced)
        result = responder.execute(plan, lambda e: None)
    finally:
        responder.close()
    [host_result] = result.results
    assert len(pool.sent) == 2  # no separate read: the batch's read-back decided
    assert host_result.outcome is Outcome.FAILED
    assert "verification failed" in host_result.message
    assert "NOT ENFORCED" in host_result.message and attacker.v4 in host_result.message
    [listed] = nft_set_elements(h1.namespace, "v4_32")  # listed, and not enforced
    assert listed["elem"]["val"] == attacker.v4
    assert tcp_connects(attacker.namespace, h1.v4, 22)


def test_a_cancel_after_the_apply_starts_no_flow_cut_and_says_so(lab_config: Config,
                                                                 clean_lab,
                                                                 tmp_path: Path) -> None:
    attacker, h1 = clean_lab.attacker, clean_lab.hosts[0]
    responder, pool = _responder(lab_config, tmp_path)
    cancel = threading.Event()
    events: list[Event] = []

    def on_event(event: Event) -> None:
        events.append(event)
        if isinstance(event, StepFinished) and event.purpose.startswith("add "):
            cancel.set()  # Ctrl-C right after the apply: the flow cut must never start

    try:
        plan = responder.plan_block([attacker.v4], ["host1"], 600)
        result = responder.execute(plan, on_event, cancel)
    finally:
        responder.close()
    [host_result] = result.results
    assert "irtui-steps" in pool.sent[1][1]  # it ran as a batch
    assert host_result.outcome is Outcome.INTERRUPTED
    assert host_result.message.startswith("interrupted before: cut existing flows")
    assert [e.purpose for e in events if isinstance(e, StepStarted)] == [plan.steps[0].purpose]
    [listed] = nft_set_elements(h1.namespace, "v4_32")  # the apply did run
    assert listed["elem"]["val"] == attacker.v4
    assert not tcp_connects(attacker.namespace, h1.v4, 22)


def test_a_failing_apply_stops_the_batch_and_changes_nothing(lab_config: Config, clean_lab,
                                                             tmp_path: Path) -> None:
    """nft applies the whole script as one transaction (nft(8) -f): the block's own lines
    before the failing one do not take effect either, so no separate check is needed."""
    attacker, h1 = clean_lab.attacker, clean_lab.hosts[0]
    responder = Responder(lab_config, audit=AuditLog(tmp_path / "audit"))
    finished: list[StepFinished] = []
    try:
        plan = responder.plan_block([attacker.v4], ["host1"], 600)
        apply = plan.steps[0]
        assert apply.purpose.startswith("add ") and "nft -c" not in apply.command
        plan.steps[0] = replace(apply, stdin=(apply.stdin or "")
                                + "add element inet irtui nosuchset { 1.2.3.4 }\n")
        result = responder.execute(plan, lambda e: isinstance(e, StepFinished)
                                   and finished.append(e))
    finally:
        responder.close()
    [host_result] = result.results
    assert not host_result.ok and host_result.message.startswith("add ")
    assert "nosuchset" in host_result.message or "No such file" in host_result.message
    assert len(finished) == 1 and finished[0].exit_code != 0  # no flow cut after it
    assert nft_set_elements(h1.namespace, "v4_32") == []  # none of the script took effect
    assert tcp_connects(attacker.namespace, h1.v4, 22)
    assert tcp_connects(attacker.namespace, h1.v4, 22)


def _spy(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[object]:
    """Count the calls of ``module.name`` (the real function still runs)."""
    calls: list[object] = []
    real = getattr(module, name)

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def _run_on_all(pool: SSHPool, hosts: tuple[HostConfig, ...]) -> None:
    threads = [threading.Thread(target=pool.run, args=(h, "true")) for h in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_the_pool_reads_key_and_known_hosts_once(lab_config: Config, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(Path(lab_config.ssh.known_hosts).read_text())
    parsed = _spy(monkeypatch, ssh_module, "load_known_hosts")
    pool = SSHPool(replace(lab_config.ssh, known_hosts=str(known)))
    try:
        _run_on_all(pool, lab_config.hosts)  # three connections opened at once
        assert all(pool.generation(h.name) == 1 for h in lab_config.hosts)
        assert pool._keys.loads == 1 and len(parsed) == 1

        known.write_text(known.read_text() + "# a key was added\n")  # the file changed
        pool.drop("host1")
        pool.run(lab_config.hosts[0], "true")
        assert len(parsed) == 2 and pool._keys.loads == 1 and pool.generation("host1") == 2

        Path(lab_config.ssh.key_file).chmod(0o644)  # the key is now readable by others
        pool.drop("host2")
        with pytest.raises(SSHError, match="UNPROTECTED PRIVATE KEY FILE"):
            pool.run(lab_config.hosts[1], "true")
    finally:
        Path(lab_config.ssh.key_file).chmod(0o600)
        pool.close()


def test_a_passphrase_from_the_keyring_is_read_once_per_pool(
        lab_config: Config, tmp_path: Path, keyring_session: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    key, passphrase = protected_key_copy(lab_config.ssh.key_file, tmp_path)
    set_secret("ssh-key", passphrase)
    asked = _spy(monkeypatch, irtui_secrets, "get_secret")
    pool = SSHPool(replace(lab_config.ssh, key_file=str(key), key_passphrase_secret="ssh-key"))
    try:
        _run_on_all(pool, lab_config.hosts)
        assert all(pool.generation(h.name) == 1 for h in lab_config.hosts)
        assert len(asked) == 1 and pool._keys.loads == 1
    finally:
        pool.close()


def test_a_hosts_own_identity_file_is_loaded_once_and_named_in_errors(
        lab_config: Config, tmp_path: Path) -> None:
    own = tmp_path / "id_host1"
    own.write_bytes(Path(lab_config.ssh.key_file).read_bytes())
    own.chmod(0o600)
    hosts = (replace(lab_config.hosts[0], key_file=str(own)),
             replace(lab_config.hosts[1], key_file=str(tmp_path / "gone")))
    pool = SSHPool(lab_config.ssh)
    try:
        pool.run(hosts[0], "true")
        pool.drop("host1")
        pool.run(hosts[0], "true")
        assert pool._keys.loads == 1 and pool.generation("host1") == 2
        with pytest.raises(SSHError) as err:
            pool.run(hosts[1], "true")
        assert "IdentityFile for host2 in your ssh config" in err.value.line
    finally:
        pool.close()


def test_one_host_at_a_time_still_reads_them_all(lab_config: Config, tmp_path: Path) -> None:
    config = replace(lab_config, ssh=replace(lab_config.ssh, max_parallel=1))
    responder = Responder(config, audit=AuditLog(tmp_path / "audit"))
    order: list[str] = []
    try:
        got = responder.read_many([h.name for h in config.hosts],
                                  lambda name, outcome: order.append(name))
    finally:
        responder.close()
    assert order == [h.name for h in config.hosts]
    assert all(isinstance(v, HostRead) for v in got.values())
