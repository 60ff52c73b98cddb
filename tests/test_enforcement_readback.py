"""Every ✓ is enforced (issue 8): read-back checks enforcement, not set membership (item 10),
a partial isolation is PARTIAL and release removes it, an IPv4-mapped block is enforced on
IPv4 (item 6), one bad feed line does not sink the others (item 5), and two plans built from
the same state cannot unenforce each other (item 8). Proven with traffic on the lab, for
every backend (the ``fw`` fixture: tests/backend_fixtures.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from irtui.core.actions import Responder
from irtui.core.errors import ActionError, InvalidTargetError
from irtui.core.firewall.state import Enforcement, IsolationStatus
from irtui.lab.probe import ns_run, tcp_connects
from tests.attacker_aliases import attacker_aliases, covering


def _run(responder: Responder, plan) -> None:
    result = responder.execute(plan, lambda e: None)
    assert result.ok, result


def _sh(namespace: str, script: str) -> str:
    out = ns_run(namespace, ["sh", "-c", script])
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout.decode()


def _nft_base_chains(namespace: str, table: str, hook: str) -> list[str]:
    doc = json.loads(_sh(namespace, f"nft -j list table inet {table}"))
    return [item["chain"]["name"] for item in doc["nftables"]
            if "chain" in item and item["chain"].get("hook") == hook]


def _accept_first(backend: str, namespace: str, address: str) -> None:
    """Put rules that accept traffic from and to ``address`` before irtui's drops (nft: at
    the head of irtui's own input and output chains; iptables: at the head of raw PREROUTING
    and OUTPUT, before irtui's jumps)."""
    if backend == "nftables":
        for hook, field in (("input", "saddr"), ("output", "daddr")):
            for chain in _nft_base_chains(namespace, "irtui", hook):
                _sh(namespace, f"nft insert rule inet irtui {chain} ip {field} {address} accept")
    else:
        tool = "iptables-nft" if backend == "iptables-nft" else "iptables-legacy"
        _sh(namespace, f"{tool} -t raw -I PREROUTING 1 -s {address} -j ACCEPT && "
            f"{tool} -t raw -I OUTPUT 1 -d {address} -j ACCEPT")


def _backend(fw: Responder) -> str:
    return fw.config.hosts[0].firewall


def test_a_drop_rule_not_reached_first_is_not_enforced(fw: Responder, clean_lab) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    plan = fw.plan_block([attacker.v4], ["host1"], "1h")
    _run(fw, plan)
    assert fw.read_state("host1").blocks[0].enforcement is Enforcement.ENFORCED
    _accept_first(_backend(fw), h1.namespace, attacker.v4)
    assert tcp_connects(attacker.namespace, h1.v4, 22)  # the sabotage is real
    state = fw.read_state("host1")
    assert [(e.text, e.enforcement) for e in state.blocks] == [
        (attacker.v4, Enforcement.NOT_ENFORCED)]
    assert state.gaps and "may accept" in " ".join(state.gaps)
    problem = plan.verify("host1") if plan.verify else None
    assert problem and "NOT ENFORCED" in problem and attacker.v4 in problem
    # blocking again re-asserts irtui's rules: enforced again, and the attacker is cut
    _run(fw, fw.plan_block([attacker.v4], ["host1"], "1h"))
    assert fw.read_state("host1").blocks[0].enforced
    assert not tcp_connects(attacker.namespace, h1.v4, 22)


def test_a_missing_drop_rule_is_not_enforced(fw: Responder, clean_lab) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    _run(fw, fw.plan_block([attacker.v6], ["host1"], "1h"))
    if _backend(fw) == "nftables":
        for hook in ("input", "output"):
            for chain in _nft_base_chains(h1.namespace, "irtui", hook):
                _sh(h1.namespace, f"nft flush chain inet irtui {chain}")
    else:
        tool = "ip6tables-nft" if _backend(fw) == "iptables-nft" else "ip6tables-legacy"
        _sh(h1.namespace, f"{tool} -t raw -D PREROUTING -j IRTUI-BLOCK && "
            f"{tool} -t raw -D OUTPUT -j IRTUI-BLOCK-OUT")
    assert tcp_connects(attacker.namespace, h1.v6, 22)
    (entry,) = fw.read_state("host1").blocks
    assert entry.text == attacker.v6 and not entry.enforced


def test_another_table_accepting_first_does_not_undo_an_nft_drop(responder: Responder,
                                                                 clean_lab) -> None:
    """nft(8): accept ends only its own base chain; irtui's drop still runs after it."""
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    _sh(h1.namespace, "nft add table inet early && nft 'add chain inet early in { type filter "
        "hook input priority -300; policy accept; }' && nft add rule inet early in accept")
    _run(responder, responder.plan_block([attacker.v4], ["host1"], "1h"))
    assert responder.read_state("host1").blocks[0].enforced
    assert not tcp_connects(attacker.namespace, h1.v4, 22)


def _half_isolate(backend: str, namespace: str) -> None:
    """Remove a piece of irtui's isolation: nft: the output chain; iptables: the IPv6 jumps
    (so IPv6 flows, IPv4 stays cut)."""
    if backend == "nftables":
        for chain in _nft_base_chains(namespace, "irtui_isolation", "output"):
            _sh(namespace, f"nft flush chain inet irtui_isolation {chain} && "
                f"nft delete chain inet irtui_isolation {chain}")
    else:
        tool = "ip6tables-nft" if backend == "iptables-nft" else "ip6tables-legacy"
        _sh(namespace, f"{tool} -t raw -D PREROUTING -j IRTUI-ISOLATE-IN && "
            f"{tool} -t raw -D OUTPUT -j IRTUI-ISOLATE-OUT")


def test_half_isolated_host_is_partial_and_release_removes_it(fw: Responder,
                                                              clean_lab) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    _run(fw, fw.plan_isolate(["host1"], confirm_timeout=30))
    assert fw.read_state("host1").isolated
    _half_isolate(_backend(fw), h1.namespace)
    if _backend(fw) != "nftables":
        assert tcp_connects(attacker.namespace, h1.v6, 22)  # IPv6 really flows again
    state = fw.read_state("host1")
    assert state.isolation_status is IsolationStatus.PARTIAL and not state.isolated
    assert state.isolation is not None and state.isolation.problem
    with pytest.raises(ActionError, match="partially isolated"):
        fw.plan_isolate(["host1"], confirm_timeout=30)
    plan = fw.plan_release(["host1"])
    assert "host1" not in plan.skipped and plan.steps
    _run(fw, plan)
    assert fw.read_state("host1").isolation_status is IsolationStatus.NORMAL
    assert tcp_connects(attacker.namespace, h1.v4, 22)


def test_ipv4_mapped_block_is_enforced_on_ipv4(fw: Responder, clean_lab) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    plan = fw.plan_block([f"::ffff:{attacker.v4}"], ["host1"], "1h")
    assert list(plan.entries["host1"]) == [f"{attacker.v4}/32"]
    assert any("IPv4-mapped" in note for note in plan.notes)
    _run(fw, plan)
    assert not tcp_connects(attacker.namespace, h1.v4, 22)
    assert [e.text for e in fw.read_state("host1").blocks] == [attacker.v4]
    with pytest.raises(InvalidTargetError, match="management address"):
        fw.plan_block([f"::ffff:{clean_lab.responder_v4}"], ["host1"])
    with pytest.raises(InvalidTargetError, match="loopback"):
        fw.plan_block(["::ffff:127.0.0.1"], ["host1"])
    _run(fw, fw.plan_unblock([f"::ffff:{attacker.v4}"], ["host1"]))
    assert tcp_connects(attacker.namespace, h1.v4, 22)


def test_a_scope_id_line_does_not_sink_the_feed(clean_lab, tmp_path: Path) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    feed = tmp_path / "feed.txt"
    feed.write_text(f"203.0.113.5\n2001:db8::1%eth0\n{attacker.v4}\n2001:db8::5\n")
    out = subprocess.run([sys.executable, "-m", "irtui", "--config",
                          str(clean_lab.config_path), "block", "--from-file", str(feed),
                          "--on", "host1", "--ttl", "1h"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 5, out.stdout + out.stderr  # one entry refused (EXIT_REFUSED)
    assert "2001:db8::1%eth0 refused" in out.stderr and "scope id" in out.stderr
    assert not tcp_connects(attacker.namespace, h1.v4, 22)
    listed = ns_run(h1.namespace, ["nft", "list", "table", "inet", "irtui"]).stdout.decode()
    assert "203.0.113.5" in listed and "2001:db8::5" in listed and "%" not in listed


def test_plans_from_the_same_state_cannot_unenforce_each_other(fw: Responder,
                                                               clean_lab) -> None:
    """Item 8: two plans built before either ran (two responders), each adding a prefix
    length no set holds yet. The later one must not drop the earlier one's rules."""
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    with attacker_aliases(clean_lab, 2) as (a, b):
        assert tcp_connects(attacker.namespace, h1.v6, 22, source=a)
        first = fw.plan_block([covering(a, 112)], ["host1"], "1h")
        second = fw.plan_block([covering(b, 120), "203.0.113.0/24"], ["host1"], "1h")
        _run(fw, first)
        _run(fw, second)
        assert not tcp_connects(attacker.namespace, h1.v6, 22, source=a, timeout=1)
        assert not tcp_connects(attacker.namespace, h1.v6, 22, source=b, timeout=1)
        assert all(e.enforced for e in fw.read_state("host1").blocks)


@pytest.mark.parametrize("backend", ["iptables-nft", "iptables-legacy"])
def test_a_nomatch_exception_inside_a_blocked_prefix_is_not_enforced(
        backend: str, lab_config, clean_lab, tmp_path: Path) -> None:
    """hash:net's ``nomatch`` (ipset(8)) punches a hole in a blocked prefix: the attacker
    inside it connects, so the prefix reads NOT ENFORCED (it read "yes"), and blocking it
    again rebuilds the set without the hole."""
    from ipaddress import ip_network

    from irtui.core.firewall.iptables_state import set_name
    from tests.backend_fixtures import forced_responder

    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    prefix = str(ip_network(f"{attacker.v4}/28", strict=False))
    fw = forced_responder(lab_config, backend, tmp_path / "audit")
    try:
        _run(fw, fw.plan_block([prefix], ["host1"], "1h"))
        assert not tcp_connects(attacker.namespace, h1.v4, 22)
        _sh(h1.namespace, f"ipset add {set_name(4)} {attacker.v4} timeout 1700 nomatch")
        assert tcp_connects(attacker.namespace, h1.v4, 22)  # the hole is real
        state = fw.read_state("host1")
        assert [(e.text, e.enforcement) for e in state.blocks] == [
            (prefix, Enforcement.NOT_ENFORCED)]
        assert any("nomatch" in gap and attacker.v4 in gap for gap in state.gaps)
        _run(fw, fw.plan_block([prefix], ["host1"], "1h"))  # re-asserted: the hole goes
        assert not tcp_connects(attacker.namespace, h1.v4, 22)
        assert [e.enforcement for e in fw.read_state("host1").blocks] == [
            Enforcement.ENFORCED]
    finally:
        fw.close()
