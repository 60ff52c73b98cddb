"""How a host is reached, the way OpenSSH would: ``~/.ssh/config`` aliases and ``ProxyJump``.

Pure resolution, done once when the config is loaded (so plans, the host list and ``sudo``
decisions already see the real address, port and user); the connections themselves are made
by :mod:`irtui.core.ssh` and :mod:`irtui.core.ssh_jump`.

Rules (ssh_config(5), ssh(1) ``-J``):

- The ssh config is read with paramiko's ``SSHConfig`` after ``Include`` lines are followed
  (glob patterns, relative paths under ``~/.ssh``, at most 16 levels deep as in OpenSSH).
  An ``Include`` inside a ``Host``/``Match`` block (conditional inclusion) is refused.
- A ``[[hosts]]`` table is looked up by ``ssh_alias``, else its ``address``, else its
  ``name``; without an ``address`` the alias (or name) must be a ``Host`` of the ssh config.
- Precedence per value: the host's own keys in irtui's config, then the ssh config
  (``HostName``, ``Port``, ``User``, ``IdentityFile``, ``ProxyJump``), then irtui's
  ``[ssh]`` defaults.
- ``ProxyJump`` is ``[user@]host[:port]`` hops separated by commas (``ssh://`` URIs too);
  each hop is itself looked up in the ssh config; only the first hop's own ``ProxyJump`` is
  followed, as OpenSSH does (the later hops are reached with an explicit ``-J``).
- ``ProxyCommand`` is refused: irtui cannot check or name what an arbitrary command does.
- ``StrictHostKeyChecking``, ``UserKnownHostsFile`` and ``HostKeyAlias`` are not read: every
  hop's key is checked against ``ssh.known_hosts``, always strictly.
"""

from __future__ import annotations

import fnmatch
import glob
import ipaddress
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from irtui.core.errors import InvalidTargetError
from irtui.core.settings import JumpHost, SSHSettings
from irtui.core.textfile import TextFileError, TextLimits, read_text_file, special_kind

SSH_CONFIG_LIMITS = TextLimits(max_bytes=4 << 20, max_line=64 << 10)
"""An ssh config file (each Include'd file too) is at most 4 MiB, lines at most 64 Ki
characters: irtui's caps, so a device like /dev/urandom is refused at once."""

DEFAULT_SSH_CONFIG = "~/.ssh/config"
NO_SSH_CONFIG = "none"
MAX_INCLUDE_DEPTH = 16
"""OpenSSH's ``READCONF_MAX_DEPTH`` (readconf.c)."""
MAX_HOPS = 8
"""Bastions in one chain; more is a misconfiguration far more often than a real need."""

_KEYWORD_RE = re.compile(r"^\s*(\w+)(?:\s*=\s*|\s+)(.*)$")
_HOP_HOST_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.%-]*$")


class RouteError(ValueError):
    """A host's route cannot be resolved.

    Attributes:
        key: the irtui config key it concerns, relative to its table (``address``,
            ``ssh_alias``, ``proxy_jump``, ``config_file``...).
        text: what is wrong and the fix, in one line.
    """

    def __init__(self, key: str, text: str) -> None:
        super().__init__(text)
        self.key = key
        self.text = text


# -- ProxyJump chains ----------------------------------------------------------------------


@dataclass(frozen=True)
class JumpSpec:
    """One hop of a ProxyJump chain as written: ``[user@]host[:port]``."""

    host: str
    user: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return ((f"{self.user}@" if self.user else "") + host
                + (f":{self.port}" if self.port is not None else ""))


def _port(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{what}: port {text!r} is not 1-65535")
    return int(text)


def _parse_hop(element: str) -> JumpSpec:
    text = element.strip()
    if text.lower().startswith("ssh://"):
        text = text[6:].rstrip("/")
        if "/" in text:
            raise ValueError(f"{element.strip()!r}: an ssh:// hop cannot have a path")
    if not text or any(c.isspace() for c in text):
        raise ValueError(f"{element.strip()!r} is not [user@]host[:port]")
    user, _, hostport = text.rpartition("@")
    if "@" in text and not user:
        raise ValueError(f"{text!r}: empty user before '@'")
    port: int | None = None
    if hostport.startswith("["):
        host, sep, rest = hostport[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"{text!r}: write an IPv6 address as [address]:port")
        if rest:
            port = _port(rest[1:], text)
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{text!r}: {host!r} in brackets is not an IPv6 address") from None
    elif hostport.count(":") > 1:
        try:
            host = str(ipaddress.IPv6Address(hostport))
        except ValueError:
            raise ValueError(f"{text!r}: write an IPv6 address as [address]:port") from None
    else:
        host, sep, port_text = hostport.partition(":")
        if sep:
            port = _port(port_text, text)
    if ":" not in host and not _HOP_HOST_RE.match(host):
        raise ValueError(f"{text!r}: {host!r} is not a host name or address")
    return JumpSpec(host=host, user=user or None, port=port)


def parse_jump_chain(text: str) -> tuple[JumpSpec, ...]:
    """Parse a ProxyJump value (ssh(1) ``-J``, ssh_config(5) ``ProxyJump``).

    Args:
        text: ``[user@]host[:port]`` hops separated by commas, first hop first; IPv6 as
            ``[addr]`` or ``[addr]:port``; ``ssh://[user@]host[:port]`` also accepted.

    Returns:
        The hops, in order (never empty).

    Raises:
        ValueError: an empty chain or hop, a bad port (1-65535), a host with characters no
            host name has, more than :data:`MAX_HOPS` hops; the message names the hop.
    """
    if not text.strip():
        raise ValueError("empty ProxyJump chain")
    elements = text.split(",")
    if len(elements) > MAX_HOPS:
        raise ValueError(f"{len(elements)} hops; irtui follows at most {MAX_HOPS}")
    if any(not e.strip() for e in elements):
        raise ValueError(f"{text!r} has an empty hop (two commas, or a trailing comma)")
    return tuple(_parse_hop(e) for e in elements)


# -- the ssh config file -------------------------------------------------------------------


def _include_paths(value: str) -> list[Path]:
    paths: list[Path] = []
    for pattern in shlex.split(value):
        expanded = Path(pattern).expanduser()
        if not expanded.is_absolute():
            expanded = Path("~/.ssh").expanduser() / expanded
        paths += [Path(p) for p in sorted(glob.glob(str(expanded)))]
    return paths


def _expanded_lines(path: Path, depth: int = 0) -> list[str]:
    """The lines of ``path`` with top-level ``Include`` lines replaced by the files' lines."""
    if depth > MAX_INCLUDE_DEPTH:
        raise RouteError("config_file", f"Include nested deeper than {MAX_INCLUDE_DEPTH} "
                         f"levels at {path}; remove the Include loop")
    fix = "fix it or set ssh.config_file = \"none\""
    try:  # a FIFO (no writer: open(2) would block) is refused before it is opened
        text = read_text_file(path, "ssh config", SSH_CONFIG_LIMITS, fix, pipes=False)
    except TextFileError as exc:
        raise RouteError("config_file", f"ssh config {path} {exc.reason}; {exc.fix}") from None
    except InvalidTargetError as exc:
        raise RouteError("config_file", f"{exc.problem}; fix its permissions or set "
                         "ssh.config_file = \"none\"") from None
    out: list[str] = []
    in_block = False
    for number, line in enumerate(text.splitlines(), start=1):
        match = _KEYWORD_RE.match(line)
        keyword = match.group(1).lower() if match else ""
        if keyword in ("host", "match"):
            in_block = True
        if keyword != "include":
            out.append(line)
            continue
        if in_block:
            raise RouteError("config_file", f"{path} line {number}: an Include inside a "
                             "Host/Match block is not followed by irtui; move it above the "
                             "first Host line or point ssh.config_file at a file without it")
        try:
            included = _include_paths(match.group(2) if match else "")
        except ValueError as exc:
            raise RouteError("config_file", f"{path} line {number}: bad Include ({exc}); "
                             "fix the quoting") from None
        for child in included:
            out += _expanded_lines(child, depth + 1)
            out.append("Host *")  # back to the including file's top level
    return out


class SSHClientConfig:
    """An OpenSSH client config as irtui reads it (``Include`` followed).

    Args:
        path: where it came from (named in messages).
        text: the whole text, includes already expanded.

    Raises:
        RouteError: (``key`` ``config_file``) a line paramiko cannot parse, or a
            ``Match exec`` (irtui never runs commands while reading its config).
    """

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        try:
            self._config = paramiko.SSHConfig.from_text(text)
            lines = [(m.group(1).lower(), shlex.split(m.group(2))) for line in text.splitlines()
                     if (m := _KEYWORD_RE.match(line))
                     and m.group(1).lower() in ("host", "match")]
        except (paramiko.ssh_exception.ConfigParseError, ValueError) as exc:
            raise RouteError("config_file", f"ssh config {path}: {exc}; fix that line or set "
                             "ssh.config_file = \"none\"") from None
        if any(k == "match" and any(w.lstrip("!").lower() == "exec" for w in words)
               for k, words in lines):
            raise RouteError("config_file", f"ssh config {path} uses Match exec, which irtui "
                             "does not run while reading its config; set ssh.config_file to a "
                             "file without it (or \"none\")")
        self._host_lines = [words for k, words in lines if k == "host"]

    @classmethod
    def read(cls, path: Path) -> SSHClientConfig:
        """Read ``path`` (following ``Include``). Raises RouteError (``config_file``)."""
        return cls(path, "\n".join(_expanded_lines(path)) + "\n")

    def defines(self, alias: str) -> bool:
        """True when a ``Host`` line names ``alias`` (a pattern other than a bare ``*``
        matches it and no ``!pattern`` on that line excludes it)."""
        for patterns in self._host_lines:
            if any(p.startswith("!") and fnmatch.fnmatchcase(alias, p[1:]) for p in patterns):
                continue
            if any(p != "*" and not p.startswith("!") and fnmatch.fnmatchcase(alias, p)
                   for p in patterns):
                return True
        return False

    def lookup(self, name: str) -> dict[str, Any]:
        """The options that apply to ``name`` (lower-case keys; ``hostname`` always set)."""
        return dict(self._config.lookup(name))


def load_ssh_client_config(setting: str) -> SSHClientConfig | None:
    """The ssh config named by ``ssh.config_file``.

    Args:
        setting: ``""`` = ``~/.ssh/config`` if it exists (None if not); ``"none"`` = None;
            anything else is a path that must exist.

    Raises:
        RouteError: (``key`` ``config_file``) a missing explicit file, unreadable, not UTF-8,
            an unparsable line, a conditional ``Include``.
    """
    if setting.strip().lower() == NO_SSH_CONFIG:
        return None
    path = Path(setting or DEFAULT_SSH_CONFIG).expanduser()
    if not setting and not path.is_file():
        return None
    if not path.is_file():
        kind = special_kind(path)
        if kind is not None:
            raise RouteError("config_file", f"ssh config {path} is {kind}, not a file; point "
                             "ssh.config_file at a file, or set it to \"none\"")
        raise RouteError("config_file", f"ssh config {path} not found; fix the path, or set "
                         "it to \"none\" to read no ssh config")
    return SSHClientConfig.read(path)


# -- resolving one host --------------------------------------------------------------------


@dataclass(frozen=True)
class HostKeys:
    """What one ``[[hosts]]`` table says about its route (None / ``""`` = not given)."""

    name: str
    address: str = ""
    port: int | None = None
    user: str | None = None
    ssh_alias: str = ""
    proxy_jump: str | None = None


@dataclass(frozen=True)
class Route:
    """A host's resolved route: where SSH connects, as whom, with which key, through which
    bastions (first hop first)."""

    address: str
    port: int = 22
    user: str = "root"
    key_file: str = ""
    jump: tuple[JumpHost, ...] = ()


def _identity(options: dict[str, Any]) -> str:
    """The first ``IdentityFile`` that exists (else the first listed, so a missing one is
    named when connecting); OpenSSH tries them in order, irtui offers one."""
    files = [f for f in options.get("identityfile", []) if f.lower() != "none"]
    for f in files:
        if Path(f).expanduser().is_file():
            return f
    return files[0] if files else ""


def _config_port(options: dict[str, Any], where: str, key: str) -> int | None:
    if "port" not in options:
        return None
    try:
        return _port(str(options["port"]).strip(), "Port")
    except ValueError as exc:
        raise RouteError(key, f"{where}: {exc}; fix Port there") from None


def _refuse_proxy_command(options: dict[str, Any], where: str, key: str) -> None:
    if options.get("proxycommand") is not None:
        raise RouteError(key, f"{where} sets ProxyCommand, which irtui does not run; use "
                         "ProxyJump there (or set ssh.config_file to a config without it)")


def _hops(config: SSHClientConfig | None, chain: str, ssh: SSHSettings, key: str,
          where: str, path: tuple[str, ...]) -> list[JumpHost]:
    try:
        specs = parse_jump_chain(chain)
    except ValueError as exc:
        raise RouteError(key, f"ProxyJump {chain!r} ({where}): {exc}; write "
                         "[user@]host[:port] hops separated by commas") from None
    hops: list[JumpHost] = []
    for index, spec in enumerate(specs):
        options = config.lookup(spec.host) if config else {}
        hop_where = f"bastion {spec.host} in {config.path}" if config else f"bastion {spec.host}"
        _refuse_proxy_command(options, hop_where, key)
        if spec.host in path:
            raise RouteError(key, "ProxyJump loop: " + " → ".join([*path, spec.host])
                             + "; exclude the bastion from the Host pattern that sets "
                             "ProxyJump (e.g. Host * !bastion)")
        own = str(options.get("proxyjump", "")).strip()
        if index == 0 and own and own.lower() != "none":
            hops += _hops(config, own, ssh, key, hop_where, (*path, spec.host))
        port = spec.port or _config_port(options, hop_where, key) or 22
        hops.append(JumpHost(name=spec.host, address=str(options.get("hostname", spec.host)),
                             port=port, user=spec.user or options.get("user") or ssh.user,
                             key_file=_identity(options)))
    if len(hops) > MAX_HOPS:
        raise RouteError(key, f"{len(hops)} bastions on the way ({where}); irtui follows at "
                         f"most {MAX_HOPS}: shorten the ProxyJump chain")
    return hops


def resolve_route(keys: HostKeys, ssh: SSHSettings, config: SSHClientConfig | None) -> Route:
    """Resolve one host's route (module docstring: lookup name and precedence).

    Args:
        keys: the host's own keys.
        ssh: irtui's ``[ssh]`` section (the defaults).
        config: the ssh config, or None when none is read.

    Returns:
        The :class:`Route`.

    Raises:
        RouteError: naming the key (``address``, ``ssh_alias``, ``proxy_jump``, ``port``)
            and the fix: no address and no such alias, an alias without an ssh config, a
            bad Port or ProxyJump in the ssh config, ProxyCommand, a ProxyJump loop.
    """
    if keys.ssh_alias and keys.address:
        raise RouteError("ssh_alias", "given together with address; keep ssh_alias (its "
                         "HostName is the address) or address, not both")
    source = "ssh_config" if config is None else str(config.path)
    if keys.ssh_alias and (config is None or not config.defines(keys.ssh_alias)):
        where = "no ssh config is read (ssh.config_file)" if config is None else \
            f"it is not a Host in {source}"
        raise RouteError("ssh_alias", f"{keys.ssh_alias!r}: {where}; add a Host "
                         f"{keys.ssh_alias} block with HostName, or give address instead")
    lookup_name = keys.ssh_alias or keys.address or keys.name
    key = "ssh_alias" if keys.ssh_alias else "address"
    if not keys.address and not keys.ssh_alias and (config is None
                                                   or not config.defines(keys.name)):
        alias = "" if config is None else f", and {keys.name!r} is not a Host in {source}"
        raise RouteError("address", f"missing{alias}; give the IP address or DNS name SSH "
                         "connects to, or ssh_alias naming a Host of your ssh config")
    options = config.lookup(lookup_name) if config else {}
    where = f"Host {lookup_name} in {source}"
    if keys.proxy_jump is None:  # an explicit proxy_jump overrides it, as ssh -J does
        _refuse_proxy_command(options, where, key)
    jump_text = keys.proxy_jump if keys.proxy_jump is not None else \
        str(options.get("proxyjump", ""))
    jump: list[JumpHost] = []
    if jump_text.strip() and jump_text.strip().lower() != "none":
        jump_key = "proxy_jump" if keys.proxy_jump is not None else key
        jump_where = "proxy_jump" if keys.proxy_jump is not None else where
        jump = _hops(config, jump_text, ssh, jump_key, jump_where, (lookup_name,))
    return Route(
        address=keys.address or str(options.get("hostname", lookup_name)),
        port=keys.port if keys.port is not None else _config_port(options, where, key) or 22,
        user=keys.user or str(options.get("user") or ssh.user),
        key_file=_identity(options),
        jump=tuple(jump),
    )
