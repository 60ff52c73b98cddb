"""The configuration as typed values: one frozen dataclass per section.

Parsing and validation live in :mod:`irtui.core.config`; the file format is documented key by
key in ``config.example.toml``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from irtui.core.errors import AuditError, UnknownHostError

if TYPE_CHECKING:
    from irtui.core.notify.templates import MessageTemplate
    from irtui.core.triage.catalog import Artifact


@dataclass(frozen=True)
class JumpHost:
    """One bastion (``ProxyJump`` hop) on the way to a host, resolved through the ssh config.

    Attributes:
        name: the hop as the ProxyJump chain names it (an ssh config alias or an address);
            errors name the bastion by it.
        address: IP address or DNS name the bastion is reached at (its ``HostName``).
        port: its SSH TCP port.
        user: login user on the bastion.
        key_file: its ``IdentityFile`` (empty: ``ssh.key_file`` / ssh-agent).
    """

    name: str
    address: str
    port: int = 22
    user: str = "root"
    key_file: str = ""

    @property
    def label(self) -> str:
        """How messages name it: ``bastion NAME`` (just NAME when it already says bastion)."""
        return self.name if "bastion" in self.name.lower() else f"bastion {self.name}"


@dataclass(frozen=True)
class HostConfig:
    """One managed host (an enforcement point), with its SSH route resolved.

    Attributes:
        name: short unique name used on the command line and in the TUI.
        address: IP address or DNS name that SSH connects to (from the ssh config's
            ``HostName`` when the config names an alias).
        port: SSH TCP port (default 22).
        user: SSH login user; non-root users get ``sudo -n``.
        groups: group names for acting on several hosts at once.
        firewall: backend to use (``auto``, ``nftables``, ``iptables-nft``,
            ``iptables-legacy``); ``auto`` follows the preflight probe.
        key_file: private key for this host (its ssh config ``IdentityFile``); empty means
            ``ssh.key_file`` / ssh-agent.
        jump: the bastions to go through, first hop first (``ProxyJump``); empty = direct.
        ssh_alias: the ssh config ``Host`` alias the route was resolved from ("" if none).
    """

    name: str
    address: str
    port: int = 22
    user: str = "root"
    groups: tuple[str, ...] = ()
    firewall: str = "auto"
    key_file: str = ""
    jump: tuple[JumpHost, ...] = ()
    ssh_alias: str = ""

    @property
    def via(self) -> str:
        """`` via bastion NAME`` (the last hop, the one the host sees) or ``""`` if direct."""
        return f" via {self.jump[-1].label}" if self.jump else ""


@dataclass(frozen=True)
class SSHSettings:
    """SSH client settings. Times are in seconds.

    ``config_file`` is the OpenSSH client config read for ``Host`` aliases and ``ProxyJump``
    (see :mod:`irtui.core.ssh_route`): empty means ``~/.ssh/config`` when it exists,
    ``"none"`` reads none (like ``ssh -F none``). ``key_passphrase_secret`` names the
    keyring entry holding ``key_file``'s passphrase (empty: the key has none).
    ``max_parallel`` is how many hosts are read or changed at once (one thread and one
    connection each); a slow or dead host holds only its own slot, up to its timeout.
    """

    user: str = "root"
    key_file: str = ""
    key_passphrase_secret: str = ""
    known_hosts: str = "~/.ssh/known_hosts"
    connect_timeout: float = 10.0
    command_timeout: float = 120.0
    use_agent: bool = True
    config_file: str = ""
    max_parallel: int = 64


BACKENDS = ("auto", "nftables", "iptables-nft", "iptables-legacy")


@dataclass(frozen=True)
class FirewallSettings:
    """Blocklist settings.

    Attributes:
        default_ttl: seconds, or None for permanent blocks.
        backend: default backend for hosts that don't set one (see :data:`BACKENDS`).
        never_block: CIDRs no block may overlap (the guardrail says which matched).
        confirm_prefix_v4 / confirm_prefix_v6: blocking a prefix shorter than this (more
            addresses) needs a typed confirmation.
    """

    default_ttl: int | None = 86400
    backend: str = "auto"
    never_block: tuple[str, ...] = ()
    confirm_prefix_v4: int = 24
    confirm_prefix_v6: int = 48


@dataclass(frozen=True)
class IsolationSettings:
    """Isolation policy.

    Attributes:
        allow: management endpoints and extra allows (log collector, EDR server) kept
            reachable in both directions: IP addresses, CIDRs or DNS names (resolved to IPv4
            and IPv6 before anything is applied). The responder's own SSH source address is
            always kept as well.
        confirm_timeout: seconds the host waits for irtui to confirm over a new SSH
            connection before it removes the isolation by itself.
        canaries: ``address:port`` (``[v6]:port``) endpoints; the first that is not the
            isolated host itself must be unreachable from it (the self-test); empty = none.
        allow_dhcp / allow_nd / allow_resolvers: keep DHCP, IPv6 neighbour discovery, and the
            host's DNS resolvers reachable.
    """

    allow: tuple[str, ...] = ()
    confirm_timeout: int = 60
    canaries: tuple[str, ...] = ()
    allow_dhcp: bool = True
    allow_nd: bool = True
    allow_resolvers: bool = False


@dataclass(frozen=True)
class EmailSettings:
    """SMTP settings. ``security`` is ``starttls`` (RFC 3207) or ``tls`` (implicit TLS,
    RFC 8314); the password is read from the OS keyring under ``password_secret``."""

    host: str = ""
    port: int = 587
    security: str = "starttls"
    username: str = ""
    sender: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    cafile: str = ""
    timeout: float = 30.0
    password_secret: str = "smtp"

    @property
    def configured(self) -> bool:
        """True when enough is set to try sending."""
        return bool(self.host and self.sender)


@dataclass(frozen=True)
class ChannelSettings:
    """One chat/webhook channel (``[notify.channels] NAME = "keyring:SECRET"``): its apprise
    URL, which carries the token, lives in the OS keyring under ``secret``, never here."""

    name: str
    secret: str


@dataclass(frozen=True)
class NotifySettings:
    """Notification channels and templates besides ``[notify.email]``.

    Attributes:
        channels: apprise channels in config order.
        templates: named templates; ``default_template`` names the one used when none is
            chosen (empty: the built-in one).
    """

    channels: tuple[ChannelSettings, ...] = ()
    templates: tuple[MessageTemplate, ...] = ()
    default_template: str = ""


SECRET_BACKENDS = ("auto", "file")


@dataclass(frozen=True)
class SecretsSettings:
    """Where secrets live (``[secrets]``).

    Attributes:
        backend: ``auto`` (the OS keyring: Secret Service on Linux) or ``file`` (an
            encrypted file, keyrings.cryptfile, passphrase asked once per session).
        file: the encrypted file's path for ``file`` (empty: the platform data dir).
        dbus_address: a D-Bus session bus to find the Secret Service on (empty: the
            session's own ``DBUS_SESSION_BUS_ADDRESS``); the practice lab sets its own.
    """

    backend: str = "auto"
    file: str = ""
    dbus_address: str = ""


@dataclass(frozen=True)
class UISettings:
    """TUI settings.

    Attributes:
        theme: theme name (``irtui-dark``, ``irtui-light``, ``irtui-high-contrast``,
            ``irtui-16``, or a theme file of the user's own).
        refresh_seconds: the live-state poll period, in seconds.
        log_max_lines: lines the log panel keeps in memory (the transcript on disk keeps all).
        read_only: the TUI offers no action that changes a host (as ``--read-only``).
        screenshots: keep an SVG of the screen in the incident record at each confirmed
            action (always on while a drill runs).
        keys: ``(binding id, keys)`` pairs from ``[keys]`` that remap the TUI's keys
            (Textual key names, comma-separated; the TUI checks the ids).
    """

    theme: str = "irtui-dark"
    refresh_seconds: float = 15.0
    log_max_lines: int = 5000
    read_only: bool = False
    screenshots: bool = False
    keys: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TriageSettings:
    """Forensic triage settings (``[triage]``).

    Attributes:
        evidence_dir: where evidence folders go; empty = the platformdirs data dir
            (``~/.local/share/irtui/evidence`` on Linux).
        log_window: seconds of logs to collect (journal/auth log), back from now.
        recent_window: seconds back for "recently changed files".
        parallel: hosts collected at the same time.
        disable: built-in artifact names not to collect.
        artifacts: artifacts from ``[[triage.artifacts]]``, each already merged with the
            built-in of the same name (see :func:`irtui.core.triage.catalog.effective`).
    """

    evidence_dir: str = ""
    log_window: int = 86400
    recent_window: int = 7 * 86400
    parallel: int = 4
    disable: tuple[str, ...] = ()
    artifacts: tuple[Artifact, ...] = ()

    @property
    def resolved_evidence_dir(self) -> Path:
        """The evidence directory with ``~`` expanded and the default applied."""
        if self.evidence_dir:
            return Path(self.evidence_dir).expanduser()
        return Path(platformdirs.user_data_dir("irtui")) / "evidence"


@dataclass(frozen=True)
class Config:
    """The whole configuration. ``path`` is where it was loaded from (empty if built in code)."""

    hosts: tuple[HostConfig, ...] = ()
    ssh: SSHSettings = field(default_factory=SSHSettings)
    firewall: FirewallSettings = field(default_factory=FirewallSettings)
    isolation: IsolationSettings = field(default_factory=IsolationSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    secrets: SecretsSettings = field(default_factory=SecretsSettings)
    ui: UISettings = field(default_factory=UISettings)
    triage: TriageSettings = field(default_factory=TriageSettings)
    audit_dir: str = ""
    path: str = ""
    record_path: str = ""

    def host(self, name: str) -> HostConfig:
        """Return the host called ``name``.

        Raises:
            UnknownHostError: no host of that name; the message lists the known ones.
        """
        for host in self.hosts:
            if host.name == name:
                return host
        known = ", ".join(h.name for h in self.hosts) or "none"
        raise UnknownHostError(
            f"unknown host {name!r}",
            f"use a host name from the config ({known}) or add it under [[hosts]]",
        )

    def select(self, names: list[str] | tuple[str, ...]) -> list[HostConfig]:
        """Resolve host names, group names (``@group``) or ``all`` to hosts, in config order.
        An item may be a comma-separated list (``web1,web2,@db``): host and group names
        cannot contain a comma (``HOST_NAME_RE``), so the split is never ambiguous.

        Raises:
            UnknownHostError: a name or group matches nothing.
        """
        chosen: dict[str, HostConfig] = {}
        for name in (part.strip() for raw in names for part in raw.split(",")):
            if not name:
                continue
            if name == "all":
                chosen.update((h.name, h) for h in self.hosts)
            elif name.startswith("@"):
                members = [h for h in self.hosts if name[1:] in h.groups]
                if not members:
                    groups = sorted({g for h in self.hosts for g in h.groups})
                    raise UnknownHostError(
                        f"unknown group {name!r}",
                        f"use one of the groups in the config ({', '.join(groups) or 'none'})")
                chosen.update((h.name, h) for h in members)
            else:
                host = self.host(name)
                chosen[host.name] = host
        return [h for h in self.hosts if h.name in chosen]

    @property
    def resolved_audit_dir(self) -> Path:
        """Directory for the audit trail and transcripts (platformdirs state dir by default).

        Raises:
            AuditError: ``~`` or the default needs a home directory this user does not have
                (a UID with no passwd entry and no ``$HOME``).
        """
        try:
            if self.audit_dir:
                return Path(self.audit_dir).expanduser()
            return Path(platformdirs.user_state_dir("irtui")) / "audit"
        except RuntimeError:
            raise AuditError("no home directory to put the audit trail in (no $HOME and no "
                             "passwd entry for this user); nothing was changed",
                             "set audit.dir to an absolute path") from None

    @property
    def resolved_record_path(self) -> Path:
        """The incident record's SQLite file (``[record] path``; default ``record.db`` in
        the platformdirs user data dir, e.g. ``~/.local/share/irtui/record.db``).

        Raises:
            AuditError: the default needs a home directory this user does not have.
        """
        try:
            if self.record_path:
                return Path(self.record_path).expanduser()
            return Path(platformdirs.user_data_dir("irtui")) / "record.db"
        except RuntimeError:
            raise AuditError("no home directory to put the incident record in (no $HOME and "
                             "no passwd entry for this user); nothing was changed",
                             "set record.path to an absolute path") from None


def machine_address(address: str) -> str:
    """``address`` as one machine's key: an IP address in its normal form, a DNS name in
    lower case without its trailing dot."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address.lower().rstrip(".")


def same_machine(hosts: list[HostConfig]) -> list[tuple[int, str]]:
    """Hosts reached at one address and port by the same route as an earlier entry, as
    ``(index in hosts, problem text)``: irtui would change the one machine twice and report
    a ✓ for a name whose own machine it never touched. Behind different bastions one
    private address may be two machines: allowed."""
    first: dict[tuple[str, int, tuple[tuple[str, int], ...]], str] = {}
    found = []
    for i, host in enumerate(hosts):
        if not host.address or not host.name:
            continue
        address = machine_address(host.address)
        key = (address, host.port, tuple((j.address, j.port) for j in host.jump))
        if key in first and first[key] != host.name:
            where = f"[{address}]" if ":" in address else address
            found.append((i, f"{host.name!r} has the same address and port as {first[key]!r} "
                             f"({where}:{host.port}{host.via}): one machine under two names, "
                             "so a change on one would read as done on the other; remove one "
                             "entry or fix its address"))
        first.setdefault(key, host.name)
    return found
