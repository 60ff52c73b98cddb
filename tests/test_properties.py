"""Property-based tests (hypothesis) for every function that turns text into a firewall
value (issue 8): any input is either refused with a named reason (an IrtuiError subclass
with a problem and a fix) or rendered from its normalised ``ipaddress`` value so that the
tool reads back exactly that value. Text level here; the kernel read-back through real nft
and ipset is in ``test_kernel_readback.py``.

:data:`EXAMPLES` sets how many cases each property runs: 10,000+ in all, in well under
30 s. No DNS: ``socket.getaddrinfo`` raises for the whole module.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import string
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irtui.core.actions.guardrails import parse_targets
from irtui.core.endpoints import parse_endpoint, resolve_allow, split_port
from irtui.core.errors import IrtuiError
from irtui.core.feeds import parse_feed
from irtui.core.firewall import nftables
from irtui.core.firewall.backend import BlockRequest
from irtui.core.firewall.iptables import MAX_TIMEOUT, IptablesBackend
from irtui.core.firewall.iptables_state import _parse_set, fill, set_name, temp_set_name
from irtui.core.firewall.state import HostState, Network, entry_text
from irtui.core.firewall.state import address_text as state_address_text
from irtui.core.targets import IPV4_COMPATIBLE, IPV4_MAPPED, looks_like_address, parse_network

EXAMPLES = {"parse_network": 2500, "split_port": 1200, "parse_endpoint": 1200,
            "resolve_allow": 1200, "nft_render": 1300, "ipset_render": 1300,
            "feed": 1400}
"""Cases per property; the sum is what CI runs (at least 10,000: see the last test)."""

SAFE_RENDER = re.compile(r"^[0-9a-f:./]+$")
"""What a rendered address or network may contain: nothing a shell, nft or ipset could
read as anything but an address."""


def cases(name: str) -> settings:
    return settings(max_examples=EXAMPLES[name], deadline=None, database=None)


class DnsAttempt(Exception):
    """Raised instead of a DNS lookup: these inputs never leave the machine."""


@pytest.fixture(autouse=True, scope="module")
def no_dns() -> Iterator[None]:
    original = socket.getaddrinfo

    def refuse(host: object, *args: object, **kwargs: object) -> None:
        raise DnsAttempt(str(host))

    socket.getaddrinfo = refuse  # type: ignore[assignment]
    yield
    socket.getaddrinfo = original


# ---- strategies ---------------------------------------------------------------------------

def networks(min_prefix: int = 0) -> st.SearchStrategy[Network]:
    def build(version: int) -> st.SearchStrategy[Network]:
        full = 32 if version == 4 else 128
        return st.tuples(st.ip_addresses(v=version), st.integers(min_prefix, full)).map(
            lambda ap: ipaddress.ip_network(ap, strict=False))
    return st.one_of(build(4), build(6))


def _forms(net: Network, style: int, host_bits: int) -> str:
    """Ways people write ``net``: compressed, exploded, upper case, with host bits, a
    netmask, IPv4-mapped, a bare address for full-length prefixes."""
    addr = net.network_address + (host_bits % max(1, net.num_addresses))
    if style == 0:
        return str(net)
    if style == 1:
        return f"{addr.exploded}/{net.prefixlen}".upper()
    if style == 2:
        return f"{addr}/{net.netmask}" if net.version == 4 else f"{addr}/{net.prefixlen}"
    if style == 3 and net.version == 4:
        return f"::ffff:{addr}/{96 + net.prefixlen}"
    if style == 4:
        return f"  {addr}\t"
    return str(addr) if net.prefixlen == net.max_prefixlen else str(net)


written = st.builds(_forms, networks(), st.integers(0, 5), st.integers(0, 2 ** 32))
scoped = st.builds(lambda a, z: f"{a}%{z}", st.ip_addresses(v=6),
                   st.text(string.ascii_letters + string.digits, min_size=1, max_size=6))
noise = st.text(alphabet="0123456789abcdefABCDEF:./%[] \t-xg,#", max_size=48)
address_text = st.one_of(written, scoped, noise, st.text(max_size=40))


def _check_network(net: Network) -> None:
    """The invariants every network irtui hands to a backend satisfies."""
    assert isinstance(net, ipaddress.IPv4Network | ipaddress.IPv6Network)
    if net.version == 6:
        assert not net.network_address.scope_id
        assert not net.subnet_of(IPV4_MAPPED)
        assert not net.subnet_of(IPV4_COMPATIBLE) or net.overlaps(
            ipaddress.ip_network("::/127"))
    rendered = entry_text(net)
    assert SAFE_RENDER.match(rendered), rendered
    assert ipaddress.ip_network(rendered) == net
    assert parse_network(rendered)[0] == net  # normalised text means the same network


@settings(max_examples=500, deadline=None, database=None)
@given(st.ip_addresses())
def test_address_text_is_str_of_the_address(address: ipaddress.IPv4Address
                                            | ipaddress.IPv6Address) -> None:
    """The faster IPv4 text (inet_ntoa) is exactly ``ipaddress``'s."""
    assert state_address_text(address) == str(address)


def _refused(exc: IrtuiError) -> None:
    assert exc.problem and exc.fix and "\n" not in exc.line


# ---- parsers ------------------------------------------------------------------------------

@cases("parse_network")
@given(address_text)
def test_parse_network_refuses_or_normalises(text: str) -> None:
    try:
        net, note = parse_network(text)
    except IrtuiError as exc:
        _refused(exc)
        return
    _check_network(net)
    if "%" not in text and not any(c.isspace() for c in text.strip()):
        meant = ipaddress.ip_network(text.strip(), strict=False)
        if meant.version == 6 and meant.subnet_of(IPV4_MAPPED):
            assert net.version == 4 and note and "IPv4-mapped" in note
        else:
            assert net == meant


def endpoint_text(low: int = -5, high: int = 70000) -> st.SearchStrategy[str]:
    """``addr:port`` and ``[addr]:port`` (ports from ``low`` to ``high``, valid or not),
    plus anything :data:`address_text` gives."""
    ports = st.integers(low, high)
    return st.one_of(address_text, st.builds(lambda h, p: f"{h}:{p}", written, ports),
                     st.builds(lambda h, p: f"[{h}]:{p}", st.one_of(written, scoped), ports))


@cases("split_port")
@given(endpoint_text())
def test_split_port_refuses_or_gives_a_valid_port(text: str) -> None:
    try:
        host, port = split_port(text)
    except IrtuiError as exc:
        _refused(exc)
        return
    assert port is None or 0 < port < 65536
    written_as = text.strip()
    if port is None:
        assert written_as in (host, f"[{host}]")
    else:  # exactly host:port or [host]:port, nothing dropped or added
        assert re.fullmatch(rf"(\[{re.escape(host)}\]|{re.escape(host)}):0*{port}", written_as)


@cases("parse_endpoint")
@given(endpoint_text())
def test_parse_endpoint_gives_a_normalised_address_or_none(text: str) -> None:
    endpoint = parse_endpoint(text)
    if endpoint is None:
        return
    address, port = endpoint
    assert 0 < port < 65536
    parsed = ipaddress.ip_address(address)
    assert str(parsed) == address and SAFE_RENDER.match(address)
    assert not (parsed.version == 6 and parsed.ipv4_mapped)


@cases("resolve_allow")
@given(endpoint_text(1, 65535))
def test_resolve_allow_literal_entries_are_normalised_or_refused(text: str) -> None:
    try:
        out = resolve_allow([text])
    except IrtuiError as exc:
        _refused(exc)
        return
    except DnsAttempt as attempt:  # only for what is not written as an address
        assert not looks_like_address(str(attempt)) and "%" not in str(attempt)
        return
    assert len(out) == 1
    (net, port), = out
    _check_network(net)
    assert net.prefixlen > 0  # an allow entry never covers everything
    assert port is None or 0 < port < 65536


# ---- renderers ----------------------------------------------------------------------------

ttls = st.one_of(st.none(), st.integers(1, MAX_TIMEOUT))
IPSET_BACKEND = IptablesBackend("iptables-nft")


@cases("nft_render")
@given(networks(), ttls)
def test_nft_element_reads_back_as_the_network(net: Network, ttl: int | None) -> None:
    name = nftables.set_name(net)
    assert name == f"v{net.version}_{net.prefixlen}"
    plain = nftables.element(net)
    assert SAFE_RENDER.match(plain) and ipaddress.ip_address(plain) == net.network_address
    with_ttl = nftables.element(net, ttl)
    assert with_ttl == (f"{plain} timeout {ttl}s" if ttl else plain)
    # as `nft -j list ruleset` prints the element back
    item = {"elem": {"val": plain, "timeout": ttl, "expires": ttl}} if ttl else plain
    doc = {"nftables": [{"set": {"family": "inet", "table": "irtui", "name": name,
                                 "elem": [item]}}]}
    (entry,) = nftables.parse_ruleset("h", json.dumps(doc)).blocks
    assert entry.network == net and entry.timeout == ttl
    script = nftables.block_script([BlockRequest(net, ttl)])
    for line in script.splitlines():  # nft statements on irtui's table, typed values only
        assert re.match(r"^(add|create|delete|flush) (table|set|chain|rule|element) inet irtui\b"
                        r'[A-Za-z0-9_:./{}&;@," -]*$', line), line
    assert f"{{ {with_ttl} }}" in script


@cases("ipset_render")
@given(networks(), ttls)
def test_ipset_entry_reads_back_as_the_network(net: Network, ttl: int | None) -> None:
    backend = IPSET_BACKEND
    if net.prefixlen == 0:
        with pytest.raises(IrtuiError, match="/0"):
            backend.block_commands([BlockRequest(net, ttl)], HostState("h"))
        return
    line = fill("ipset_add", temp=temp_set_name(net.version), entry=entry_text(net),
                timeout=ttl or 0)
    assert line.split()[2] == entry_text(net)
    command = backend.block_commands([BlockRequest(net, ttl)], HostState("h"))[0]
    assert command.stdin == line + "\n"
    # as `ipset save` prints it back (the live set's name, the remaining timeout)
    saved = line.replace(temp_set_name(net.version), set_name(net.version))
    _, (entry,), holes = _parse_set("h", net.version,
                                    [f"create {set_name(net.version)} hash:net", saved])
    assert holes == []
    assert entry.network == net and entry.timeout == ttl
    # the same line as a nomatch exception (ipset(8)) is a hole, never a block
    _, entries, holes = _parse_set("h", net.version, [saved + " nomatch"])
    assert entries == [] and holes == [net]


# ---- feeds --------------------------------------------------------------------------------

feed_line = st.one_of(address_text, written, st.sampled_from(["", "# comment", " ", "ip",
                                                              "address,source", "\x00"]))
feed_text = st.one_of(st.lists(feed_line, max_size=12).map("\n".join), st.text(max_size=200))


@cases("feed")
@given(feed_text)
def test_feed_lines_become_entries_refused_or_normalised(text: str) -> None:
    try:
        entries = parse_feed(text, "feed")
    except IrtuiError as exc:
        _refused(exc)
        return
    assert all(e == e.strip() and e for e in entries)
    if not entries:
        return
    notes: list[str] = []
    networks_, refused = parse_targets(entries, notes)
    for net in networks_:
        _check_network(net)
    assert all(status.refused and status.reason for status in refused.values())
    assert len(networks_) + len(refused) <= len(entries)


def test_ten_thousand_generated_cases_in_all() -> None:
    assert sum(EXAMPLES.values()) >= 10_000
