"""Configuration: load and validate TOML, write it back atomically.

The file format is documented key by key in ``config.example.toml``; the typed values are in
:mod:`irtui.core.settings`. Loading checks every key and reports all problems at once, each
naming the key and the fix, as one :class:`ConfigError`. Each section has its own parser
(``_ssh``, ``_hosts``, ...) taking a :class:`~irtui.core.config_reader.Section`.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

from irtui.core.config_reader import Section
from irtui.core.dnsnames import dns_name_problem
from irtui.core.durations import parse_ttl
from irtui.core.endpoints import is_network, parse_endpoint, split_port
from irtui.core.errors import ConfigError, InvalidTargetError
from irtui.core.settings import (
    BACKENDS,
    Config,
    EmailSettings,
    FirewallSettings,
    HostConfig,
    IsolationSettings,
    SSHSettings,
    UISettings,
)
from irtui.core.targets import looks_like_address
from irtui.core.textfile import TextFileError, TextLimits, read_text_file

__all__ = ["Config", "EmailSettings", "FirewallSettings", "HostConfig", "IsolationSettings",
           "SSHSettings", "UISettings", "default_config_path", "is_network", "load_config",
           "parse_config", "parse_endpoint", "write_toml_atomic"]

ENV_CONFIG = "IRTUI_CONFIG"
HOST_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", re.ASCII)
"""A host name in the config (use ``fullmatch``: ``$`` would also match before a newline)."""
USER_RE = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.@-]{0,63}\$?", re.ASCII)
"""A login name: POSIX portable characters (plus ``@`` for directory users such as
``alice@corp.example``), not starting with ``-``, at most 64 characters (the ``useradd``
default NAME_REGEX, widened)."""
CONFIG_LIMITS = TextLimits(max_bytes=1 << 20, max_line=64 << 10)
"""A config file is at most 1 MiB with lines of at most 64 Ki characters: a fixed cap, so
``--config /dev/urandom`` is refused at once."""
TOP_LEVEL = {"hosts", "ssh", "firewall", "isolation", "notify", "ui", "audit"}


def default_config_path() -> Path:
    """Return the config path: ``$IRTUI_CONFIG`` if set, else the platform config dir
    (``~/.config/irtui/config.toml`` on Linux, per platformdirs).

    Raises:
        ConfigError: there is no home directory to expand ``~`` in.
    """
    env = os.environ.get(ENV_CONFIG)
    try:
        if env:
            return Path(env).expanduser()
        return Path(platformdirs.user_config_dir("irtui")) / "config.toml"
    except RuntimeError:  # no $HOME and no passwd entry (a container's --user 1234)
        raise ConfigError(["no home directory to find the default config in (no $HOME and "
                           "no passwd entry for this user); pass --config PATH or set "
                           "IRTUI_CONFIG to an absolute path"]) from None


def _ssh(s: Section) -> SSHSettings:
    ssh = SSHSettings(
        user=s.get("user", str, "root"),
        key_file=s.get("key_file", str, ""),
        known_hosts=s.get("known_hosts", str, "~/.ssh/known_hosts"),
        connect_timeout=s.number("connect_timeout", 10.0),
        command_timeout=s.number("command_timeout", 120.0),
        use_agent=s.get("use_agent", bool, True),
    )
    for key in ("connect_timeout", "command_timeout"):
        if getattr(ssh, key) <= 0:
            s.problem(key, "must be a positive number of seconds")
    if not USER_RE.fullmatch(ssh.user):
        s.problem("user", f"{ssh.user!r} is not a login name; use letters, digits, '.', '_', "
                  "'-' or '@', not starting with '-'")
    return ssh


def _host(s: Section, ssh: SSHSettings, seen: set[str]) -> HostConfig:
    name = s.get("name", str, "")
    address = s.get("address", str, "")
    port = s.get("port", int, 22)
    if not name:
        s.problem("name", "missing; give each host a short name like \"web1\"")
    elif not HOST_NAME_RE.fullmatch(name) or name == "all":
        s.problem("name", f"{name!r} is not a valid host name; use letters, digits, "
                  "'.', '_' or '-' (and not 'all')")
    elif name in seen:
        s.problem("name", f"duplicate host name {name!r}; host names must be unique")
    seen.add(name)
    if not address:
        s.problem("address", "missing; give the IP address or DNS name SSH connects to")
    elif looks_like_address(address):
        if not is_network(address) or "/" in address:
            s.problem("address", f"{address!r} is not a valid IP address")
    elif why := dns_name_problem(address):
        s.problem("address", f"{address!r} is not a valid DNS name: {why}; fix the name or "
                  "use the IP address")
    if not 0 < port < 65536:
        s.problem("port", f"{port} is not a TCP port; use 1-65535")
    user = s.get("user", str, ssh.user)
    if user != ssh.user and not USER_RE.fullmatch(user):
        s.problem("user", f"{user!r} is not a login name; use letters, digits, '.', '_', '-' "
                  "or '@', not starting with '-'")
    host = HostConfig(name=name, address=address, port=port, user=user,
                      groups=s.strings("groups"), firewall=s.get("firewall", str, "") or "")
    if host.firewall and host.firewall not in BACKENDS:
        s.problem("firewall", f"{host.firewall!r} is not a backend; use one of "
                  f"{', '.join(BACKENDS)}")
    return host


def _hosts(root: Section, ssh: SSHSettings) -> list[HostConfig]:
    raw_hosts = root.data.get("hosts", [])
    if not isinstance(raw_hosts, list):
        root.problem("hosts", "must be an array of tables written as [[hosts]]")
        return []
    hosts: list[HostConfig] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_hosts):
        if not isinstance(raw, dict):
            root.problem(f"hosts[{i}]", "must be a table written as [[hosts]]")
            continue
        s = Section(root.problems, raw, f"hosts[{i}].",
                    {"name", "address", "port", "user", "groups", "firewall"})
        hosts.append(_host(s, ssh, seen))
    return hosts


def _firewall(s: Section) -> FirewallSettings:
    backend = s.get("backend", str, "auto")
    if backend not in BACKENDS:
        s.problem("backend", f"{backend!r} is not a backend; use one of {', '.join(BACKENDS)}")
    never_block = s.strings("never_block")
    for entry in never_block:
        if not is_network(entry):
            s.problem("never_block", f"{entry!r} is not an IP address or CIDR")
    confirm4 = s.get("confirm_prefix_v4", int, 24)
    confirm6 = s.get("confirm_prefix_v6", int, 48)
    if not 0 <= confirm4 <= 32:
        s.problem("confirm_prefix_v4", "must be a prefix length 0-32")
    if not 0 <= confirm6 <= 128:
        s.problem("confirm_prefix_v6", "must be a prefix length 0-128")
    try:
        default_ttl = parse_ttl(s.get("default_ttl", (str, int), "24h"))
    except InvalidTargetError as exc:
        s.problem("default_ttl", exc.line)
        default_ttl = 86400
    return FirewallSettings(default_ttl=default_ttl, backend=backend, never_block=never_block,
                            confirm_prefix_v4=confirm4, confirm_prefix_v6=confirm6)


def _isolation(s: Section) -> IsolationSettings:
    allow = s.strings("allow")
    for entry in allow:
        try:
            host, _ = split_port(entry)
        except InvalidTargetError as exc:
            s.problem("allow", exc.line)
            continue
        if not is_network(host) and (looks_like_address(host) or dns_name_problem(host)):
            s.problem("allow", f"{entry!r} is not an IP address, CIDR or DNS name "
                      "(optionally with :port)")
    isolation = IsolationSettings(
        allow=allow,
        confirm_timeout=s.get("confirm_timeout", int, 60),
        canaries=s.strings("canaries"),
        allow_dhcp=s.get("allow_dhcp", bool, True),
        allow_nd=s.get("allow_nd", bool, True),
        allow_resolvers=s.get("allow_resolvers", bool, False),
    )
    if not 5 <= isolation.confirm_timeout <= 3600:
        s.problem("confirm_timeout", "must be 5-3600 seconds")
    for canary in isolation.canaries:
        if parse_endpoint(canary) is None:
            s.problem("canaries", f"{canary!r} is not address:port (use [v6]:port for IPv6)")
    return isolation


def _email(s: Section) -> EmailSettings:
    email = EmailSettings(
        host=s.get("host", str, ""),
        port=s.get("port", int, 587),
        security=s.get("security", str, "starttls"),
        username=s.get("username", str, ""),
        sender=s.get("sender", str, ""),
        to=s.strings("to"),
        cafile=s.get("cafile", str, ""),
        timeout=s.number("timeout", 30.0),
        password_secret=s.get("password_secret", str, "smtp"),
    )
    if email.security not in ("starttls", "tls"):
        s.problem("security", f"{email.security!r} is not supported; use \"starttls\" or "
                  "\"tls\" (plain-text SMTP is refused)")
    return email


def _ui(s: Section) -> UISettings:
    ui = UISettings(
        theme=s.get("theme", str, "irtui-dark"),
        refresh_seconds=s.number("refresh_seconds", 15.0),
        log_max_lines=s.get("log_max_lines", int, 5000),
    )
    if ui.refresh_seconds < 1:
        s.problem("refresh_seconds", "must be at least 1 second")
    if ui.log_max_lines < 100:
        s.problem("log_max_lines", "must be at least 100")
    return ui


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
    problems: list[str] = []
    root = Section(problems, data, "", TOP_LEVEL)
    ssh = _ssh(root.sub("ssh", {"user", "key_file", "known_hosts", "connect_timeout",
                                "command_timeout", "use_agent"}))
    hosts = _hosts(root, ssh)
    firewall = _firewall(root.sub("firewall", {"default_ttl", "backend", "never_block",
                                               "confirm_prefix_v4", "confirm_prefix_v6"}))
    isolation = _isolation(root.sub("isolation", {"allow", "confirm_timeout", "canaries",
                                                  "allow_dhcp", "allow_nd", "allow_resolvers"}))
    notify = root.sub("notify", {"email"})
    email = _email(notify.sub("email", {"host", "port", "security", "username", "sender", "to",
                                        "cafile", "timeout", "password_secret"}))
    ui = _ui(root.sub("ui", {"theme", "refresh_seconds", "log_max_lines"}))
    audit_dir = root.sub("audit", {"dir"}).get("dir", str, "")
    if problems:
        raise ConfigError(problems, path)
    return Config(
        hosts=tuple(replace(h, firewall=h.firewall or firewall.backend) for h in hosts),
        ssh=ssh, firewall=firewall, isolation=isolation, email=email, ui=ui,
        audit_dir=audit_dir, path=path,
    )


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate the config file.

    Args:
        path: file to read; defaults to :func:`default_config_path`.

    Raises:
        ConfigError: the file is missing or unreadable; larger than
            :data:`CONFIG_LIMITS`; binary or not UTF-8 (with the byte offset and line, TOML
            v1.0 requires UTF-8); not valid TOML (with line and column); or invalid.
    """
    p = Path(path).expanduser() if path else default_config_path()
    if not p.exists():
        raise ConfigError(
            [f"file not found; copy config.example.toml to {p} or pass --config PATH"], str(p))
    try:
        text = read_text_file(p, "config", CONFIG_LIMITS, "check the path given to --config")
    except TextFileError as exc:
        raise ConfigError([f"{exc.reason}; {exc.fix}"], str(p)) from None
    except InvalidTargetError as exc:  # unreadable
        raise ConfigError([f"{exc.problem}; check the path and permissions"], str(p)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML ({exc}); fix the syntax at that line"],
                          str(p)) from None
    except RecursionError:
        raise ConfigError(["not valid TOML for irtui (arrays or tables nested too deeply); "
                           "flatten them"], str(p)) from None
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
