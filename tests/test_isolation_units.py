"""Isolation pieces that need no lab (issue 8): the host-side timer scripts run for real in
a temporary directory, the parsers of what the host prints, the rendering of isolation rules
for both backends, and how the executor treats verdicts and cancellation."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from irtui.core.events import Outcome, TimerPhase
from irtui.core.executor import Runner, execute
from irtui.core.firewall import nftables
from irtui.core.firewall.backend import (
    IsolationPolicy,
    collapse,
    endpoint_text,
    management_sum,
)
from irtui.core.firewall.enforcement import NftRuleset
from irtui.core.firewall.iptables import IptablesBackend
from irtui.core.firewall.isolation_rules import nft_unknown_accept
from irtui.core.firewall.state import HostState, IsolationStatus
from irtui.core.plan import Plan, Step, StepOutcome
from irtui.core.remote import run_script
from irtui.core.rollback import (
    CanaryResult,
    TimerState,
    guarded,
    parse_canary,
    parse_status,
)

SINCE = "2026-12-01T21:00:00Z"


def net(text: str):  # type: ignore[no-untyped-def]
    return ipaddress.ip_network(text, strict=False)


# ---- the timer scripts, run for real -----------------------------------------------------


def sh(name: str, *args: str | int, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(run_script(name, *args, purpose="test").argv), input=stdin,
                          capture_output=True, text=True, timeout=10)


@pytest.fixture
def prefix(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A timer file prefix in a fresh directory; any timer left is stopped afterwards."""
    p = tmp_path / "state" / "rollback-h1"
    yield str(p)
    for pid_file in p.parent.glob("*.pid"):
        words = pid_file.read_text().split()
        if words and words[0].isdigit():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(words[0]), signal.SIGKILL)


def _timers(prefix: str) -> list[str]:
    """PIDs of live timer processes for ``prefix`` (their command line names both)."""
    found = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"irtui-rollback" in cmdline and prefix.encode() in cmdline:
                found.append(pid)
    return found


def undo(marker: Path) -> str:
    return f"echo undone >> {marker}"


def test_only_one_of_many_concurrent_arms_wins(prefix: str, tmp_path: Path) -> None:
    marker = tmp_path / "undone"
    with ThreadPoolExecutor(8) as pool:
        runs = list(pool.map(lambda i: sh("rollback_arm", 30, prefix, f"tok{i}", undo(marker)),
                             range(8)))
    assert sorted(r.returncode for r in runs) == [0] + [3] * 7, [r.stderr for r in runs]
    assert all("already armed" in r.stderr for r in runs if r.returncode == 3)
    # a loser that saw the winner's timer says when it fires (the file holds its deadline)
    lefts = [int(m.group(1)) for r in runs if r.returncode == 3
             if (m := re.search(r"\(pid \d+, fires in (-?\d+) s\)", r.stderr))]
    assert len(lefts) == 7 and all(0 <= left <= 30 for left in lefts), [r.stderr for r in runs]
    pid, _, token = Path(prefix + ".pid").read_text().split()
    assert token == f"tok{[r.returncode for r in runs].index(0)}"
    assert _timers(prefix) == [pid]  # the losers stopped their own timers
    assert sh("rollback_disarm", prefix, "tok-other").returncode == 5  # not ours: untouched
    assert parse_status(sh("rollback_status", prefix).stdout).state is TimerState.ARMED
    done = sh("rollback_disarm", prefix, token)
    assert done.returncode == 0 and not marker.exists()
    status = parse_status(sh("rollback_status", prefix).stdout)
    assert status.state is TimerState.DISARMED and status.detail.startswith("disarmed at")
    assert sh("rollback_disarm", prefix, token).returncode == 4  # nothing armed any more


def test_timer_fires_and_a_late_disarm_cannot_undo_it(prefix: str, tmp_path: Path) -> None:
    marker = tmp_path / "undone"
    assert sh("rollback_arm", 1, prefix, "tokA", undo(marker)).returncode == 0
    deadline = time.monotonic() + 5
    while not marker.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    late = sh("rollback_disarm", prefix, "tokA")
    assert late.returncode == 4 and marker.read_text() == "undone\n"
    assert parse_status(sh("rollback_status", prefix).stdout).state is TimerState.FIRED
    assert sh("rollback_arm", 30, prefix, "tokB", undo(marker)).returncode == 0  # rearmable


def test_timer_survives_its_session_and_a_hangup(prefix: str, tmp_path: Path) -> None:
    """The arming shell's session ends and SIGHUP reaches everything it started: the timer
    (its own session, SIGHUP ignored) keeps running."""
    marker = tmp_path / "undone"
    command = list(run_script("rollback_arm", 2, prefix, "tokH", undo(marker),
                              purpose="test").argv)
    proc = subprocess.run(["setsid", "sh", "-c", 'exec "$@"', "x", *command],
                          capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0
    pid = int(Path(prefix + ".pid").read_text().split()[0])
    os.kill(pid, signal.SIGHUP)
    time.sleep(0.2)
    assert Path(f"/proc/{pid}").exists()
    deadline = time.monotonic() + 6
    while not marker.exists():
        assert time.monotonic() < deadline, "the timer never fired"
        time.sleep(0.05)


def test_guard_runs_a_command_only_while_its_timer_is_armed(prefix: str) -> None:
    assert sh("rollback_arm", 30, prefix, "tokG", "true").returncode == 0
    command = guarded(run_script("canary", "x", 1, 1, purpose="p"), "h1", "tokG")
    assert command.argv[3:7] == ("irtui-apply_guard", "/run/irtui/rollback-h1", "tokG", "2")
    ok = sh("apply_guard", prefix, "tokG", 2, "cat", stdin="payload")
    assert ok.returncode == 0 and ok.stdout == "payload"
    assert sh("apply_guard", prefix, "tokX", 2, "true").returncode == 6  # another run's
    assert sh("apply_guard", prefix, "tokG", 60, "true").returncode == 6  # too little time
    assert sh("rollback_disarm", prefix, "tokG").returncode == 0
    late = sh("apply_guard", prefix, "tokG", 2, "touch", prefix + ".applied")
    assert late.returncode == 6 and "nothing applied" in late.stderr
    assert not Path(prefix + ".applied").exists()


# ---- what the host prints ----------------------------------------------------------------


@pytest.mark.parametrize(("text", "result", "works", "dropped"), [
    ("canary connected\n", CanaryResult.CONNECTED, True, False),
    ("canary refused\n", CanaryResult.REFUSED, True, False),
    ("canary timeout\n", CanaryResult.TIMEOUT, False, True),
    ("canary blocked\n", CanaryResult.BLOCKED, False, True),
    ("banner\ncanary unreachable bash: connect: No route to host\n",
     CanaryResult.UNREACHABLE, False, False),
    ("canary no-timeout\n", CanaryResult.NO_TIMEOUT, False, False),
    ("canary no-devtcp x\n", CanaryResult.NO_DEVTCP, False, False),
    ("canary bogus\n", CanaryResult.ERROR, False, False),
    ("", CanaryResult.ERROR, False, False),
])
def test_parse_canary(text: str, result: CanaryResult, works: bool, dropped: bool) -> None:
    got, _ = parse_canary(text)
    assert got is result and got.path_works == works and got.dropped == dropped
    assert bool(got.cannot_test) == (result in (CanaryResult.NO_TIMEOUT, CanaryResult.NO_BASH,
                                                CanaryResult.NO_DEVTCP))


def test_canary_script_says_why_it_cannot_test(tmp_path: Path) -> None:
    """A PATH without timeout(1) gives ``no-timeout``, never a pass."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "bash", "tail", "printf"):
        real = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True,
                              text=True).stdout.strip()
        if real.startswith("/"):
            (bin_dir / tool).symlink_to(real)
    out = subprocess.run([*run_script("canary", "127.0.0.1", 9, 1, purpose="t").argv],
                         capture_output=True, text=True, env={"PATH": str(bin_dir)}, timeout=10)
    assert parse_canary(out.stdout)[0] is CanaryResult.NO_TIMEOUT


# ---- rendering the isolation -------------------------------------------------------------


def test_management_is_collapsed_per_family() -> None:
    got = collapse([net("198.18.77.1"), net("198.18.77.0/24"), net("2001:db8::1"),
                    net("2001:db8::/64"), net("192.0.2.0/25"), net("192.0.2.128/25")])
    assert [str(n) for n in got] == ["192.0.2.0/24", "198.18.77.0/24", "2001:db8::/64"]
    policy = IsolationPolicy((net("198.18.77.1"), net("198.18.77.0/24")), SINCE,
                             endpoints=((net("2001:db8::5"), 443), (net("2001:db8::5"), 443)))
    assert policy.listed() == ["198.18.77.0/24", "[2001:db8::5/128]:443"]
    assert endpoint_text(net("198.51.100.7"), 22) == "198.51.100.7/32:22"


SIX = (net("192.0.2.0/24"), net("198.51.100.17"), net("203.0.113.128/25"),
       net("2001:db8:100::/48"), net("2001:db8:200::17"), net("2001:db8:300::/64"),
       net("198.18.77.1"))


def test_nft_isolation_keeps_the_list_out_of_comments() -> None:
    script = nftables.isolate_script(IsolationPolicy(SIX, SINCE))
    assert script.startswith("create table inet irtui_isolation\n")
    comments = [line.split('comment "', 1)[1] for line in script.splitlines()
                if 'comment "' in line]
    listed = [str(n) for n in IsolationPolicy(SIX, SINCE).management]
    assert comments == [f'irtui isolation since={SINCE} sum={management_sum(listed)}"']
    assert "mgmt=" not in script
    assert "elements = { 192.0.2.0/24, 198.18.77.1/32, 198.51.100.17/32, 203.0.113.128/25 }" \
        in script
    with pytest.raises(Exception, match="ISO 8601"):
        nftables.isolate_script(IsolationPolicy(SIX, 'x" accept; "'))


def test_nft_dhcp_and_nd_rules_are_link_scoped() -> None:
    script = nftables.isolate_script(IsolationPolicy(SIX, SINCE))
    nd = [line for line in script.splitlines() if "icmpv6" in line]
    assert nd and all("ip6 hoplimit 255" in line for line in nd)
    assert "saddr { fe80::/10, ::/128 }" in nd[0] and "daddr { fe80::/10, ff00::/8 }" in nd[1]
    dhcp = [line for line in script.splitlines() if "udp sport" in line]
    assert len(dhcp) == 4
    assert all("daddr 255.255.255.255" in line or "saddr fe80::/10" in line for line in dhcp)


def test_nft_management_is_read_back_from_sets_and_rules() -> None:
    table = "irtui_isolation"

    def rule(expr: list, comment: str = "") -> dict:  # type: ignore[type-arg]
        body = {"family": "inet", "table": table, "chain": "input", "expr": expr}
        return {"rule": {**body, "comment": comment} if comment else body}

    def match(proto: str, field: str, right: object) -> dict:  # type: ignore[type-arg]
        return {"match": {"op": "==", "left": {"payload": {"protocol": proto, "field": field}},
                          "right": right}}

    doc = {"nftables": [
        {"table": {"family": "inet", "name": table}},
        {"set": {"family": "inet", "table": table, "name": "mgmt4", "elem": [
            {"prefix": {"addr": "192.0.2.0", "len": 24}}, "198.18.77.1",
            {"range": ["10.0.0.0", "10.0.0.3"]}]}},
        {"set": {"family": "inet", "table": table, "name": "mgmt6", "elem": [
            {"prefix": {"addr": "2001:db8:100::", "len": 48}}]}},
        rule([{"match": {"op": "==", "left": {"meta": {"key": "iif"}}, "right": "lo"}},
              {"accept": None}], f"irtui isolation since={SINCE}"),
        rule([match("ip", "saddr", "@mgmt4"), {"accept": None}]),
        rule([match("ip6", "saddr", "2001:db8:200::17"),
              {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}},
                         "right": {"set": ["tcp", "udp"]}}},
              match("th", "dport", 443), {"accept": None}]),
        rule([match("ip", "daddr", "255.255.255.255"), match("udp", "sport", 67),
              match("udp", "dport", 68), {"accept": None}]),
    ]}
    state = nftables.parse_ruleset("h", json.dumps(doc))
    assert state.isolation is not None and state.isolation.since == SINCE
    assert state.isolation.management == ("10.0.0.0/30", "192.0.2.0/24", "198.18.77.1/32",
                                           "2001:db8:100::/48", "[2001:db8:200::17/128]:443")


@pytest.fixture(params=["iptables-nft", "iptables-legacy"])
def ipt(request: pytest.FixtureRequest) -> IptablesBackend:
    return IptablesBackend(request.param)


def _families(command) -> dict[int, list[str]]:  # type: ignore[no-untyped-def]
    text = command.stdin or ""
    out: dict[int, list[str]] = {}
    for part in text.split("# irtui family ")[1:]:
        version, _, body = part.partition("\n")
        out[int(version)] = body.splitlines()
    return out


def _as_saved(version: int, restore: list[str]) -> str:
    """What ``X-save -t raw`` prints after ``restore`` ran on an empty raw table, in the
    read script's section."""
    rules = [f":{line[3:]} - [0:0]" if line.startswith("-N ") else
             "-A {} -j {}".format(*line.split()[3:5]) if line.startswith("# irtui head ") else
             line.replace("-I PREROUTING 1", "-A PREROUTING").replace("-I OUTPUT 1",
                                                                      "-A OUTPUT")
             for line in restore if line not in ("*raw", "COMMIT", "")]
    body = [f"### irtui raw {version}", "*raw", ":PREROUTING ACCEPT [0:0]",
            ":OUTPUT ACCEPT [0:0]", *rules, "COMMIT"]
    return "\n".join(body + (["### irtui end"] if version == 6 else [])) + "\n"


def test_iptables_isolation_rules(ipt: IptablesBackend) -> None:
    policy = IsolationPolicy(SIX, SINCE, endpoints=((net("2001:db8:400::5"), 443),))
    (command,) = ipt.isolate_commands(policy, HostState("h"))
    v4, v6 = _families(command)[4], _families(command)[6]
    assert v4[1:3] == ["-N IRTUI-ISOLATE-IN", "-N IRTUI-ISOLATE-OUT"]  # refused if they exist
    comment = next(line for line in v4 if "--comment" in line)
    assert re.search(f'"irtui isolation since={SINCE} sum=[0-9a-f]{{12}}"', comment)
    assert "mgmt" not in comment
    assert "-A IRTUI-ISOLATE-IN -d 255.255.255.255/32 -p udp -m udp --sport 67 --dport 68 " \
        "-j RETURN" in v4
    solicited = [line for line in v6 if " -d ff02::1:ff00:0/104 " in line]
    endpoint_nd = [line for line in v6 if "icmpv6-type" in line and "2001:db8:400::5" in line]
    nd = [line for line in v6 if "icmpv6-type" in line and line not in solicited + endpoint_nd]
    assert len(nd) == 2 * 4 + 2 * 3 and all("-m hl --hl-eq 255" in line for line in nd)
    # the endpoint's own solicitations and advertisements, both ways, on the link only
    assert sorted(endpoint_nd) == sorted(
        f"-A IRTUI-ISOLATE-{way} -{side} 2001:db8:400::5/128 -p ipv6-icmp -m icmp6 "
        f"--icmpv6-type {t} -m hl --hl-eq 255 -j RETURN"
        for way, side in (("IN", "s"), ("OUT", "d")) for t in (135, 136))
    # a management network's own solicitations to the host's solicited-node address
    six = [n for n in collapse(SIX) if n.version == 6]
    assert sorted(solicited) == sorted(
        f"-A IRTUI-ISOLATE-IN -s {n} -d ff02::1:ff00:0/104 -p ipv6-icmp -m icmp6 "
        "--icmpv6-type 135 -m hl --hl-eq 255 -j RETURN" for n in six) and six
    assert all(" -s fe80::/10 " in line or " -s ::/128 " in line
               for line in nd if line.startswith("-A IRTUI-ISOLATE-IN"))
    assert all(" -d fe80::/10 " in line or " -d ff00::/8 " in line
               for line in nd if line.startswith("-A IRTUI-ISOLATE-OUT"))
    # read back: the management list comes from the RETURN rules
    raw = "".join(_as_saved(version, lines) for version, lines in ((4, v4), (6, v6)))
    state = ipt.parse_state("h", raw)
    assert state.isolation is not None and state.isolation.since == SINCE
    assert set(state.isolation.management) == {str(n) for n in collapse(SIX)} | {
        "[2001:db8:400::5/128]:443"}
    assert state.isolation.status is IsolationStatus.ISOLATED, state.isolation.problem
    # the same neighbour-discovery RETURN for a network that is no endpoint is not irtui's
    stray = raw.replace("-s 2001:db8:400::5/128 -p ipv6-icmp", "-s 2001:db8:666::/48 -p ipv6-icmp")
    stray_state = ipt.parse_state("h", stray).isolation
    assert stray_state is not None and stray_state.status is IsolationStatus.PARTIAL
    assert "2001:db8:666::/48" in stray_state.problem


# ---- the executor: verdicts and cancellation ---------------------------------------------


class NoRemote(Runner):
    """Plans here have only local steps, except the one that must never be sent."""

    def run_step(self, step: Step, on_output, cancel):  # type: ignore[no-untyped-def]
        raise AssertionError(f"a remote step was sent after the cancel: {step.purpose}")


def _local(code: int = 0, verdict: Outcome | None = None, stderr: str = "",
           stdout: str = ""):  # type: ignore[no-untyped-def]
    return lambda on_output, cancel, on_event: StepOutcome(code, 0.0, stdout, stderr, verdict)


def test_executor_verdicts() -> None:
    plan = Plan("isolate", "s", ["h1", "h2", "h3"], steps=[
        Step("h1", "a", "first", local=_local(stdout="confirmed: yes\n"), report_prefix="conf"),
        Step("h1", "b", "self-test", local=_local(verdict=Outcome.INCONCLUSIVE,
                                                   stderr="self-test inconclusive: why")),
        Step("h2", "a", "confirm", local=_local(130, Outcome.INTERRUPTED, "left armed: 5 s")),
        Step("h2", "b", "after", local=_local(1, stderr="never run")),
        Step("h3", "a", "fails", local=_local(2, stderr="Error: boom\n^^^^")),
    ])
    result = execute(plan, NoRemote(), lambda e: None)
    by_host = {r.host: r for r in result.results}
    assert by_host["h1"].outcome is Outcome.INCONCLUSIVE
    assert by_host["h1"].message == "done; confirmed: yes; self-test inconclusive: why"
    assert by_host["h2"].outcome is Outcome.INTERRUPTED and by_host["h2"].message == \
        "left armed: 5 s"
    assert by_host["h3"].outcome is Outcome.FAILED and "Error: boom" in by_host["h3"].message
    assert result.interrupted and not result.ok and result.counts == (0, 3)


def test_no_remote_step_starts_after_a_cancel() -> None:
    cancel = threading.Event()

    def cancels(on_output, cancel_, on_event):  # type: ignore[no-untyped-def]
        cancel.set()
        return StepOutcome(0, 0.0)

    plan = Plan("block", "s", ["h1"], steps=[Step("h1", "a", "first", local=cancels),
                                             Step("h1", "nft -f -", "add 203.0.113.7")])
    (host,) = execute(plan, NoRemote(), lambda e: None, cancel).results
    assert host.outcome is Outcome.INTERRUPTED
    assert host.message.startswith("interrupted before: add 203.0.113.7")


def test_timer_phases_are_the_trail_vocabulary() -> None:
    assert [p.value for p in TimerPhase] == ["armed", "confirmed", "disarmed", "left armed",
                                             "rolled back", "not rolled back", "unknown"]


def test_running_actions_guard_and_quit_question() -> None:
    from irtui.core.events import RollbackEvent
    from irtui.tui.running import RunningActions

    running = RunningActions()
    iso = Plan("isolate", "isolate host1 (commit-confirmed)", ["host1"])
    block = Plan("block", "block 203.0.113.7 on host1, host2", ["host1", "host2"])
    assert running.question() is None and running.busy(["host1"]) is None
    assert running.start(iso) is None
    refused = running.start(block)
    assert refused is not None and refused.startswith("host1: isolate host1")
    # refused, not queued: the responder must not wait for a confirmation that never comes
    assert "nothing was started" in refused and "waits" not in refused
    assert running.busy(["host2"]) is None  # nothing was marked for the refused plan
    assert "nothing is isolated yet" in (running.question() or "")
    running.observe(RollbackEvent("host1", TimerPhase.ARMED, 30, "armed"))
    question = running.question() or ""
    assert question.startswith("an isolation of host1 is in progress: quit anyway? the host "
                               "will roll back by itself in ") and "unless confirmed" in question
    running.observe(RollbackEvent("host1", TimerPhase.ARMED, 0, "armed"))
    assert (running.question() or "").endswith("will roll back by itself now (it is due)")
    running.observe(RollbackEvent("host1", TimerPhase.NOT_ROLLED_BACK))
    assert "did NOT roll back" in (running.question() or "")
    running.finish(iso)
    assert running.question() is None and running.start(block) is None
    assert (running.question() or "").startswith("a block on host1 is in progress")


def test_plan_tally_names_interrupted_and_inconclusive_hosts() -> None:
    """``0 ok, 1 failed`` alone would hide that an interrupted isolation may be in force."""
    from irtui.core.events import HostResult, Outcome, PlanResult

    def result(*outcomes: Outcome) -> PlanResult:
        return PlanResult("isolate", "isolate", tuple(HostResult(f"h{i}", o, "", 0.0)
                                                      for i, o in enumerate(outcomes)))

    assert result(Outcome.OK, Outcome.FAILED).tally() == "1 ok, 1 failed"
    assert result(Outcome.INTERRUPTED).tally() == "0 ok, 1 failed (1 interrupted)"
    assert result(Outcome.UNCHANGED, Outcome.INCONCLUSIVE, Outcome.INTERRUPTED,
                  Outcome.FAILED).tally() == ("1 ok, 3 failed (1 inconclusive, "
                                              "1 interrupted)")


def _nft_rule(chain: str, *matches: tuple[str, str, object]) -> dict:  # type: ignore[type-arg]
    expr: list[object] = [{"match": {"op": "==", "left": (
        {"meta": {"key": field}} if proto == "meta" else
        {"payload": {"protocol": proto, "field": field}}), "right": right}}
        for proto, field, right in matches]
    return {"rule": {"family": "inet", "table": "irtui_isolation", "chain": chain,
                     "expr": [*expr, {"accept": None}]}}


@pytest.mark.parametrize(("peer", "known"), [("2001:db8:400::5", True),
                                              ({"prefix": {"addr": "2001:db8:666::",
                                                           "len": 48}}, False)])
def test_nft_endpoint_neighbour_discovery_is_known_only_for_an_endpoint(peer: object,
                                                                        known: bool) -> None:
    """``ip6 hoplimit 255 ip6 saddr NET icmpv6 type {solicit, advert} accept`` is irtui's
    only where NET is a management endpoint's network; the same rule for another network
    opens the isolated host to it (added by hand)."""
    nd = ("icmpv6", "type", {"set": ["nd-neighbor-solicit", "nd-neighbor-advert"]})
    items = [{"table": {"family": "inet", "name": "irtui_isolation"}}, *(
        {"chain": {"family": "inet", "table": "irtui_isolation", "name": hook, "type": "filter",
                   "hook": hook, "prio": -160, "policy": "drop"}}
        for hook in ("input", "output", "forward")),
        _nft_rule("input", ("ip6", "saddr", "2001:db8:400::5"),
                  ("meta", "l4proto", {"set": ["tcp", "udp"]}), ("th", "dport", 443)),
        _nft_rule("input", ("ip6", "hoplimit", 255), ("ip6", "saddr", peer), nd),
        _nft_rule("output", ("ip6", "hoplimit", 255), ("ip6", "daddr", peer), nd)]
    why = nft_unknown_accept(NftRuleset.of(items), "irtui_isolation")
    assert (why is None) is known, why
    # an endpoint's neighbour discovery with a lower hop limit, or another ICMPv6 type, is not
    items[-2] = _nft_rule("input", ("ip6", "hoplimit", 64), ("ip6", "saddr", "2001:db8:400::5"),
                          nd)
    assert nft_unknown_accept(NftRuleset.of(items), "irtui_isolation") is not None
    items[-2] = _nft_rule("input", ("ip6", "hoplimit", 255), ("ip6", "saddr", "2001:db8:400::5"),
                          ("icmpv6", "type", {"set": ["echo-request"]}))
    assert nft_unknown_accept(NftRuleset.of(items), "irtui_isolation") is not None
