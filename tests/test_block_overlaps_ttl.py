"""Blocking an entry again never shortens its block: a colleague's permanent (or longer)
block must not lift in 10 minutes because someone re-blocked the address with a short TTL.
The plan says the entry keeps its longer TTL; the host keeps enforcing it. Unblocking an
entry that a wider entry still covers says so (its traffic stays dropped). Every backend."""

from __future__ import annotations

import pytest

from irtui.core.actions import Responder
from irtui.core.plan import EntryFate
from irtui.lab.probe import ns_run, tcp_connects


def _run(responder: Responder, plan) -> None:
    result = responder.execute(plan, lambda e: None)
    assert result.ok, result


def test_reblocking_with_a_shorter_ttl_keeps_the_longer_block(fw: Responder,
                                                             clean_lab) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    _run(fw, fw.plan_block([attacker.v4, "203.0.113.9"], ["host1"], None))
    _run(fw, fw.plan_block(["203.0.113.10"], ["host1"], "2h"))
    plan = fw.plan_block([attacker.v4, "203.0.113.9", "203.0.113.10"], ["host1"], "10m")
    entries = plan.entries["host1"]
    assert {e: s.fate for e, s in entries.items()} == dict.fromkeys(
        [f"{attacker.v4}/32", "203.0.113.9/32", "203.0.113.10/32"], EntryFate.REFRESH)
    assert "keeps its longer TTL (permanent" in entries[f"{attacker.v4}/32"].reason
    assert "keeps its longer TTL (1h" in entries["203.0.113.10/32"].reason
    assert any("unblock first" in note and "203.0.113.9/32 (permanent)" in note
               for note in plan.notes)
    _run(fw, plan)
    expires = {e.text: e.expires for e in fw.read_state("host1").blocks}
    assert expires[attacker.v4] is None and expires["203.0.113.9"] is None
    assert expires["203.0.113.10"] is not None and expires["203.0.113.10"] > 3600
    assert not tcp_connects(attacker.namespace, h1.v4, 22)
    # a longer TTL still extends a shorter one
    plan = fw.plan_block(["203.0.113.10"], ["host1"], "1d")
    assert plan.entries["host1"]["203.0.113.10/32"].reason == ""
    _run(fw, plan)
    (entry,) = [e for e in fw.read_state("host1").blocks if e.text == "203.0.113.10"]
    assert entry.expires is not None and entry.expires > 20 * 3600


def test_unblock_of_an_entry_a_wider_one_covers_says_it_stays_blocked(fw: Responder,
                                                                      clean_lab) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    wider = ".".join(attacker.v4.split(".")[:3]) + ".64/28"
    _run(fw, fw.plan_block([attacker.v4, "203.0.113.7"], ["host1"], "1h"))
    _run(fw, fw.plan_block([wider], ["host1"], "1h"))
    plan = fw.plan_unblock([attacker.v4, "203.0.113.7"], ["host1"])
    assert [n for n in plan.notes if "stays blocked" in n] == [
        f"host1: {attacker.v4}/32 stays blocked by {wider} (not unblocked here; unblock it "
        "too to let this traffic through)"]
    status = plan.entries["host1"][f"{attacker.v4}/32"]
    assert status.fate is EntryFate.REFUSED and f"stays blocked by {wider}" in status.reason
    assert plan.entries["host1"]["203.0.113.7/32"].fate is EntryFate.TO_REMOVE
    _run(fw, plan)  # ok for 203.0.113.7 only; the refused entry is left as it was
    assert not tcp_connects(attacker.namespace, h1.v4, 22)  # what the refusal said
    assert {e.text for e in fw.read_state("host1").blocks} == {attacker.v4, wider}
    _run(fw, fw.plan_block([attacker.v4], ["host1"], "1h"))
    plan = fw.plan_unblock([attacker.v4, wider], ["host1"])  # both go: nothing stays
    assert not [n for n in plan.notes if "stays blocked" in n]
    _run(fw, plan)
    assert tcp_connects(attacker.namespace, h1.v4, 22)


def test_a_host_where_a_wider_entry_keeps_the_unblocked_address_blocked_fails(
        fw: Responder, clean_lab) -> None:
    """Unblocking on two hosts, one of which holds only a wider entry covering the address:
    that host reports the refusal (never a ✓ "unchanged"), the other unblocks."""
    h1, h2, attacker = clean_lab.hosts[0], clean_lab.hosts[1], clean_lab.attacker
    wider = ".".join(attacker.v4.split(".")[:3]) + ".64/28"
    _run(fw, fw.plan_block([wider], ["host1"], "1h"))
    _run(fw, fw.plan_block([attacker.v4], ["host2"], "1h"))
    result = fw.execute(fw.plan_unblock([attacker.v4], ["host1", "host2"]), lambda e: None)
    by_host = {r.host: r for r in result.results}
    assert not by_host["host1"].ok and not result.ok
    assert f"{attacker.v4}/32 stays blocked by {wider}" in by_host["host1"].message
    assert by_host["host2"].ok
    assert not tcp_connects(attacker.namespace, h1.v4, 22)  # what host1's refusal said
    assert tcp_connects(attacker.namespace, h2.v4, 22)


def test_an_unblock_whose_target_a_wider_entry_covers_meanwhile_fails(fw: Responder,
                                                                     clean_lab) -> None:
    """A wider entry blocked by another run between an unblock's plan and its run: the
    unblock removes its entry, but the traffic stays cut, so the read-back fails it (never
    a ✓ that lets the responder believe the traffic is back)."""
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    wider = ".".join(attacker.v4.split(".")[:3]) + ".64/28"
    _run(fw, fw.plan_block([attacker.v4], ["host1"], "1h"))
    plan = fw.plan_unblock([attacker.v4], ["host1"])
    assert plan.entries["host1"][f"{attacker.v4}/32"].fate is EntryFate.TO_REMOVE
    other = Responder(fw.config, audit=fw.audit)  # a colleague's run, meanwhile
    try:
        _run(other, other.plan_block([wider], ["host1"], "1h"))
    finally:
        other.close()
    result = fw.execute(plan, lambda e: None)
    assert not result.ok, result
    assert f"{attacker.v4}/32 by {wider}" in result.results[0].message
    assert not tcp_connects(attacker.namespace, h1.v4, 22)  # what the failure says
    assert {e.text for e in fw.read_state("host1").blocks} == {wider}


@pytest.mark.parametrize("backend", ["iptables-nft", "iptables-legacy"])
def test_a_shorter_block_applied_after_a_longer_one_started_meanwhile_keeps_it(
        forced, clean_lab, backend: str) -> None:
    """Two runs at once: a 1h block planned before a colleague's 3h block of the same
    address lands must not cut that block to 1h (ipset's `-exist` add would replace the
    time left): the host keeps the longer one, so both runs' ✓ hold."""
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    fw, colleague = forced(backend), forced(backend)
    plan = fw.plan_block([attacker.v4], ["host1"], "1h")
    assert plan.entries["host1"][f"{attacker.v4}/32"].fate is EntryFate.TO_ADD
    _run(colleague, colleague.plan_block([attacker.v4], ["host1"], "3h"))
    _run(fw, plan)
    saved = ns_run(h1.namespace, ["ipset", "save", "irtui4"]).stdout.decode()
    (line,) = [x for x in saved.splitlines() if f" {attacker.v4} " in f"{x} "]
    assert int(line.split("timeout ")[1].split()[0]) > 3 * 3600 - 60, line
    assert not tcp_connects(attacker.namespace, h1.v4, 22)
    # a permanent block stays permanent; a longer one asked still extends it
    _run(colleague, colleague.plan_block(["203.0.113.12"], ["host1"], None))
    plan = fw.plan_block(["203.0.113.12", "203.0.113.13"], ["host1"], "10m")
    _run(fw, fw.plan_block(["203.0.113.13"], ["host1"], "10m"))  # it appeared meanwhile
    _run(fw, plan)
    _run(fw, fw.plan_block(["203.0.113.13"], ["host1"], "1h"))
    left = {e.text: e.expires for e in fw.read_state("host1").blocks}
    assert left["203.0.113.12"] is None and left["203.0.113.13"] > 3000


def test_a_new_entry_reads_back_with_the_ttl_asked_or_the_block_fails(responder: Responder,
                                                                       clean_lab) -> None:
    """A new entry is only created (no delete and re-add). One that another run adds
    between the plan and its apply fails the whole transaction (EEXIST), whatever its TTL:
    an ``add`` would replace a colleague's longer timeout on Linux 6.x. Nothing changes,
    irtui says why, and the other run's TTL stays, longer (3h) or shorter (60 s)."""
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    assert responder.config.hosts[0].firewall in ("auto", "nftables")
    _run(responder, responder.plan_block(["203.0.113.11"], ["host1"], "1h"))  # the set exists
    for theirs in (3 * 3600, 60):
        plan = responder.plan_block([attacker.v4, "203.0.113.14"], ["host1"], "1h")
        assert plan.entries["host1"][f"{attacker.v4}/32"].fate is EntryFate.TO_ADD
        script = "".join(step.stdin or "" for step in plan.steps)
        assert f"create element inet irtui v4_32 {{ {attacker.v4} timeout 3600s" in script
        assert "delete element" not in script
        # someone else blocks it between the plan and its apply
        ns_run(h1.namespace, ["nft", "add", "element", "inet", "irtui", "v4_32",
                              f"{{ {attacker.v4} timeout {theirs}s }}"])
        result = responder.execute(plan, lambda e: None)
        assert not result.ok
        assert "another run created it meanwhile" in result.results[0].message
        live = {e.text: e for e in responder.read_state("host1").blocks}
        assert live[attacker.v4].timeout == theirs and "203.0.113.14" not in live
        assert not tcp_connects(attacker.namespace, h1.v4, 22)
        # planned again, it is a refresh: kept if longer, renewed to 1h if shorter
        _run(responder, responder.plan_block([attacker.v4], ["host1"], "1h"))
        live = {e.text: e for e in responder.read_state("host1").blocks}
        assert max(theirs, 3600) - 10 <= live[attacker.v4].timeout <= max(theirs, 3600)
        _run(responder, responder.plan_unblock([attacker.v4], ["host1"]))
    # and the read-back's check itself, on a state read from the host: set it to 60 s again
    ns_run(h1.namespace, ["nft", "add", "element", "inet", "irtui", "v4_32",
                          f"{{ {attacker.v4} timeout 60s }}"])
    live = responder.read_state("host1")
    if next(e for e in live.blocks if e.text == attacker.v4).timeout == 60:
        problem = plan.verify("host1") if plan.verify else None
        assert problem and "shorter TTL than asked" in problem and attacker.v4 in problem
        assert "60s" in problem or "1m" in problem
