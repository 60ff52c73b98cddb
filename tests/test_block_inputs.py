"""Text that becomes a firewall value: IPv6 scope ids, IPv4-mapped and other special IPv6
forms, port-scoped allow entries and allow entries that cover everything (issue 8, items 5,
6 and 14). Text level: no lab needed."""

from __future__ import annotations

import ipaddress
import json
import socket

import pytest

from irtui.core import local_addresses
from irtui.core.actions.guardrails import config_guard, guard_hit, jump_host_guard, parse_targets
from irtui.core.config import parse_config
from irtui.core.endpoints import parse_endpoint, resolve_allow
from irtui.core.errors import ConfigError, InvalidTargetError
from irtui.core.firewall.detect import parse_probe
from irtui.core.targets import parse_network, refusal


@pytest.fixture(autouse=True)
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """These inputs are literal addresses: any DNS lookup is a bug (and would leave the lab)."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"DNS lookup attempted for {args[0]!r}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)


# ---- item 5: IPv6 scope ids are refused per entry, with the reason ------------------------

@pytest.mark.parametrize("text", ["2001:db8::1%eth0", "fe80::1%1", "2001:db8::1%eth0/64",
                                  "2001:db8::%x/128", " 2001:db8::5%lo "])
def test_scope_id_is_refused_with_the_reason(text: str) -> None:
    with pytest.raises(InvalidTargetError, match="scope id") as err:
        parse_network(text)
    assert "%" in err.value.problem


def test_one_scope_id_line_is_refused_alone() -> None:
    notes: list[str] = []
    networks, refused = parse_targets(["203.0.113.5", "2001:db8::1%eth0", "2001:db8::5"], notes)
    assert [str(n) for n in networks] == ["203.0.113.5/32", "2001:db8::5/128"]
    assert list(refused) == ["2001:db8::1%eth0"]
    assert "scope id" in refused["2001:db8::1%eth0"].reason


@pytest.mark.parametrize("text", ["[fe80::1%eth0]:443", "[2001:db8::9%2]:22"])
def test_canary_with_scope_id_is_refused(text: str) -> None:
    assert parse_endpoint(text) is None


def test_canary_is_rendered_from_the_normalised_address() -> None:
    assert parse_endpoint("[2001:DB8:0::0009]:443") == ("2001:db8::9", 443)
    assert parse_endpoint("[::ffff:198.51.100.9]:443") == ("198.51.100.9", 443)


@pytest.mark.parametrize("entry", ["fe80::1%eth0", "[2001:db8::1%eth0]:22"])
def test_management_entry_with_scope_id_is_refused(entry: str) -> None:
    with pytest.raises(InvalidTargetError, match="scope id"):
        resolve_allow([entry])


@pytest.mark.parametrize(("section", "key", "value"), [
    ("firewall", "never_block", ["2001:db8::1%eth0"]),
    ("isolation", "allow", ["fe80::1%eth0"]),
    ("isolation", "allow", ["[2001:db8::1%eth0]:22"]),
    ("isolation", "canaries", ["[fe80::1%eth0]:443"]),
])
def test_config_refuses_scope_ids(section: str, key: str, value: list[str]) -> None:
    with pytest.raises(ConfigError, match=f"{section}.{key}"):
        parse_config({section: {key: value}})


# ---- item 6: IPv4-mapped IPv6 is mapped to IPv4, then guarded ------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("::ffff:198.18.0.66", "198.18.0.66/32"),
    ("::FFFF:c612:42", "198.18.0.66/32"),
    ("::ffff:198.51.100.0/120", "198.51.100.0/24"),
    ("::ffff:203.0.113.9/128", "203.0.113.9/32"),
    ("0:0:0:0:0:ffff:203.0.113.9", "203.0.113.9/32"),
])
def test_ipv4_mapped_is_blocked_as_ipv4(text: str, expected: str) -> None:
    net, note = parse_network(text)
    assert net.version == 4 and str(net) == expected
    assert note is not None and "IPv4-mapped" in note and "RFC 4291" in note


@pytest.mark.parametrize(("text", "rule"), [
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:224.0.0.1", "multicast"),
    ("::ffff:169.254.1.1", "link-local"), ("::ffff:0.0.0.0/96", "'this network'"),
])
def test_ipv4_mapped_special_ranges_are_refused(text: str, rule: str) -> None:
    net, _ = parse_network(text)
    assert rule in (refusal(net) or "")


def test_ipv4_mapped_management_address_is_refused() -> None:
    config = parse_config({"isolation": {"allow": ["198.51.100.5"]},
                           "firewall": {"never_block": ["::ffff:192.0.2.0/120"]}})
    guard = config_guard(config)
    assert "isolation.allow" in (guard_hit(parse_network("::ffff:198.51.100.5")[0], guard) or "")
    # a never_block written in mapped form protects the IPv4 range it means
    assert "never_block" in (guard_hit(parse_network("192.0.2.77")[0], guard) or "")


def test_mapped_prefix_wider_than_the_mapped_range_is_refused() -> None:
    with pytest.raises(InvalidTargetError, match="IPv4-mapped"):
        parse_network("::ffff:0:0/95")


@pytest.mark.parametrize("text", ["::1.2.3.4", "::102:304", "::c000:207/120"])
def test_ipv4_compatible_is_refused(text: str) -> None:
    with pytest.raises(InvalidTargetError, match="IPv4-compatible"):
        parse_network(text)


@pytest.mark.parametrize(("text", "words"), [
    ("2002:c000:0204::1", "6to4"), ("64:ff9b::c000:204", "NAT64"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
])
def test_ipv6_forms_embedding_ipv4_stay_ipv6_with_a_note(text: str, words: str) -> None:
    net, note = parse_network(text)
    assert net.version == 6 and net == ipaddress.ip_network(text)
    assert note is not None and words in note and "IPv6 only" in note


def test_ssh_session_from_a_mapped_address_is_protected_as_ipv4() -> None:
    facts = parse_probe("h", "### ssh\n::ffff:198.51.100.9 50000 198.51.100.10 22\n### end\n")
    assert facts.ssh_client == ipaddress.ip_address("198.51.100.9")
    protected = [net for net, _ in facts.protected()]
    assert ipaddress.ip_network("198.51.100.9/32") in protected


def test_management_entry_in_mapped_form_is_kept_as_ipv4() -> None:
    assert resolve_allow(["::ffff:198.51.100.5", "[::ffff:198.51.100.6]:22"]) == [
        (ipaddress.ip_network("198.51.100.5/32"), None),
        (ipaddress.ip_network("198.51.100.6/32"), 22)]


# ---- item 14: port-scoped allow entries and allows that cover everything -------------------

def test_port_scoped_allow_refusal_names_the_protected_port() -> None:
    config = parse_config({"isolation": {"allow": ["198.51.100.0/24:22",
                                                   "[2001:db8:5::/48]:443"]}})
    guard = config_guard(config)
    why = guard_hit(parse_network("198.51.100.7")[0], guard) or ""
    assert "198.51.100.0/24" in why and "port 22" in why
    why6 = guard_hit(parse_network("2001:db8:5::9")[0], guard) or ""
    assert "port 443" in why6
    # outside the allowed network nothing is protected
    assert guard_hit(parse_network("198.51.101.7")[0], guard) is None


def test_single_address_port_allow_protects_only_that_address() -> None:
    guard = config_guard(parse_config({"isolation": {"allow": ["198.51.100.5:22"]}}))
    assert guard_hit(parse_network("198.51.100.7")[0], guard) is None
    assert "port 22" in (guard_hit(parse_network("198.51.100.0/24")[0], guard) or "")


@pytest.mark.parametrize("entry", ["0.0.0.0/0:443", "0.0.0.0/0", "::/0", "[::/0]:443",
                                   "::ffff:0:0/96"])
def test_config_refuses_allow_entries_that_cover_everything(entry: str) -> None:
    with pytest.raises(ConfigError, match="covers every") as err:
        parse_config({"isolation": {"allow": [entry]}})
    assert "isolation.allow" in str(err.value)


@pytest.mark.parametrize("entry", ["0.0.0.0/0", "[::/0]:22"])
def test_management_option_refuses_everything(entry: str) -> None:
    with pytest.raises(InvalidTargetError, match="covers every"):
        resolve_allow([entry])


@pytest.mark.parametrize("token", ["$(id)", "`id`", "(nope)", "abc).", "203.0.113.5/33"])
def test_a_refused_token_is_named_as_given(token: str) -> None:
    """Refanging strips brackets and trailing punctuation before the check; the refusal
    still quotes what the responder gave (it quoted ``'$(id'``)."""
    networks, refused = parse_targets([token], [])
    assert networks == [] and list(refused) == [token]
    assert refused[token].reason.startswith(repr(token)), refused[token].reason


# ---- the jump host's own addresses -------------------------------------------------------


def test_the_jump_hosts_own_addresses_are_read_from_ip_json() -> None:
    text = json.dumps([
        {"ifname": "lo", "addr_info": [{"local": "127.0.0.1", "prefixlen": 8, "scope": "host"},
                                       {"local": "::1", "prefixlen": 128, "scope": "host"}]},
        {"ifname": "eth0", "addr_info": [
            {"local": "198.51.100.2", "prefixlen": 24, "scope": "global"},
            {"local": "2001:db8::2", "prefixlen": 64, "scope": "global"},
            {"local": "fe80::1", "prefixlen": 64, "scope": "link"},
            {"local": "2001:db8::2", "prefixlen": 64, "scope": "global"}, {"scope": "global"},
            {"local": "not an address", "scope": "global"}, "junk"]},
        {"ifname": "down"}, "junk"])
    assert [str(n) for n in local_addresses._parse(text)] == ["198.51.100.2/32",
                                                               "2001:db8::2/128"]


def test_a_block_of_the_jump_hosts_own_address_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                          ) -> None:
    """Read from this machine's interfaces (``ip -j address show``), and refused by name
    with the rule, as a covering prefix is; without ``ip`` nothing more is protected."""
    monkeypatch.setattr(local_addresses, "_cache", None)
    mine = local_addresses.local_networks()
    assert mine, "this machine has a global address (the tests' lab bridge at least)"
    hit = guard_hit(mine[0].supernet(new_prefix=mine[0].max_prefixlen - 4), jump_host_guard())
    assert hit is not None and "the machine irtui runs on" in hit
    monkeypatch.setattr(local_addresses, "_cache", None)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert local_addresses.local_networks() == () and jump_host_guard() == []
    monkeypatch.setattr(local_addresses, "_cache", None)
