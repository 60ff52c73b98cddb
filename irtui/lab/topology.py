"""The lab's wiring: namespaces, the bridge, veth pairs with fixed MACs, and the addresses.

Every function here is idempotent: what exists and is right is kept (so open connections
survive a repeated ``lab up``), what is missing or wrong is (re)made. All need root.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import time
from pathlib import Path
from typing import Any

from irtui.core.errors import IrtuiError
from irtui.lab import netns
from irtui.lab.info import LabInfo
from irtui.lab.spec import BRIDGE, HOST_IFNAME, RESPONDER_PORT, LabSpec


def ensure_namespace(name: str, *, switch: bool = False) -> None:
    """Create network namespace ``name`` if needed (replacing a stale one), with the lab's
    sysctls: a switch forwards frames only; a machine takes no router advertisements."""
    if netns.stale_namespace_file(name):
        netns.delete_namespace(name)
    if not netns.namespace_exists(name):
        netns.add_namespace(name)
    if switch:
        # The bridge and its ports need no IPv6 of their own; they only forward frames.
        netns.sysctl(name, {"net.ipv6.conf.all.disable_ipv6": "1",
                            "net.ipv6.conf.default.disable_ipv6": "1"})
        netns.sysctl(name, {"net.bridge.bridge-nf-call-iptables": "0",
                            "net.bridge.bridge-nf-call-ip6tables": "0",
                            "net.bridge.bridge-nf-call-arptables": "0"}, ignore_missing=True)
    else:
        netns.sysctl(name, {"net.ipv6.conf.all.accept_ra": "0",
                            "net.ipv6.conf.default.accept_ra": "0",
                            "net.ipv6.conf.default.accept_dad": "0",
                            "net.ipv4.ip_forward": "0"})
    netns.ip_cmd(name, "link", "set", "lo", "up")


def ensure_bridge(sw: str) -> dict[str, dict[str, Any]]:
    """Make the lab bridge in namespace ``sw`` and return that namespace's links."""
    links = netns.links(sw)
    if BRIDGE in links and netns.link_kind(links[BRIDGE]) != "bridge":
        netns.delete_link(sw, BRIDGE)
        del links[BRIDGE]
    if BRIDGE not in links:
        netns.ip_cmd(sw, "link", "add", BRIDGE, "type", "bridge", "stp_state", "0",
                     "forward_delay", "0", "mcast_snooping", "0")
    netns.ip_cmd(sw, "link", "set", BRIDGE, "up")
    return netns.links(sw)


def ensure_mac(namespace: str | None, ifname: str, mac: str) -> None:
    """Give ``ifname`` the MAC ``mac`` unless it has it."""
    current = netns.links(namespace).get(ifname, {}).get("address", "")
    if current.lower() != mac:
        netns.ip_cmd(namespace, "link", "set", ifname, "address", mac)


def ensure_host_link(spec: LabSpec, ns: str, port: str, sw_links: dict[str, dict[str, Any]],
                      v4: str, v6: str) -> None:
    """Give ``ns`` an eth0 (fixed MAC) whose veth peer ``port`` is on the bridge, with the
    addresses."""
    sw = spec.switch_namespace
    ns_links = netns.links(ns)
    have_eth0 = HOST_IFNAME in ns_links and netns.link_kind(ns_links[HOST_IFNAME]) == "veth"
    have_port = port in sw_links and netns.link_kind(sw_links[port]) == "veth"
    if not (have_eth0 and have_port):
        if HOST_IFNAME in ns_links:
            netns.delete_link(ns, HOST_IFNAME)
        if port in netns.links(sw):
            netns.delete_link(sw, port)
        netns.ip_cmd(sw, "link", "add", port, "type", "veth", "peer", "name", HOST_IFNAME,
                     "netns", ns)
    ensure_mac(ns, HOST_IFNAME, spec.mac(spec.offset_of(v4)))
    netns.ip_cmd(sw, "link", "set", port, "master", BRIDGE, "up")
    netns.sysctl(ns, {f"net.ipv6.conf.{HOST_IFNAME}.accept_ra": "0"})
    netns.sync_addresses(ns, HOST_IFNAME, [f"{v4}/{spec.prefixlen4}", f"{v6}/{spec.prefixlen6}"])
    netns.ip_cmd(ns, "link", "set", HOST_IFNAME, "up")


def ensure_root_link(spec: LabSpec, sw_links: dict[str, dict[str, Any]]) -> None:
    """The responder's veth in the root namespace, its peer on the bridge, and its
    addresses.

    Raises:
        IrtuiError: an interface of that name exists and is not the lab's veth.
    """
    ifname = spec.root_ifname
    root_links = netns.links(None)
    if ifname in root_links and netns.link_kind(root_links[ifname]) != "veth":
        raise IrtuiError(f"an interface called {ifname} already exists and is not the lab's veth",
                         "choose another lab prefix")
    have_port = RESPONDER_PORT in sw_links and netns.link_kind(sw_links[RESPONDER_PORT]) == "veth"
    if not (ifname in root_links and have_port):
        if ifname in root_links:
            netns.delete_link(None, ifname)
        if RESPONDER_PORT in netns.links(spec.switch_namespace):
            netns.delete_link(spec.switch_namespace, RESPONDER_PORT)
        netns.ip_cmd(None, "link", "add", ifname, "type", "veth", "peer", "name",
                     RESPONDER_PORT, "netns", spec.switch_namespace)
    ensure_mac(None, ifname, spec.mac(spec.offset_of(spec.responder_v4)))
    netns.ip_cmd(spec.switch_namespace, "link", "set", RESPONDER_PORT, "master", BRIDGE, "up")
    # No router advertisements, no DAD delay, and never route lab packets onwards (IPv4).
    for key, value in ((f"net/ipv6/conf/{ifname}/accept_ra", "0"),
                       (f"net/ipv6/conf/{ifname}/accept_dad", "0"),
                       (f"net/ipv4/conf/{ifname}/forwarding", "0")):
        with contextlib.suppress(OSError):
            Path("/proc/sys", key).write_text(value)
    netns.sync_addresses(None, ifname, [f"{spec.responder_v4}/{spec.prefixlen4}",
                                        f"{spec.responder_v6}/{spec.prefixlen6}"])
    netns.ip_cmd(None, "link", "set", ifname, "up")


def refuse_subnet_clash(spec: LabSpec) -> None:
    """Refuse a lab whose subnets are already on another interface of this machine (another
    lab, or a real network): two routes for one subnet would send lab traffic astray."""
    ours = spec.root_ifname
    nets = [ipaddress.ip_network(spec.subnet4), ipaddress.ip_network(spec.subnet6)]
    proc = netns.run(["ip", "-j", "addr", "show"], check=False)
    for link in json.loads(proc.stdout or "[]"):
        if link.get("ifname") == ours:
            continue
        for addr in link.get("addr_info", []):
            try:
                ip = ipaddress.ip_address(addr.get("local", ""))
            except ValueError:
                continue
            if any(ip in net for net in nets):
                raise IrtuiError(
                    f"the lab subnet {', '.join(map(str, nets))} is already used by "
                    f"{link.get('ifname')} ({ip}) on this machine",
                    "pick other subnets for this lab, or remove the other lab first")


def tcp_open(address: str, port: int, timeout: float) -> bool:
    """True if a TCP connection to ``address:port`` (from the root namespace) succeeds within
    ``timeout`` seconds."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_ssh(info: LabInfo, limit: float) -> None:
    """Return once every sshd of the lab (hosts and bastion) accepts TCP on port 22 over
    IPv4 and IPv6, polling every 20 ms.

    Raises:
        IrtuiError: some did not within ``limit`` seconds (they are named).
    """
    deadline = time.monotonic() + limit
    machines = [*info.hosts, *([info.bastion] if info.bastion else [])]
    pending = [(h.name, addr) for h in machines for addr in (h.v4, h.v6)]
    while pending:
        pending = [(n, a) for n, a in pending if not tcp_open(a, 22, 0.5)]
        if not pending:
            return
        if time.monotonic() > deadline:
            names = ", ".join(sorted({f"{n} ({a})" for n, a in pending}))
            raise IrtuiError(f"lab sshd did not accept connections within {limit:g} s: {names}",
                             f"check the logs under {info.lab_dir}/hosts/*/sshd.log")
        time.sleep(0.02)
