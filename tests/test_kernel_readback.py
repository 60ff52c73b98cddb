"""The kernel half of the rendering property (issue 8): generated networks go through irtui's
own nft script and ipset commands into real nftables sets and ipsets, in a network namespace
made for this test, and the read-back (irtui's own readers) must give exactly the normalised
networks and timeouts back, every one enforced. Hypothesis draws a few hundred networks per
example; nothing here sends a packet."""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from irtui.core.firewall import nftables
from irtui.core.firewall.backend import BlockRequest
from irtui.core.firewall.iptables import MAX_TIMEOUT, IptablesBackend
from irtui.core.firewall.state import Enforcement, HostState, Network
from irtui.lab.probe import ns_run
from tests.lab_fixtures import TEST_SPEC

BATCH = 300
"""Networks per generated example."""
EXAMPLES = 2


def _networks() -> st.SearchStrategy[Network]:
    def build(version: int) -> st.SearchStrategy[Network]:
        full = 32 if version == 4 else 128
        return st.tuples(st.ip_addresses(v=version), st.integers(1, full)).map(
            lambda ap: ipaddress.ip_network(ap, strict=False))
    return st.one_of(build(4), build(6))


requests = st.lists(st.tuples(_networks(), st.one_of(st.none(), st.integers(60, MAX_TIMEOUT))),
                    min_size=BATCH, max_size=BATCH, unique_by=lambda r: r[0]).map(
    lambda rs: [BlockRequest(net, ttl) for net, ttl in rs])
property_settings = settings(max_examples=EXAMPLES, deadline=None, database=None,
                             # no shrinking: each case is a whole kernel round trip; a
                             # failure prints its full input
                             phases=(Phase.explicit, Phase.generate),
                             suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                    HealthCheck.too_slow,
                                                    HealthCheck.data_too_large,
                                                    HealthCheck.large_base_example])


@pytest.fixture
def scratch(lab) -> Iterator[str]:
    """A network namespace of its own (no interface but loopback), removed afterwards."""
    name = f"{TEST_SPEC.prefix}-readback"
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def _run(namespace: str, argv: tuple[str, ...], stdin: str | None = None) -> str:
    out = ns_run(namespace, list(argv), input=(stdin or "").encode(), timeout=60)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    return out.stdout.decode()


def _expected(reqs: list[BlockRequest]) -> dict[Network, int | None]:
    return {r.network: r.ttl for r in reqs}


@property_settings
@given(requests)
def test_nft_sets_read_back_exactly(scratch: str, reqs: list[BlockRequest]) -> None:
    _run(scratch, ("nft", "flush", "ruleset"))
    backend = nftables.NftablesBackend()
    for command in backend.block_commands(reqs, HostState("scratch")):
        _run(scratch, command.argv, command.stdin)
    state = backend.parse_state("scratch", _run(scratch, backend.read_command().argv))
    assert {e.network: e.timeout for e in state.blocks} == _expected(reqs)
    assert {e.enforcement for e in state.blocks} == {Enforcement.ENFORCED}, state.gaps


@property_settings
@given(requests)
def test_ipsets_read_back_exactly(scratch: str, reqs: list[BlockRequest]) -> None:
    # the rules go first: an ipset a rule still uses cannot be destroyed
    _run(scratch, ("sh", "-c", "nft flush ruleset; ipset destroy 2>/dev/null; true"))
    backend = IptablesBackend("iptables-nft")
    for command in backend.block_commands(reqs, HostState("scratch")):
        _run(scratch, command.argv, command.stdin)
    state = backend.parse_state("scratch", _run(scratch, backend.read_command().argv))
    # ipset saves the remaining timeout: it may have ticked a second since
    got = {e.network: e.timeout for e in state.blocks}
    assert set(got) == set(_expected(reqs))
    for net, ttl in _expected(reqs).items():
        left = got[net]
        assert (left is None) if ttl is None else (left is not None and ttl - 5 <= left <= ttl)
    assert {e.enforcement for e in state.blocks} == {Enforcement.ENFORCED}, state.gaps
