"""What a running lab looks like: :class:`LabInfo` (read from ``lab_dir/lab.json``) and
:class:`LabHost`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from irtui.core.errors import IrtuiError
from irtui.lab.spec import ATTACKER, ATTACKER_OFFSET, BASTION, BASTION_OFFSET, BRIDGE, LabSpec

STATE_DIR_NAME = "run/irtui"
"""A lab host's /run is ``host_dir/run`` (see :func:`irtui.lab.sshd.start_sshd`), so irtui's
rollback timer directory /run/irtui is ``host_dir/run/irtui`` from the responder's side."""
"""A host's private ``/run/irtui`` is ``lab_dir/hosts/NAME/run-irtui`` (see
:func:`irtui.lab.sshd.start_sshd`)."""


@dataclass(frozen=True)
class LabHost:
    """One lab machine.

    Attributes:
        name: ``host1``..., ``attacker`` or ``bastion``.
        namespace: its network namespace.
        v4: IPv4 address (text).
        v6: IPv6 address (text, compressed).
        home: directory bound over /root for its sshd (None for the attacker).
        pid_file: its sshd PID file (None for the attacker).
        ssh_alias: its ``Host`` alias in ``ssh_config`` (labs with a bastion), else "".
    """

    name: str
    namespace: str
    v4: str
    v6: str
    home: Path | None = None
    pid_file: Path | None = None
    ssh_alias: str = ""

    @property
    def state_dir(self) -> Path | None:
        """Where this host's ``/run/irtui`` (irtui's rollback timer files) is seen from the
        responder's side; None for the attacker."""
        return self.home.parent / STATE_DIR_NAME if self.home is not None else None


@dataclass(frozen=True)
class LabInfo:
    """A running lab, as described by ``lab_dir/lab.json``.

    Attributes:
        lab_dir: the lab directory.
        prefix: namespace/interface prefix.
        config_path: irtui config for the lab hosts (``config.toml``).
        key_path: the client private key authorised on every host.
        known_hosts_path: OpenSSH known_hosts with each host's v4 and v6 address.
        hosts: the SSH hosts in order.
        attacker: the attacker machine (no sshd).
        responder_v4: the root namespace's lab IPv4 address.
        responder_v6: the root namespace's lab IPv6 address.
        responder_ifname: the root namespace's lab interface.
        switch_namespace: namespace holding the bridge.
        subnet4: IPv4 lab subnet.
        subnet6: IPv6 lab subnet.
        bastion: the bastion the hosts are reached through, if the lab has one.
        ssh_config_path: the OpenSSH client config naming the bastion (``ProxyJump``), if
            the lab has a bastion.
    """

    lab_dir: Path
    prefix: str
    config_path: Path
    key_path: Path
    known_hosts_path: Path
    hosts: list[LabHost]
    attacker: LabHost
    responder_v4: str
    responder_v6: str
    responder_ifname: str
    switch_namespace: str
    subnet4: str
    subnet6: str
    bastion: LabHost | None = None
    ssh_config_path: Path | None = None

    @property
    def namespaces(self) -> list[str]:
        """Every namespace of the lab: hosts, attacker, bastion (if any), switch."""
        return [*(h.namespace for h in self.hosts), self.attacker.namespace,
                *([self.bastion.namespace] if self.bastion else []), self.switch_namespace]

    def host(self, name: str) -> LabHost:
        """The host called ``name`` (or the attacker, or the bastion). Raises KeyError if
        there is none."""
        for h in [*self.hosts, self.attacker, *([self.bastion] if self.bastion else [])]:
            if h.name == name:
                return h
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """The ``lab.json`` document for this lab."""
        def host_doc(h: LabHost) -> dict[str, Any]:
            doc: dict[str, Any] = {"namespace": h.namespace, "v4": h.v4, "v6": h.v6}
            if h.pid_file is not None:
                doc["pid_file"] = str(h.pid_file)
            if h.home is not None:
                doc["home"] = str(h.home)
            if h.ssh_alias:
                doc["ssh_alias"] = h.ssh_alias
            return doc

        extra: dict[str, Any] = {}
        if self.bastion is not None:
            extra = {"bastion": host_doc(self.bastion),
                     "ssh_config_path": str(self.ssh_config_path)}
        return {
            "prefix": self.prefix,
            "lab_dir": str(self.lab_dir),
            "subnet4": self.subnet4,
            "subnet6": self.subnet6,
            "namespaces": self.namespaces,
            "switch": {"namespace": self.switch_namespace, "bridge": BRIDGE},
            "hosts": {h.name: host_doc(h) for h in self.hosts},
            "attacker": host_doc(self.attacker),
            "responder": {"v4": self.responder_v4, "v6": self.responder_v6,
                          "ifname": self.responder_ifname},
            "config_path": str(self.config_path),
            "key_path": str(self.key_path),
            "known_hosts_path": str(self.known_hosts_path),
            **extra,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> LabInfo:
        """Build from a parsed ``lab.json``. Raises KeyError/TypeError on a malformed one."""
        def host(name: str, d: dict[str, Any]) -> LabHost:
            return LabHost(name=name, namespace=d["namespace"], v4=d["v4"], v6=d["v6"],
                           home=Path(d["home"]) if d.get("home") else None,
                           pid_file=Path(d["pid_file"]) if d.get("pid_file") else None,
                           ssh_alias=d.get("ssh_alias", ""))

        hosts = sorted((host(n, d) for n, d in doc["hosts"].items()),
                       key=lambda h: int(h.name.removeprefix("host") or 0))
        return cls(
            lab_dir=Path(doc["lab_dir"]), prefix=doc["prefix"],
            config_path=Path(doc["config_path"]), key_path=Path(doc["key_path"]),
            known_hosts_path=Path(doc["known_hosts_path"]), hosts=hosts,
            attacker=host(ATTACKER, doc["attacker"]),
            responder_v4=doc["responder"]["v4"], responder_v6=doc["responder"]["v6"],
            responder_ifname=doc["responder"]["ifname"],
            switch_namespace=doc["switch"]["namespace"],
            subnet4=doc["subnet4"], subnet6=doc["subnet6"],
            bastion=host(BASTION, doc["bastion"]) if doc.get("bastion") else None,
            ssh_config_path=Path(doc["ssh_config_path"]) if doc.get("bastion") else None,
        )

    @classmethod
    def load(cls, lab_dir: str | Path) -> LabInfo:
        """Read ``lab_dir/lab.json``.

        Raises:
            IrtuiError: no lab there, or the file is unreadable or malformed.
        """
        path = Path(lab_dir) / "lab.json"
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise IrtuiError(f"no practice lab at {lab_dir} ({path} is missing)",
                             "start the lab first") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise IrtuiError(f"cannot read {path} ({exc})",
                             "tear the lab down and start it again") from None

    @classmethod
    def from_spec(cls, spec: LabSpec) -> LabInfo:
        """What a lab built from ``spec`` looks like (no system access)."""
        alias = spec.bastion
        hosts = [
            LabHost(name=name, namespace=spec.namespace(name),
                    v4=spec.v4(spec.host_offset(i)), v6=spec.v6(spec.host_offset(i)),
                    home=spec.host_dir(name) / "home",
                    pid_file=spec.host_dir(name) / "sshd.pid", ssh_alias=name if alias else "")
            for i, name in enumerate(spec.host_names, start=1)
        ]
        bastion = LabHost(name=BASTION, namespace=spec.bastion_namespace,
                          v4=spec.v4(BASTION_OFFSET), v6=spec.v6(BASTION_OFFSET),
                          home=spec.bastion_dir / "home", pid_file=spec.bastion_dir / "sshd.pid",
                          ssh_alias=BASTION) if spec.bastion else None
        attacker = LabHost(name=ATTACKER, namespace=spec.attacker_namespace,
                           v4=spec.v4(ATTACKER_OFFSET), v6=spec.v6(ATTACKER_OFFSET))
        return cls(
            lab_dir=spec.lab_dir, prefix=spec.prefix, config_path=spec.config_path,
            key_path=spec.key_path, known_hosts_path=spec.known_hosts_path, hosts=hosts,
            attacker=attacker, responder_v4=spec.responder_v4, responder_v6=spec.responder_v6,
            responder_ifname=spec.root_ifname, switch_namespace=spec.switch_namespace,
            subnet4=spec.subnet4, subnet6=spec.subnet6, bastion=bastion,
            ssh_config_path=spec.ssh_config_path if spec.bastion else None,
        )
