"""Issue 8 item 9: the backend follows irtui's own state. Text level (the probe's output and
the choice), then on the lab with fail2ban- and Docker-style rules added after irtui blocked."""

from __future__ import annotations

import ipaddress
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from irtui.core.actions import Responder
from irtui.core.errors import ActionError
from irtui.core.firewall.backend import BlockRequest, backend_named
from irtui.core.firewall.detect import HostFacts, choose_backend, parse_probe, preflight_line
from irtui.core.firewall.state import HostState
from irtui.lab.probe import ns_run, tcp_connects

ALL_TOOLS = {t: f"/usr/sbin/{t}" for t in ("nft", "iptables-nft", "ip6tables-nft",
                                            "iptables-legacy", "ip6tables-legacy", "ipset")}


def facts(**kw: object) -> HostFacts:
    return HostFacts("h", binaries=dict(ALL_TOOLS), **kw)  # type: ignore[arg-type]


def test_probe_reports_irtui_chains_and_sets() -> None:
    text = ("### which\nnft /usr/sbin/nft\n### nft-tables\ntable inet irtui\ntable ip raw\n"
            "### legacy-rules\n4\n### legacy-chains\nINPUT\nDOCKER\n### xt-rules\n7\n"
            "### xt-chains\nPREROUTING\nIRTUI-BLOCK\nIRTUI-BLOCK-OUT\nf2b-sshd\n"
            "### ipsets\nirtui4\nf2b-sshd\n### end\n")
    f = parse_probe("h", text)
    assert f.xt_chains == ("PREROUTING", "IRTUI-BLOCK", "IRTUI-BLOCK-OUT", "f2b-sshd")
    assert f.legacy_chains == ("INPUT", "DOCKER")
    assert f.ipsets == ("irtui4", "f2b-sshd")
    assert set(f.irtui_state()) == {"nftables", "iptables-nft"}


IP_DOCS = (
    '[{"ifname":"eth0","addr_info":[{"family":"inet","local":"198.18.0.5","prefixlen":24},'
    '{"family":"inet6","local":"2001:db8::5","prefixlen":64}]}]',
    '[{"dst":"default","nexthops":[{"gateway":"198.18.0.1","dev":"eth0"},'
    '{"gateway":"198.18.0.2","dev":"eth0"}]},'
    '{"dst":"default","via":{"family":"inet6","host":"fe80::1"},"dev":"eth0","table":"7"},'
    '{"dst":"default","gateway":"2001:db8::1","dev":"eth0"},'
    '{"type":"unreachable","dst":"default","table":"8"}]')


@pytest.mark.parametrize("order", [IP_DOCS, IP_DOCS[::-1], IP_DOCS[1:]])
def test_probe_reads_addresses_and_every_default_next_hop(order: tuple[str, ...]) -> None:
    """One ip(8) batch gives the addresses and the default routes; they are told apart by
    their fields, so a missing or reordered document shifts nothing."""
    f = parse_probe("h", "### ip\n" + "\n".join(order) + "\n### end\n")
    assert [str(g) for g in f.gateways] == ["198.18.0.1", "198.18.0.2", "fe80::1",
                                            "2001:db8::1"]
    expected = [] if order == IP_DOCS[1:] else ["198.18.0.5/24", "2001:db8::5/64"]
    assert [str(a) for a in f.addresses] == expected
    assert f.network_known == (order != IP_DOCS[1:])  # the links' document is missing


@pytest.mark.parametrize("section", ["", IP_DOCS[0] + "\n", "ip: command not found\n",
                                     IP_DOCS[0][:40] + "\n" + IP_DOCS[1] + "\n",
                                     IP_DOCS[0] + "\n" + IP_DOCS[0] + "\n",
                                     IP_DOCS[1] + "\n" + IP_DOCS[1] + "\n",
                                     IP_DOCS[0] + '\n[{"gateway":"198.18.0.1"}]\n'])
def test_unread_addresses_or_routes_are_unknown_not_none(section: str) -> None:
    """No ip(8), or one of its two documents missing or cut: the guardrails built on the
    host's addresses and gateways cannot be checked, which the facts say (blocks are then
    refused there); IPv6 is assumed present, so a missing IPv6 tool is still warned of."""
    f = parse_probe("h", f"### ip\n{section}### end\n")
    assert not f.network_known
    assert f.global_ipv6
    assert "ADDRESSES AND ROUTES UNKNOWN" in preflight_line(f, choose_backend(
        facts(network_known=False)))


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
        st.sampled_from(["addr_info", "local", "prefixlen", "gateway", "nexthops", "via",
                         "host", "dst"]), kids, max_size=4), max_leaves=20)


@given(st.lists(st.dictionaries(st.sampled_from(["addr_info", "gateway", "nexthops", "via"]),
                                JSONISH, max_size=3), max_size=3) | JSONISH)
def test_probe_ip_section_never_raises_on_odd_json(doc: object) -> None:
    f = parse_probe("h", f"### ip\n{json.dumps(doc)}\n### end\n")
    assert all(isinstance(g, ipaddress.IPv4Address | ipaddress.IPv6Address)
               for g in f.gateways)


def test_irtui_nft_table_keeps_nftables_after_fail2ban_rules() -> None:
    choice = choose_backend(facts(nft_tables=("inet irtui", "ip filter"), xt_rules=12))
    assert choice.name == "nftables" and not choice.conflict
    assert "inet irtui" in choice.reason


def test_irtui_isolation_table_alone_keeps_nftables() -> None:
    choice = choose_backend(facts(nft_tables=("inet irtui_isolation",), legacy_rules=3))
    assert choice.name == "nftables"


def test_irtui_xt_chains_keep_iptables_nft_after_docker_legacy_rules() -> None:
    choice = choose_backend(facts(xt_chains=("IRTUI-BLOCK", "IRTUI-BLOCK-OUT"), xt_rules=3,
                                  legacy_rules=40, legacy_chains=("DOCKER",),
                                  ipsets=("irtui4",)))
    assert choice.name == "iptables-nft" and not choice.conflict


def test_irtui_legacy_chains_keep_iptables_legacy() -> None:
    choice = choose_backend(facts(legacy_chains=("IRTUI-ISOLATE-IN", "IRTUI-ISOLATE-OUT"),
                                  legacy_rules=4, nft_tables=("inet firewalld",)))
    assert choice.name == "iptables-legacy" and not choice.conflict


def test_irtui_ipsets_without_chains_stay_with_iptables() -> None:
    choice = choose_backend(facts(ipsets=("irtui4", "irtui6")))
    assert choice.name == "iptables-nft" and not choice.conflict


def test_irtui_state_in_two_backends_is_a_conflict() -> None:
    f = facts(nft_tables=("inet irtui",), xt_chains=("IRTUI-BLOCK",), ipsets=("irtui4",))
    choice = choose_backend(f)
    assert choice.conflict and "nftables" in choice.conflict and "iptables-nft" in \
        choice.conflict
    assert "CONFLICT" in preflight_line(f, choice)


def test_forced_backend_with_irtui_state_elsewhere_is_a_conflict() -> None:
    choice = choose_backend(facts(nft_tables=("inet irtui",)), "iptables-legacy")
    assert choice.name == "iptables-legacy" and "nftables" in choice.conflict


def test_clean_host_choice_is_unchanged() -> None:
    assert choose_backend(facts()).name == "nftables"
    assert choose_backend(facts(xt_rules=3)).name == "iptables-nft"
    assert choose_backend(facts(legacy_rules=3, xt_rules=3)).name == "iptables-legacy"


# ---- on the lab ---------------------------------------------------------------------------

FAIL2BAN = ("iptables-nft -N f2b-sshd && iptables-nft -A f2b-sshd -s 192.0.2.99 -j REJECT && "
            "iptables-nft -A f2b-sshd -j RETURN && "
            "iptables-nft -I INPUT -p tcp -m multiport --dports 22 -j f2b-sshd")
DOCKER = ("iptables-legacy -N DOCKER && iptables-legacy -t nat -N DOCKER && "
          "iptables-legacy -A FORWARD -o docker0 -j DOCKER && "
          "iptables-legacy -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER")


def _sh(namespace: str, script: str) -> None:
    out = ns_run(namespace, ["sh", "-c", script])
    assert out.returncode == 0, out.stderr.decode()


def _run(responder: Responder, plan) -> None:
    result = responder.execute(plan, lambda e: None)
    assert result.ok, result


def test_nft_blocks_stay_visible_after_fail2ban_and_docker_rules(forced, clean_lab) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    first = forced()
    assert first.profile("host1").choice.name == "nftables"
    _run(first, first.plan_block([attacker.v4], ["host1"], "1h"))
    _sh(h1.namespace, FAIL2BAN)
    _sh(h1.namespace, DOCKER)
    later = forced()
    assert later.profile("host1").choice.name == "nftables"
    state = later.read_state("host1")
    assert [e.text for e in state.blocks] == [attacker.v4] and state.blocks[0].enforced
    _run(later, later.plan_unblock([attacker.v4], ["host1"]))  # not "not blocked there"
    assert tcp_connects(attacker.namespace, h1.v4, 22)


def test_iptables_nft_blocks_stay_visible_after_docker_legacy_rules(forced, clean_lab) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    first = forced("iptables-nft")
    _run(first, first.plan_block([attacker.v4], ["host1"], "1h"))
    _sh(h1.namespace, DOCKER)
    later = forced()
    assert later.profile("host1").choice.name == "iptables-nft"
    assert [e.text for e in later.read_state("host1").blocks] == [attacker.v4]
    assert not tcp_connects(attacker.namespace, h1.v4, 22)


def test_irtui_state_in_both_backends_refuses_changes(forced, clean_lab) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    nft = forced("nftables")
    _run(nft, nft.plan_block([attacker.v4], ["host1"], "1h"))
    # irtui itself now refuses to add iptables state there, so run the backend's commands
    # by hand, as an older irtui (or another responder's config) would have
    ipt = backend_named("iptables-nft")
    for command in ipt.block_commands([BlockRequest(ipaddress.ip_network(attacker.v6), 3600)],
                                      HostState("host1")):
        out = ns_run(h1.namespace, list(command.argv), input=(command.stdin or "").encode())
        assert out.returncode == 0, out.stderr.decode()
    auto = forced()
    profile = auto.profile("host1")
    assert profile.choice.conflict and "CONFLICT" in profile.preflight
    before = ns_run(h1.namespace, ["nft", "-s", "list", "ruleset"]).stdout  # no counters
    with pytest.raises(ActionError, match="irtui state in both"):
        auto.plan_block(["203.0.113.9"], ["host1"])
    with pytest.raises(ActionError, match="irtui state in both"):
        auto.plan_unblock([attacker.v4], ["host1"])
    # with several hosts, only the conflicted one fails
    plan = auto.plan_block(["203.0.113.9"], ["host1", "host2"])
    assert "irtui state in both" in plan.failed["host1"] and "host2" not in plan.failed
    assert ns_run(h1.namespace, ["nft", "-s", "list", "ruleset"]).stdout == before
