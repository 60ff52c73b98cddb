"""Block, unblock, isolate and release on the lab, proven at the traffic level."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from collections.abc import Callable

import pytest

from irtui.core.actions import Responder
from irtui.core.errors import InvalidTargetError, UnknownHostError
from irtui.core.events import Event, OutputLine, PlanResult, StepFinished, StepStarted
from irtui.lab.probe import ns_run, tcp_connects
from tests.lab_fixtures import nft_set_elements


def _events() -> tuple[list[Event], Callable[[Event], None]]:
    seen: list[Event] = []
    return seen, seen.append


def test_block_then_unblock_attacker_v4(responder: Responder, clean_lab) -> None:
    h1, h2, attacker = clean_lab.hosts[0], clean_lab.hosts[1], clean_lab.attacker
    assert tcp_connects(attacker.namespace, h1.v4, 22)
    seen, sink = _events()
    result = responder.execute(responder.plan_block([attacker.v4], ["host1"], "1h"), sink)
    assert result.ok, result
    assert not tcp_connects(attacker.namespace, h1.v4, 22)
    assert tcp_connects(attacker.namespace, h2.v4, 22)  # only host1 enforces it
    assert tcp_connects(None, h1.v4, 22)  # the responder is unaffected
    kinds = {type(e) for e in seen}
    assert {StepStarted, StepFinished, PlanResult} <= kinds
    finished = next(e for e in seen if isinstance(e, StepFinished))
    assert finished.exit_code == 0 and finished.duration > 0
    state = responder.read_state("host1")
    entry = state.find(ipaddress.ip_network(attacker.v4))
    assert entry is not None and entry.timeout == 3600 and 3500 < (entry.expires or 0) <= 3600

    result = responder.execute(responder.plan_unblock([attacker.v4], ["host1"]), sink)
    assert result.ok
    assert tcp_connects(attacker.namespace, h1.v4, 22)
    assert responder.read_state("host1").blocks == ()


def test_block_v6_and_a_cidr(responder: Responder, clean_lab) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    assert tcp_connects(attacker.namespace, h1.v6, 22)
    # a /122 around the attacker (::40-::7f) that covers no lab host or the responder
    v6_net = str(ipaddress.ip_network(f"{attacker.v6}/122", strict=False))
    result = responder.execute(responder.plan_block([v6_net], ["host1"], None), lambda e: None)
    assert result.ok
    assert not tcp_connects(attacker.namespace, h1.v6, 22)
    assert tcp_connects(attacker.namespace, h1.v4, 22)  # v4 untouched
    elems = nft_set_elements(h1.namespace, "v6_122")
    # the /112 set holds the network address; no timeout (permanent)
    assert elems == [str(ipaddress.ip_network(v6_net).network_address)]
    assert "timeout" not in json.dumps(elems)


def test_block_output_is_streamed_and_audited(responder: Responder, clean_lab) -> None:
    seen, sink = _events()
    plan = responder.plan_block(["203.0.113.7"], ["host1", "host2"], "10m")
    assert plan.render().count("nft -f -") == 2
    responder.execute(plan, sink)
    trail = responder.audit.trail_path.read_text().splitlines()
    records = [json.loads(line) for line in trail]
    events = [r["event"] for r in records]
    assert events[0] == "plan" and events[-1] == "result"
    steps = [(r["host"], r["phase"]) for r in records if r["event"] == "step"]
    assert set(events[1:-1]) == {"step"}  # each step recorded as it starts and ends
    assert sorted(steps) == sorted((h, p) for h in ("host1", "host2")
                                   for p in ("started", "finished") for _ in range(2))
    assert records[-1]["ok"] is True and len(records[-1]["results"]) == 2
    assert [r["outcome"] for r in records[-1]["results"]] == ["ok", "ok"]
    assert "block 203.0.113.7/32 on host1, host2" in responder.audit.summary()
    # nft -f prints nothing on success; a failing command's stderr reaches the sink
    plan = responder.plan_unblock(["198.51.100.1"], ["host1"])
    assert plan.skipped == {"host1": "not blocked there"}
    # a prefix over narrower entries removes nothing and says what stays blocked inside
    wide = responder.plan_unblock(["203.0.113.0/24"], ["host1"])
    assert not wide.steps and "1 narrower entry inside it" in wide.skipped["host1"]
    assert any("still blocked inside 203.0.113.0/24: 203.0.113.7/32" in n for n in wide.notes)
    bad = responder.plan_block(["203.0.113.8"], ["host1"], "10m")
    bad.steps[0] = type(bad.steps[0])("host1", "nft -f - ", "broken on purpose",
                                     "add element inet irtui nosuchset { 1.2.3.4 }\n")
    seen.clear()
    result = responder.execute(bad, sink)
    assert not result.ok
    assert any(isinstance(e, OutputLine) and e.stream == "stderr" for e in seen)


def test_isolate_keeps_management_and_cuts_everything_else(responder: Responder,
                                                          clean_lab) -> None:
    h1, h2, attacker = clean_lab.hosts[0], clean_lab.hosts[1], clean_lab.attacker
    assert tcp_connects(h1.namespace, h2.v4, 22)
    plan = responder.plan_isolate(["host1"])
    assert clean_lab.responder_v4 in plan.render()
    result = responder.execute(plan, lambda e: None)
    assert result.ok, result
    # the existing session still works, and so does a brand-new one
    assert responder.pool.run(responder.config.host("host1"), "hostname",
                              capture=True).stdout.strip() == "host1"
    responder.pool.drop("host1")
    assert responder.read_state("host1").isolated
    assert not tcp_connects(attacker.namespace, h1.v4, 22)
    assert not tcp_connects(attacker.namespace, h1.v6, 22)
    assert not tcp_connects(h1.namespace, h2.v4, 22)
    assert tcp_connects(attacker.namespace, h2.v4, 22)  # host2 is not isolated
    # a second isolate changes nothing and says so
    again = responder.plan_isolate(["host1"])
    assert not again.steps and "already isolated" in again.skipped["host1"]

    result = responder.execute(responder.plan_release(["host1"]), lambda e: None)
    assert result.ok
    assert tcp_connects(attacker.namespace, h1.v4, 22)
    assert tcp_connects(h1.namespace, h2.v4, 22)
    assert not responder.read_state("host1").isolated


def test_release_keeps_other_rules(responder: Responder, clean_lab) -> None:
    h1 = clean_lab.hosts[0]
    assert ns_run(h1.namespace, ["nft", "add", "table", "inet", "site_rules"]).returncode == 0
    responder.execute(responder.plan_isolate(["host1"]), lambda e: None)
    responder.execute(responder.plan_release(["host1"]), lambda e: None)
    tables = ns_run(h1.namespace, ["nft", "list", "tables"]).stdout.decode()
    assert "site_rules" in tables and "irtui_isolation" not in tables


def test_bad_input_changes_nothing(responder: Responder, clean_lab) -> None:
    with pytest.raises(InvalidTargetError, match="not an IP address"):
        responder.plan_block(["203.0.113.300"], ["host1"])
    with pytest.raises(UnknownHostError, match="unknown host 'nope'"):
        responder.plan_block(["203.0.113.7"], ["nope"])
    with pytest.raises(InvalidTargetError, match="loopback"):
        responder.plan_block(["127.0.0.1"], ["host1"])
    out = ns_run(clean_lab.hosts[0].namespace, ["nft", "list", "ruleset"]).stdout
    assert b"irtui" not in out


def test_the_jump_hosts_other_address_is_never_blocked(responder: Responder,
                                                       clean_lab) -> None:
    """The lab is managed over IPv4; the jump host's IPv6 address on the same link is not
    the session address, yet blocking it would cut a colleague managing host1 over IPv6."""
    h1 = clean_lab.hosts[0]
    with pytest.raises(InvalidTargetError, match="the machine irtui runs on"):
        responder.plan_block([clean_lab.responder_v6], ["host1"])
    plan = responder.plan_block([clean_lab.responder_v6, "203.0.113.21"], ["host1"])
    status = plan.entries["host1"][f"{clean_lab.responder_v6}/128"]
    assert status.refused and "the machine irtui runs on" in status.reason
    assert responder.execute(plan, lambda e: None).ok
    assert tcp_connects(None, h1.v6, 22)
    assert [e.text for e in responder.read_state("host1").blocks] == ["203.0.113.21"]


def _cli(config_path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "irtui", "--config", str(config_path), *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_block_dry_run_blocks_unblock_exit_codes(clean_lab, lab_config) -> None:
    cfg = clean_lab.config_path
    attacker, h1 = clean_lab.attacker, clean_lab.hosts[0]
    dry = _cli(cfg, "block", attacker.v4, "--on", "host1", "--ttl", "2h", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "nft -f -" in dry.stdout and f"{attacker.v4} timeout 7200s" in dry.stdout
    assert tcp_connects(attacker.namespace, h1.v4, 22)  # dry run changed nothing

    done = _cli(cfg, "block", attacker.v4, "--on", "host1", "--ttl", "2h")
    assert done.returncode == 0, done.stderr
    assert not tcp_connects(attacker.namespace, h1.v4, 22)
    listed = _cli(cfg, "blocks", "--on", "host1", "--json")
    [row] = json.loads(listed.stdout)["data"]["hosts"]
    assert [e["entry"] for e in row["entries"]] == [attacker.v4]

    assert _cli(cfg, "unblock", attacker.v4, "--on", "host1").returncode == 0
    assert tcp_connects(attacker.namespace, h1.v4, 22)

    bad = _cli(cfg, "block", "999.1.1.1", "--on", "host1")
    assert bad.returncode == 2 and "not an IP address or CIDR" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    unknown = _cli(cfg, "block", "203.0.113.7", "--on", "nohost")
    assert unknown.returncode == 2 and "unknown host 'nohost'" in unknown.stderr


def test_cli_isolate_and_release(clean_lab) -> None:
    cfg = clean_lab.config_path
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    assert _cli(cfg, "isolate", "host1").returncode == 0
    assert not tcp_connects(attacker.namespace, h1.v4, 22)
    status = _cli(cfg, "status", "host1")
    assert "isolated since" in status.stdout
    assert _cli(cfg, "release", "host1").returncode == 0
    assert tcp_connects(attacker.namespace, h1.v4, 22)


def test_an_attacker_on_the_hosts_link_is_told_about_link_local(responder: Responder,
                                                                clean_lab) -> None:
    """The lab's attacker shares host1's subnet, and host1 has an IPv6 link-local address:
    a block of it says that the attacker still reaches host1 from fe80::/10 (which irtui
    refuses to block) and that isolation is the answer; an off-link entry says nothing."""
    on_link = responder.plan_block([clean_lab.attacker.v4], ["host1"], "10m")
    said = [n for n in on_link.notes if "link-local" in n]
    assert len(said) == 1 and said[0].startswith(f"host1: {clean_lab.attacker.v4}/32 is on "
                                                 "the host's own link") and "isolate" in said[0]
    away = responder.plan_block(["203.0.113.70"], ["host1"], "10m")
    assert not [n for n in away.notes if "link-local" in n]
    responder.discard(on_link)
    responder.discard(away)
