"""Bring a practice lab of network-namespace hosts up, tear it down, report its state.

Topology (names for the default prefix ``irtui``)::

    root namespace (responder)            irtui-sw namespace          irtui-host1 ... irtui-hostN
      irtui0  198.18.0.1/24  ── veth ──  responder ┐                    eth0 198.18.0.(10+i)
              fd00:1ab::1/64                        ├ br0 ── hostI ── veth ── eth0 (+ sshd)
                                                    └ ── attacker ── veth ── irtui-attacker eth0

The bridge lives in its own namespace, so the root namespace's iptables and bridge netfilter
never see lab traffic. No namespace has a default route: the connected lab subnet is all there
is. Every host runs its own sshd (see :mod:`irtui.lab.sshd`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from irtui.core.config import write_toml_atomic
from irtui.core.errors import IrtuiError
from irtui.lab import netns
from irtui.lab.info import LabInfo
from irtui.lab.spec import BRIDGE, HOST_IFNAME, RESPONDER_PORT, LabSpec
from irtui.lab.sshd import (
    SSHD,
    generate_key,
    live_sshd,
    public_key,
    sshd_config_text,
    start_sshd,
    stop_sshd,
)

MARKER = ".irtui-lab"
SSH_WAIT_SECONDS = 10.0

# binary -> Debian package that provides it
REQUIRED_BINARIES = {
    "ip": "iproute2",
    "nft": "nftables",
    "sshd": "openssh-server",
    "ssh-keygen": "openssh-client",
    "unshare": "util-linux",
    "mount": "mount",
    "sysctl": "procps",
}


@dataclass
class LabStatus:
    """What of a lab exists right now.

    Attributes:
        spec: the lab asked about.
        lab_json: lab.json exists.
        namespaces: namespace name → exists.
        root_link: the responder veth exists in the root namespace.
        root_addresses: its global addresses (``"addr/len"``).
        sshd: host name → PID of its live sshd, or None.
        listening: host name → its IPv4 port 22 accepted a TCP connection.
        extra_namespaces: namespaces with the lab's prefix that the spec does not expect.
    """

    spec: LabSpec
    lab_json: bool = False
    namespaces: dict[str, bool] = field(default_factory=dict)
    root_link: bool = False
    root_addresses: list[str] = field(default_factory=list)
    sshd: dict[str, int | None] = field(default_factory=dict)
    listening: dict[str, bool] = field(default_factory=dict)
    extra_namespaces: list[str] = field(default_factory=list)

    @property
    def up(self) -> bool:
        """True when every namespace, the root veth, lab.json and every sshd are there."""
        return (self.lab_json and self.root_link and all(self.namespaces.values())
                and all(pid is not None for pid in self.sshd.values())
                and all(self.listening.values()))

    @property
    def anything(self) -> bool:
        """True if any part of the lab exists."""
        return (self.lab_json or self.root_link or any(self.namespaces.values())
                or bool(self.extra_namespaces))

    def lines(self) -> list[str]:
        """A human summary, one line per item."""
        spec = self.spec
        state = "up" if self.up else ("partly up" if self.anything else "down")
        out = [f"lab {spec.prefix!r} ({spec.subnet4}, {spec.subnet6}, {spec.lab_dir}): {state}"]
        addrs = ", ".join(self.root_addresses) or "no addresses"
        out.append(f"  responder {spec.root_ifname}: "
                   f"{'present, ' + addrs if self.root_link else 'missing'}")
        info = LabInfo.from_spec(spec)
        for h in info.hosts:
            ns_ok = self.namespaces.get(h.namespace, False)
            pid = self.sshd.get(h.name)
            sshd = (f"sshd pid {pid}" + ("" if self.listening.get(h.name) else " (not accepting)")
                    if pid else "sshd not running")
            out.append(f"  {h.name}: namespace {h.namespace} "
                       f"{'present' if ns_ok else 'missing'}, {h.v4} {h.v6}, {sshd}")
        a = info.attacker
        out.append(f"  attacker: namespace {a.namespace} "
                   f"{'present' if self.namespaces.get(a.namespace) else 'missing'}, {a.v4} {a.v6}")
        out.append(f"  switch: namespace {spec.switch_namespace} "
                   f"{'present' if self.namespaces.get(spec.switch_namespace) else 'missing'}")
        if self.extra_namespaces:
            out.append(f"  extra namespaces: {', '.join(self.extra_namespaces)}")
        if not self.lab_json:
            out.append(f"  {spec.lab_json} missing")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


# -- requirements ----------------------------------------------------------------------------


def check_requirements() -> None:
    """Check that the lab can run here: Linux, root, and the needed programs installed.

    Raises:
        IrtuiError: naming what is missing and the Debian package to install.
    """
    if not sys.platform.startswith("linux"):
        raise IrtuiError("the practice lab needs Linux network namespaces",
                         "run it on a Linux machine or VM")
    if os.geteuid() != 0:
        raise IrtuiError("the practice lab needs root", "run it with sudo")
    missing = [(b, pkg) for b, pkg in REQUIRED_BINARIES.items()
               if not (Path(SSHD).exists() if b == "sshd" else netns.find_binary(b))]
    if missing:
        names = ", ".join(b for b, _ in missing)
        pkgs = " ".join(sorted({pkg for _, pkg in missing}))
        verb = "is" if len(missing) == 1 else "are"
        raise IrtuiError(f"the practice lab needs {names}, which {verb} not installed",
                         f"install them: apt-get install {pkgs}")


# -- up --------------------------------------------------------------------------------------


def _prepare_lab_dir(spec: LabSpec) -> None:
    d = spec.lab_dir
    if d.exists() and not (d / MARKER).exists() and any(d.iterdir()):
        raise IrtuiError(f"{d} exists and is not a practice lab directory",
                         "choose another lab directory or remove that one")
    d.mkdir(mode=0o755, parents=True, exist_ok=True)
    (d / MARKER).write_text("irtui practice lab; lab_down removes this directory\n")
    (d / "hosts").mkdir(exist_ok=True)
    (d / "audit").mkdir(mode=0o700, exist_ok=True)


def _remove_host(spec: LabSpec, name: str, done: list[str]) -> None:
    """Stop the host's sshd, delete its namespace and its directory."""
    host_dir = spec.host_dir(name)
    ns = spec.namespace(name)
    for pid in stop_sshd(host_dir / "sshd.pid", host_dir / "sshd_config", ns):
        done.append(f"stopped sshd pid {pid} ({name})")
    if netns.namespace_exists(ns) or netns.stale_namespace_file(ns):
        netns.delete_namespace(ns)
        done.append(f"deleted namespace {ns}")
    if host_dir.is_dir():
        shutil.rmtree(host_dir)
        done.append(f"removed {host_dir}")


def _lab_host_names(spec: LabSpec) -> set[str]:
    """Host names of this prefix found in namespaces, lab.json and lab_dir/hosts."""
    names: set[str] = set()
    pattern = spec.host_pattern
    for ns in netns.list_namespaces():
        m = pattern.match(ns)
        if m:
            names.add(f"host{int(m.group(1))}")
    hosts_dir = spec.lab_dir / "hosts"
    if hosts_dir.is_dir():
        names.update(p.name for p in hosts_dir.iterdir()
                     if p.is_dir() and p.name.startswith("host") and p.name[4:].isdigit())
    with contextlib.suppress(IrtuiError):
        names.update(h.name for h in LabInfo.load(spec.lab_dir).hosts)
    return names


def _ensure_namespace(name: str, *, switch: bool = False) -> None:
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


def _ensure_bridge(sw: str) -> dict[str, dict[str, Any]]:
    links = netns.links(sw)
    if BRIDGE in links and netns.link_kind(links[BRIDGE]) != "bridge":
        netns.delete_link(sw, BRIDGE)
        del links[BRIDGE]
    if BRIDGE not in links:
        netns.ip_cmd(sw, "link", "add", BRIDGE, "type", "bridge", "stp_state", "0",
                     "forward_delay", "0", "mcast_snooping", "0")
    netns.ip_cmd(sw, "link", "set", BRIDGE, "up")
    return netns.links(sw)


def _ensure_mac(namespace: str | None, ifname: str, mac: str) -> None:
    current = netns.links(namespace).get(ifname, {}).get("address", "")
    if current.lower() != mac:
        netns.ip_cmd(namespace, "link", "set", ifname, "address", mac)


def _ensure_host_link(spec: LabSpec, ns: str, port: str, sw_links: dict[str, dict[str, Any]],
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
    _ensure_mac(ns, HOST_IFNAME, spec.mac(spec.offset_of(v4)))
    netns.ip_cmd(sw, "link", "set", port, "master", BRIDGE, "up")
    netns.sysctl(ns, {f"net.ipv6.conf.{HOST_IFNAME}.accept_ra": "0"})
    netns.sync_addresses(ns, HOST_IFNAME, [f"{v4}/{spec.prefixlen4}", f"{v6}/{spec.prefixlen6}"])
    netns.ip_cmd(ns, "link", "set", HOST_IFNAME, "up")


def _ensure_root_link(spec: LabSpec, sw_links: dict[str, dict[str, Any]]) -> None:
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
    _ensure_mac(None, ifname, spec.mac(spec.offset_of(spec.responder_v4)))
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


def _tcp_open(address: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait_for_ssh(info: LabInfo, limit: float) -> None:
    deadline = time.monotonic() + limit
    pending = [(h.name, addr) for h in info.hosts for addr in (h.v4, h.v6)]
    while pending:
        pending = [(n, a) for n, a in pending if not _tcp_open(a, 22, 0.5)]
        if not pending:
            return
        if time.monotonic() > deadline:
            names = ", ".join(sorted({f"{n} ({a})" for n, a in pending}))
            raise IrtuiError(f"lab sshd did not accept connections within {limit:g} s: {names}",
                             f"check the logs under {info.lab_dir}/hosts/*/sshd.log")
        time.sleep(0.02)


def _pub(key: Path) -> Path:
    return key.with_name(key.name + ".pub")


def _write_client_files(spec: LabSpec, info: LabInfo) -> None:
    lines = []
    for h in info.hosts:
        key = public_key(_pub(spec.host_dir(h.name) / "ssh_host_ed25519_key"))
        lines += [f"{h.v4} {key}", f"{h.v6} {key}"]
    tmp = spec.known_hosts_path.with_name(".known_hosts.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(spec.known_hosts_path)
    write_toml_atomic(spec.config_path, {
        "ssh": {"user": "root", "key_file": str(spec.key_path),
                "known_hosts": str(spec.known_hosts_path), "connect_timeout": 5,
                "command_timeout": 60, "use_agent": False},
        "hosts": [{"name": h.name, "address": h.v4, "port": 22, "groups": ["lab"]}
                  for h in info.hosts],
        "audit": {"dir": str(spec.lab_dir / "audit")},
        # the self-test after isolating: another lab host's sshd must become unreachable
        "isolation": {"canaries": [f"{h.v4}:22" for h in info.hosts[:2]],
                      "confirm_timeout": 30},
        "ui": {"refresh_seconds": 10},
    })
    tmp = spec.lab_json.with_name(".lab.json.tmp")
    tmp.write_text(json.dumps(info.to_json(), indent=2) + "\n")
    tmp.replace(spec.lab_json)


def _refuse_subnet_clash(spec: LabSpec) -> None:
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


def lab_up(spec: LabSpec) -> LabInfo:
    """Create the lab, or repair and reuse the one that is there.

    Idempotent: existing namespaces, links, keys and live sshds are kept (their PIDs and
    host keys do not change); missing pieces are created, dead sshds restarted, and hosts
    beyond ``spec.hosts`` removed. Returns only after every sshd accepts TCP on port 22 over
    IPv4 and IPv6 (at most ~10 s).

    Args:
        spec: the lab to build.

    Returns:
        The lab description, also written to ``spec.lab_dir/lab.json``.

    Raises:
        IrtuiError: not Linux, not root, a required program missing (naming the Debian
            package), a name clash with something that is not the lab's, or a step failed.
    """
    check_requirements()
    _refuse_subnet_clash(spec)
    _prepare_lab_dir(spec)
    info = LabInfo.from_spec(spec)
    removed: list[str] = []
    for name in sorted(_lab_host_names(spec) - set(spec.host_names)):
        _remove_host(spec, name, removed)

    sw = spec.switch_namespace
    _ensure_namespace(sw, switch=True)
    sw_links = _ensure_bridge(sw)
    machines = [*info.hosts, info.attacker]
    for m in machines:
        _ensure_namespace(m.namespace)
        _ensure_host_link(spec, m.namespace, m.name, sw_links, m.v4, m.v6)
    _ensure_root_link(spec, netns.links(sw))

    generate_key(spec.key_path, f"irtui-lab-{spec.prefix}")
    spec.authorized_keys_path.write_text(public_key(_pub(spec.key_path)) + "\n")
    # 0644: public keys only, and sshd reads it as the logging-in user (non-root lab users)
    spec.authorized_keys_path.chmod(0o644)
    for h in info.hosts:
        host_dir = spec.host_dir(h.name)
        host_dir.mkdir(parents=True, exist_ok=True)
        generate_key(host_dir / "ssh_host_ed25519_key", f"root@{h.name}")
        config = host_dir / "sshd_config"
        text = sshd_config_text(host_dir, spec.authorized_keys_path)
        if not config.exists() or config.read_text() != text:
            config.write_text(text)
        pid_file = host_dir / "sshd.pid"
        if live_sshd(pid_file, config, h.namespace) is None:
            # one whose PID file was lost, or left running in an old namespace of that name
            stop_sshd(pid_file, config, h.namespace)
            pid_file.unlink(missing_ok=True)
            start_sshd(h.namespace, h.name, host_dir)
    _write_client_files(spec, info)
    _wait_for_ssh(info, SSH_WAIT_SECONDS)
    return info


# -- down ------------------------------------------------------------------------------------


def lab_down(spec: LabSpec) -> list[str]:
    """Remove everything :func:`lab_up` made for ``spec``; safe when nothing exists.

    Finds the lab through lab.json, the PID files and the naming rules. Each sshd is signalled
    only after ``/proc/PID/cmdline`` shows ``sshd`` and that host's config path (never by
    process name); its session processes go with it. Then the root veth, the namespaces and
    ``lab_dir`` are removed. Other processes still inside a lab namespace are reported, not
    killed.

    Returns:
        One line per thing removed (and per leftover worth knowing about).

    Raises:
        IrtuiError: not root, or a removal failed.
    """
    if os.geteuid() != 0:
        raise IrtuiError("removing the practice lab needs root", "run it with sudo")
    done: list[str] = []
    names = _lab_host_names(spec) | set(spec.host_names)
    namespaces = {spec.namespace(n) for n in names}
    namespaces |= {spec.attacker_namespace, spec.switch_namespace}
    with contextlib.suppress(IrtuiError):
        namespaces |= {ns for ns in LabInfo.load(spec.lab_dir).namespaces
                       if ns.startswith(f"{spec.prefix}-")}

    for name in sorted(names, key=lambda n: int(n[4:])):
        host_dir = spec.host_dir(name)
        for pid in stop_sshd(host_dir / "sshd.pid", host_dir / "sshd_config",
                             spec.namespace(name)):
            done.append(f"stopped sshd pid {pid} ({name})")

    ifname = spec.root_ifname
    root_links = netns.links(None)
    if ifname in root_links and netns.link_kind(root_links[ifname]) == "veth":
        netns.delete_link(None, ifname)
        done.append(f"deleted interface {ifname}")

    for ns in sorted(namespaces):
        if netns.namespace_exists(ns):
            leftovers = netns.namespace_pids(ns)
            netns.delete_namespace(ns)
            done.append(f"deleted namespace {ns}")
            if leftovers:
                done.append(f"processes still in the deleted namespace {ns} (not killed): "
                            + " ".join(map(str, leftovers)))
        elif netns.stale_namespace_file(ns):
            netns.delete_namespace(ns)
            done.append(f"removed stale namespace file for {ns}")

    d = spec.lab_dir
    if d.is_dir():
        if (d / MARKER).exists() or (d / "lab.json").exists():
            shutil.rmtree(d)
            done.append(f"removed {d}")
        elif not any(d.iterdir()):
            d.rmdir()
            done.append(f"removed empty {d}")
        else:
            done.append(f"left {d} alone: it is not a practice lab directory")
    return done


# -- status ----------------------------------------------------------------------------------


def lab_status(spec: LabSpec) -> LabStatus:
    """Report which parts of the lab exist and whether every sshd is alive and accepting.

    Reads namespaces, the root veth, PID files and ``/proc``; connects (from the root
    namespace) to each host's IPv4 port 22 with a 0.5 s timeout. Never changes anything.

    Returns:
        A :class:`LabStatus`; ``str()`` of it is a human summary.
    """
    status = LabStatus(spec=spec, lab_json=spec.lab_json.exists())
    present = set(netns.list_namespaces())
    for ns in spec.all_namespaces:
        status.namespaces[ns] = ns in present
    expected = set(spec.all_namespaces)
    status.extra_namespaces = sorted(ns for ns in present
                                     if ns.startswith(f"{spec.prefix}-") and ns not in expected)
    try:
        root_links = netns.links(None)
    except IrtuiError:
        root_links = {}
    status.root_link = spec.root_ifname in root_links
    if status.root_link:
        status.root_addresses = netns.global_addresses(None, spec.root_ifname)
    for h in LabInfo.from_spec(spec).hosts:
        host_dir = spec.host_dir(h.name)
        pid = None
        if status.namespaces[h.namespace]:
            pid = live_sshd(host_dir / "sshd.pid", host_dir / "sshd_config", h.namespace)
        status.sshd[h.name] = pid
        status.listening[h.name] = pid is not None and status.root_link and _tcp_open(
            h.v4, 22, 0.5)
    return status
