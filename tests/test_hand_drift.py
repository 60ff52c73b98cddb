"""Hand edits inside irtui's own tables and chains (drift). A rule added by hand to irtui's
isolation chains (an ``accept`` for a monitoring range, a blanket ``ACCEPT``, a ``RETURN`` of
another shape) opens the host while every piece irtui checks for is still there: the
read-back must say the isolation is not in force (PARTIAL, with the rule), never "isolated";
on iptables, a block behind such a chain is not enforced either. An element with host bits
set, added by hand to a prefix set, is never matched: not enforced. Proven with the
attacker's TCP connect, for every backend (``fw``: tests/backend_fixtures.py)."""

from __future__ import annotations

import pytest

from irtui.core.actions import Responder
from irtui.core.errors import ActionError
from irtui.core.firewall.state import Enforcement, IsolationStatus
from irtui.lab.probe import ns_run, tcp_connects


def _sh(namespace: str, script: str) -> None:
    out = ns_run(namespace, ["sh", "-c", script])
    assert out.returncode == 0, out.stderr.decode()


def _tool(backend: str) -> str:
    return "iptables-nft" if backend == "iptables-nft" else "iptables-legacy"


def _run(responder: Responder, plan) -> None:
    result = responder.execute(plan, lambda e: None)
    assert result.ok, result


@pytest.mark.parametrize("scope", ["attacker", "everything"])
def test_accept_added_by_hand_to_the_isolation_is_not_isolated(fw: Responder,
                                                               clean_lab, scope: str) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    backend = fw.config.hosts[0].firewall
    _run(fw, fw.plan_isolate(["host1"], confirm_timeout=30))
    assert fw.read_state("host1").isolated
    assert not tcp_connects(attacker.namespace, h1.v4, 22)
    if backend == "nftables":
        match = f"ip saddr {attacker.v4} " if scope == "attacker" else ""
        _sh(h1.namespace, f"nft insert rule inet irtui_isolation input {match}accept && "
            "nft insert rule inet irtui_isolation output accept")
    else:
        match = f"-s {attacker.v4} " if scope == "attacker" else ""
        _sh(h1.namespace, f"{_tool(backend)} -t raw -I IRTUI-ISOLATE-IN 1 {match}-j ACCEPT && "
            f"{_tool(backend)} -t raw -I IRTUI-ISOLATE-OUT 1 -j ACCEPT")
    assert tcp_connects(attacker.namespace, h1.v4, 22)  # the sabotage is real
    state = fw.read_state("host1")
    assert state.isolation_status is IsolationStatus.PARTIAL and not state.isolated
    assert state.isolation is not None and "added by hand" in state.isolation.problem
    # release removes irtui's isolation, hand-added rule and all
    _run(fw, fw.plan_release(["host1"]))
    assert fw.read_state("host1").isolation_status is IsolationStatus.NORMAL


@pytest.mark.parametrize("backend", ["iptables-nft", "iptables-legacy"])
def test_return_of_another_shape_in_the_isolation_is_not_isolated(forced, clean_lab,
                                                                  backend: str) -> None:
    """irtui's management RETURNs carry ``--dst-type LOCAL``; one without it is not
    irtui's, and it is not listed as management either."""
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    fw = forced(backend)
    _run(fw, fw.plan_isolate(["host1"], confirm_timeout=30))
    _sh(h1.namespace, f"{_tool(backend)} -t raw -I IRTUI-ISOLATE-IN 1 -s {attacker.v4} "
        f"-j RETURN && {_tool(backend)} -t raw -I IRTUI-ISOLATE-OUT 1 -d {attacker.v4} "
        "-j RETURN")
    assert tcp_connects(attacker.namespace, h1.v4, 22)
    state = fw.read_state("host1")
    assert state.isolation_status is IsolationStatus.PARTIAL
    assert attacker.v4 in state.isolation.problem


@pytest.mark.parametrize("backend", ["iptables-nft", "iptables-legacy"])
def test_block_behind_an_accepting_isolation_chain_is_not_enforced(forced, clean_lab,
                                                                   backend: str) -> None:
    """raw PREROUTING jumps to irtui's isolation chain before its block chain: an ACCEPT
    added there ends the raw table before the block's DROP."""
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    fw = forced(backend)
    _run(fw, fw.plan_block([attacker.v4], ["host1"], "1h"))
    _run(fw, fw.plan_isolate(["host1"], confirm_timeout=30))
    assert fw.read_state("host1").blocks[0].enforced
    _sh(h1.namespace, f"{_tool(backend)} -t raw -I IRTUI-ISOLATE-IN 1 -s {attacker.v4} "
        f"-j ACCEPT && {_tool(backend)} -t raw -I IRTUI-ISOLATE-OUT 1 -d {attacker.v4} "
        "-j ACCEPT")
    assert tcp_connects(attacker.namespace, h1.v4, 22)
    state = fw.read_state("host1")
    assert [(e.text, e.enforcement) for e in state.blocks] == [
        (attacker.v4, Enforcement.NOT_ENFORCED)]
    assert not state.isolated


def test_element_with_host_bits_in_a_prefix_set_is_not_enforced(responder: Responder,
                                                                clean_lab) -> None:
    """``nft add element inet irtui v4_24 { <attacker> }`` by hand: the drop rule looks up
    the address masked to /24, which never equals the element, so nothing is dropped."""
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    _run(responder, responder.plan_block(["203.0.113.0/24"], ["host1"], "1h"))
    _sh(h1.namespace, f"nft add element inet irtui v4_24 {{ {attacker.v4} }}")
    assert tcp_connects(attacker.namespace, h1.v4, 22)
    state = responder.read_state("host1")
    listed = {e.text: e.enforcement for e in state.blocks}
    prefix = ".".join(attacker.v4.split(".")[:3]) + ".0/24"
    assert listed[prefix] is Enforcement.NOT_ENFORCED, listed
    assert listed["203.0.113.0/24"] is Enforcement.ENFORCED
    assert any("host bits" in gap for gap in state.gaps)


def test_a_block_of_an_entry_present_but_not_enforced_says_so_and_puts_it_back(
        responder: Responder, clean_lab) -> None:
    """irtui's drop rules flushed by hand, the set entry left: the attacker gets through. A
    new block of that address must not read as merely "already present": its plan says the
    entry is NOT ENFORCED and that the rules go back, and afterwards the attacker is cut."""
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    _run(responder, responder.plan_block([attacker.v4], ["host1"], "1h"))
    _sh(h1.namespace, "for c in v4_32_in v4_32_fwd v4_32_out; do "
        "nft flush chain inet irtui $c || exit 1; done")
    assert tcp_connects(attacker.namespace, h1.v4, 22)
    plan = responder.plan_block([attacker.v4], ["host1"], "1h")
    assert [n for n in plan.notes if "NOT ENFORCED" in n] == [
        f"host1: {attacker.v4} already in the blocklist but NOT ENFORCED there (a drop rule "
        "is missing or bypassed); this block puts its rules back and reads them back"]
    _run(responder, plan)
    assert not tcp_connects(attacker.namespace, h1.v4, 22)
    assert not [n for n in responder.plan_block([attacker.v4], ["host1"], "1h").notes
                if "NOT ENFORCED" in n]


def test_management_set_widened_by_hand_to_everything_is_not_isolated(responder: Responder,
                                                                      clean_lab) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    _run(responder, responder.plan_isolate(["host1"], confirm_timeout=30))
    _sh(h1.namespace, "nft flush set inet irtui_isolation mgmt4 && "
        "nft add element inet irtui_isolation mgmt4 { 0.0.0.0/1, 128.0.0.0/1 }")
    assert tcp_connects(attacker.namespace, h1.v4, 22)
    state = responder.read_state("host1")
    assert state.isolation_status is IsolationStatus.PARTIAL
    assert "0.0.0.0/0" in state.isolation.problem


def test_management_allowlist_widened_by_hand_is_not_isolated(fw: Responder, clean_lab) -> None:
    """The attacker's address added by hand to the management allowlist (nft: an element of
    irtui's set; iptables: a RETURN of exactly irtui's management shape) lets it in while
    every rule irtui checks keeps its shape: the list no longer matches the checksum irtui
    wrote with the isolation, so the read-back says PARTIAL, naming what is there now, and a
    new isolate does not call the host "already isolated". Taken out again, the isolation
    reads whole (the checksum is of the list, not of a moment)."""
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    backend = fw.config.hosts[0].firewall
    _run(fw, fw.plan_isolate(["host1"], confirm_timeout=30))
    assert fw.read_state("host1").isolated
    if backend == "nftables":
        widen = f"nft add element inet irtui_isolation mgmt4 {{ {attacker.v4} }}"
        undo = f"nft delete element inet irtui_isolation mgmt4 {{ {attacker.v4} }}"
    else:
        tool = _tool(backend)
        rules = (f"IRTUI-ISOLATE-IN -s {attacker.v4}/32 -m addrtype --dst-type LOCAL -j RETURN",
                 f"IRTUI-ISOLATE-OUT -d {attacker.v4}/32 -j RETURN")
        widen = " && ".join(f"{tool} -t raw -I {r.split(' ', 1)[0]} 2 {r.split(' ', 1)[1]}"
                            for r in rules)
        undo = " && ".join(f"{tool} -t raw -D {r}" for r in rules)
    try:
        _sh(h1.namespace, widen)
        assert tcp_connects(attacker.namespace, h1.v4, 22)  # the widening is real
        state = fw.read_state("host1")
        assert state.isolation_status is IsolationStatus.PARTIAL and not state.isolated
        assert "not the one irtui applied" in state.isolation.problem
        assert attacker.v4 in state.isolation.problem, state.isolation.problem
        with pytest.raises(ActionError, match="partially isolated"):
            fw.plan_isolate(["host1"])
        _sh(h1.namespace, undo)
        assert fw.read_state("host1").isolated
        assert not tcp_connects(attacker.namespace, h1.v4, 22)
    finally:
        _run(fw, fw.plan_release(["host1"]))
