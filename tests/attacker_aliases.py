"""Extra IPv6 addresses on the lab's attacker, each in a /96 of the lab subnet of its own, so
a test can block many different prefixes (one nft set per prefix length) and prove each one
at the traffic level without one block covering another's address."""

from __future__ import annotations

import contextlib
import ipaddress
import json
from collections.abc import Iterator

from irtui.lab import LabInfo
from irtui.lab.probe import ns_run

FIRST_BLOCK = 0xA
"""The first /96 of the lab /64 used for aliases (the lab's own hosts are in the first)."""


def alias(lab: LabInfo, k: int) -> str:
    """The attacker's ``k``-th alias address: ``<lab /64>:0:<FIRST_BLOCK + k>:0:66``."""
    base = ipaddress.IPv6Network(lab.subnet6).network_address
    return str(base + ((FIRST_BLOCK + k) << 32) + 0x66)


def covering(address: str, prefixlen: int) -> str:
    """The ``/prefixlen`` network holding ``address`` (``prefixlen`` 97-128 stays inside the
    alias's own /96)."""
    assert prefixlen > 96
    return str(ipaddress.ip_network(f"{address}/{prefixlen}", strict=False))


def _ifname(namespace: str) -> str:
    links = json.loads(ns_run(namespace, ["ip", "-j", "link"]).stdout or b"[]")
    names = [link["ifname"] for link in links if link.get("ifname") != "lo"]
    assert names, f"no interface in {namespace}"
    return str(names[0])


@contextlib.contextmanager
def attacker_aliases(lab: LabInfo, count: int) -> Iterator[list[str]]:
    """Give the attacker ``count`` alias addresses (``nodad``: usable at once); remove them
    afterwards."""
    ns = lab.attacker.namespace
    dev = _ifname(ns)
    prefix = ipaddress.IPv6Network(lab.subnet6).prefixlen
    addresses = [alias(lab, k) for k in range(count)]
    try:
        for a in addresses:
            out = ns_run(ns, ["ip", "-6", "addr", "add", f"{a}/{prefix}", "dev", dev, "nodad"])
            assert out.returncode == 0, out.stderr.decode()
        yield addresses
    finally:
        for a in addresses:
            ns_run(ns, ["ip", "-6", "addr", "del", f"{a}/{prefix}", "dev", dev])
