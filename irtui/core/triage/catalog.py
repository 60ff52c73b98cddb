"""The triage artifact catalog: the built-in set (``artifacts.toml``, data shipped with irtui)
merged with the config's ``[triage]`` overrides, and the exact remote command of each.

Every artifact runs as ``sh -c PRELUDE+TEXT irtui-<name> ARG...``: its text is irtui's own
(shipped, or written by the responder in the config), and values such as the log window reach
it only as positional arguments, never pasted into the text (see :mod:`irtui.core.remote`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from irtui.core.config_reader import Section
from irtui.core.errors import InvalidTargetError
from irtui.core.remote import script, script_names

if TYPE_CHECKING:
    from irtui.core.settings import TriageSettings

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")
TOOL_RE = re.compile(r"^[A-Za-z0-9_.+-]{1,64}$")
PLACEHOLDERS = ("log_window_s", "recent_minutes")
"""Values an artifact's ``args`` may name as ``{log_window_s}`` (seconds) or
``{recent_minutes}`` (minutes); they come from :class:`~irtui.core.settings.TriageSettings`."""
ORDERS = {1: "network", 2: "processes", 3: "users and kernel modules", 4: "persistence",
          5: "logs", 6: "file system", 7: "system identity"}
"""Order of volatility (RFC 3227 §2.1, most volatile first) as irtui groups artifacts."""
VOLATILE_ORDER = 2
"""Artifacts of this order or lower (network state, processes) are the volatile part that
``collect --volatile-only`` and ``isolate --collect-first`` take before containment."""
PRELUDE = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH; "
           "LC_ALL=C; export LC_ALL\n")
"""Put before every artifact's text: the same tool search path with or without sudo (Debian
gives non-root users no sbin), and untranslated output."""
ARTIFACT_KEYS = {"name", "order", "description", "command", "script", "args", "needs",
                 "fallback", "needs_root", "timeout", "max_bytes", "writes", "enabled"}
VARIANT_KEYS = {"command", "script", "args", "needs"}
MAX_TIMEOUT = 3600
MAX_CAP = 64 * 1024**3


@dataclass(frozen=True)
class Variant:
    """One way to run an artifact.

    Attributes:
        text: the POSIX sh text (a script file's content, or an inline command).
        source: ``script <name>`` or ``inline`` (for plans and the collection log).
        args: positional arguments; ``{placeholder}`` ones are filled from the settings.
        needs: tools that must be installed for this variant to run.
    """

    text: str
    source: str
    args: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Artifact:
    """One piece of triage evidence and how to collect it (see ``artifacts.toml``).

    Attributes:
        name: ``[a-z0-9][a-z0-9-]*``, at most 48 characters; also its file name.
        order: order of volatility, 1 (most volatile) to 7 (:data:`ORDERS`).
        description: one line.
        primary: the preferred :class:`Variant`.
        fallback: the variant used when a tool of the primary is missing, or None.
        needs_root: run through ``sudo -n`` for a non-root login.
        timeout: seconds before the channel is closed (what arrived is kept).
        max_bytes: cap per stream in bytes; past it the output is truncated and marked.
        writes: what the command writes on the host; ``""`` = it only reads.
    """

    name: str
    order: int
    description: str
    primary: Variant
    fallback: Variant | None = None
    needs_root: bool = False
    timeout: float = 60.0
    max_bytes: int = 64 * 1024**2
    writes: str = ""
    enabled: bool = field(default=True, compare=False)

    @property
    def tools(self) -> set[str]:
        """Every tool either variant needs."""
        return set(self.primary.needs) | set(self.fallback.needs if self.fallback else ())

    def argv(self, variant: Variant, values: Mapping[str, int]) -> tuple[str, ...]:
        """The remote argv for ``variant`` (before quoting and sudo): ``("sh", "-c",
        PRELUDE+text, "irtui-<name>", arg...)`` with placeholders filled from ``values``."""
        args = tuple(a.format_map(values) if a.startswith("{") else a for a in variant.args)
        return ("sh", "-c", PRELUDE + variant.text, f"irtui-{self.name}", *args)


def _variant(s: Section, base: Variant | None) -> Variant | None:
    command = s.text("command", None)
    name = s.get("script", str, None)
    if command is not None and name is not None:
        s.problem("script", "give either command or script, not both")
    text, source = (base.text, base.source) if base else ("", "")
    if name is not None:
        if name not in script_names():
            s.problem("script", f"{name!r} is not a script of irtui.core.remote; use one of "
                      f"{', '.join(n for n in script_names() if n.startswith('triage'))}")
        else:
            text, source = script(name), f"script {name}"
    elif command is not None:
        if not command.strip():
            s.problem("command", "is empty")
        text, source = command, "inline"
    if not text:
        s.problem("command", "missing; give the sh command text or a script name")
        return None
    args = s.strings("args") if "args" in s.data else (base.args if base else ())
    for arg in args:
        if arg.startswith("{") and arg.strip("{}") not in PLACEHOLDERS:
            s.problem("args", f"{arg!r} is not a known value; use "
                      + " or ".join("{" + p + "}" for p in PLACEHOLDERS))
    needs = s.strings("needs") if "needs" in s.data else (base.needs if base else ())
    for tool in needs:
        if not TOOL_RE.fullmatch(tool):
            s.problem("needs", f"{tool!r} is not a program name")
    return Variant(text, source, args, needs)


def parse_artifact(s: Section, base: Artifact | None = None) -> Artifact | None:
    """Read one artifact table, every problem recorded on ``s`` with its key.

    Args:
        s: the table (``[[artifact]]`` of the built-in file or ``[[triage.artifacts]]``).
        base: the built-in artifact of the same name when the table overrides it (keys not
            given keep its values), else None.

    Returns:
        The artifact, or None when it is too broken to build (the problems say why).
    """
    name = s.get("name", str, "")
    if not NAME_RE.fullmatch(name):
        s.problem("name", f"{name!r} is not an artifact name; use lower-case letters, digits "
                  "and '-' (at most 48)")
    primary = _variant(s, base.primary if base else None)
    fallback = base.fallback if base else None
    if "fallback" in s.data:
        fallback = _variant(s.sub("fallback", VARIANT_KEYS), None)
    default = base or Artifact(name, 0, "", Variant("", ""))
    order = s.get("order", int, default.order)
    if order not in ORDERS:
        s.problem("order", f"{order} is not an order of volatility; use 1 (network) to 7 "
                  "(system identity)")
    timeout = s.number("timeout", default.timeout)
    if not 0 < timeout <= MAX_TIMEOUT:
        s.problem("timeout", f"must be 1-{MAX_TIMEOUT} seconds")
    max_bytes = s.get("max_bytes", int, default.max_bytes)
    if not 0 < max_bytes <= MAX_CAP:
        s.problem("max_bytes", f"must be 1 to {MAX_CAP} bytes")
    if primary is None:
        return None
    return Artifact(name=name, order=order,
                    description=s.get("description", str, default.description) or name,
                    primary=primary, fallback=fallback,
                    needs_root=s.get("needs_root", bool, default.needs_root),
                    timeout=timeout, max_bytes=max_bytes,
                    writes=s.get("writes", str, default.writes),
                    enabled=s.get("enabled", bool, True))


@cache
def builtin() -> tuple[Artifact, ...]:
    """The built-in set from ``artifacts.toml``, in file order.

    Raises:
        ValueError: the shipped file is broken (a packaging error, caught by the tests).
    """
    text = resources.files(__package__).joinpath("artifacts.toml").read_text("utf-8")
    problems: list[str] = []
    found = []
    for i, raw in enumerate(tomllib.loads(text)["artifact"]):
        parsed = parse_artifact(Section(problems, raw, f"artifact[{i}].", ARTIFACT_KEYS))
        if parsed is not None:
            found.append(parsed)
    if problems:
        raise ValueError("artifacts.toml: " + "; ".join(problems))
    return tuple(found)


def parse_overrides(root: Section) -> tuple[Artifact, ...]:
    """Read ``[[triage.artifacts]]``: each table overrides the built-in artifact of the same
    name (only the keys it gives) or adds a new one (then ``command`` or ``script`` is
    required). Problems are recorded on ``root`` (the ``[triage]`` section)."""
    raw_list = root.data.get("artifacts", [])
    if not isinstance(raw_list, list):
        root.problem("artifacts", "must be an array of tables written as [[triage.artifacts]]")
        return ()
    known = {a.name: a for a in builtin()}
    out: list[Artifact] = []
    for i, raw in enumerate(raw_list):
        if not isinstance(raw, dict):
            root.problem(f"artifacts[{i}]", "must be a table written as [[triage.artifacts]]")
            continue
        s = Section(root.problems, raw, f"{root.prefix}artifacts[{i}].", ARTIFACT_KEYS)
        parsed = parse_artifact(s, known.get(str(raw.get("name", ""))))
        if parsed is not None:
            out.append(parsed)
    return tuple(out)


def effective(settings: TriageSettings) -> list[Artifact]:
    """The artifacts in force: built-ins with the config's overrides and additions, minus
    ``triage.disable`` and ``enabled = false``, sorted by order of volatility (file order
    within one order)."""
    merged = {a.name: a for a in builtin()}
    for override in settings.artifacts:
        merged[override.name] = override
    chosen = [a for a in merged.values() if a.enabled and a.name not in settings.disable]
    position = {name: i for i, name in enumerate(merged)}
    return sorted(chosen, key=lambda a: (a.order, position[a.name]))


def select(artifacts: Sequence[Artifact], names: Sequence[str] | None = None,
           volatile_only: bool = False) -> list[Artifact]:
    """Pick artifacts by name (None: all) and/or only the volatile part
    (order <= :data:`VOLATILE_ORDER`), keeping the order of volatility.

    Raises:
        InvalidTargetError: a name is not an artifact in force, or nothing is left.
    """
    by_name = {a.name: a for a in artifacts}
    if names:
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise InvalidTargetError(
                f"unknown artifact{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
                f"use names from: {', '.join(by_name)}")
    chosen = [a for a in artifacts if (not names or a.name in names)
              and (not volatile_only or a.order <= VOLATILE_ORDER)]
    if not chosen:
        raise InvalidTargetError("no artifact left to collect",
                                 "name artifacts of order 1-2 with --volatile-only, or drop it")
    return chosen


def placeholder_values(settings: TriageSettings) -> dict[str, int]:
    """The values ``{placeholder}`` arguments are filled with."""
    return {"log_window_s": settings.log_window, "recent_minutes": settings.recent_window // 60}


def describe(artifact: Artifact) -> dict[str, Any]:
    """A JSON-ready description of ``artifact`` (for ``irtui collect --list``)."""
    return {"name": artifact.name, "order": artifact.order, "description": artifact.description,
            "needs": list(artifact.primary.needs), "needs_root": artifact.needs_root,
            "fallback": artifact.fallback.source if artifact.fallback else None,
            "timeout_s": artifact.timeout, "max_bytes": artifact.max_bytes,
            "writes": artifact.writes}

