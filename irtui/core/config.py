"""Configuration: load and validate TOML, write it back atomically.

The file format is documented key by key in ``config.example.toml``. Loading checks every key
and reports all problems at once, each naming the key and the fix, as one :class:`ConfigError`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

from irtui.core.durations import parse_ttl
from irtui.core.errors import ConfigError, InvalidTargetError, UnknownHostError
from irtui.core.isolation import split_port
from irtui.core.targets import looks_like_address

ENV_CONFIG = "IRTUI_CONFIG"
HOST_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def default_config_path() -> Path:
    """Return the config path: ``$IRTUI_CONFIG`` if set, else the platform config dir
    (``~/.config/irtui/config.toml`` on Linux, per platformdirs)."""
    env = os.environ.get(ENV_CONFIG)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir("irtui")) / "config.toml"


@dataclass(frozen=True)
class HostConfig:
    """One managed host (an enforcement point).

    Attributes:
        name: short unique name used on the command line and in the TUI.
        address: IP address or DNS name that SSH connects to.
        port: SSH TCP port (default 22).
        user: SSH login user; non-root users get ``sudo -n``.
        groups: group names for acting on several hosts at once.
        firewall: backend to use (``auto``, ``nftables``, ``iptables-nft``,
            ``iptables-legacy``); ``auto`` follows the preflight probe.
    """

    name: str
    address: str
    port: int = 22
    user: str = "root"
    groups: tuple[str, ...] = ()
    firewall: str = "auto"


@dataclass(frozen=True)
class SSHSettings:
    """SSH client settings. Times are in seconds."""

    user: str = "root"
    key_file: str = ""
    known_hosts: str = "~/.ssh/known_hosts"
    connect_timeout: float = 10.0
    command_timeout: float = 120.0
    use_agent: bool = True


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
    cafile: str = ""
    timeout: float = 30.0
    password_secret: str = "smtp"

    @property
    def configured(self) -> bool:
        """True when enough is set to try sending."""
        return bool(self.host and self.sender)


@dataclass(frozen=True)
class UISettings:
    """TUI settings. ``refresh_seconds`` is the live-state poll period in seconds."""

    theme: str = "irtui-dark"
    refresh_seconds: float = 15.0
    log_max_lines: int = 5000


@dataclass(frozen=True)
class Config:
    """The whole configuration. ``path`` is where it was loaded from (empty if built in code)."""

    hosts: tuple[HostConfig, ...] = ()
    ssh: SSHSettings = field(default_factory=SSHSettings)
    firewall: FirewallSettings = field(default_factory=FirewallSettings)
    isolation: IsolationSettings = field(default_factory=IsolationSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    ui: UISettings = field(default_factory=UISettings)
    audit_dir: str = ""
    path: str = ""

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

        Raises:
            UnknownHostError: a name or group matches nothing.
        """
        chosen: dict[str, HostConfig] = {}
        for raw in names:
            name = raw.strip()
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
        """Directory for the audit trail and transcripts (platformdirs state dir by default)."""
        if self.audit_dir:
            return Path(self.audit_dir).expanduser()
        return Path(platformdirs.user_state_dir("irtui")) / "audit"


def is_network(text: str) -> bool:
    """True when ``text`` is an IPv4/IPv6 address or CIDR."""
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def parse_endpoint(text: str) -> tuple[str, int] | None:
    """Parse ``address:port`` or ``[v6]:port`` into ``(address, port)``; None if invalid."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return host, int(port)


class _Reader:
    """Collects validation problems while reading a TOML table."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, key: str, text: str) -> None:
        self.problems.append(f"{key}: {text}")

    def table(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.problem(key, f"must be a table like [{key}]")
            return {}
        return value

    def get(
        self, data: dict[str, Any], prefix: str, key: str, kind: type | tuple[type, ...],
        default: Any,
    ) -> Any:
        if key not in data:
            return default
        value = data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        ok = False if isinstance(value, bool) and bool not in kinds else isinstance(value, kinds)
        if not ok:
            names = " or ".join({"str": "a string", "int": "an integer", "float": "a number",
                                 "bool": "true or false", "list": "a list"}[k.__name__]
                                for k in kinds)
            self.problem(f"{prefix}{key}", f"must be {names}, got {value!r}")
            return default
        return value

    def unknown(self, data: dict[str, Any], prefix: str, allowed: set[str]) -> None:
        for key in data:
            if key not in allowed:
                self.problem(
                    f"{prefix}{key}",
                    f"unknown key; remove it or use one of {', '.join(sorted(allowed))}",
                )


def _strings(r: _Reader, data: dict[str, Any], prefix: str, key: str) -> tuple[str, ...]:
    value = r.get(data, prefix, key, list, [])
    if not all(isinstance(v, str) for v in value):
        r.problem(f"{prefix}{key}", "must be a list of strings")
        return ()
    return tuple(value)


def parse_config(data: dict[str, Any], path: str = "") -> Config:
    """Validate a parsed TOML document and build a :class:`Config`.

    Args:
        data: the document as returned by ``tomllib``.
        path: where it came from, used in messages.

    Returns:
        The validated config.

    Raises:
        ConfigError: listing every problem, each as ``key: what is wrong; the fix``.
    """
    r = _Reader()
    r.unknown(data, "", {"hosts", "ssh", "firewall", "isolation", "notify", "ui", "audit"})

    ssh_t = r.table(data, "ssh")
    r.unknown(ssh_t, "ssh.", {"user", "key_file", "known_hosts", "connect_timeout",
                              "command_timeout", "use_agent"})
    ssh = SSHSettings(
        user=r.get(ssh_t, "ssh.", "user", str, "root"),
        key_file=r.get(ssh_t, "ssh.", "key_file", str, ""),
        known_hosts=r.get(ssh_t, "ssh.", "known_hosts", str, "~/.ssh/known_hosts"),
        connect_timeout=float(r.get(ssh_t, "ssh.", "connect_timeout", (int, float), 10.0)),
        command_timeout=float(r.get(ssh_t, "ssh.", "command_timeout", (int, float), 120.0)),
        use_agent=r.get(ssh_t, "ssh.", "use_agent", bool, True),
    )
    for key in ("connect_timeout", "command_timeout"):
        if getattr(ssh, key) <= 0:
            r.problem(f"ssh.{key}", "must be a positive number of seconds")

    hosts: list[HostConfig] = []
    raw_hosts = data.get("hosts", [])
    if not isinstance(raw_hosts, list):
        r.problem("hosts", "must be an array of tables written as [[hosts]]")
        raw_hosts = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_hosts):
        prefix = f"hosts[{i}]."
        if not isinstance(raw, dict):
            r.problem(f"hosts[{i}]", "must be a table written as [[hosts]]")
            continue
        r.unknown(raw, prefix, {"name", "address", "port", "user", "groups", "firewall"})
        name = r.get(raw, prefix, "name", str, "")
        address = r.get(raw, prefix, "address", str, "")
        port = r.get(raw, prefix, "port", int, 22)
        if not name:
            r.problem(f"{prefix}name", "missing; give each host a short name like \"web1\"")
        elif not HOST_NAME_RE.match(name) or name == "all":
            r.problem(f"{prefix}name", f"{name!r} is not a valid host name; use letters, digits, "
                      "'.', '_' or '-' (and not 'all')")
        elif name in seen:
            r.problem(f"{prefix}name", f"duplicate host name {name!r}; host names must be unique")
        seen.add(name)
        if not address:
            r.problem(f"{prefix}address",
                      "missing; give the IP address or DNS name SSH connects to")
        elif looks_like_address(address) and not is_network(address):
            r.problem(f"{prefix}address", f"{address!r} is not a valid IP address")
        if not 0 < port < 65536:
            r.problem(f"{prefix}port", f"{port} is not a TCP port; use 1-65535")
        hosts.append(HostConfig(
            name=name, address=address, port=port,
            user=r.get(raw, prefix, "user", str, ssh.user),
            groups=_strings(r, raw, prefix, "groups"),
            firewall=r.get(raw, prefix, "firewall", str, "") or "",
        ))
        if hosts[-1].firewall and hosts[-1].firewall not in BACKENDS:
            r.problem(f"{prefix}firewall", f"{hosts[-1].firewall!r} is not a backend; use one "
                      f"of {', '.join(BACKENDS)}")

    fw_t = r.table(data, "firewall")
    r.unknown(fw_t, "firewall.", {"default_ttl", "backend", "never_block", "confirm_prefix_v4",
                                  "confirm_prefix_v6"})
    backend = r.get(fw_t, "firewall.", "backend", str, "auto")
    if backend not in BACKENDS:
        r.problem("firewall.backend", f"{backend!r} is not a backend; use one of "
                  f"{', '.join(BACKENDS)}")
    never_block = _strings(r, fw_t, "firewall.", "never_block")
    for entry in never_block:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            r.problem("firewall.never_block", f"{entry!r} is not an IP address or CIDR")
    confirm4 = r.get(fw_t, "firewall.", "confirm_prefix_v4", int, 24)
    confirm6 = r.get(fw_t, "firewall.", "confirm_prefix_v6", int, 48)
    if not 0 <= confirm4 <= 32:
        r.problem("firewall.confirm_prefix_v4", "must be a prefix length 0-32")
    if not 0 <= confirm6 <= 128:
        r.problem("firewall.confirm_prefix_v6", "must be a prefix length 0-128")
    ttl_raw = r.get(fw_t, "firewall.", "default_ttl", (str, int), "24h")
    try:
        default_ttl = parse_ttl(ttl_raw)
    except InvalidTargetError as exc:
        r.problem("firewall.default_ttl", exc.line)
        default_ttl = 86400

    iso_t = r.table(data, "isolation")
    r.unknown(iso_t, "isolation.", {"allow", "confirm_timeout", "canaries", "allow_dhcp",
                                    "allow_nd", "allow_resolvers"})
    allow = _strings(r, iso_t, "isolation.", "allow")
    for entry in allow:
        try:
            host, _ = split_port(entry)
        except InvalidTargetError as exc:
            r.problem("isolation.allow", exc.line)
            continue
        if not is_network(host) and (looks_like_address(host)
                                     or not HOST_NAME_RE.match(host)):
            r.problem("isolation.allow", f"{entry!r} is not an IP address, CIDR or DNS name "
                      "(optionally with :port)")
    isolation = IsolationSettings(
        allow=allow,
        confirm_timeout=r.get(iso_t, "isolation.", "confirm_timeout", int, 60),
        canaries=_strings(r, iso_t, "isolation.", "canaries"),
        allow_dhcp=r.get(iso_t, "isolation.", "allow_dhcp", bool, True),
        allow_nd=r.get(iso_t, "isolation.", "allow_nd", bool, True),
        allow_resolvers=r.get(iso_t, "isolation.", "allow_resolvers", bool, False),
    )
    if not 5 <= isolation.confirm_timeout <= 3600:
        r.problem("isolation.confirm_timeout", "must be 5-3600 seconds")
    for canary in isolation.canaries:
        if parse_endpoint(canary) is None:
            r.problem("isolation.canaries", f"{canary!r} is not address:port "
                      "(use [v6]:port for IPv6)")

    notify_t = r.table(data, "notify")
    r.unknown(notify_t, "notify.", {"email"})
    mail_t = r.table(notify_t, "email") if notify_t else {}
    mp = "notify.email."
    r.unknown(mail_t, mp, {"host", "port", "security", "username", "sender", "to", "cafile",
                           "timeout", "password_secret"})
    email = EmailSettings(
        host=r.get(mail_t, mp, "host", str, ""),
        port=r.get(mail_t, mp, "port", int, 587),
        security=r.get(mail_t, mp, "security", str, "starttls"),
        username=r.get(mail_t, mp, "username", str, ""),
        sender=r.get(mail_t, mp, "sender", str, ""),
        to=_strings(r, mail_t, mp, "to"),
        cafile=r.get(mail_t, mp, "cafile", str, ""),
        timeout=float(r.get(mail_t, mp, "timeout", (int, float), 30.0)),
        password_secret=r.get(mail_t, mp, "password_secret", str, "smtp"),
    )
    if email.security not in ("starttls", "tls"):
        r.problem(f"{mp}security", f"{email.security!r} is not supported; use \"starttls\" or "
                  "\"tls\" (plain-text SMTP is refused)")

    ui_t = r.table(data, "ui")
    r.unknown(ui_t, "ui.", {"theme", "refresh_seconds", "log_max_lines"})
    ui = UISettings(
        theme=r.get(ui_t, "ui.", "theme", str, "irtui-dark"),
        refresh_seconds=float(r.get(ui_t, "ui.", "refresh_seconds", (int, float), 15.0)),
        log_max_lines=r.get(ui_t, "ui.", "log_max_lines", int, 5000),
    )
    if ui.refresh_seconds < 1:
        r.problem("ui.refresh_seconds", "must be at least 1 second")
    if ui.log_max_lines < 100:
        r.problem("ui.log_max_lines", "must be at least 100")

    audit_t = r.table(data, "audit")
    r.unknown(audit_t, "audit.", {"dir"})
    audit_dir = r.get(audit_t, "audit.", "dir", str, "")

    if r.problems:
        raise ConfigError(r.problems, path)
    return Config(
        hosts=tuple(replace(h, firewall=h.firewall or backend) for h in hosts), ssh=ssh,
        firewall=FirewallSettings(default_ttl=default_ttl, backend=backend,
                                  never_block=never_block, confirm_prefix_v4=confirm4,
                                  confirm_prefix_v6=confirm6),
        isolation=isolation, email=email, ui=ui, audit_dir=audit_dir,
        path=path,
    )


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate the config file.

    Args:
        path: file to read; defaults to :func:`default_config_path`.

    Raises:
        ConfigError: the file is missing, not valid TOML (with line and column), or invalid.
    """
    p = Path(path).expanduser() if path else default_config_path()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [f"file not found; copy config.example.toml to {p} or pass --config PATH"], str(p)
        ) from None
    except OSError as exc:
        raise ConfigError([f"cannot read it ({exc.strerror}); check the path and permissions"],
                          str(p)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML ({exc}); fix the syntax at that line"],
                          str(p)) from None
    return parse_config(data, str(p))


def write_toml_atomic(path: str | Path, data: dict[str, Any]) -> None:
    """Write ``data`` as TOML to ``path`` atomically: a temp file in the same directory is
    written, fsynced and renamed over the target (rename(2) is atomic on POSIX), so a failed
    save never leaves a half-written config. File mode is 0600."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            tomli_w.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
