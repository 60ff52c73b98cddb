"""Address validation, guardrails, TTL parsing and nftables script/JSON handling."""

import ipaddress
import json

import pytest

from irtui.core.durations import format_duration, parse_ttl
from irtui.core.errors import InvalidTargetError
from irtui.core.firewall import nftables
from irtui.core.firewall.backend import BlockRequest
from irtui.core.targets import parse_network, refusal


@pytest.mark.parametrize(("text", "expected", "noted"), [
    ("203.0.113.7", "203.0.113.7/32", False),
    ("198.51.100.0/24", "198.51.100.0/24", False),
    ("198.51.100.9/24", "198.51.100.0/24", True),
    ("2001:db8::7", "2001:db8::7/128", False),
    (" 2001:db8::/32 ", "2001:db8::/32", False),
])
def test_parse_network(text: str, expected: str, noted: bool) -> None:
    net, note = parse_network(text)
    assert str(net) == expected
    assert (note is not None) == noted


@pytest.mark.parametrize("bad", ["203.0.113.300", "example.com", "1.2.3.4/33", "", "2001:db8::g"])
def test_malformed_addresses_refused(bad: str) -> None:
    with pytest.raises(InvalidTargetError, match="not an IP address or CIDR"):
        parse_network(bad)


@pytest.mark.parametrize(("text", "rule"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"), ("224.0.0.1", "multicast"), ("0.0.0.0/0", "'this network'"),
    ("0.0.0.0/1", "'this network'"), ("255.255.255.255", "limited broadcast"),
    ("::/0", "unspecified"), ("ff02::1", "multicast"), ("120.0.0.0/5", "loopback"),
])
def test_guardrails(text: str, rule: str) -> None:
    net, _ = parse_network(text)
    assert rule in (refusal(net) or "")


def test_management_overlap_refused() -> None:
    mgmt = [ipaddress.ip_network("198.51.100.5/32")]
    assert "management" in (refusal(ipaddress.ip_network("198.51.100.0/24"), mgmt) or "")
    assert refusal(ipaddress.ip_network("203.0.113.0/24"), mgmt) is None


@pytest.mark.parametrize(("text", "seconds"), [
    ("24h", 86400), ("90s", 90), ("1h30m", 5400), ("7d", 604800), ("permanent", None),
    ("never", None), ("45", 45), (None, None), ("24d", 24 * 86400),
])
def test_parse_ttl(text: str | int, seconds: int | None) -> None:
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "5x", "h", "10m5", "-5m", ""])
def test_bad_ttl(bad: str) -> None:
    with pytest.raises(InvalidTargetError, match="not a duration"):
        parse_ttl(bad)


@pytest.mark.parametrize("bad", ["0", 0, "0s", -3])
def test_zero_ttl_is_not_permanent(bad: str | int) -> None:
    with pytest.raises(InvalidTargetError, match=r"not a positive duration.*'permanent'"):
        parse_ttl(bad)


def test_ttl_longer_than_the_kernel_allows() -> None:
    with pytest.raises(InvalidTargetError, match="longer than 24d20h"):
        parse_ttl("99999999d")


def test_format_duration() -> None:
    assert format_duration(None) == "permanent"
    assert format_duration(86400 + 3 * 3600) == "1d3h"
    assert format_duration(86400) == "1d"
    assert format_duration(3600 + 5 * 60) == "1h05m"
    assert format_duration(59) == "59s"


def test_block_script_has_both_families_and_ttl() -> None:
    reqs = [BlockRequest(ipaddress.ip_network("203.0.113.7"), 3600),
            BlockRequest(ipaddress.ip_network("2001:db8::/32"), 3600, refresh=True)]
    script = nftables.block_script(reqs)
    lines = script.splitlines()
    # a new entry is only created, with its TTL (created: one another run added meanwhile
    # fails the transaction instead of having its timeout replaced)
    assert "create element inet irtui v4_32 { 203.0.113.7 timeout 3600s }" in lines
    assert not any(line.startswith("delete element inet irtui v4_32") for line in lines)
    # one already blocked: add, delete, add again, so the TTL is set whatever the kernel
    # does with an add of an existing element
    assert lines.index("add element inet irtui v6_32 { 2001:db8:: }") < \
        lines.index("delete element inet irtui v6_32 { 2001:db8:: }") < \
        lines.index("add element inet irtui v6_32 { 2001:db8:: timeout 3600s }")
    assert "ip6 daddr & ffff:ffff:: @v6_32" in script
    assert "$" not in script  # every placeholder filled


def test_block_script_touches_only_the_sets_it_adds_to() -> None:
    """Issue 8 item 8: a script planned from an old state must not flush other sets' rules,
    so it takes no existing sets and flushes only the chains of the sets it adds to."""
    script = nftables.block_script([BlockRequest(ipaddress.ip_network("203.0.113.0/24"), 60)])
    flushed = [line.split()[-1] for line in script.splitlines() if line.startswith("flush")]
    assert flushed == ["v4_24_in", "v4_24_fwd", "v4_24_out"]
    assert "v4_32" not in script and "v6_" not in script


def test_parse_ruleset_reads_entries_and_isolation() -> None:
    doc = {"nftables": [
        {"metainfo": {"version": "1.0.6"}},
        {"set": {"family": "inet", "table": "irtui", "name": "v4_24", "elem": ["198.51.100.0"]}},
        {"set": {"family": "inet", "table": "irtui", "name": "v4_32", "elem": [
            {"elem": {"val": "203.0.113.7", "timeout": 86400, "expires": 86399}}]}},
        {"set": {"family": "inet", "table": "irtui", "name": "v6_32", "elem": [
            {"elem": {"val": "2001:db8::", "timeout": 60, "expires": 59}}]}},
        {"set": {"family": "inet", "table": "other", "name": "v4_32", "elem": ["192.0.2.1"]}},
        {"table": {"family": "inet", "name": "irtui_isolation"}},
        *({"chain": {"family": "inet", "table": "irtui_isolation", "name": hook, "type": "filter",
                     "hook": hook, "prio": -160, "policy": "drop"}}
          for hook in ("input", "output", "forward")),
        {"rule": {"family": "inet", "table": "irtui_isolation", "chain": "input",
                  "comment": "irtui isolation since=2026-11-29T22:30:00Z mgmt=198.18.0.1/32"}},
    ]}
    text = "Warning: some table uses a legacy feature\n" + json.dumps(doc)
    state = nftables.parse_ruleset("h", text)
    assert [e.text for e in state.blocks] == ["198.51.100.0/24", "203.0.113.7", "2001:db8::/32"]
    assert state.blocks[1].expires == 86399 and state.blocks[0].expires is None
    assert state.isolated and state.isolation is not None
    assert state.isolation.since == "2026-11-29T22:30:00Z"
    assert state.isolation.management == ("198.18.0.1/32",)
    assert sorted(state.detail["sets"]) == ["v4_24", "v4_32", "v6_32"]
    assert not nftables.parse_ruleset("h", '{"nftables": []}').isolated


@pytest.mark.parametrize(("text", "expected"), [
    ("300.1.1.1", True), ("10.0.0.0/8", True), ("2001:db8::1", True), ("::g", True),
    ("edr.example.org", False), ("host-1", False),
])
def test_looks_like_address(text: str, expected: bool) -> None:
    from irtui.core.targets import looks_like_address

    assert looks_like_address(text) is expected


def test_ordinary_addresses_pass_the_guard() -> None:
    for text in ("203.0.113.7", "198.51.100.0/24", "2001:db8::/32", "1.0.0.0/8"):
        assert refusal(parse_network(text)[0]) is None
