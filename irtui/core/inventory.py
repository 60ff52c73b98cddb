"""Hosts from an Ansible inventory (INI or YAML), as irtui ``[[hosts]]`` entries.

Read: hosts, groups (with ``:children`` nesting), ``ansible_host``, ``ansible_port``,
``ansible_user`` (and their old ``ansible_ssh_*`` names), from host lines and ``:vars`` /
``vars:`` sections. Host ranges (``web[01:03]``, ``db-[a:c]``) are expanded the way Ansible
does. Source: Ansible documentation, "How to build your inventory".
"""

from __future__ import annotations

import re
import shlex
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from irtui.core.errors import InvalidTargetError
from irtui.core.textfile import TextLimits, read_text_file

INVENTORY_LIMITS = TextLimits(max_bytes=16 << 20, max_line=64 << 10)
"""An inventory file is at most 16 MiB, lines at most 64 Ki characters (irtui's caps)."""

VAR_KEYS = {"address": ("ansible_host", "ansible_ssh_host"),
            "port": ("ansible_port", "ansible_ssh_port"),
            "user": ("ansible_user", "ansible_ssh_user")}
_RANGE = re.compile(r"\[([0-9a-zA-Z]+):([0-9a-zA-Z]+)(?::(\d+))?\]")
MAX_RANGE_HOSTS = 100_000
"""The most hosts one range pattern may expand to (``web[1:99999999]`` is a typo, not a
fleet; expanding it would take minutes and gigabytes)."""
SKIPPED_GROUPS = ("all", "ungrouped")


@dataclass
class InventoryHost:
    """One host as the inventory describes it (None: not set there)."""

    name: str
    address: str | None = None
    port: int | None = None
    user: str | None = None
    groups: list[str] = field(default_factory=list)


@dataclass
class _Group:
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)


def expand_range(pattern: str) -> list[str]:
    """``web[01:03]`` → ``web01 web02 web03``; ``db-[a:c]`` → ``db-a db-b db-c``; an
    optional third number is the stride. Patterns without a range come back as they are.

    Raises:
        InvalidTargetError: a range whose ends are not both numbers or both letters.
    """
    match = _RANGE.search(pattern)
    if not match:
        return [pattern]
    start, end, stride = match.group(1), match.group(2), int(match.group(3) or 1)
    head, tail = pattern[:match.start()], pattern[match.end():]
    if stride < 1:
        raise InvalidTargetError(f"inventory host range {match.group(0)!r} has a stride of 0",
                                 "give a stride of 1 or more ([01:10:2]), or none")
    if start.isdigit() and end.isdigit():
        width = len(start) if start.startswith("0") else 0
        numbers = range(int(start), int(end) + 1, stride)
        if len(numbers) > MAX_RANGE_HOSTS:
            raise InvalidTargetError(
                f"inventory host range {match.group(0)!r} would make {len(numbers):,} hosts "
                f"(irtui's cap: {MAX_RANGE_HOSTS:,})", "check the range's ends")
        items = [str(i).zfill(width) for i in numbers]
    elif len(start) == len(end) == 1 and start.isalpha() and end.isalpha():
        letters = string.ascii_letters
        items = list(letters[letters.index(start):letters.index(end) + 1:stride])
    else:
        raise InvalidTargetError(f"inventory host range {match.group(0)!r} is not valid",
                                 "use [01:10] or [a:f] as Ansible does")
    names: list[str] = []
    for item in items:
        names += expand_range(head + item + tail)
        if len(names) > MAX_RANGE_HOSTS:
            raise InvalidTargetError(f"inventory host pattern {pattern!r} makes over "
                                     f"{MAX_RANGE_HOSTS:,} hosts (irtui's cap)",
                                     "check its ranges")
    return names


def _ini_value(text: str) -> Any:
    return int(text) if text.isdigit() else text


def _ini_line(line: str) -> tuple[str, dict[str, Any]]:
    words = shlex.split(line, comments=True)
    variables = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if sep:
            variables[key] = _ini_value(value)
    return words[0], variables


def parse_ini(text: str, name: str = "inventory") -> dict[str, _Group]:
    """Parse an INI inventory into groups.

    Raises:
        InvalidTargetError: a line that cannot be read (named with its line number).
    """
    groups: dict[str, _Group] = {"ungrouped": _Group()}
    group, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        try:
            if line.startswith("[") and line.endswith("]"):
                group, _, kind = line[1:-1].partition(":")
                kind = kind or "hosts"
                groups.setdefault(group, _Group())
            elif kind == "vars":
                key, _, value = line.partition("=")
                groups[group].vars[key.strip()] = _ini_value(value.strip().strip("\"'"))
            elif kind == "children":
                groups[group].children.append(line.split()[0])
                groups.setdefault(line.split()[0], _Group())
            else:
                pattern, variables = _ini_line(line)
                for host in expand_range(pattern):
                    groups[group].hosts.setdefault(host, {}).update(variables)
        except (ValueError, IndexError) as exc:
            raise InvalidTargetError(f"{name}: line {number} cannot be read ({exc})",
                                     "fix that line of the inventory") from None
    return groups


def _mapping(value: Any, name: str, where: str) -> dict[Any, Any]:
    """``value`` when it is a YAML mapping, ``{}`` when empty; else the error naming it."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidTargetError(f"{name}: {where} is a {type(value).__name__}, not a mapping",
                                 "write it as key: value lines, as Ansible's YAML inventory "
                                 "does")
    return value


def _yaml_groups(doc: dict[Any, Any], name: str) -> dict[str, _Group]:
    """The groups of a parsed YAML inventory, walked without recursion; a group that
    contains itself (a YAML alias loop) is refused."""
    groups: dict[str, _Group] = {}
    todo: list[tuple[str, Any, tuple[int, ...]]] = [(str(g), b, ()) for g, b in doc.items()]
    while todo:
        group_name, body, above = todo.pop(0)
        group = groups.setdefault(group_name, _Group())
        if not isinstance(body, dict):
            continue
        if id(body) in above:
            raise InvalidTargetError(f"{name}: group {group_name!r} contains itself (a YAML "
                                     "alias loop)", "remove the alias that points back up")
        where = f"group {group_name!r}"
        for pattern, variables in _mapping(body.get("hosts"), name, f"{where} hosts").items():
            own = _mapping(variables, name, f"host {pattern!r}")
            try:
                names = expand_range(str(pattern))
            except InvalidTargetError as exc:
                raise InvalidTargetError(f"{name}: {exc.problem}", exc.fix) from None
            for host in names:
                group.hosts.setdefault(host, {}).update(own)
        group.vars.update(_mapping(body.get("vars"), name, f"{where} vars"))
        for child, child_doc in _mapping(body.get("children"), name,
                                         f"{where} children").items():
            group.children.append(str(child))
            todo.append((str(child), child_doc, (*above, id(body))))
    return groups


def parse_yaml(text: str, name: str = "inventory") -> dict[str, _Group]:
    """Parse a YAML inventory (``all: {hosts, vars, children}``) into groups.

    Raises:
        InvalidTargetError: not YAML, nested beyond Python's recursion limit, not an
            inventory mapping, a part that is not a mapping, or a group alias loop.
    """
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(exc, "problem", None) or type(exc).__name__
        raise InvalidTargetError(f"{name}: not valid YAML{where} ({what})",
                                 "fix the YAML syntax there") from None
    except RecursionError:
        raise InvalidTargetError(f"{name}: YAML nested too deeply to read",
                                 "give an Ansible inventory (groups, hosts, vars)") from None
    if not isinstance(doc, dict):
        raise InvalidTargetError(f"{name}: not an Ansible inventory (no top-level group)",
                                 "give a YAML inventory starting with all: or a group name")
    return _yaml_groups(doc, name)


def _parents(groups: dict[str, _Group]) -> dict[str, set[str]]:
    parents: dict[str, set[str]] = {g: set() for g in groups}
    for name, group in groups.items():
        for child in group.children:
            parents.setdefault(child, set()).add(name)
    return parents


def _ancestry(group: str, parents: dict[str, set[str]]) -> list[str]:
    """``group`` and every group above it, nearest first (no cycles followed twice)."""
    order, todo = [], [group]
    while todo:
        current = todo.pop(0)
        if current in order:
            continue
        order.append(current)
        todo += sorted(parents.get(current, ()))
    return order


def _value(host: str, key: str, value: Any, name: str) -> int | str:
    """A connection variable as irtui keeps it: a port as an int, others as text."""
    if key in VAR_KEYS["port"]:
        text = str(value).strip() if isinstance(value, int | str) and \
            not isinstance(value, bool) else ""
        if text.isascii() and text.isdigit():
            return int(text)
    elif isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    shown = value if isinstance(value, str | int | float | bool) else type(value).__name__
    if key in VAR_KEYS["port"]:
        raise InvalidTargetError(f"{name}: {key} of host {host!r} is {shown!r}, not a port "
                                 "number", f"give {key} one number, 1-65535")
    raise InvalidTargetError(f"{name}: {key} of host {host!r} is {shown!r}, not text",
                             f"give {key} one value (a name or an address)")


def hosts_of(groups: dict[str, _Group], name: str = "inventory") -> list[InventoryHost]:
    """Every host with its groups (the groups it is listed in and every group above them,
    but not ``all``/``ungrouped``) and its variables: ``all``'s vars, then each group's from
    the farthest to the nearest, then the host's own (Ansible's precedence, simplified:
    among sibling groups the one read last wins).

    Raises:
        InvalidTargetError: a connection variable that is not one value (a list, a
            mapping, a port that is not a number), named with its host; ``name`` starts it.
    """
    parents = _parents(groups)
    found: dict[str, InventoryHost] = {}
    group_vars: dict[str, dict[str, Any]] = {}
    host_vars: dict[str, dict[str, Any]] = {}
    for group_name, group in groups.items():
        chain = _ancestry(group_name, parents)
        for host, own in group.hosts.items():
            entry = found.setdefault(host, InventoryHost(host))
            layered = group_vars.setdefault(host, dict(groups.get("all", _Group()).vars))
            for ancestor in reversed(chain):
                layered.update(groups[ancestor].vars if ancestor in groups else {})
            host_vars.setdefault(host, {}).update(own)
            entry.groups += [g for g in chain if g not in SKIPPED_GROUPS
                             and g not in entry.groups]
    for host, entry in found.items():
        variables = {**group_vars[host], **host_vars[host]}
        for attr, keys in VAR_KEYS.items():
            key = next((k for k in keys if variables.get(k) is not None), None)
            if key is not None:
                setattr(entry, attr, _value(host, key, variables[key], name))
    return list(found.values())


def read_inventory(path: str | Path) -> list[InventoryHost]:
    """Read an Ansible inventory file: YAML when it ends in ``.yml``/``.yaml`` or starts
    like YAML (``all:``/``---``), else INI.

    Raises:
        InvalidTargetError: unreadable; a FIFO or socket (refused unopened); binary, not
            UTF-8 or over :data:`INVENTORY_LIMITS`; or malformed (line named).
    """
    p = Path(path)
    # a FIFO is refused before it is opened (no writer: open(2) would block)
    text = read_text_file(p, "inventory", INVENTORY_LIMITS, "check the inventory path",
                          pipes=False)
    first = next((line.strip() for line in text.splitlines()
                  if line.strip() and not line.lstrip().startswith("#")), "")
    yaml_like = p.suffix in (".yml", ".yaml") or first == "---" or (
        first.endswith(":") and not first.startswith("["))
    groups = parse_yaml(text, str(p)) if yaml_like else parse_ini(text, str(p))
    return hosts_of(groups, str(p))
