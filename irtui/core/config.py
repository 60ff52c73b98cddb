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

import tomli_w

from irtui.core.config_notify import parse_notify, parse_secrets
from irtui.core.config_reader import Section
from irtui.core.dnsnames import dns_name_problem
from irtui.core.durations import parse_ttl
from irtui.core.endpoints import allow_network, is_network, parse_endpoint, split_port
from irtui.core.errors import ConfigError, InvalidTargetError
from irtui.core.paths import default_config_path
from irtui.core.settings import (
    BACKENDS,
    Config,
    EmailSettings,
    FirewallSettings,
    HostConfig,
    IsolationSettings,
    SSHSettings,
    TriageSettings,
    UISettings,
    same_machine,
)
from irtui.core.ssh_route import (
    HostKeys,
    Route,
    RouteError,
    SSHClientConfig,
    load_ssh_client_config,
    resolve_route,
)
from irtui.core.targets import looks_like_address, parse_network
from irtui.core.textfile import TextFileError, TextLimits, read_text_file
from irtui.core.triage import catalog

__all__ = ["Config", "EmailSettings", "FirewallSettings", "HostConfig", "IsolationSettings",
           "SSHSettings", "UISettings", "default_config_path", "is_network", "load_config",
           "parse_config", "parse_endpoint", "write_toml_atomic"]

HOST_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", re.ASCII)
"""A host name in the config (use ``fullmatch``: ``$`` would also match before a newline)."""
USER_RE = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.@-]{0,63}\$?", re.ASCII)
"""A login name: POSIX portable characters (plus ``@`` for directory users such as
``alice@corp.example``), not starting with ``-``, at most 64 characters (the ``useradd``
default NAME_REGEX, widened)."""
CONFIG_LIMITS = TextLimits(max_bytes=1 << 20, max_line=64 << 10)
"""A config file is at most 1 MiB with lines of at most 64 Ki characters: a fixed cap, so
``--config /dev/urandom`` is refused at once."""
TOP_LEVEL = {"hosts", "ssh", "firewall", "isolation", "notify", "secrets", "ui", "audit",
             "record", "triage", "keys"}
MAX_PARALLEL_LIMIT = 1024
"""Upper bound of ``ssh.max_parallel``: each host in flight holds a thread and a socket (plus
paramiko's transport thread) on this machine, so the bound is the client's own threads and
file descriptors (a default ``ulimit -n`` of 1024)."""
TRIAGE_KEYS = {"evidence_dir", "log_window", "recent_window", "parallel", "disable", "artifacts"}
KEY_NAME_RE = re.compile(r"[A-Za-z0-9_+-]+|[^\s,]", re.ASCII)
"""One key as Textual names it (``b``, ``ctrl+r``, ``f5``, ``question_mark``) or one printable
character (``?``); use ``fullmatch``."""


MAX_CONNECT_TIMEOUT = 300
"""Longest ``ssh.connect_timeout`` (seconds): a host that has not answered in five minutes
is not coming, and a responder must not wait longer to hear so."""
MAX_COMMAND_TIMEOUT = 86_400
"""Longest ``ssh.command_timeout`` (seconds): a day bounds a hung remote command."""


def _ssh(s: Section) -> SSHSettings:
    ssh = SSHSettings(
        user=s.get("user", str, "root"),
        key_file=s.get("key_file", str, ""),
        key_passphrase_secret=s.get("key_passphrase_secret", str, ""),
        known_hosts=s.get("known_hosts", str, "~/.ssh/known_hosts"),
        connect_timeout=s.number("connect_timeout", 10.0),
        command_timeout=s.number("command_timeout", 120.0),
        use_agent=s.get("use_agent", bool, True),
        config_file=s.get("config_file", str, ""),
        max_parallel=s.get("max_parallel", int, 64),
    )
    for key, most in (("connect_timeout", MAX_CONNECT_TIMEOUT),
                      ("command_timeout", MAX_COMMAND_TIMEOUT)):
        value = getattr(ssh, key)
        if not 0 < value <= most:  # NaN fails too
            s.problem(key, f"must be a positive number of seconds, at most {most:,}; "
                      f"got {value:g}")
    if not 1 <= ssh.max_parallel <= MAX_PARALLEL_LIMIT:
        s.problem("max_parallel", f"must be 1 to {MAX_PARALLEL_LIMIT} hosts at once, got "
                  f"{ssh.max_parallel}")
    if not USER_RE.fullmatch(ssh.user):
        s.problem("user", f"{ssh.user!r} is not a login name; use letters, digits, '.', '_', "
                  "'-' or '@', not starting with '-'")
    return ssh


def _route(s: Section, name: str, ssh: SSHSettings,
           client: SSHClientConfig | RouteError | None) -> Route:
    """The host's route through the ssh config (see :mod:`irtui.core.ssh_route`)."""
    keys = HostKeys(name=name, address=s.get("address", str, ""), port=s.get("port", int, None),
                    user=s.get("user", str, None), ssh_alias=s.get("ssh_alias", str, ""),
                    proxy_jump=s.get("proxy_jump", str, None))
    fallback = Route(keys.address, 22 if keys.port is None else keys.port, keys.user or ssh.user)
    if isinstance(client, RouteError):  # the ssh config itself is already reported
        return fallback
    try:
        return resolve_route(keys, ssh, client)
    except RouteError as exc:
        s.problem(exc.key, exc.text)
        return fallback


def _host(s: Section, ssh: SSHSettings, seen: set[str],
          client: SSHClientConfig | RouteError | None = None) -> HostConfig:
    name = s.get("name", str, "")
    route = _route(s, name, ssh, client)
    address, port = route.address, route.port
    if not name:
        s.problem("name", "missing; give each host a short name like \"web1\"")
    elif not HOST_NAME_RE.fullmatch(name) or name == "all":
        s.problem("name", f"{name!r} is not a valid host name; use letters, digits, "
                  "'.', '_' or '-' (and not 'all')")
    elif name in seen:
        s.problem("name", f"duplicate host name {name!r}; host names must be unique")
    seen.add(name)
    origin = "" if s.data.get("address") else " (HostName in the ssh config)"
    if address and looks_like_address(address):
        if not is_network(address) or "/" in address:
            hint = ("; write an IPv6 address without brackets (the port goes in port)"
                    if address.startswith("[") else "")
            s.problem("address", f"{address!r}{origin} is not a valid IP address{hint}")
    elif address and (why := dns_name_problem(address)):
        s.problem("address", f"{address!r}{origin} is not a valid DNS name: {why}; fix the "
                  "name or use the IP address")
    if not 0 < port < 65536:
        s.problem("port", f"{port} is not a TCP port; use 1-65535")
    if route.user != ssh.user and not USER_RE.fullmatch(route.user):
        s.problem("user", f"{route.user!r} is not a login name; use letters, digits, '.', "
                  "'_', '-' or '@', not starting with '-'")
    host = HostConfig(name=name, address=address, port=port, user=route.user,
                      groups=s.strings("groups"), firewall=s.get("firewall", str, "") or "",
                      key_file=route.key_file, jump=route.jump,
                      ssh_alias=s.get("ssh_alias", str, ""))
    if host.firewall and host.firewall not in BACKENDS:
        s.problem("firewall", f"{host.firewall!r} is not a backend; use one of "
                  f"{', '.join(BACKENDS)}")
    return host


def _hosts(root: Section, ssh: SSHSettings,
           client: SSHClientConfig | RouteError | None = None) -> list[HostConfig]:
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
                    {"name", "address", "port", "user", "groups", "firewall", "ssh_alias",
                     "proxy_jump"})
        hosts.append(_host(s, ssh, seen, client))
    for i, text in same_machine(hosts):
        root.problem(f"hosts[{i}].address", text)
    return hosts


def _firewall(s: Section) -> FirewallSettings:
    backend = s.get("backend", str, "auto")
    if backend not in BACKENDS:
        s.problem("backend", f"{backend!r} is not a backend; use one of {', '.join(BACKENDS)}")
    never_block = s.strings("never_block")
    for entry in never_block:
        try:
            parse_network(entry)
        except InvalidTargetError as exc:
            s.problem("never_block", exc.line)
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
            literal = allow_network(entry, host)
        except InvalidTargetError as exc:
            s.problem("allow", exc.line)
            continue
        if literal is None and (looks_like_address(host) or dns_name_problem(host)):
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
        cc=s.strings("cc"),
        cafile=s.get("cafile", str, ""),
        timeout=s.number("timeout", 30.0),
        password_secret=s.get("password_secret", str, "smtp"),
    )
    if not 0 < email.port < 65536:
        s.problem("port", f"{email.port} is not a TCP port; use 1-65535 (587 for STARTTLS, "
                  "465 for TLS)")
    if email.security not in ("starttls", "tls"):
        s.problem("security", f"{email.security!r} is not supported; use \"starttls\" or "
                  "\"tls\" (plain-text SMTP is refused)")
    return email


def _keys(s: Section) -> tuple[tuple[str, str], ...]:
    """``[keys]``: binding id = keys (comma-separated). The TUI checks the ids (the core
    does not know them); here only the shape of each value."""
    out = []
    for binding_id in sorted(s.data):
        keys = s.get(binding_id, str, None)
        if keys is None:
            continue
        names = [k.strip() for k in keys.split(",")]
        bad = [k for k in names if not KEY_NAME_RE.fullmatch(k)]
        if not keys.strip() or bad:
            s.problem(binding_id, f"{keys!r} is not a key list; write keys as Textual names "
                      "it, comma-separated, e.g. \"ctrl+b\" or \"f5,x\"")
            continue
        out.append((binding_id, ",".join(names)))
    return tuple(out)


def _ui(s: Section, keys: tuple[tuple[str, str], ...]) -> UISettings:
    ui = UISettings(
        theme=s.get("theme", str, "irtui-dark"),
        refresh_seconds=s.number("refresh_seconds", 15.0),
        log_max_lines=s.get("log_max_lines", int, 5000),
        read_only=s.get("read_only", bool, False),
        screenshots=s.get("screenshots", bool, False),
        keys=keys,
    )
    if ui.refresh_seconds < 1:
        s.problem("refresh_seconds", "must be at least 1 second")
    if ui.log_max_lines < 100:
        s.problem("log_max_lines", "must be at least 100")
    return ui


def _window(s: Section, key: str, default: str) -> int:
    raw = s.get(key, (str, int), default)
    try:
        seconds = parse_ttl(raw)
    except InvalidTargetError:
        seconds = None
    if seconds is None:
        s.problem(key, f"{raw!r} is not a duration; use e.g. 30m, 24h or 7d")
        return parse_ttl(default) or 0
    return seconds


def _triage(s: Section) -> TriageSettings:
    triage = TriageSettings(
        evidence_dir=s.get("evidence_dir", str, ""),
        log_window=_window(s, "log_window", "24h"),
        recent_window=_window(s, "recent_window", "7d"),
        parallel=s.get("parallel", int, 4),
        disable=s.strings("disable"),
        artifacts=catalog.parse_overrides(s),
    )
    if not 1 <= triage.parallel <= 64:
        s.problem("parallel", "must be 1-64 hosts at a time")
    known = {a.name for a in catalog.builtin()} | {a.name for a in triage.artifacts}
    for name in triage.disable:
        if name not in known:
            s.problem("disable", f"{name!r} is not an artifact; use one of {', '.join(known)}")
    if triage.recent_window < 60:
        s.problem("recent_window", "must be at least 1m")
    return triage


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
    ssh_section = root.sub("ssh", {"user", "key_file", "known_hosts", "connect_timeout",
                                   "command_timeout", "use_agent", "config_file",
                                   "key_passphrase_secret", "max_parallel"})
    ssh = _ssh(ssh_section)
    try:
        client: SSHClientConfig | RouteError | None = load_ssh_client_config(ssh.config_file)
    except RouteError as exc:
        ssh_section.problem(exc.key, exc.text)
        client = exc
    hosts = _hosts(root, ssh, client)
    firewall = _firewall(root.sub("firewall", {"default_ttl", "backend", "never_block",
                                               "confirm_prefix_v4", "confirm_prefix_v6"}))
    isolation = _isolation(root.sub("isolation", {"allow", "confirm_timeout", "canaries",
                                                  "allow_dhcp", "allow_nd", "allow_resolvers"}))
    notify = root.sub("notify", {"email", "channels", "templates", "default_template"})
    email = _email(notify.sub("email", {"host", "port", "security", "username", "sender", "to",
                                        "cc", "cafile", "timeout", "password_secret"}))
    notify_settings = parse_notify(notify)
    secrets = parse_secrets(root.sub("secrets", {"backend", "file", "dbus_address"}))
    ui = _ui(root.sub("ui", {"theme", "refresh_seconds", "log_max_lines", "read_only",
                             "screenshots"}), _keys(root.sub("keys")))
    audit_dir = root.sub("audit", {"dir"}).get("dir", str, "")
    record_path = root.sub("record", {"path"}).get("path", str, "")
    triage = _triage(root.sub("triage", TRIAGE_KEYS))
    if problems:
        raise ConfigError(problems, path)
    return Config(
        hosts=tuple(replace(h, firewall=h.firewall or firewall.backend) for h in hosts),
        ssh=ssh, firewall=firewall, isolation=isolation, email=email,
        notify=notify_settings, secrets=secrets, ui=ui, triage=triage,
        audit_dir=audit_dir, path=path, record_path=record_path,
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
    if path is not None and not str(path).strip():
        raise ConfigError(["the config path given is empty; pass --config PATH (or unset "
                           "IRTUI_CONFIG to use the default)"], "--config")
    p = Path(path).expanduser() if path is not None else default_config_path()
    if p.is_symlink() and not p.exists():
        raise ConfigError(["a symbolic link that leads nowhere (a missing target or a loop); "
                           f"point it at the config file ({os.path.realpath(p)} does not "
                           "exist) or pass --config PATH"], str(p))
    if not p.exists():
        raise ConfigError(
            [f"file not found; copy config.example.toml to {p} or pass --config PATH"], str(p))
    try:
        text = read_text_file(p, "config", CONFIG_LIMITS, "check the path given to --config",
                              pipes=False)
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


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically: a temp file in the same directory is
    written, fsynced and renamed over the target (rename(2) is atomic on POSIX), so a failed
    save never leaves a half-written file. File mode is 0600."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_toml_atomic(path: str | Path, data: dict[str, Any]) -> None:
    """Write ``data`` as TOML to ``path`` atomically (see :func:`write_text_atomic`)."""
    write_text_atomic(path, tomli_w.dumps(data))
