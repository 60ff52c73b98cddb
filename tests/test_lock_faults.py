"""The host change lock under faults (issue 13's lock and read-back changes, tried to break):
the rollback timer's own rollback runs whether the lock frees during its wait or stays held
past it; a change cancelled while it waits for the lock never applies afterwards; a read-back
the host refuses never turns into an "ok". Effects are checked at the traffic level."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from irtui.core.actions import Responder
from irtui.core.audit import AuditLog
from irtui.core.config import Config
from irtui.core.events import Event, Outcome, StepStarted
from irtui.core.hostlock import ROLLBACK_LOCK_WAIT_SECONDS
from irtui.core.remote import script
from irtui.lab import lab_up
from irtui.lab.info import LabHost
from irtui.lab.probe import tcp_connects
from irtui.lab.sshd import read_pid
from tests.isolation_helpers import ROLLED_BACK, end_state, sshd_pids, timer_files, wait_for
from tests.lab_fixtures import TEST_SPEC, eventually
from tests.test_isolation_faults import TIMEOUT, ActAtStep
from tests.test_sudo import SUDOERS, lab_user  # noqa: F401 - the fixture


def _hold_lock(host: LabHost, seconds: float) -> subprocess.Popen[str]:
    """Take ``host``'s irtui change lock as another responder would, for ``seconds``."""
    assert host.pid_file is not None
    holder = subprocess.Popen(
        ["nsenter", f"--target={read_pid(host.pid_file)}", "--mount", "--net",
         "sh", "-c", script("host_lock"), "lock", "30", "fail", "another responder (test)",
         "sh", "-c", f"echo held; sleep {seconds}"], stdout=subprocess.PIPE, text=True,
        start_new_session=True)  # its own group: the cleanup ends the sleep too
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


@pytest.mark.parametrize("hold", [TIMEOUT + 3, TIMEOUT + ROLLBACK_LOCK_WAIT_SECONDS + 6])
def test_the_rollback_runs_while_another_change_holds_the_lock(
        lab_config: Config, clean_lab, tmp_path: Path, hold: int) -> None:
    """The confirmation never comes (sshd killed as it starts) and another change holds the
    host's lock when the timer fires (``hold`` seconds from the confirmation's start, which
    is less than TIMEOUT after the arming): freed during the timer's wait (it then takes the
    lock, with no reader for its stderr) or held past it (it runs anyway). Either way the host
    rolls back by itself and the attacker reaches it again."""
    h1 = clean_lab.hosts[0]
    config = replace(lab_config, isolation=replace(lab_config.isolation,
                                                   confirm_timeout=TIMEOUT))
    holders: list[subprocess.Popen[str]] = []

    def hold_lock_and_kill_sshd() -> None:
        holders.append(_hold_lock(h1, hold))
        for pid in sshd_pids(h1):
            os.kill(pid, signal.SIGKILL)

    responder = ActAtStep(config, AuditLog(tmp_path / "audit"), "confirm over",
                          hold_lock_and_kill_sshd)
    try:
        assert not responder.execute(responder.plan_isolate(["host1"]), lambda e: None).ok
        wait_for(lambda: timer_files(h1).log.startswith("rolled back at"), 40,
                 "the host to roll back by itself")
        # the lock was taken before the timer fired; it was still held when the host rolled
        # back (held past the wait), or freed during the wait (the rollback then took it)
        assert (holders[0].poll() is None) == (hold > TIMEOUT + ROLLBACK_LOCK_WAIT_SECONDS)
        assert end_state(h1) == ROLLED_BACK
        lab_up(TEST_SPEC)  # sshd back: the attacker's connect shows the isolation is gone
        assert tcp_connects(clean_lab.attacker.namespace, h1.v4, 22)
    finally:
        responder.close()
        for holder in holders:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(holder.pid, signal.SIGKILL)
            holder.wait()
        lab_up(TEST_SPEC)


def test_a_block_cancelled_while_waiting_for_the_lock_never_applies(responder,
                                                                     clean_lab) -> None:
    """Ctrl-C while the apply waits for another change's lock: irtui closes the channel, so
    when the lock frees the waiting wrapper finds no reader and the block never starts."""
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    holder = _hold_lock(h1, 5)
    try:
        cancel = threading.Event()

        def on_event(event: Event) -> None:
            if isinstance(event, StepStarted):  # the apply, now waiting for the lock
                threading.Timer(1.5, cancel.set).start()

        plan = responder.plan_block([attacker.v4], ["host1"], "1h")
        [result] = responder.execute(plan, on_event, cancel).results
        assert result.outcome is Outcome.INTERRUPTED, result
    finally:
        holder.wait(20)
    assert not eventually(lambda: not tcp_connects(attacker.namespace, h1.v4, 22), 4), \
        "the block was applied after irtui reported it interrupted"


def test_a_read_back_the_host_refuses_is_never_an_ok(lab_config: Config, lab_user: str,  # noqa: F811
                                                     clean_lab, tmp_path: Path) -> None:
    """sudo lets the login user apply but not run ``nft -j list ruleset`` itself: the
    read-back in the batch exits non-zero, the executor's own read is refused too, and the
    host fails with sudo's reason (the block is in force, but irtui could not check it)."""
    SUDOERS.write_text(f"{lab_user} ALL=(root) NOPASSWD: ALL, !/usr/sbin/nft -j list ruleset\n")
    SUDOERS.chmod(0o440)
    hosts = tuple(replace(h, user=lab_user) for h in lab_config.hosts)
    responder = Responder(replace(lab_config, hosts=hosts), audit=AuditLog(tmp_path / "audit"))
    try:
        plan = responder.plan_block([clean_lab.attacker.v4], ["host1"], "1h")
        [result] = responder.execute(plan, lambda e: None).results
    finally:
        responder.close()
    assert result.outcome is Outcome.FAILED, result
    assert "not allowed to execute" in result.message


@pytest.mark.parametrize("fdinfo", ["/proc/self/fdinfo/8", "/nonexistent/fdinfo"])
def test_the_lock_is_named_after_the_network_namespace(clean_lab, fdinfo: str) -> None:
    """Each network namespace has its own lock, named by its inode number: read by the
    shell from /proc/self/fdinfo (Linux 5.14+), or from readlink(1) where fdinfo has no
    ``ino:`` line (``/nonexistent/fdinfo`` stands for such a kernel)."""
    text = script("host_lock")
    assert text.count("/proc/self/fdinfo/8") == 1
    variant = text.replace("/proc/self/fdinfo/8", fdinfo)
    show = ('ino=$(readlink /proc/self/ns/net); ino=${ino#net:[}; ino=${ino%]}; '
            'echo "$ino"; cat "/run/irtui-change-$ino.lock"')
    for host in clean_lab.hosts[:2]:
        who = f"test {fdinfo} {host.name} {os.getpid()}"
        out = subprocess.run(["ip", "netns", "exec", host.namespace, "sh", "-c", variant,
                              "lock", "5", "fail", who, "sh", "-c", show],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        inode, holder = out.stdout.splitlines()
        assert inode.isdigit() and holder == who  # the lock it took is this namespace's
        assert Path(f"/run/irtui-change-{inode}.lock").read_text() == ""  # cleared at its end


def test_a_lock_held_by_something_else_is_not_blamed_on_an_old_change(clean_lab) -> None:
    """A change clears its name from the lock file when it ends, so a lock later held by a
    process that is not an irtui change is reported as such, not as the last irtui change
    (which named a long-finished pid)."""
    host = clean_lab.hosts[0]

    def change(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", host.namespace, "sh", "-c",
                               script("host_lock"), "lock", "1", "fail", "irtui block (old)",
                               *command], capture_output=True, text=True, timeout=30)

    ino = change("readlink", "/proc/self/ns/net").stdout.strip()[5:-1]
    lock = f"/run/irtui-change-{ino}.lock"
    other = subprocess.Popen(["ip", "netns", "exec", host.namespace, "flock", lock, "sh",
                              "-c", "echo held; sleep 20"], stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        assert other.stdout is not None and other.stdout.readline() == "held\n"
        busy = change("true")
        assert busy.returncode == 75
        assert "a process that is not an irtui change holds" in busy.stderr, busy.stderr
        assert "(old)" not in busy.stderr
    finally:
        os.killpg(other.pid, signal.SIGKILL)
        other.wait()


def test_an_isolation_half_applied_by_another_run_is_read_again_once_it_ends(
        lab_config: Config, clean_lab, tmp_path: Path) -> None:
    """Another irtui run holds host1's change lock while host1's isolation is only partly
    there (what a read sees while that run's apply is under way, e.g. iptables' IPv4 done
    and IPv6 not yet): planning an isolation waits for the lock and plans on the host as
    that run left it, instead of refusing "partially isolated"."""
    h1 = clean_lab.hosts[0]
    assert h1.pid_file is not None
    partial = ("add table inet irtui_isolation\n"
               "add chain inet irtui_isolation input "
               "{ type filter hook input priority 0; policy accept; }\n")
    holder = subprocess.Popen(
        ["nsenter", f"--target={read_pid(h1.pid_file)}", "--mount", "--net",
         "sh", "-c", script("host_lock"), "lock", "30", "fail", "another responder (test)",
         "sh", "-c", 'printf %s "$1" | nft -f - && echo held && sleep 2 && '
         "nft delete table inet irtui_isolation", "half", partial],
        stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    responder = Responder(lab_config, audit=AuditLog(tmp_path / "audit"))
    try:
        started = time.monotonic()
        plan = responder.plan_isolate(["host1"])
        waited = time.monotonic() - started
    finally:
        responder.close()
        holder.wait(10)
    assert waited >= 1.0  # it waited for the other run's change to end
    assert not plan.failed and "host1" not in plan.skipped
    assert any("isolate" in step.purpose for step in plan.steps)
