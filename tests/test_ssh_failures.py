"""Messages of SSH failures (irtui/core/ssh_failures.py): a command that could not start
names its host once, never has an empty reason, and gets the hint that fits its cause (only
a refused channel points at MaxSessions); paramiko's "No existing session" is explained. On
the lab: the host's sshd for the connection is stopped (SIGSTOP) between a plan and its
confirmation, and the recorded result says the host does not answer."""

from __future__ import annotations

import os
import signal
from dataclasses import replace
from pathlib import Path

import paramiko
import pytest

from irtui.core.actions import Responder
from irtui.core.audit import AuditLog
from irtui.core.config import Config
from irtui.core.events import HostResult, Outcome
from irtui.core.ssh_failures import connect_reason, start_failed
from irtui.tui.eventlog import event_lines
from tests.test_held_sessions import _held_processes


def test_a_channel_open_timeout_says_the_host_does_not_answer() -> None:
    err = start_failed("host1", paramiko.SSHException("Timeout opening channel."), 2.0)
    assert err.problem == ("host1: could not start the command (the host did not answer "
                           "within 2 s: the connection or the host's sshd is not responding)")
    assert "MaxSessions" not in err.fix and "stalled" in err.fix


@pytest.mark.parametrize("exc", [EOFError(), paramiko.SSHException(),
                                 paramiko.SSHException("SSH session not active")])
def test_a_closed_connection_is_named_never_an_empty_reason(exc: BaseException) -> None:
    err = start_failed("host1", exc, 2.0)
    assert err.problem.startswith("host1: could not start the command (the SSH connection "
                                  "was closed")
    assert "()" not in err.problem and err.problem.count("host1") == 1
    assert "MaxSessions" not in err.fix


def test_only_a_refused_channel_points_at_max_sessions() -> None:
    refused = start_failed("host1", paramiko.ChannelException(
        paramiko.common.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
        "Administratively prohibited"), 2.0)
    assert refused.problem == ("host1: could not start the command (sshd refused a new "
                               "session: Administratively prohibited)")
    assert "MaxSessions" in refused.fix
    short = start_failed("host1", paramiko.ChannelException(4, "Resource shortage"), 2.0)
    assert "Resource shortage" in short.problem and "MaxSessions" not in short.fix


def test_no_existing_session_says_what_it_means() -> None:
    reason = connect_reason(paramiko.SSHException("No existing session"), 5.0)
    assert "No existing session" not in reason
    assert reason.startswith("the SSH connection was lost or could not be established")
    assert "within 5 s" in reason
    assert connect_reason(EOFError(), 5.0)  # never empty
    assert connect_reason(ConnectionRefusedError(111, "Connection refused"), 5.0) == \
        "Connection refused"


def test_the_tui_log_names_the_host_once() -> None:
    result = HostResult("host1", Outcome.FAILED, "host1: could not start the command (x) — y",
                        1.0)
    assert event_lines(result) == ["✗ host1: could not start the command (x) — y"]


@pytest.mark.lab
def test_a_stopped_sshd_between_plan_and_confirmation_is_reported(lab_config: Config,
                                                                   clean_lab,
                                                                   tmp_path: Path) -> None:
    """host1's sshd process for irtui's connection (the parent of the held read's shell) is
    stopped after the plan: the change gets no channel; the result says the host does not
    answer, with no MaxSessions hint."""
    attacker, h1 = clean_lab.attacker, clean_lab.hosts[0]
    config = replace(lab_config, ssh=replace(lab_config.ssh, connect_timeout=2.0))
    responder = Responder(config, audit=AuditLog(tmp_path / "audit"))
    stopped: list[int] = []
    try:
        plan = responder.plan_block([attacker.v4], ["host1"], 600)
        [shell] = _held_processes(h1.namespace)
        stat = Path(f"/proc/{shell}/stat").read_text()
        sshd = int(stat.rsplit(")", 1)[1].split()[1])  # its parent: the connection's sshd
        assert b"sshd" in Path(f"/proc/{sshd}/cmdline").read_bytes()
        os.kill(sshd, signal.SIGSTOP)
        stopped.append(sshd)
        result = responder.execute(plan, lambda e: None)
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        responder.close()
    [host] = result.results
    assert host.outcome is Outcome.FAILED
    assert host.message.startswith("host1: could not start the command (the host did not "
                                   "answer within 2 s"), host.message
    assert "MaxSessions" not in host.message


def test_a_connection_closed_under_a_channel_open_is_opened_again(lab_config: Config,
                                                                  clean_lab) -> None:
    """Another command on the host dropped the shared connection just as this one opened
    its channel (a cascade seen under load): nothing had started, so the command runs on a
    new connection. A refusal on a live connection is not retried. (The race is forced by
    closing the transport inside its open: it cannot be timed for real.)"""
    from irtui.core.errors import SSHError
    from irtui.core.ssh import SSHPool

    pool = SSHPool(lab_config.ssh)
    host = lab_config.host("host1")
    try:
        assert pool.run(host, "true").exit_code == 0
        before = pool.generation("host1")
        transport = pool.connect(host).get_transport()
        calls: list[int] = []

        def closed_under_it(*args: object, **kwargs: object) -> None:
            calls.append(1)
            transport.close()
            raise EOFError()

        transport.open_session = closed_under_it  # type: ignore[method-assign]
        got = pool.run(host, "hostname", capture=True)
        assert got.stdout.strip() == "host1" and calls == [1]
        assert pool.generation("host1") == before + 1
        live = pool.connect(host).get_transport()

        def refused(*args: object, **kwargs: object) -> None:
            calls.append(2)
            raise paramiko.ChannelException(1, "Administratively prohibited")

        live.open_session = refused  # type: ignore[method-assign]
        with pytest.raises(SSHError, match="sshd refused a new session"):
            pool.run(host, "true")
        assert calls == [1, 2]
    finally:
        pool.close()


@pytest.mark.lab
def test_a_cancel_while_the_host_has_not_started_the_command_is_acted_on_at_once(
        lab_config: Config, clean_lab) -> None:
    """The connection's sshd stalls (SIGSTOP) just after it opened a session channel, so the
    host never answers the "exec" request (as on a link losing most packets, where that
    answer can take minutes): a Ctrl-C (the run's cancel) ends the wait at once, and the
    error says whether the command started is unknown. (The stall is timed by a hook on
    the channel open; the host is stopped for real.)"""
    import threading
    import time

    from irtui.core.errors import SSHError
    from irtui.core.ssh import SSHPool

    h1 = clean_lab.hosts[0]
    pool = SSHPool(lab_config.ssh)
    host = lab_config.host("host1")
    stopped: list[int] = []
    try:
        assert pool.run(host, "true", keep=True).exit_code == 0  # an idle session stays
        [shell] = _held_processes(h1.namespace)
        stat = Path(f"/proc/{shell}/stat").read_text()
        sshd = int(stat.rsplit(")", 1)[1].split()[1])  # the connection's sshd
        transport = pool.connect(host).get_transport()
        real_open = transport.open_session

        def open_then_stall(*args: object, **kwargs: object) -> paramiko.Channel:
            channel = real_open(*args, **kwargs)
            os.kill(sshd, signal.SIGSTOP)
            stopped.append(sshd)
            return channel

        transport.open_session = open_then_stall  # type: ignore[method-assign]
        cancel = threading.Event()
        threading.Timer(1.0, cancel.set).start()
        # without the interruptible wait the run would only end once the host resumes
        resume = threading.Timer(15.0, lambda: [os.kill(p, signal.SIGCONT) for p in stopped])
        resume.start()
        began = time.monotonic()
        with pytest.raises(SSHError, match="cancelled while the host was starting the "
                                           "command; whether it started is unknown"):
            pool.run(host, "true", cancel=cancel)
        assert time.monotonic() - began < 3.0
    finally:
        if "resume" in locals():
            resume.cancel()
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        pool.close()


def test_an_authentication_that_timed_out_is_not_called_a_refused_key(
        lab_config: Config) -> None:
    from irtui.core.ssh_failures import connect_failed

    host = lab_config.host("host1")
    late = connect_failed(paramiko.AuthenticationException("Authentication timeout."), host,
                          host.address, "host1 (x)", None, 5.0)  # type: ignore[arg-type]
    assert late.problem == ("host1 (x): no answer to authentication within 5 s (a slow or "
                            "lossy link, or a busy host; the key was not refused)")
    assert "connect_timeout" in late.fix
    refused = connect_failed(paramiko.AuthenticationException("Authentication failed."), host,
                             host.address, "host1 (x)", None, 5.0)  # type: ignore[arg-type]
    assert refused.problem.startswith("authentication failed for ")
