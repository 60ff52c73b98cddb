"""What a practice lab looks like: names, addresses and where its files live.

A :class:`LabSpec` is pure data plus naming rules; nothing here touches the system.

Addresses come from two ranges that never reach a real network: ``198.18.0.0/15`` (RFC 2544
benchmarking, never routed publicly) and ``fd00::/8`` (unique local addresses, RFC 4193).
Inside the lab subnet each role has a fixed offset, the same number in both families:

* responder (the root namespace, where irtui runs): offset 1 (``198.18.0.1``, ``fd00:1ab::1``)
* host *i* (1-based): offset ``10 + i`` (``198.18.0.11``, ``fd00:1ab::b``; IPv6 shown in hex)
* attacker: offset 66 (``198.18.0.66``, ``fd00:1ab::42``)
* bastion (optional, ``lab up --bastion``): offset 5 (``198.18.0.5``, ``fd00:1ab::5``)
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

from irtui.core.errors import IrtuiError

DEFAULT_LAB_DIR = Path("/run/irtui-lab")
TEST_LAB_DIR = Path("/run/irtui-lab-test")
TEST_SUBNET_BASE = 16
"""Test lab slot N uses 198.18.(16+N).0/24: apart from the default lab (198.18.0.0/24) and
the benchmark lab (198.18.9.0/24). The tests' other per-slot subnets (extra labs, a routed
container) take 198.18.(64+N), (96+N), (128+N) and (160+N): see tests/lab_fixtures.py."""
MAX_TEST_SLOTS = 32
TEST_BASTION_SUBNET_BASE = 48
"""The bastion test lab of slot N uses 198.18.(48+N).0/24, apart from every plain test lab."""

RESPONDER_OFFSET = 1
HOST_OFFSET = 10
ATTACKER_OFFSET = 66
BASTION_OFFSET = 5
MAX_HOSTS = 50

ATTACKER = "attacker"
BASTION = "bastion"
SWITCH = "sw"
BRIDGE = "br0"
HOST_IFNAME = "eth0"
RESPONDER_PORT = "responder"

PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,13}$")


@dataclass(frozen=True)
class LabSpec:
    """The shape of a practice lab.

    Attributes:
        prefix: namespace/interface prefix, 1-14 lower-case letters or digits starting with a
            letter (the root-namespace veth is ``{prefix}0`` and Linux allows 15 characters).
        hosts: number of SSH hosts, 1-50.
        subnet4: IPv4 lab subnet; must hold offsets 1..66 (a /25 or larger).
        subnet6: IPv6 lab subnet (normally a /64).
        lab_dir: absolute directory for keys, configs, pid files and logs. It must not be under
            /root, because each host's sshd gets a private /root bound over the real one.
        bastion: add a bastion host; the other hosts then accept SSH only from it, and the
            lab's config reaches them through it (ProxyJump in ``lab_dir/ssh_config``).

    Raises:
        IrtuiError: on construction, when any field is out of range.
    """

    prefix: str = "irtui"
    hosts: int = 3
    subnet4: str = "198.18.0.0/24"
    subnet6: str = "fd00:1ab::/64"
    lab_dir: Path = DEFAULT_LAB_DIR
    bastion: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "lab_dir", Path(self.lab_dir))
        if not PREFIX_RE.match(self.prefix):
            raise IrtuiError(
                f"lab prefix {self.prefix!r} is not valid",
                "use 1-14 lower-case letters or digits, starting with a letter",
            )
        if not 1 <= self.hosts <= MAX_HOSTS:
            raise IrtuiError(f"lab host count {self.hosts} is out of range",
                             f"use 1 to {MAX_HOSTS} hosts")
        try:
            net4 = ipaddress.IPv4Network(self.subnet4)
            net6 = ipaddress.IPv6Network(self.subnet6)
        except ValueError as exc:
            raise IrtuiError(
                f"lab subnet is not valid ({exc})",
                "give an IPv4 and an IPv6 network address like 198.18.0.0/24",
            ) from None
        for net in (net4, net6):
            last = net.num_addresses - 1
            if last <= ATTACKER_OFFSET:
                raise IrtuiError(f"lab subnet {net} is too small",
                                 "use at least a /25 (IPv4) or a /120 (IPv6)")
        lab_dir = self.lab_dir
        if not lab_dir.is_absolute() or lab_dir == Path("/"):
            raise IrtuiError(f"lab directory {str(lab_dir)!r} is not usable",
                             "give an absolute directory such as /run/irtui-lab")
        parts = lab_dir.resolve().parts
        if len(parts) >= 2 and parts[1] == "root":
            raise IrtuiError(
                f"lab directory {lab_dir} is under /root, which each lab host replaces with "
                "its own private home",
                "put the lab directory elsewhere, e.g. /run/irtui-lab",
            )

    @classmethod
    def for_tests(cls, hosts: int = 3, slot: int | None = None,
                  bastion: bool = False) -> LabSpec:
        """The spec the test suite uses; it never clashes with a developer's default lab,
        nor with another test lab running at the same time on the same machine.

        Args:
            hosts: number of lab hosts.
            slot: 0-31; each slot has its own prefix, subnets, directory and lock, so
                parallel test processes (pytest-xdist workers, two checkouts) each get a lab.
                Default: :func:`lab_slot`.
            bastion: the slot's bastion lab instead, a second lab beside the plain one.

        Returns:
            ``LabSpec(prefix="irtest<slot>", subnet4="198.18.<16+slot>.0/24",
            subnet6="fd00:1ab:<16+slot, hex>::/64", lab_dir=/run/irtui-lab-test-<slot>)``;
            with ``bastion``: prefix ``irbast<slot>``, third octet ``48+slot``, lab_dir
            ``/run/irtui-lab-test-bastion-<slot>``.
        """
        n = lab_slot() if slot is None else slot
        if not 0 <= n < MAX_TEST_SLOTS:
            raise IrtuiError(f"test lab slot {n} is out of range",
                             f"use 0 to {MAX_TEST_SLOTS - 1} (IRTUI_TEST_SLOT)")
        if bastion:
            third = TEST_BASTION_SUBNET_BASE + n
            return cls(prefix=f"irbast{n}", hosts=hosts, subnet4=f"198.18.{third}.0/24",
                       subnet6=f"fd00:1ab:{third:x}::/64",
                       lab_dir=Path(f"{TEST_LAB_DIR}-bastion-{n}"), bastion=True)
        third = TEST_SUBNET_BASE + n
        return cls(prefix=f"irtest{n}", hosts=hosts, subnet4=f"198.18.{third}.0/24",
                   subnet6=f"fd00:1ab:{third:x}::/64", lab_dir=Path(f"{TEST_LAB_DIR}-{n}"))

    # -- names ---------------------------------------------------------------------------

    @property
    def host_names(self) -> list[str]:
        """``["host1", ..., "hostN"]``."""
        return [f"host{i}" for i in range(1, self.hosts + 1)]

    def namespace(self, role: str) -> str:
        """Namespace name for a role: ``host3`` → ``{prefix}-host3``, ``attacker``, ``sw``."""
        return f"{self.prefix}-{role}"

    @property
    def switch_namespace(self) -> str:
        """Namespace that holds the bridge (``{prefix}-sw``)."""
        return self.namespace(SWITCH)

    @property
    def attacker_namespace(self) -> str:
        """Namespace of the attacker (``{prefix}-attacker``)."""
        return self.namespace(ATTACKER)

    @property
    def host_namespaces(self) -> list[str]:
        """Namespaces of the SSH hosts, in host order."""
        return [self.namespace(name) for name in self.host_names]

    @property
    def bastion_namespace(self) -> str:
        """Namespace of the bastion (``{prefix}-bastion``), whether or not the lab has one."""
        return self.namespace(BASTION)

    @property
    def all_namespaces(self) -> list[str]:
        """Every namespace of the lab: hosts, attacker, the bastion if any, then the switch."""
        return [*self.host_namespaces, self.attacker_namespace,
                *([self.bastion_namespace] if self.bastion else []), self.switch_namespace]

    @property
    def root_ifname(self) -> str:
        """Name of the responder's veth in the root namespace (``{prefix}0``)."""
        return f"{self.prefix}0"

    @property
    def host_pattern(self) -> re.Pattern[str]:
        """Matches this lab's host namespace names; group 1 is the host number."""
        return re.compile(rf"^{re.escape(self.prefix)}-host(\d+)$")

    # -- addresses -----------------------------------------------------------------------

    @property
    def prefixlen4(self) -> int:
        """Prefix length of the IPv4 subnet."""
        return ipaddress.IPv4Network(self.subnet4).prefixlen

    @property
    def prefixlen6(self) -> int:
        """Prefix length of the IPv6 subnet."""
        return ipaddress.IPv6Network(self.subnet6).prefixlen

    def v4(self, offset: int) -> str:
        """IPv4 address at ``offset`` inside ``subnet4``, as text."""
        return str(ipaddress.IPv4Network(self.subnet4).network_address + offset)

    def v6(self, offset: int) -> str:
        """IPv6 address at ``offset`` inside ``subnet6``, as compressed text."""
        return str(ipaddress.IPv6Network(self.subnet6).network_address + offset)

    def offset_of(self, v4: str) -> int:
        """Offset of an IPv4 address inside ``subnet4`` (inverse of :meth:`v4`)."""
        return int(ipaddress.IPv4Address(v4)) - int(ipaddress.IPv4Network(self.subnet4)[0])

    def mac(self, offset: int) -> str:
        """Fixed MAC address for the interface at ``offset``: locally administered,
        ``02:`` + 3 bytes derived from the prefix + ``00:`` + the offset. Because it is fixed,
        a recreated interface keeps its MAC and the neighbours' ARP/ND caches stay right."""
        digest = hashlib.sha256(self.prefix.encode()).digest()
        return ":".join(f"{b:02x}" for b in (0x02, *digest[:3], 0x00, offset & 0xFF))

    def host_offset(self, index: int) -> int:
        """Address offset of host number ``index`` (1-based)."""
        return HOST_OFFSET + index

    @property
    def responder_v4(self) -> str:
        """The responder's IPv4 address (offset 1)."""
        return self.v4(RESPONDER_OFFSET)

    @property
    def responder_v6(self) -> str:
        """The responder's IPv6 address (offset 1)."""
        return self.v6(RESPONDER_OFFSET)

    @property
    def attacker_v4(self) -> str:
        """The attacker's IPv4 address (offset 66)."""
        return self.v4(ATTACKER_OFFSET)

    @property
    def attacker_v6(self) -> str:
        """The attacker's IPv6 address (offset 66, i.e. ``::42``)."""
        return self.v6(ATTACKER_OFFSET)

    # -- files ---------------------------------------------------------------------------

    def host_dir(self, name: str) -> Path:
        """``lab_dir/hosts/NAME``: that host's sshd config, key, pid file, log and home."""
        return self.lab_dir / "hosts" / name

    @property
    def lab_json(self) -> Path:
        """``lab_dir/lab.json``, the description of a running lab."""
        return self.lab_dir / "lab.json"

    @property
    def config_path(self) -> Path:
        """``lab_dir/config.toml``, an irtui config for the lab hosts."""
        return self.lab_dir / "config.toml"

    @property
    def key_path(self) -> Path:
        """``lab_dir/id_ed25519``, the client key authorised on every host."""
        return self.lab_dir / "id_ed25519"

    @property
    def known_hosts_path(self) -> Path:
        """``lab_dir/known_hosts``, host keys for every host's v4 and v6 address."""
        return self.lab_dir / "known_hosts"

    @property
    def bastion_dir(self) -> Path:
        """``lab_dir/bastion``: the bastion's sshd config, key, pid file, log and home."""
        return self.lab_dir / BASTION

    @property
    def ssh_config_path(self) -> Path:
        """``lab_dir/ssh_config``, the OpenSSH client config of a lab with a bastion."""
        return self.lab_dir / "ssh_config"

    @property
    def authorized_keys_path(self) -> Path:
        """``lab_dir/authorized_keys``, shared by every host's sshd."""
        return self.lab_dir / "authorized_keys"


def lab_slot() -> int:
    """The test lab slot of this process: ``$IRTUI_TEST_SLOT`` (default 0) plus the
    pytest-xdist worker number (``$PYTEST_XDIST_WORKER`` = ``gwN``), so every worker of every
    concurrent run gets its own lab.

    Raises:
        IrtuiError: ``IRTUI_TEST_SLOT`` is not a number.
    """
    base_text = os.environ.get("IRTUI_TEST_SLOT", "0").strip() or "0"
    if not base_text.isdigit():
        raise IrtuiError(f"IRTUI_TEST_SLOT={base_text!r} is not a number",
                         f"set it to 0-{MAX_TEST_SLOTS - 1}")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    offset = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    return int(base_text) + offset
