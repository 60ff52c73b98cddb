"""Blocking an entry again never shortens its block: a colleague's permanent (or longer)
block must not lift in 10 minutes because someone re-blocked the address with a short TTL.
The plan says the entry keeps its longer TTL; the host keeps enforcing it. Unblocking an
entry that a wider entry still covers says so (its traffic stays dropped). Every backend."""

from __future__ import annotations

from irtui.core.actions import Responder
from irtui.core.plan import EntryFate
from irtui.lab.probe import tcp_connects


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
