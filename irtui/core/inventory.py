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
    if start.isdigit() and end.isdigit():
        width = len(start) if start.startswith("0") else 0
        items = [str(i).zfill(width) for i in range(int(start), int(end) + 1, stride)]
    elif len(start) == len(end) == 1 and start.isalpha() and end.isalpha():
        letters = string.ascii_letters
        items = list(letters[letters.index(start):letters.index(end) + 1:stride])
    else:
        raise InvalidTargetError(f"inventory host range {match.group(0)!r} is not valid",
                                 "use [01:10] or [a:f] as Ansible does")
    return [name for item in items for name in expand_range(head + item + tail)]


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


def _yaml_group(name: str, doc: Any, groups: dict[str, _Group]) -> None:
    group = groups.setdefault(name, _Group())
    if not isinstance(doc, dict):
        return
    for pattern, variables in (doc.get("hosts") or {}).items():
        for host in expand_range(str(pattern)):
            group.hosts.setdefault(host, {}).update(variables or {})
    group.vars.update(doc.get("vars") or {})
    for child, child_doc in (doc.get("children") or {}).items():
        group.children.append(str(child))
        _yaml_group(str(child), child_doc, groups)


def parse_yaml(text: str, name: str = "inventory") -> dict[str, _Group]:
    """Parse a YAML inventory (``all: {hosts, vars, children}``) into groups.

    Raises:
        InvalidTargetError: not YAML, or not an inventory mapping.
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
    if not isinstance(doc, dict):
        raise InvalidTargetError(f"{name}: not an Ansible inventory (no top-level group)",
                                 "give a YAML inventory starting with all: or a group name")
    groups: dict[str, _Group] = {}
    for group, body in doc.items():
        _yaml_group(str(group), body, groups)
    return groups


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


def hosts_of(groups: dict[str, _Group]) -> list[InventoryHost]:
    """Every host with its groups (the groups it is listed in and every group above them,
    but not ``all``/``ungrouped``) and its variables: ``all``'s vars, then each group's from
    the farthest to the nearest, then the host's own (Ansible's precedence, simplified:
    among sibling groups the one read last wins)."""
    parents = _parents(groups)
    found: dict[str, InventoryHost] = {}
    group_vars: dict[str, dict[str, Any]] = {}
    host_vars: dict[str, dict[str, Any]] = {}
    for name, group in groups.items():
        chain = _ancestry(name, parents)
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
            value = next((variables[k] for k in keys if k in variables), None)
            if value is not None:
                setattr(entry, attr, int(value) if attr == "port" else str(value))
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
    return hosts_of(groups)
