"""What of a practice lab exists right now: :class:`LabStatus` and :func:`lab_status`."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace

from irtui.core.errors import IrtuiError
from irtui.lab import netns, sinks
from irtui.lab.info import LabInfo
from irtui.lab.spec import LabSpec
from irtui.lab.sshd import live_sshd
from irtui.lab.topology import tcp_open


@dataclass
class LabStatus:
    """What of a lab exists right now.

    Attributes:
        spec: the lab asked about.
        lab_json: lab.json exists.
        namespaces: namespace name → exists.
        root_link: the responder veth exists in the root namespace.
        root_addresses: its global addresses (``"addr/len"``).
        sshd: host name (and ``bastion``) → PID of its live sshd, or None.
        listening: host name (and ``bastion``) → its IPv4 port 22 accepted a TCP
            connection.
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
    notify: dict[str, int | None] = field(default_factory=dict)

    @property
    def up(self) -> bool:
        """True when every namespace, the root veth, lab.json and every sshd are there, and
        the notification sinks and the lab keyring run."""
        return (self.lab_json and self.root_link and all(self.namespaces.values())
                and all(pid is not None for pid in self.sshd.values())
                and all(self.listening.values())
                and all(pid is not None for pid in self.notify.values()))

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
        for h in [*info.hosts, *([info.bastion] if info.bastion else [])]:
            ns_ok = self.namespaces.get(h.namespace, False)
            pid = self.sshd.get(h.name)
            sshd = (f"sshd pid {pid}" + ("" if self.listening.get(h.name) else " (not accepting)")
                    if pid else "sshd not running")
            out.append(f"  {h.name}: namespace {h.namespace} "
                       f"{'present' if ns_ok else 'missing'}, {h.v4} {h.v6}, {sshd}")
        if info.bastion is not None:
            out.append(f"  hosts admit SSH only from the bastion; try: ssh -F "
                       f"{spec.ssh_config_path} host1")
        a = info.attacker
        out.append(f"  attacker: namespace {a.namespace} "
                   f"{'present' if self.namespaces.get(a.namespace) else 'missing'}, {a.v4} {a.v6}")
        out.append(f"  switch: namespace {spec.switch_namespace} "
                   f"{'present' if self.namespaces.get(spec.switch_namespace) else 'missing'}")
        if self.notify:
            parts = [f"{role} {'pid ' + str(pid) if pid else 'not running'}"
                     for role, pid in self.notify.items()]
            out.append(f"  notifications: {', '.join(parts)} (irtui lab inbox)")
        if self.extra_namespaces:
            out.append(f"  extra namespaces: {', '.join(self.extra_namespaces)}")
        if not self.lab_json:
            out.append(f"  {spec.lab_json} missing")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


# -- status ----------------------------------------------------------------------------------


def lab_status(spec: LabSpec) -> LabStatus:
    """Report which parts of the lab exist and whether every sshd is alive and accepting.

    Reads namespaces, the root veth, PID files and ``/proc``; connects (from the root
    namespace) to each host's IPv4 port 22 with a 0.5 s timeout. Never changes anything.
    A bastion is reported when ``spec.bastion`` asks for one or the lab has one (its
    namespace exists or lab.json names it), so ``lab status`` shows it either way.

    Returns:
        A :class:`LabStatus`; ``str()`` of it is a human summary.
    """
    present = set(netns.list_namespaces())
    if not spec.bastion:
        with contextlib.suppress(IrtuiError):
            recorded = LabInfo.load(spec.lab_dir).bastion is not None
            spec = replace(spec, bastion=recorded)
        if spec.bastion_namespace in present:
            spec = replace(spec, bastion=True)
    status = LabStatus(spec=spec, lab_json=spec.lab_json.exists())
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
    info = LabInfo.from_spec(spec)
    for h in [*info.hosts, *([info.bastion] if info.bastion else [])]:
        pid = None
        if status.namespaces[h.namespace] and h.pid_file is not None:
            pid = live_sshd(h.pid_file, h.pid_file.with_name("sshd_config"), h.namespace)
        status.sshd[h.name] = pid
        status.listening[h.name] = pid is not None and status.root_link and tcp_open(
            h.v4, 22, 0.5)
    status.notify = sinks.running(spec)
    return status
