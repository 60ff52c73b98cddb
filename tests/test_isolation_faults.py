"""Fault suite, interruptions (issue 8): however an isolation is interrupted — the TUI quit,
SIGTERM, a closed terminal, SIGKILL, Ctrl-C in the CLI, the host's sshd killed, the host
unreachable, packet loss, two irtui processes at once — the host ends confirmed-isolated or
rolled back by itself, the host-side timer is never killed from the responder's side, and
the audit trail says which.

The end state is read from the host itself (its ruleset, its timer's files and process), not
from irtui; see tests/isolation_helpers.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from irtui.core.actions import Responder
from irtui.core.audit import AuditLog
from irtui.core.config import Config
from irtui.core.errors import AuditError
from irtui.core.events import Event, HostResult, Outcome, StepStarted
from irtui.core.plan import Plan
from irtui.lab import LabInfo, lab_up
from irtui.lab.probe import ns_run, tcp_connects
from irtui.tui.app import IrtuiApp
from tests.isolation_helpers import (
    CONFIRMED,
    IRTUI,
    ROLLED_BACK,
    UNCHANGED,
    assert_record_agrees,
    end_state,
    isolated,
    phases,
    result_for,
    sshd_pids,
    step_started,
    timer_files,
    trail,
    wait_for,
    wait_for_no_strays,
    write_lab_config,
)
from tests.lab_fixtures import TEST_SPEC
from tests.tui_helpers import settle

STEPS = {
    "save": "save the current rulesets",
    "arm": "arm a rollback",
    "apply": "isolate",
    "confirm": "confirm over a new SSH connection",
    "self-test": "self-test:",
}
"""The steps of an isolation, by the start of their purpose (the check step, ``check:
isolate…``, and the self-test baseline are not these)."""
TIMEOUT = 5
"""The smallest confirm timeout irtui allows: a host left to roll back does so quickly."""
LIVE_ENDS = {
    "save": {UNCHANGED},
    "arm": {UNCHANGED, ROLLED_BACK},
    "apply": {UNCHANGED, ROLLED_BACK},
    "confirm": {CONFIRMED, ROLLED_BACK},
    "self-test": {CONFIRMED},
}
"""The known end states an interruption can lead to when it lands during each step of a
live run: arm, apply and confirm are never cut off half-way, so it depends on whether the
signal lands before or after them (the brief: "let the confirm step finish or leave the
timer armed and say so")."""


@pytest.fixture
def iso_config(lab_config: Config) -> Config:
    """The lab config with the smallest confirm timeout."""
    return replace(lab_config, isolation=replace(lab_config.isolation,
                                                 confirm_timeout=TIMEOUT))


# ---- the TUI quit at each step (in-process, keys only) ---------------------------------------


class PauseAtStep(Responder):
    """A Responder whose run stops at the start of the first step whose purpose starts with
    ``prefix`` (before the step does anything) until ``go`` is set, so a key can land
    exactly there. ``done`` is set once the execution (and its record) has finished."""

    def __init__(self, config: Config, audit: AuditLog, prefix: str) -> None:
        super().__init__(config, audit=audit)
        self.prefix = prefix
        self.reached = threading.Event()
        self.go = threading.Event()
        self.done = threading.Event()

    def execute(self, plan: Plan, on_event, cancel=None):  # type: ignore[no-untyped-def]
        def sink(event: Event) -> None:
            on_event(event)
            if (isinstance(event, StepStarted) and event.purpose.startswith(self.prefix)
                    and not self.reached.is_set()):
                self.reached.set()
                self.go.wait(30)

        try:
            return super().execute(plan, sink, cancel)
        finally:
            self.done.set()


async def _until(event: threading.Event, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not event.is_set():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("step", list(STEPS))
async def test_quitting_the_tui_at_each_step_never_strands_the_host(
        iso_config: Config, clean_lab: LabInfo, tmp_path: Path, step: str) -> None:
    h1 = clean_lab.hosts[0]
    audit_dir = tmp_path / "audit"
    responder = PauseAtStep(iso_config, AuditLog(audit_dir), STEPS[step])
    app = IrtuiApp(iso_config, responder)
    question = None
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("i")
        await settle(app, pilot)
        await pilot.press(*"host1", "enter")
        await _until(responder.reached, 20, f"the {step} step")
        await pilot.press("q")
        await pilot.pause(0.2)
        question = getattr(app.screen, "question", None)  # the quit confirmation, if any
        if question is not None:
            await pilot.press("y")  # quit anyway
        await pilot.pause(0.1)
        responder.go.set()
        await _until(responder.done, 30, "the isolation to record its result")
    end = end_state(h1)
    records = trail(audit_dir)
    assert_record_agrees(records, "host1", end)
    assert result_for(records, "host1")["outcome"] == "interrupted"
    assert question is not None and "isolation of host1 is in progress" in question
    if step in ("apply", "confirm"):  # the timer is armed: the question says until when
        assert "will roll back by itself" in question
    # The quit lands as the step starts: before the apply nothing is isolated (an armed
    # timer is disarmed); after it irtui does not confirm and the host undoes it by itself.
    assert end == {"confirm": ROLLED_BACK, "self-test": CONFIRMED}.get(step, UNCHANGED)
    assert ("disarmed" in phases(records, "host1")) == (step == "apply")


# ---- the real TUI in a terminal: SIGTERM, SIGKILL, the terminal closed -------------------------

TMUX = ["tmux", "-L", f"irtui-test-{TEST_SPEC.prefix}"]


@pytest.fixture
def tui_in_tmux(clean_lab: LabInfo, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """The installed ``irtui`` TUI running in a tmux terminal (its own tmux server) on the lab
    with a 5 s confirm timeout; yields (the irtui process id, its audit directory)."""
    audit_dir = tmp_path / "audit"
    config = write_lab_config(clean_lab, tmp_path / "config.toml", audit_dir,
                              confirm_timeout=TIMEOUT)
    subprocess.run([*TMUX, "kill-server"], capture_output=True)
    subprocess.run([*TMUX, "new-session", "-d", "-x", "100", "-y", "30", "-s", "tui",
                    f"exec {IRTUI} --config {config}"], check=True, capture_output=True)
    try:
        pid = int(subprocess.run([*TMUX, "display", "-p", "-t", "tui", "#{pane_pid}"],
                                 check=True, capture_output=True, text=True).stdout)
        wait_for(lambda: Path(f"/proc/{pid}/exe").resolve().name.startswith("python"), 10,
                 "the pane to exec irtui")  # the pane's process is irtui itself, no shell
        yield pid, audit_dir
    finally:
        subprocess.run([*TMUX, "kill-server"], capture_output=True)


def _screen() -> str:
    return subprocess.run([*TMUX, "capture-pane", "-p", "-t", "tui"], capture_output=True,
                          text=True).stdout


def _start_isolation_by_keys() -> None:
    wait_for(lambda: any("host1" in line and "yes" in line for line in _screen().splitlines()),
             20, "the TUI to show host1 reachable", every=0.1)
    subprocess.run([*TMUX, "send-keys", "-t", "tui", "i"], check=True)
    wait_for(lambda: "Type:" in _screen(), 20, "the isolation confirmation", every=0.05)
    subprocess.run([*TMUX, "send-keys", "-t", "tui", "host1", "Enter"], check=True)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


SIGNAL_CASES = [(sig, step) for sig in ("SIGKILL", "SIGTERM") for step in STEPS] + \
    [("SIGHUP", "arm"), ("SIGHUP", "confirm")]


@pytest.mark.parametrize(("sig", "step"), SIGNAL_CASES)
def test_tui_process_killed_at_each_step(tui_in_tmux: tuple[int, Path], clean_lab: LabInfo,
                                         sig: str, step: str) -> None:
    """SIGHUP is sent the way a closed terminal sends it: by destroying the tmux session
    (the kernel hangs up the pane's terminal)."""
    pid, audit_dir = tui_in_tmux
    h1 = clean_lab.hosts[0]
    _start_isolation_by_keys()
    wait_for(lambda: step_started(audit_dir, "host1", STEPS[step]), 20, f"the {step} step")
    if sig == "SIGHUP":
        subprocess.run([*TMUX, "kill-session", "-t", "tui"], check=True)
    else:
        os.kill(pid, getattr(signal, sig))
    wait_for(lambda: _gone(pid), 30, f"irtui to exit after {sig}", every=0.05)
    end = end_state(h1)
    records = trail(audit_dir)
    assert_record_agrees(records, "host1", end, result_required=sig != "SIGKILL")
    if sig != "SIGKILL":
        assert result_for(records, "host1")["outcome"] in ("interrupted", "ok")
    if sig != "SIGKILL":  # a SIGKILLed irtui stops wherever it is: any known end will do
        assert end in LIVE_ENDS[step]
    wait_for_no_strays(h1)


# ---- the CLI interrupted with Ctrl-C at each step ---------------------------------------------


class StderrWatch:
    """Collects a process's stderr lines in a thread; :meth:`saw` tells whether a line
    containing some text has arrived."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.proc = proc
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def saw(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    @property
    def text(self) -> str:
        self.thread.join(5)
        return "\n".join(self.lines)


@pytest.mark.parametrize("step", list(STEPS))
def test_ctrl_c_in_the_cli_at_each_step(clean_lab: LabInfo, tmp_path: Path, step: str) -> None:
    h1 = clean_lab.hosts[0]
    audit_dir = tmp_path / "audit"
    config = write_lab_config(clean_lab, tmp_path / "config.toml", audit_dir)
    proc = subprocess.Popen([IRTUI, "--config", str(config), "isolate", "host1",
                             "--confirm-timeout", str(TIMEOUT)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watch = StderrWatch(proc)
    try:
        wait_for(lambda: watch.saw(f"# {STEPS[step]}"), 30, f"the {step} step")
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the irtui process itself, no shell
        proc.wait(timeout=30)
        assert proc.stdout is not None
        out = proc.stdout.read()  # stderr is the watcher's
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (out, watch.text)
    end = end_state(h1)
    records = trail(audit_dir)
    assert_record_agrees(records, "host1", end)
    result = result_for(records, "host1")
    # Ctrl-C at the confirm step lets the confirmation finish (it is never cut off); on a
    # loaded machine the signal may then land after the last step too: the result is then
    # truthfully ok, and the host is confirmed. Otherwise it is recorded as interrupted.
    finished = step == "confirm" and end == CONFIRMED and result["outcome"] == "ok"
    assert finished or (result["interrupted"] is True
                        and result["outcome"] == "interrupted"), (result, out, watch.text)
    if end == ROLLED_BACK:
        assert "roll back by itself" in out + watch.text
    assert end in LIVE_ENDS[step], (out, watch.text)
    assert "Traceback" not in watch.text
    wait_for_no_strays(h1)


# ---- the host's side fails: sshd killed, unreachable, packet loss -------------------------------


class ActAtStep(Responder):
    """A Responder that calls ``act()`` (in the executing thread) when the step whose
    purpose starts with ``prefix`` starts, before the step runs; ``also`` adds more
    ``{prefix: act}`` the same way. Each fires once."""

    def __init__(self, config: Config, audit: AuditLog, prefix: str, act,  # type: ignore[no-untyped-def]
                 also: dict | None = None) -> None:  # type: ignore[type-arg]
        super().__init__(config, audit=audit)
        self.acts = {prefix: act, **(also or {})}
        self.fired: set[str] = set()

    def execute(self, plan: Plan, on_event, cancel=None):  # type: ignore[no-untyped-def]
        def sink(event: Event) -> None:
            on_event(event)
            if not isinstance(event, StepStarted):
                return
            for prefix, act in self.acts.items():
                if event.purpose.startswith(prefix) and prefix not in self.fired:
                    self.fired.add(prefix)
                    act()

        return super().execute(plan, sink, cancel)


def _isolate_in_background(responder: Responder) -> tuple[threading.Thread, list]:  # type: ignore[type-arg]
    """Plan host1's isolation, then execute it in a thread; the PlanResult lands in the
    returned list."""
    plan = responder.plan_isolate(["host1"])
    holder: list = []  # type: ignore[type-arg]
    runner = threading.Thread(target=lambda: holder.append(
        responder.execute(plan, lambda e: None)))
    runner.start()
    return runner, holder


def _kill_sshd(host) -> None:  # type: ignore[no-untyped-def]
    pids = sshd_pids(host)
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("when", ["apply", "confirm"])
def test_sshd_killed_mid_isolation(iso_config: Config, clean_lab: LabInfo, tmp_path: Path,
                                   when: str) -> None:
    """``apply``: sshd (listener and sessions) dies as soon as the isolation table exists,
    while irtui still waits for the apply command's exit status. ``confirm``: it dies as the
    confirmation starts. Either way nothing can confirm: the host must undo the isolation by
    itself, and the record must not claim more than irtui knows."""
    h1 = clean_lab.hosts[0]
    audit_dir = tmp_path / "audit"
    watcher: threading.Thread | None = None
    if when == "apply":
        def kill_when_applied() -> None:
            wait_for(lambda: isolated(h1), 20, "the isolation to appear")
            _kill_sshd(h1)

        watcher = threading.Thread(target=kill_when_applied)
        # the watcher polls from outside: under load it may see the table only after the
        # apply's exit status came back, so the confirmation waits for the kill (nothing may
        # confirm before sshd dies: that is this test's premise, not its result)
        responder: Responder = ActAtStep(iso_config, AuditLog(audit_dir), "arm a rollback",
                                         watcher.start,
                                         also={STEPS["confirm"]: lambda: watcher.join(25)})
    else:
        responder = ActAtStep(iso_config, AuditLog(audit_dir), STEPS["confirm"],
                              lambda: _kill_sshd(h1))
    try:
        runner, holder = _isolate_in_background(responder)
        wait_for(lambda: timer_files(h1).log.startswith("rolled back at"), 30,
                 "the host to roll back by itself")
        lab_up(TEST_SPEC)  # sshd back, so irtui can read the host after the deadline
        runner.join(60)
        assert not runner.is_alive()
        if watcher is not None:
            watcher.join(5)
    finally:
        responder.close()
        lab_up(TEST_SPEC)
    result = holder[0].results[0]
    assert not result.ok
    assert end_state(h1) == ROLLED_BACK
    assert tcp_connects(clean_lab.attacker.namespace, h1.v4, 22)
    records = trail(audit_dir)
    assert_record_agrees(records, "host1", ROLLED_BACK)
    assert "confirmed" not in phases(records, "host1")


def _cut(namespace: str, on: bool) -> None:
    """Make a host unreachable (drop everything in and out, before irtui's chains) or
    reachable again; the host itself keeps running."""
    if on:
        script = ("add table inet cut\n"
                  "add chain inet cut in { type filter hook input priority -300; policy drop; }\n"
                  "add chain inet cut out { type filter hook output priority -300; "
                  "policy drop; }\n")
    else:
        script = "delete table inet cut\n"
    out = ns_run(namespace, ["nft", "-f", "-"], input=script.encode())
    assert out.returncode == 0, out.stderr.decode()


def test_host_unreachable_between_plan_and_apply(clean_lab: LabInfo, tmp_path: Path,
                                                 iso_config: Config) -> None:
    h1 = clean_lab.hosts[0]
    config = replace(iso_config, ssh=replace(iso_config.ssh, connect_timeout=2,
                                             command_timeout=4))
    responder = Responder(config, audit=AuditLog(tmp_path / "audit"))
    try:
        plan = responder.plan_isolate(["host1"])
        _cut(h1.namespace, True)
        try:
            result = responder.execute(plan, lambda e: None)
        finally:
            _cut(h1.namespace, False)
    finally:
        responder.close()
    assert result.results[0].outcome is Outcome.FAILED, result  # timed out, nothing changed
    assert end_state(h1) == UNCHANGED
    assert_record_agrees(trail(tmp_path / "audit"), "host1", UNCHANGED)


def test_apply_delivered_after_the_rollback_fired_is_refused(iso_config: Config,
                                                             clean_lab: LabInfo,
                                                             tmp_path: Path) -> None:
    """The host becomes unreachable just after the timer was armed and comes back only
    after the timer fired; TCP then delivers the isolation command late. It must not be
    applied (the host would stay isolated with no rollback)."""
    h1 = clean_lab.hosts[0]
    audit_dir = tmp_path / "audit"
    responder = ActAtStep(iso_config, AuditLog(audit_dir), STEPS["apply"],
                          lambda: _cut(h1.namespace, True))
    try:
        runner, holder = _isolate_in_background(responder)
        try:
            wait_for(lambda: timer_files(h1).log.startswith("rolled back at"), 30,
                     "the host's timer to fire")
        finally:
            _cut(h1.namespace, False)
        runner.join(90)
        assert not runner.is_alive()
    finally:
        responder.close()
    assert not holder[0].ok
    assert end_state(h1) == ROLLED_BACK and not isolated(h1)
    assert_record_agrees(trail(audit_dir), "host1", ROLLED_BACK)


def test_isolation_under_30_percent_packet_loss(lab_config: Config, clean_lab: LabInfo,
                                                tmp_path: Path) -> None:
    """30 % of the packets reaching the host are dropped at random (nft numgen, before
    irtui's chains; tc netem is not available here). Slow, but the host must end in a known
    state that the record states."""
    h1 = clean_lab.hosts[0]
    loss = ("add table inet loss\n"
            "add chain inet loss in { type filter hook input priority -300; }\n"
            "add rule inet loss in numgen random mod 100 < 30 drop\n")
    config = replace(lab_config, isolation=replace(lab_config.isolation, confirm_timeout=20))
    responder = Responder(config, audit=AuditLog(tmp_path / "audit"))
    try:
        plan = responder.plan_isolate(["host1"])
        out = ns_run(h1.namespace, ["nft", "-f", "-"], input=loss.encode())
        assert out.returncode == 0, out.stderr.decode()
        result = responder.execute(plan, lambda e: None)
    finally:
        responder.close()
    end = end_state(h1)
    assert end in (CONFIRMED, ROLLED_BACK)
    host = result.results[0]
    if end == ROLLED_BACK:
        assert not host.ok, host
    else:  # the self-test may be inconclusive: its canary can time out before isolating
        assert host.outcome in (Outcome.OK, Outcome.INCONCLUSIVE), host
    assert_record_agrees(trail(tmp_path / "audit"), "host1", end)
    assert b"loss" in ns_run(h1.namespace, ["nft", "list", "tables"]).stdout


@pytest.mark.parametrize("backend", ["nftables", "iptables-nft"])
def test_two_irtui_processes_isolate_one_host_at_once(clean_lab: LabInfo, tmp_path: Path,
                                                      backend: str) -> None:
    """Two real irtui processes isolate host1 at the same moment: one isolation is confirmed;
    the other is refused cleanly (or finds the host already isolated) and never disarms the
    first one's timer. Holds with or without a per-host lock on the host."""
    h1 = clean_lab.hosts[0]
    audit_dir = tmp_path / "audit"
    config = write_lab_config(clean_lab, tmp_path / "config.toml", audit_dir)
    text = config.read_text().replace('name = "host1"', f'name = "host1"\nfirewall = "{backend}"')
    config.write_text(text)
    procs = [subprocess.Popen([IRTUI, "--config", str(config), "isolate", "host1", "-q",
                               "--confirm-timeout", str(TIMEOUT)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=60) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert end_state(h1) == CONFIRMED, outputs
    for _out, err in outputs:
        assert "Traceback" not in err, err
    sessions: dict[str, list] = {}
    for record in trail(audit_dir):
        sessions.setdefault(record["session"], []).append(record)
    results = [result_for(r, "host1") for r in sessions.values()]
    assert None not in results, (sessions, outputs)
    outcomes = sorted(r["outcome"] for r in results if r is not None)
    assert outcomes in (["failed", "ok"], ["ok", "unchanged"]), (outcomes, outputs)
    assert codes in ([0, 1], [0, 0]), outputs
    confirmed = [s for s, r in sessions.items() if "confirmed" in phases(r, "host1")]
    assert len(confirmed) == 1
    loser = next(r for s, r in sessions.items() if s not in confirmed)
    assert phases(loser, "host1") in ([], ["armed", "disarmed"]), phases(loser, "host1")
    assert not timer_files(h1).armed


def test_audit_trail_lost_mid_isolation_does_not_derail_the_host(iso_config: Config,
                                                                 clean_lab: LabInfo,
                                                                 tmp_path: Path) -> None:
    """The audit directory disappears (a file takes its place) as the confirmation starts:
    the isolation still ends confirmed, not half-way, and the lost trail is reported."""
    h1 = clean_lab.hosts[0]
    audit_dir = tmp_path / "audit"

    def lose_the_trail() -> None:
        audit_dir.rename(tmp_path / "audit-before")
        audit_dir.write_text("not a directory any more")

    responder = ActAtStep(iso_config, AuditLog(audit_dir), STEPS["confirm"], lose_the_trail)
    events: list[Event] = []
    try:
        plan = responder.plan_isolate(["host1"])
        with pytest.raises(AuditError, match="cannot write the audit trail"):
            responder.execute(plan, events.append)
    finally:
        responder.close()
    assert end_state(h1) == CONFIRMED
    (shown,) = [e for e in events if isinstance(e, HostResult)]  # what the front was told
    assert shown.outcome is Outcome.OK and "confirmed" in shown.message, shown
    assert "confirmed" not in phases(trail(tmp_path / "audit-before"), "host1")  # lost...
    assert "armed" in phases(trail(tmp_path / "audit-before"), "host1")  # ...after this
    release = Responder(iso_config, audit=AuditLog(tmp_path / "audit2"))
    try:
        assert release.execute(release.plan_release(["host1"]), lambda e: None).ok
    finally:
        release.close()


def test_an_unconfirmed_isolation_is_not_already_isolated_and_release_clears_its_timer(
        iso_config: Config, clean_lab: LabInfo, tmp_path: Path) -> None:
    """host1 isolated, but a rollback timer still armed (the run that isolated it killed
    before its confirmation): a new isolate is refused with NOT CONFIRMED and the time left
    (never "already isolated", which the host would undo by itself); a release removes the
    isolation and then disarms that timer, so isolating again need not wait for it; on a
    host no longer isolated a release plans the disarm alone, and a timer that fired
    meanwhile is no failure of the release."""
    from irtui.core.plan import command_line
    from irtui.core.remote import run_script
    from irtui.core.rollback import disarm_command, file_prefix

    h1 = clean_lab.hosts[0]
    host = iso_config.host("host1")
    responder = Responder(iso_config, audit=AuditLog(tmp_path / "audit"))

    def arm() -> None:
        command = run_script("rollback_arm", 60, file_prefix("host1"), "tok-killed", "true",
                             purpose="the killed run's timer")
        assert responder.pool.run(host, command_line(host, command.argv)).exit_code == 0
        assert timer_files(h1).armed

    try:
        assert responder.execute(responder.plan_isolate(["host1"]), lambda e: None).ok
        arm()
        again = responder.plan_isolate(["host1"])
        refused = again.failed["host1"]
        assert not again.steps and not again.skipped
        assert "NOT CONFIRMED" in refused and "rolls it back by itself in " in refused \
            and "irtui release host1" in refused, refused
        outcome = responder.execute(again, lambda e: None)
        assert not outcome.ok and not outcome.results[0].ok  # a failure, never "ok"
        told = responder.notify_context()  # nor is the team told it is contained
        assert "host1" not in told.hosts_isolated
        assert "host1: isolated, NOT CONFIRMED: the host rolls the isolation back by itself" \
            in told.values(one_line=False)["hosts_isolated"]
        assert "1 isolation(s) NOT CONFIRMED" in told.values(one_line=True)["headline"]
        assert "PARTIALLY" not in told.values(one_line=True)["headline"]
        release = responder.plan_release(["host1"])
        purposes = [s.purpose for s in release.steps]
        assert "disarm" in purposes[-1] and len(purposes) > 1, purposes
        assert responder.execute(release, lambda e: None).ok
        assert not isolated(h1) and not timer_files(h1).armed
        arm()  # a leftover timer on a host no longer isolated: the disarm alone
        alone = responder.plan_release(["host1"])
        assert [s.purpose for s in alone.steps] == purposes[-1:] and not alone.skipped
        assert responder.execute(alone, lambda e: None).ok and not timer_files(h1).armed
        arm()
        late = responder.plan_release(["host1"])
        responder.pool.run(host, command_line(host, disarm_command("host1").argv))
        outcome = responder.execute(late, lambda e: None)  # nothing left to disarm: fine
        assert outcome.ok, [r.message for r in outcome.results]
        assert responder.plan_release(["host1"]).skipped == {"host1": "not isolated"}
    finally:
        responder.pool.run(host, command_line(host, disarm_command("host1").argv))
        if isolated(h1):
            responder.execute(responder.plan_release(["host1"]), lambda e: None)
        responder.close()


def test_an_isolation_refused_for_a_pending_timer_says_when_it_fires(
        iso_config: Config, clean_lab: LabInfo, tmp_path: Path) -> None:
    """A rollback timer armed by another run (one interrupted, then released before its
    confirmation) is still pending on host1: a new isolation is refused, changes nothing,
    and says when that timer fires (so the responder knows when to isolate again)."""
    from irtui.core.plan import command_line
    from irtui.core.remote import run_script
    from irtui.core.rollback import disarm_command, file_prefix

    h1 = clean_lab.hosts[0]
    host = iso_config.host("host1")
    responder = Responder(iso_config, audit=AuditLog(tmp_path / "audit"))
    arm = run_script("rollback_arm", 40, file_prefix("host1"), "tok-other", "true",
                     purpose="another run's timer")
    try:
        assert responder.pool.run(host, command_line(host, arm.argv)).exit_code == 0
        result = responder.execute(responder.plan_isolate(["host1"]), lambda e: None)
        [host_result] = result.results
        assert not host_result.ok
        assert "already armed on the host (pid " in host_result.message
        left = int(host_result.message.split(", fires in ", 1)[1].split(" s)", 1)[0])
        assert 30 <= left <= 40, host_result.message
        assert "nothing was changed" in host_result.message
        assert not isolated(h1) and timer_files(h1).armed  # only the other run's timer
        # `status` says so on the host that is not isolated (the TUI's detail line did)
        shown = subprocess.run([sys.executable, "-m", "irtui", "--config",
                                str(clean_lab.config_path), "status", "host1"],
                               capture_output=True, text=True, timeout=60)
        assert "normal (a rollback timer from an interrupted isolation is still armed: it " \
            "fires by itself in " in shown.stdout, shown
        assert "a new isolate waits for it" in shown.stdout and shown.returncode == 0
    finally:
        disarm = disarm_command("host1", "tok-other")
        responder.pool.run(host, command_line(host, disarm.argv))
        responder.close()
