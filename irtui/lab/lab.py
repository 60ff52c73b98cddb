"""Bring a practice lab of network-namespace hosts up, tear it down, report its state.

Topology (names for the default prefix ``irtui``)::

    root namespace (responder)            irtui-sw namespace          irtui-host1 ... irtui-hostN
      irtui0  198.18.0.1/24  ── veth ──  responder ┐                    eth0 198.18.0.(10+i)
              fd00:1ab::1/64                        ├ br0 ── hostI ── veth ── eth0 (+ sshd)
                                                    ├ ── attacker ── veth ── irtui-attacker eth0
                                    (--bastion)     └ ── bastion ── veth ── irtui-bastion eth0

The bridge lives in its own namespace, so the root namespace's iptables and bridge netfilter
never see lab traffic. No namespace has a default route: the connected lab subnet is all there
is. Every host runs its own sshd (see :mod:`irtui.lab.sshd`); the wiring is in
:mod:`irtui.lab.topology`, the optional bastion in :mod:`irtui.lab.bastion`, the state report
in :mod:`irtui.lab.status`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from irtui.core.config import write_toml_atomic
from irtui.core.errors import IrtuiError
from irtui.lab import bastion as lab_bastion
from irtui.lab import netns, sinks
from irtui.lab.info import LabInfo
from irtui.lab.spec import LabSpec
from irtui.lab.sshd import SSHD, ensure_sshd, generate_key, public_key, stop_sshd
from irtui.lab.topology import (
    ensure_bridge,
    ensure_host_link,
    ensure_namespace,
    ensure_root_link,
    refuse_subnet_clash,
    wait_for_ssh,
)

MARKER = ".irtui-lab"
SSH_WAIT_SECONDS = 30.0
"""How long lab_up waits for every sshd to accept connections (generous: a loaded CI machine
starting many namespaces at once can take several seconds)."""

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


def _pub(key: Path) -> Path:
    return key.with_name(key.name + ".pub")


def _write_client_files(spec: LabSpec, info: LabInfo, notify: dict[str, Any]) -> None:
    lines = lab_bastion.known_hosts_lines(spec, info)
    for h in info.hosts:
        key = public_key(_pub(spec.host_dir(h.name) / "ssh_host_ed25519_key"))
        lines += [f"{h.v4} {key}", f"{h.v6} {key}"]
    tmp = spec.known_hosts_path.with_name(".known_hosts.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(spec.known_hosts_path)
    if info.bastion is not None:
        lab_bastion.write_ssh_config(spec, info, info.bastion)
    # With a bastion, hosts are named by their ssh_config alias only (no address): the
    # route (HostName, ProxyJump) comes from lab_dir/ssh_config. Without one, no ssh config
    # is read, so a developer's ~/.ssh/config never changes how the lab is reached.
    write_toml_atomic(spec.config_path, {
        "ssh": {"user": "root", "key_file": str(spec.key_path),
                "known_hosts": str(spec.known_hosts_path), "connect_timeout": 5,
                "command_timeout": 60, "use_agent": False,
                "config_file": str(spec.ssh_config_path) if info.bastion else "none"},
        "hosts": [{"name": h.name, **({} if info.bastion else {"address": h.v4, "port": 22}),
                   "groups": ["lab"]} for h in info.hosts],
        "audit": {"dir": str(spec.lab_dir / "audit")},
        "record": {"path": str(spec.lab_dir / "record.db")},  # practice incidents stay here
        # and so does their evidence: `lab down` removes both, so a new lab's INC-…-0001
        # never shares a folder with an old lab's
        "triage": {"evidence_dir": str(spec.lab_dir / "evidence")},
        # the self-test after isolating: another lab host's sshd must become unreachable
        "isolation": {"canaries": [f"{h.v4}:22" for h in info.hosts[:2]],
                      "confirm_timeout": 30},
        "ui": {"refresh_seconds": 10},
        **notify,  # [notify] and [secrets]: the lab's sinks and keyring (see sinks.py)
    })
    tmp = spec.lab_json.with_name(".lab.json.tmp")
    tmp.write_text(json.dumps(info.to_json(), indent=2) + "\n")
    tmp.replace(spec.lab_json)


def lab_up(spec: LabSpec) -> LabInfo:
    """Create the lab, or repair and reuse the one that is there.

    Idempotent: existing namespaces, links, keys and live sshds are kept (their PIDs and
    host keys do not change); missing pieces are created, dead sshds restarted, and hosts
    beyond ``spec.hosts`` removed. With ``spec.bastion`` a bastion is added and the hosts'
    sshds restarted to admit only it; without, a bastion left from before is removed (and
    the hosts' sshds restarted to admit anyone again). The notification sinks and the lab
    keyring (:mod:`irtui.lab.sinks`) are restarted with new secrets, which go into the lab
    keyring. Returns only after every sshd accepts TCP on port 22 over IPv4 and IPv6 (at
    most ~10 s).

    Args:
        spec: the lab to build.

    Returns:
        The lab description, also written to ``spec.lab_dir/lab.json``.

    Raises:
        IrtuiError: not Linux, not root, a required program missing (naming the Debian
            package), a name clash with something that is not the lab's, or a step failed.
    """
    check_requirements()
    refuse_subnet_clash(spec)
    _prepare_lab_dir(spec)
    info = LabInfo.from_spec(spec)
    removed: list[str] = []
    for name in sorted(_lab_host_names(spec) - set(spec.host_names)):
        _remove_host(spec, name, removed)
    if info.bastion is None:
        lab_bastion.remove_bastion(spec, removed)

    sw = spec.switch_namespace
    ensure_namespace(sw, switch=True)
    sw_links = ensure_bridge(sw)
    machines = [*info.hosts, info.attacker, *([info.bastion] if info.bastion else [])]
    for m in machines:
        ensure_namespace(m.namespace)
        ensure_host_link(spec, m.namespace, m.name, sw_links, m.v4, m.v6)
    ensure_root_link(spec, netns.links(sw))

    generate_key(spec.key_path, f"irtui-lab-{spec.prefix}")
    spec.authorized_keys_path.write_text(public_key(_pub(spec.key_path)) + "\n")
    # 0644: public keys only, and sshd reads it as the logging-in user (non-root lab users)
    spec.authorized_keys_path.chmod(0o644)
    only_bastion = lab_bastion.target_sshd_lines(spec)
    for h in info.hosts:
        ensure_sshd(h.namespace, h.name, spec.host_dir(h.name), spec.authorized_keys_path,
                    only_bastion)
    if info.bastion is not None:
        lab_bastion.ensure_bastion(spec, info.bastion)
    for attempt in (1, 2):
        notify = sinks.notify_up(spec)
        _write_client_files(spec, info, notify.config_sections())
        try:
            sinks.store_secrets(spec, notify)
            break
        except IrtuiError:
            # Once in a test run under load, gnome-keyring dropped off its private bus while
            # the first secret was stored ("recipient disconnected"): start it afresh once.
            if attempt == 2 or sinks.running(spec)["keyring"] is not None:
                raise
    wait_for_ssh(info, SSH_WAIT_SECONDS)
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
    lab_bastion.remove_bastion(spec, done)
    with contextlib.suppress(IrtuiError):
        namespaces |= {ns for ns in LabInfo.load(spec.lab_dir).namespaces
                       if ns.startswith(f"{spec.prefix}-")}

    for name in sorted(names, key=lambda n: int(n[4:])):
        host_dir = spec.host_dir(name)
        for pid in stop_sshd(host_dir / "sshd.pid", host_dir / "sshd_config",
                             spec.namespace(name)):
            done.append(f"stopped sshd pid {pid} ({name})")
    done += sinks.notify_down(spec)

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

    # Each host's own /run (rollback timer files...) lies in lab_dir: removed with it.
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
