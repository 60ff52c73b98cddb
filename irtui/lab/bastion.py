"""The lab's optional bastion (``irtui lab up --bastion``).

One more namespace on the lab bridge with its own sshd. Every lab host's sshd then admits
logins only from the bastion's addresses (``AllowUsers *@<bastion>``, sshd_config(5)): an
sshd-level rule, so it survives the tests flushing every firewall, and the attacker (or the
responder connecting directly) is refused at login while plain TCP still reaches port 22.
The lab writes an OpenSSH client config (``lab_dir/ssh_config``) whose ``ProxyJump`` sends
every host through the bastion; the lab's ``config.toml`` names it in ``ssh.config_file``
and lists the hosts by alias only, so a newcomer sees the real thing (and
``ssh -F lab_dir/ssh_config host1`` works too).
"""

from __future__ import annotations

import shutil

from irtui.lab import netns
from irtui.lab.info import LabHost, LabInfo
from irtui.lab.spec import BASTION, BASTION_OFFSET, LabSpec
from irtui.lab.sshd import ensure_sshd, public_key, stop_sshd


def target_sshd_lines(spec: LabSpec) -> list[str]:
    """Extra sshd_config lines for every lab host: with a bastion, admit only logins
    coming from its IPv4 or IPv6 address (sshd_config(5) ``AllowUsers USER@HOST``)."""
    if not spec.bastion:
        return []
    return ["# lab up --bastion: logins only through the bastion",
            f"AllowUsers *@{spec.v4(BASTION_OFFSET)} *@{spec.v6(BASTION_OFFSET)}"]


def ensure_bastion(spec: LabSpec, bastion: LabHost) -> None:
    """Start (or keep) the bastion's sshd; its namespace and link are made with the others.

    Raises:
        IrtuiError: ssh-keygen or sshd failed.
    """
    ensure_sshd(bastion.namespace, BASTION, spec.bastion_dir, spec.authorized_keys_path)


def remove_bastion(spec: LabSpec, done: list[str]) -> None:
    """Stop the bastion's sshd, delete its namespace, its directory and the lab's
    ssh_config, if they exist; one line per thing removed goes into ``done``."""
    ns = spec.bastion_namespace
    for pid in stop_sshd(spec.bastion_dir / "sshd.pid", spec.bastion_dir / "sshd_config", ns):
        done.append(f"stopped sshd pid {pid} (bastion)")
    if netns.namespace_exists(ns) or netns.stale_namespace_file(ns):
        netns.delete_namespace(ns)
        done.append(f"deleted namespace {ns}")
    if spec.bastion_dir.is_dir():
        shutil.rmtree(spec.bastion_dir)
        done.append(f"removed {spec.bastion_dir}")
    if spec.ssh_config_path.is_file():
        spec.ssh_config_path.unlink()
        done.append(f"removed {spec.ssh_config_path}")


def known_hosts_lines(spec: LabSpec, info: LabInfo) -> list[str]:
    """The bastion's known_hosts lines (v4 and v6), or none without a bastion."""
    if info.bastion is None:
        return []
    key = public_key(spec.bastion_dir / "ssh_host_ed25519_key.pub")
    return [f"{info.bastion.v4} {key}", f"{info.bastion.v6} {key}"]


def ssh_config_text(spec: LabSpec, info: LabInfo, bastion: LabHost) -> str:
    """The lab's OpenSSH client config: one ``Host`` alias per machine, the hosts behind
    ``ProxyJump bastion``, the lab key and known_hosts for everything."""
    names = " ".join(h.name for h in info.hosts)
    lines = ["# written by irtui's practice lab (lab up --bastion); removed by lab down.",
             "# The lab hosts accept SSH only from the bastion, so every connection goes",
             "# through it. irtui reads this file (ssh.config_file in config.toml); so can",
             f"# OpenSSH:  ssh -F {spec.ssh_config_path} host1", "",
             f"Host {BASTION}", f"    HostName {bastion.v4}", ""]
    for h in info.hosts:
        lines += [f"Host {h.name}", f"    HostName {h.v4}", ""]
    lines += [f"Host {names}", f"    ProxyJump {BASTION}", "",
              "Host *", "    User root", "    Port 22", f"    IdentityFile {spec.key_path}",
              "    IdentitiesOnly yes", f"    UserKnownHostsFile {spec.known_hosts_path}",
              "    GlobalKnownHostsFile /dev/null", "    StrictHostKeyChecking yes"]
    return "\n".join(lines) + "\n"


def write_ssh_config(spec: LabSpec, info: LabInfo, bastion: LabHost) -> None:
    """Write :func:`ssh_config_text` to ``spec.ssh_config_path`` (atomically)."""
    tmp = spec.ssh_config_path.with_name(".ssh_config.tmp")
    tmp.write_text(ssh_config_text(spec, info, bastion))
    tmp.replace(spec.ssh_config_path)
