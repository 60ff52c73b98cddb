"""Held sessions (irtui/core/ssh_hold.py, remote/hold.sh): a block's read keeps its SSH
session and the change runs over it, so a block costs one session per host.

The script's protocol is checked here with a real shell (dash and bash): the carried line
runs exactly as given, and nothing runs on EOF, a short message or a malformed length. On
the lab: a block is one session per host and still blocks at the traffic level; a plan that
is not carried out runs nothing and leaves no process behind; a held session that died or
grew too old is replaced by a new one (nothing sent twice)."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irtui.core import ssh_hold
from irtui.core.actions import Responder
from irtui.core.audit import AuditLog
from irtui.core.config import Config
from irtui.core.events import Outcome
from irtui.core.remote import script
from irtui.lab.probe import tcp_connects
from tests.lab_fixtures import nft_set_elements

MARK = "irtui-hold-0123456789abcdef"
DOC_V4 = "192.0.2.77"
SHELLS = [s for s in ("dash", "bash") if shutil.which(s)]


def _hold_locally(shell: str, read: str, message: bytes) -> subprocess.CompletedProcess:
    """remote/hold.sh run here by ``shell`` with ``read`` as the read and ``message`` on its
    stdin (what irtui sends to carry a change), then EOF."""
    return subprocess.run([shell, "-c", script("hold"), "irtui-hold", MARK, read],
                          input=message, capture_output=True, timeout=30)


def _message(line: str, go: bool = True) -> bytes:
    """What irtui sends to carry ``line``: its length, the line, and (once the host said
    "got") the go-ahead; here all at once (GNU head reads no further than it is asked)."""
    data = line.encode()
    return f"{len(data)}\n".encode() + data + (f"{MARK} go\n".encode() if go else b"")


words = st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                                blacklist_characters="\0"), max_size=40),
                 min_size=1, max_size=6)


@pytest.mark.parametrize("shell", SHELLS)
@settings(max_examples=40, deadline=None)
@given(args=words)
def test_the_carried_line_runs_exactly_as_given(shell: str, args: list[str]) -> None:
    line = shlex.join(("printf", "[%s]\\n", *args))
    got = _hold_locally(shell, "echo read-output", _message(line))
    assert got.returncode == 0, got.stderr
    out = got.stdout.decode()
    assert out == ("read-output\n" f"\n{MARK} held 0\n" f"{MARK} got\n"
                   + "".join(f"[{a}]\n" for a in args) + f"{MARK} ended 0\n")
    assert got.stderr.decode() == f"\n{MARK} held\n{MARK} ended\n"


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("message", [
    b"",                                   # irtui closed the session: the plan was dropped
    b"12\n",                               # the length, then the session was lost
    b"40\ntouch \"$RAN\"",                 # cut short: fewer bytes than announced
    b"x1\ntouch \"$RAN\"",                 # not a length
    b"-5\ntouch \"$RAN\"",
    b"\ntouch \"$RAN\"",
    _message('touch "$RAN"', go=False),   # whole, but irtui gave up before its go-ahead
    _message('touch "$RAN"', go=False) + b"stop\n",
])
def test_nothing_runs_without_the_whole_message(shell: str, message: bytes,
                                                tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    proc = subprocess.run([shell, "-c", script("hold"), "irtui-hold", MARK, "true"],
                          input=message, capture_output=True, timeout=30,
                          env={**os.environ, "RAN": str(ran)})
    assert proc.returncode == 0
    assert not ran.exists()
    assert proc.stdout.decode() in (f"\n{MARK} held 0\n", f"\n{MARK} held 0\n{MARK} got\n")


@pytest.mark.parametrize("shell", SHELLS)
def test_the_reads_status_and_streams_come_back_apart(shell: str) -> None:
    got = _hold_locally(shell, "sh -c 'printf \"no newline\"; echo oops >&2; exit 3'", b"")
    assert got.stdout.decode() == f"no newline\n{MARK} held 3\n"
    assert got.stderr.decode() == f"oops\n\n{MARK} held\n"
    # a read line that ends the shell itself gives no marker: irtui then takes it as a plain
    # command (its exit status, no session kept)
    got = _hold_locally(shell, "echo half; exit 4", _message("touch /nonexistent/x"))
    assert (got.returncode, got.stdout.decode()) == (4, "half\n")


def test_a_multibyte_line_is_measured_in_bytes_in_any_locale() -> None:
    line = shlex.join(("printf", "%s\\n", "é" * 50 + "日本"))
    for shell in SHELLS:
        got = subprocess.run([shell, "-c", script("hold"), "irtui-hold", MARK, "true"],
                             input=_message(line), capture_output=True, timeout=30,
                             env={**os.environ, "LC_ALL": "C.UTF-8"})
        assert got.stdout.decode().endswith("é" * 50 + f"日本\n{MARK} ended 0\n"), (shell, got)


NEXT = "irtui-hold-fedcba9876543210"


def _read_message(mark: str, read: str, as_line: bool) -> bytes:
    """What irtui sends an idle session for its next read (``IdleSession.ask``)."""
    data = f"{mark} {read}".encode()
    return (f"{len(data)} line\n".encode() + data + b"\n" if as_line
            else f"{len(data)}\n".encode() + data)


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("as_line", [True, False])
def test_after_a_change_the_session_takes_the_next_read_and_change(shell: str,
                                                                   as_line: bool) -> None:
    change = "sh -c 'printf \"no newline\"; echo err >&2; exit 3'"
    second = shlex.join(("printf", "%s\\n", "second"))
    message = (_message(change) + _read_message(NEXT, "sh -c 'echo read2; exit 5'", as_line)
               + f"{len(second.encode())}\n{second}{NEXT} go\n".encode())
    got = _hold_locally(shell, "echo read1", message)
    assert got.returncode == 0, got.stderr
    assert got.stdout.decode() == (
        f"read1\n\n{MARK} held 0\n{MARK} got\n"
        f"no newline{MARK} ended 3\n"            # the change's status, glued to its last line
        f"{NEXT} got\nread2\n\n{NEXT} held 5\n"  # the next read, answered at once
        f"{NEXT} got\nsecond\n{NEXT} ended 0\n")
    assert got.stderr.decode() == (f"\n{MARK} held\nerr\n{MARK} ended\n"
                                   f"\n{NEXT} held\n{NEXT} ended\n")


@pytest.mark.parametrize("shell", SHELLS)
def test_a_read_with_no_change_planned_returns_the_session_to_idle(shell: str,
                                                                   tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    message = (b"idle\n" + _read_message(NEXT, "echo read2", True)
               + b"idle\n" + _read_message(NEXT, 'touch "$RAN"', False))
    proc = subprocess.run([shell, "-c", script("hold"), "irtui-hold", MARK, "echo read1"],
                          input=message, capture_output=True, timeout=30,
                          env={**os.environ, "RAN": str(ran)})
    assert proc.returncode == 0
    assert proc.stdout.decode() == (f"read1\n\n{MARK} held 0\n"
                                    f"{NEXT} got\nread2\n\n{NEXT} held 0\n"
                                    f"{NEXT} got\n\n{NEXT} held 0\n")
    assert ran.exists()  # the third read ran: "idle" is not a change and not the end
    assert proc.stderr.decode() == f"\n{MARK} held\n\n{NEXT} held\n\n{NEXT} held\n"


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("next_read", [
    b"",                                                  # irtui closed the idle session
    b"30 line\n" + f"{NEXT} touch \"$RAN\"".encode() + b"\n",  # a length that is wrong
    _read_message("not-a-mark", 'touch "$RAN"', True),   # not irtui's marker
    f"{len(NEXT)} line\n{NEXT}\n".encode(),               # a marker and no command
    b"12\n" + NEXT.encode()[:12],                         # cut short, no command
    b"99\n" + f"{NEXT} touch \"$RAN\"".encode(),          # fewer bytes than announced
])
def test_a_malformed_next_read_runs_nothing(shell: str, next_read: bytes,
                                            tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    proc = subprocess.run([shell, "-c", script("hold"), "irtui-hold", MARK, "true"],
                          input=_message("true") + next_read, capture_output=True,
                          timeout=30, env={**os.environ, "RAN": str(ran)})
    assert proc.returncode == 0
    assert not ran.exists()
    assert proc.stdout.decode().endswith(f"{MARK} ended 0\n")


def test_the_end_marker_is_taken_out_of_the_change_s_output() -> None:
    lines: list[tuple[str, str]] = []
    watch = ssh_hold.EndWatch(MARK, lambda stream, line: lines.append((stream, line)))
    watch("stdout", "flows cut: 0")
    watch("stdout", f"half{MARK} ended 7")
    assert not watch.done()
    watch("stderr", f"{MARK} ended")
    assert watch.done() and watch.status == 7
    assert lines == [("stdout", "flows cut: 0"), ("stdout", "half")]
    out, err = watch.texts(f"flows cut: 0\nhalf{MARK} ended 7\n", f"{MARK} ended\n")
    assert (out, err) == ("flows cut: 0\nhalf", "")


# -- on the lab --------------------------------------------------------------------------

pytest_lab = pytest.mark.lab


def _held_processes(namespace: str) -> list[int]:
    """PIDs of remote/hold.sh shells running in ``namespace``."""
    want = os.stat(f"/run/netns/{namespace}").st_ino
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"irtui-hold" in (entry / "cmdline").read_bytes() \
                    and os.stat(entry / "ns" / "net").st_ino == want:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _wait_for(check, seconds: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())


@pytest_lab
def test_a_block_is_one_session_per_host_and_blocks(lab_config: Config, clean_lab,
                                                     tmp_path: Path) -> None:
    attacker, hosts = clean_lab.attacker, clean_lab.hosts[:2]
    for h in hosts:
        assert tcp_connects(attacker.namespace, h.v4, 22)
    responder = Responder(lab_config, audit=AuditLog(tmp_path / "audit"))
    try:
        for h in hosts:  # the TUI's refresh: each read's session is kept idle
            assert not responder.read_state(h.name).blocks
        assert responder.pool.held.idle_count() == 2
        plan = responder.plan_block([attacker.v4], ["host1", "host2"], 600)
        assert len(responder.pool.held) == 2  # each read waits with its session
        result = responder.execute(plan, lambda e: None)
        opened = responder.pool.sessions_opened
        # the sessions stay, idle, for the next action's reads: a second block (another
        # address, so there is something to change) costs no session at all
        assert responder.pool.held.idle_count() == 2
        second = responder.execute(responder.plan_block([DOC_V4], ["host1", "host2"], 600),
                                   lambda e: None)
        again = responder.pool.sessions_opened - opened
        assert all(len(_held_processes(h.namespace)) == 1 for h in hosts)
    finally:
        responder.close()
    assert result.ok, result.results
    assert second.ok and [r.outcome for r in second.results] == [Outcome.OK] * 2
    assert opened == 2  # one per host: the plan's read and the change went over the
    # session of the refresh's read
    assert again == 0
    for h in hosts:
        assert not tcp_connects(attacker.namespace, h.v4, 22)
        assert sorted(e["elem"]["val"] for e in nft_set_elements(h.namespace, "v4_32")) == \
            sorted([attacker.v4, DOC_V4])
        assert _wait_for(lambda h=h: not _held_processes(h.namespace))  # closed at exit


@pytest_lab
def test_an_idle_session_that_died_or_stalled_is_replaced_for_the_read(
        lab_config: Config, clean_lab, tmp_path: Path) -> None:
    """The shell kept idle after a block is killed on host1 and stopped on host2 (an admin,
    an OOM kill, a stalled process): the next plan's reads go over new sessions (host2's
    within ssh.connect_timeout, not the read's long timeout) and the unblock holds."""
    attacker, (h1, h2) = clean_lab.attacker, clean_lab.hosts[:2]
    config = replace(lab_config, ssh=replace(lab_config.ssh, connect_timeout=2.0))
    responder = Responder(config, audit=AuditLog(tmp_path / "audit"))
    stopped: list[int] = []
    try:
        assert responder.execute(responder.plan_block([attacker.v4], ["host1", "host2"], 600),
                                 lambda e: None).ok
        [dead] = _held_processes(h1.namespace)
        os.kill(dead, signal.SIGKILL)
        stopped = _held_processes(h2.namespace)
        os.kill(stopped[0], signal.SIGSTOP)
        before = responder.pool.sessions_opened
        began = time.monotonic()
        plan = responder.plan_unblock([attacker.v4], ["host1", "host2"])
        took = time.monotonic() - began
        opened = responder.pool.sessions_opened - before
        result = responder.execute(plan, lambda e: None)
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        responder.close()
    assert opened == 2
    assert took < 2.0 + 3.0, took
    assert [r.outcome for r in result.results] == [Outcome.OK] * 2, result.results
    for h in (h1, h2):
        assert tcp_connects(attacker.namespace, h.v4, 22)
        assert nft_set_elements(h.namespace, "v4_32") == []


@pytest_lab
def test_a_plan_not_carried_out_runs_nothing_and_leaves_nothing(lab_config: Config,
                                                                 clean_lab,
                                                                 tmp_path: Path) -> None:
    attacker, h1 = clean_lab.attacker, clean_lab.hosts[0]
    responder = Responder(lab_config, audit=AuditLog(tmp_path / "audit"))
    try:
        responder.plan_block([attacker.v4], ["host1"], 600)
        assert _held_processes(h1.namespace)  # the read's shell waits for its change
        responder.pool.held.release()  # dropped (as at the next plan, or at exit)
        assert _wait_for(lambda: not _held_processes(h1.namespace))
        assert not responder.read_state("host1").blocks
    finally:
        responder.close()
    assert nft_set_elements(h1.namespace, "v4_32") == []
    assert tcp_connects(attacker.namespace, h1.v4, 22)


@pytest_lab
def test_a_held_session_that_died_is_replaced_by_a_new_one(lab_config: Config, clean_lab,
                                                           tmp_path: Path) -> None:
    """The shell waiting with the read's session is killed on the host (an admin, an OOM
    kill): the change opens a new session, nothing is sent twice, and the block holds."""
    attacker, h1 = clean_lab.attacker, clean_lab.hosts[0]
    responder = Responder(lab_config, audit=AuditLog(tmp_path / "audit"))
    try:
        plan = responder.plan_block([attacker.v4], ["host1"], 600)
        [pid] = _held_processes(h1.namespace)
        os.kill(pid, 9)
        session = responder.pool.held._held["host1"]
        assert _wait_for(lambda: session.channel.exit_status_ready())
        before = responder.pool.sessions_opened
        result = responder.execute(plan, lambda e: None)
        opened = responder.pool.sessions_opened - before
    finally:
        responder.close()
    assert result.ok, result.results
    assert opened == 1
    assert not tcp_connects(attacker.namespace, h1.v4, 22)


@pytest_lab
def test_a_held_session_too_old_is_not_used(lab_config: Config, clean_lab, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    attacker, h1 = clean_lab.attacker, clean_lab.hosts[0]
    monkeypatch.setattr(ssh_hold, "HOLD_SECONDS", 0.2)
    responder = Responder(lab_config, audit=AuditLog(tmp_path / "audit"))
    try:
        plan = responder.plan_block([attacker.v4], ["host1"], 600)
        time.sleep(0.4)
        before = responder.pool.sessions_opened
        result = responder.execute(plan, lambda e: None)
        opened = responder.pool.sessions_opened - before
        assert _wait_for(lambda: not _held_processes(h1.namespace))
    finally:
        responder.close()
    assert [r.outcome for r in result.results] == [Outcome.OK]
    assert opened == 1
    assert not tcp_connects(attacker.namespace, h1.v4, 22)


@pytest_lab
def test_a_change_that_reaches_a_stalled_host_late_never_runs(lab_config: Config, clean_lab,
                                                              tmp_path: Path) -> None:
    """The shell holding host1's session is stopped (a stalled host) when an unblock is
    confirmed: irtui gets no acknowledgement, runs the unblock over a new session instead,
    and the address is blocked again. When the stalled shell resumes, the unblock it had
    been sent must not run: it never got irtui's go-ahead (it would silently undo the newer
    block, with no irtui run left to notice)."""
    attacker, h1 = clean_lab.attacker, clean_lab.hosts[0]
    config = replace(lab_config, ssh=replace(lab_config.ssh, connect_timeout=2.0))
    responder = Responder(config, audit=AuditLog(tmp_path / "audit"))
    stopped: list[int] = []
    try:
        assert responder.execute(responder.plan_block([attacker.v4], ["host1"], 3600),
                                 lambda e: None).ok
        plan = responder.plan_unblock([attacker.v4], ["host1"])
        stopped = _held_processes(h1.namespace)
        assert len(stopped) == 1
        os.kill(stopped[0], signal.SIGSTOP)
        before = responder.pool.sessions_opened
        result = responder.execute(plan, lambda e: None)
        assert result.ok, result.results
        assert responder.pool.sessions_opened - before == 1  # a new session did it
        assert tcp_connects(attacker.namespace, h1.v4, 22)
        assert responder.execute(responder.plan_block([attacker.v4], ["host1"], 3600),
                                 lambda e: None).ok
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        responder.close()
    assert _wait_for(lambda: not _held_processes(h1.namespace))
    time.sleep(0.5)
    [listed] = nft_set_elements(h1.namespace, "v4_32")
    assert listed["elem"]["val"] == attacker.v4
    assert not tcp_connects(attacker.namespace, h1.v4, 22)


@pytest_lab
async def test_a_plan_declined_in_the_tui_closes_its_sessions_at_once(lab_config: Config,
                                                                      clean_lab) -> None:
    from irtui.tui.app import IrtuiApp
    from tests.tui_helpers import block_to_confirmation, settle

    attacker, h1 = clean_lab.attacker, clean_lab.hosts[0]
    app = IrtuiApp(lab_config)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await block_to_confirmation(app, pilot, attacker.v4)
        assert _held_processes(h1.namespace)  # the plan's reads wait with their sessions
        await pilot.press("n")
        await settle(app, pilot)
        assert _wait_for(lambda: not _held_processes(h1.namespace), 5.0)
    assert nft_set_elements(h1.namespace, "v4_32") == []
    assert tcp_connects(attacker.namespace, h1.v4, 22)
