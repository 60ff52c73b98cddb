"""Two irtui processes changing one host at once (issue 8, item 8): the installed CLI, two
processes started together, many rounds, each adding a prefix no set holds yet. Every block
a process reports as done must be in force: read back as enforced, and the attacker's
connect from that address must fail. And the host lock makes the second one wait, not fail,
while a lock held too long gives one clear "host busy" line."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from irtui.core import hostlock
from irtui.core.config import write_toml_atomic
from irtui.core.remote import script
from irtui.lab.probe import ns_run, tcp_connects
from irtui.lab.sshd import read_pid
from tests.attacker_aliases import attacker_aliases, covering

ROUNDS = {"nftables": 10, "iptables-nft": 4, "iptables-legacy": 4}
IRTUI = Path(sys.executable).with_name("irtui")
"""The installed command (``.venv/bin/irtui``), as a responder runs it."""


def _config(clean_lab, tmp_path: Path, backend: str) -> Path:
    data = tomllib.loads(Path(clean_lab.config_path).read_text())
    for host in data["hosts"]:
        host["firewall"] = backend
    data["audit"] = {"dir": str(tmp_path / "audit")}
    path = tmp_path / f"{backend}.toml"
    write_toml_atomic(path, data)
    return path


def _block_at_once(cfg: Path, entries: tuple[str, str]) -> list[subprocess.CompletedProcess]:
    """Start one ``irtui block`` per entry at the same moment; wait for both."""
    go = threading.Barrier(len(entries))

    def one(entry: str) -> subprocess.CompletedProcess:
        go.wait()
        return subprocess.run([str(IRTUI), "--config", str(cfg), "block", entry, "--on",
                               "host1", "--ttl", "1h", "-q"], capture_output=True, text=True,
                              timeout=120)

    with ThreadPoolExecutor(len(entries)) as pool:
        return list(pool.map(one, entries))


@pytest.mark.parametrize("backend", list(ROUNDS))
def test_two_processes_at_once_every_ok_is_enforced(backend: str, clean_lab, responder,
                                                    tmp_path: Path) -> None:
    assert IRTUI.exists(), f"{IRTUI} is not installed (run ./dev setup)"
    cfg = _config(clean_lab, tmp_path, backend)
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    rounds = ROUNDS[backend]
    with attacker_aliases(clean_lab, 2 * rounds) as aliases, ThreadPoolExecutor(16) as pool:
        def reaches(address: str, timeout: float = 1) -> bool:
            return tcp_connects(attacker.namespace, h1.v6, 22, timeout=timeout, source=address)

        # before: each new address is first resolved by neighbour discovery, which takes
        # more than a second for 16 at once on a loaded machine
        assert all(pool.map(lambda a: reaches(a, 10), aliases))
        done: dict[str, str] = {}
        for i in range(rounds):
            # a fresh prefix length for each process and round: a new nft set every time
            pair = (covering(aliases[2 * i], 128 - 2 * i),
                    covering(aliases[2 * i + 1], 127 - 2 * i))
            for entry, out in zip(pair, _block_at_once(cfg, pair), strict=True):
                assert out.returncode == 0, f"round {i}: {entry}: {out.stdout}{out.stderr}"
                done[entry] = aliases[2 * i + pair.index(entry)]
        still_reach = [e for e, a in zip(done, pool.map(reaches, done.values()), strict=True)
                       if a]
        assert still_reach == [], f"reported blocked but the attacker connects: {still_reach}"
        state = responder.read_state("host1")
        by_entry = {str(e.network): e for e in state.blocks}
        assert set(done) <= set(by_entry)
        assert [e for e in done if not by_entry[e].enforced] == [], state.gaps


def test_a_held_lock_makes_a_change_wait_then_fail_clearly(responder, clean_lab) -> None:
    h1, h2, attacker = clean_lab.hosts[0], clean_lab.hosts[1], clean_lab.attacker
    holder = subprocess.Popen(
        # inside host1 as its sshd sees it (its own /run: where irtui's commands take the lock)
        ["nsenter", f"--target={read_pid(h1.pid_file)}", "--mount", "--net",
         "sh", "-c", script("host_lock"), "lock", "30",
         "fail", "another responder (test)", "sh", "-c", "echo held; sleep 8"],
        stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        responder.ctx.lock_wait = 1.5
        result = responder.execute(responder.plan_block([attacker.v4], ["host1", "host2"],
                                                        "1h"), lambda e: None)
        by_host = {r.host: r for r in result.results}
        assert not by_host["host1"].ok and by_host["host2"].ok  # the lock is per host
        assert f"exit code {hostlock.EXIT_HOST_BUSY}" in by_host["host1"].message
        assert "host busy: another irtui change is running (another responder (test)" in \
            by_host["host1"].message
        assert tcp_connects(attacker.namespace, h1.v4, 22)  # nothing changed there
        assert not tcp_connects(attacker.namespace, h2.v4, 22)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(holder.pid, signal.SIGKILL)  # the sleep too
        holder.wait()
    responder.ctx.lock_wait = hostlock.LOCK_WAIT_SECONDS
    result = responder.execute(responder.plan_block([attacker.v4], ["host1"], "1h"),
                               lambda e: None)
    assert result.ok, result
    assert ns_run(h1.namespace, ["true"]).returncode == 0
    assert not tcp_connects(attacker.namespace, h1.v4, 22)


def test_a_session_killed_mid_step_says_the_state_is_unknown(responder, clean_lab) -> None:
    """sshd's session for a change killed while the step waits for the host lock: no exit
    status comes back. The result names that and says to read the host, never a bare
    "exit code -1"; the change is not applied behind irtui's back afterwards."""
    import os
    import signal
    import time

    from tests.lab_fixtures import eventually

    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    sshd = read_pid(h1.pid_file)
    holder = subprocess.Popen(
        ["nsenter", f"--target={sshd}", "--mount", "--net", "sh", "-c", script("host_lock"),
         "lock", "30", "fail", "another responder (test)", "sh", "-c", "echo held; sleep 6"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        plan = responder.plan_block([attacker.v4], ["host1"], "1h")
        results: list = []
        worker = threading.Thread(target=lambda: results.append(
            responder.execute(plan, lambda e: None)))
        sessions = lambda: subprocess.run(  # noqa: E731 - sshd's per-connection children
            ["pgrep", "-P", str(sshd)], capture_output=True, text=True).stdout.split()
        before = set(sessions())
        worker.start()
        time.sleep(1.5)  # the step is now waiting for the lock on the host
        for pid in set(sessions()) - before or set(sessions()):
            os.kill(int(pid), signal.SIGKILL)
        worker.join(60)
        (result,) = results[0].results
        assert not result.ok
        assert "exit code -1" not in result.message, result.message
        assert "without an exit status" in result.message and "irtui status" in \
            result.message, result.message
    finally:
        holder.wait(20)
    assert not eventually(lambda: not tcp_connects(attacker.namespace, h1.v4, 22), 3)
