"""iptables + ipset backend, reading side: the names irtui uses (``iptables.toml``) and the
parser for what ``remote/iptables_read.sh`` prints (ipset save + ``X-save -t raw``).
See :mod:`irtui.core.firewall.iptables` for the layout on a host."""

from __future__ import annotations

import ipaddress
import shlex
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from irtui.core.endpoints import split_port
from irtui.core.errors import ActionError, InvalidTargetError
from irtui.core.firewall.backend import endpoint_text, management_changed
from irtui.core.firewall.enforcement import ipt_block_problem, ipt_isolation
from irtui.core.firewall.fastnet import network_from_text, sort_key
from irtui.core.firewall.isolation_rules import ipt_unknown_rule
from irtui.core.firewall.state import (
    BlockEntry,
    Enforcement,
    HostState,
    Isolation,
    IsolationStatus,
    Network,
)
from irtui.core.remote import sections

MARKER = "### irtui "

@cache
def templates() -> dict[str, Any]:
    """The parsed ``iptables.toml`` (templates, names and per-variant binaries)."""
    text = resources.files("irtui.core.firewall").joinpath("iptables.toml").read_text("utf-8")
    return tomllib.loads(text)


@cache
def names() -> dict[str, Any]:
    return dict(templates()["names"])


@cache
def _template(key: str) -> Template:
    return Template(templates()[key])


def fill(key: str, **values: object) -> str:
    """Template ``key`` filled with the [names] table and ``values``, without the outer blank
    lines. Raises KeyError for a placeholder nobody filled (never a half-filled script)."""
    return _template(key).substitute(names(), **values).strip("\n")


def tokens(rule: str) -> tuple[str, ...]:
    """Split one iptables-save rule the way iptables-restore reads it (quotes respected)."""
    try:
        return tuple(shlex.split(rule))
    except ValueError:
        return tuple(rule.split())


def set_name(version: int) -> str:
    """irtui's ipset for IP ``version`` 4 or 6: ``irtui4`` / ``irtui6``."""
    return str(names()[f"set{version}"])


def temp_set_name(version: int) -> str:
    """The set built before ``ipset swap``: ``irtui4-new`` / ``irtui6-new``."""
    return set_name(version) + str(names()["temp_suffix"])


@dataclass(frozen=True)
class RawTable:
    """The raw table of one family as ``iptables-save -t raw`` printed it.

    Attributes:
        present: the table was printed (an absent legacy table is not read, so as not to
            create it).
        chains: chain name → its rules in order, each as the tokens after ``-A CHAIN``
            (e.g. ``("-j", "IRTUI-BLOCK")``).
    """

    present: bool = False
    chains: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)

    def has_chain(self, name: str) -> bool:
        """True when chain ``name`` exists (declared or holding rules)."""
        return name in self.chains

    def rules(self, name: str) -> tuple[tuple[str, ...], ...]:
        """The rules of chain ``name`` (empty if it does not exist)."""
        return self.chains.get(name, ())

    def jumps(self, chain: str, target: str) -> list[int]:
        """0-based positions in ``chain`` of the plain jump ``-j target`` (irtui's form)."""
        return [i for i, r in enumerate(self.rules(chain)) if r == ("-j", target)]

    def jump_at_head(self, chain: str, target: str, ours: Iterable[str]) -> bool:
        """True when ``chain`` holds exactly one jump to ``target`` and only jumps to irtui's
        chains (``ours``) come before it, i.e. no other rule is evaluated first."""
        positions = self.jumps(chain, target)
        if len(positions) != 1:
            return False
        allowed = {("-j", name) for name in ours}
        return all(rule in allowed for rule in self.rules(chain)[:positions[0]])


@dataclass(frozen=True)
class Facts:
    """What parse_state stored in ``HostState.detail`` (defaults when absent)."""

    sets: dict[int, bool]
    raw: dict[int, RawTable | None]
    missing: tuple[str, ...]
    ipv6: bool
    known: bool

    @classmethod
    def of(cls, state: HostState) -> Facts:
        d = state.detail
        sets = d.get("sets")
        raw = d.get("raw")
        missing = d.get("missing")
        return cls(
            sets=dict(sets) if isinstance(sets, dict) else {4: False, 6: False},
            raw=dict(raw) if isinstance(raw, dict) else {4: None, 6: None},
            missing=tuple(missing) if isinstance(missing, tuple | list) else (),
            ipv6=bool(d.get("ipv6", True)),
            known=isinstance(raw, dict),
        )


def _parse_set(host: str, version: int, lines: list[str],
               enforcement: Enforcement = Enforcement.UNKNOWN
               ) -> tuple[bool, list[BlockEntry], list[Network]]:
    """(the set exists, its block entries, its ``nomatch`` exceptions)."""
    name = set_name(version)
    exists = False
    entries: list[BlockEntry] = []
    holes: list[Network] = []
    for line in lines:
        words = line.split()
        if len(words) < 2 or words[1] != name:
            continue  # comments, warnings, other sets
        if words[0] == "create":
            exists = True
        elif words[0] == "add" and len(words) >= 3:
            options = words[3:]
            try:
                network = network_from_text(words[2])
                if "nomatch" in options:  # an exception inside a blocked prefix, a hole
                    holes.append(network)
                    continue
                remaining = int(options[options.index("timeout") + 1]) \
                    if "timeout" in options else 0
            except (ValueError, IndexError):
                raise ActionError(f"{host}: cannot understand ipset entry {line.strip()!r}",
                                  f"check `ipset save {name}` on the host") from None
            if network.version != version:
                continue
            left = remaining or None  # timeout 0 / no timeout: permanent
            entries.append(BlockEntry(network, timeout=left, expires=left,
                                      enforcement=enforcement))
    return exists, entries, holes


def _punctured(entries: list[BlockEntry], holes: list[Network],
               gaps: list[str]) -> list[BlockEntry]:
    """``entries`` with each one a ``nomatch`` exception lies inside marked NOT ENFORCED
    (hash:net lets that traffic through, ipset(8) "nomatch"); ``gaps`` gets why. irtui never
    writes such exceptions: one in its set was added by hand, and its next rebuild drops it."""
    if not holes:
        return entries
    out = []
    for entry in entries:
        inside = [h for h in holes if h.version == entry.network.version
                  and h.subnet_of(entry.network)]  # type: ignore[arg-type]
        if inside:
            gaps.append(f"{entry.text}: ipset nomatch exception {inside[0]} inside it lets "
                        "that traffic through")
            entry = replace(entry, enforcement=Enforcement.NOT_ENFORCED)
        out.append(entry)
    return out


def _parse_raw(lines: list[str]) -> RawTable:
    chains: dict[str, list[tuple[str, ...]]] = {}
    present = inside = False
    for line in lines:
        text = line.strip()
        if text.startswith("*"):
            inside = text == "*raw"
            present = present or inside
        elif not inside:
            continue
        elif text == "COMMIT":
            inside = False
        elif text.startswith(":") and len(text) > 1:
            chains.setdefault(text[1:].split()[0], [])
        elif text.startswith("-A "):
            words = tokens(text)
            if len(words) >= 2:
                chains.setdefault(words[1], []).append(words[2:])
    return RawTable(present, {name: tuple(rules) for name, rules in chains.items()})


def _isolation_status(raw: RawTable | None) -> str:
    """``complete``, ``partial`` (some of irtui's isolation pieces) or ``absent``."""
    n = names()
    if raw is None:
        return "absent"
    pieces = [raw.has_chain(n["isolate_in"]), raw.has_chain(n["isolate_out"]),
              bool(raw.jumps("PREROUTING", n["isolate_in"])),
              bool(raw.jumps("OUTPUT", n["isolate_out"]))]
    return "complete" if all(pieces) else "partial" if any(pieces) else "absent"


def _comment(rule: tuple[str, ...]) -> str | None:
    for i, word in enumerate(rule[:-1]):
        if word == "--comment":
            return rule[i + 1]
    return None


def _returned(rule: tuple[str, ...]) -> str | None:
    """What an isolation RETURN rule keeps reachable: ``net`` for a management network,
    ``net:port`` / ``[v6net]:port`` for an endpoint; None for loopback, DHCP, ND and the
    rest (they have no ``-s``, or a ``-s`` of a link-local/unspecified peer with no port)."""
    if len(rule) < 4 or rule[0] != "-s" or rule[-2:] != ("-j", "RETURN"):
        return None
    if "--dst-type" not in rule:  # only management rules are limited to the host itself
        return None
    network = ipaddress.ip_network(rule[1], strict=False)
    for side in ("--dport", "--sport"):
        if side in rule:
            return endpoint_text(network, int(rule[rule.index(side) + 1]))
    return str(network)


_WILD = "\x00"

_OLDER_LAYOUT = {
    "in": ("-s $network -j RETURN", "-p udp -m udp --sport 67 --dport 68 -j RETURN",
           "-p udp -m udp --sport 547 --dport 546 -j RETURN",
           *(f"-p ipv6-icmp -m icmp6 --icmpv6-type {t} -j RETURN" for t in range(133, 138))),
    "out": ("-p udp -m udp --sport 68 --dport 67 -j RETURN",
            "-p udp -m udp --sport 546 --dport 547 -j RETURN",
            *(f"-p ipv6-icmp -m icmp6 --icmpv6-type {t} -j RETURN" for t in range(133, 138))),
}
"""Rules an older irtui wrote (management RETURNs without ``--dst-type LOCAL``, DHCP and ND
exceptions not yet link-scoped), still recognised so its isolations read back as before."""


@cache
def _patterns(direction: str) -> tuple[tuple[str, ...], ...]:
    """Token patterns of the rules irtui writes in its isolation chain for ``direction``
    (``in``/``out``), after ``-A CHAIN``; a token holding :data:`_WILD` matches any token
    (the network, port, protocol, side and the start-time comment)."""
    wild = {k: _WILD + k for k in ("network", "proto", "side", "port", "comment")}
    t = templates()
    out = [tokens(fill(f"isolate_{direction}_{k}", **wild))[2:]
           for k in ("first", "mgmt", "endpoint", "dhcp4", "dhcp6")]
    if direction == "in":
        out.append(tokens(fill("isolate_in_mgmt_nd", **wild))[2:])
    out += [tokens(fill(f"isolate_{direction}_endpoint_nd", network=wild["network"], type=kind))[2:]
            for kind in t["endpoint_nd_types"]]
    out += [tokens(fill(f"isolate_{direction}_nd", peer=peer, type=kind))[2:]
            for peer in t[f"nd_peers_{direction}"] for kind in t[f"nd_types_{direction}"]]
    out += [tokens(Template(rule).substitute(wild)) for rule in _OLDER_LAYOUT[direction]]
    return tuple(out)


def _fits(rule: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    return len(rule) == len(pattern) and all(
        _WILD in p or p == r for r, p in zip(rule, pattern, strict=True))


def _kept(rule: tuple[str, ...]) -> str | None:
    """The management entry a RETURN for ``-s|-d NET`` (and a port) keeps, as listed."""
    try:
        network = ipaddress.ip_network(rule[1], strict=False)
    except (ValueError, IndexError):
        return None
    sides = [i for i, word in enumerate(rule[:-1]) if word in ("--dport", "--sport")]
    port = rule[sides[0] + 1] if sides else None
    return endpoint_text(network, int(port)) if port and port.isdigit() else str(network)


def _split(entry: str) -> tuple[str, int | None]:
    """``(network, port)`` of a listed management entry; ``(entry, None)`` for text an older
    irtui's comment holds that is no endpoint."""
    try:
        return split_port(entry)
    except InvalidTargetError:
        return entry, None


def _unknown_rule(raws: dict[int, RawTable | None], families: Sequence[int],
                  listed: Sequence[str], legacy: str) -> str:
    """Why a complete isolation still lets through more than irtui wrote: a rule in
    ``IRTUI-ISOLATE-IN``/``-OUT`` of no shape irtui writes (an ``ACCEPT``, a jump, a
    ``RETURN`` of another shape), or a RETURN for a network or endpoint that is not in the
    management list (``listed``; ``legacy`` ``*``: an older irtui's list too long for its
    comment); "" when there is none."""
    n = names()

    # an endpoint's neighbour-discovery rules name its network with no port
    endpoint_nets = {host for host, port in map(_split, listed) if port is not None}

    def known(direction: str, rule: tuple[str, ...]) -> bool:
        fits = [p for p in _patterns(direction) if _fits(rule, p)]
        if not fits:
            return False
        if any(_WILD + "network" not in p for p in fits):  # names no management peer
            return True
        return legacy == "*" or _kept(rule) in listed \
            or ("ipv6-icmp" in rule and _kept(rule) in endpoint_nets)

    for v in families:
        raw = raws.get(v)
        for direction in ("in", "out"):
            chain = n[f"isolate_{direction}"]
            why = ipt_unknown_rule(raw.rules(chain) if raw else (),
                                   lambda r, d=direction: known(d, r), chain)
            if why:
                return f"IPv{v} {why}"
    return ""


def _isolation(raws: dict[int, RawTable | None], families: Sequence[int]) -> Isolation | None:
    """irtui's isolation across ``families`` (None when no piece of it exists; ``PARTIAL``
    when some pieces are missing, see :func:`~irtui.core.firewall.enforcement.ipt_isolation`):
    ``since`` from the first rule's comment, the management list from the RETURN rules (an
    isolation written by an older irtui also kept it in the comment: ``mgmt=a,b``, or
    ``mgmt=*``)."""
    n = names()
    status, problem = ipt_isolation(raws, families, n)
    if status is IsolationStatus.NORMAL:
        return None
    since, legacy, fields = "", "", {}
    for v in families:
        raw = raws.get(v)
        rules = raw.rules(n["isolate_in"]) if raw else ()
        comment = _comment(rules[0]) if rules else None
        if comment and "since=" in comment:
            fields = dict(p.split("=", 1) for p in comment.split() if "=" in p)
            since, legacy = fields.get("since", ""), fields.get("mgmt", "")
            break
    listed: list[str] = []
    for v in families:
        raw = raws.get(v)
        for rule in raw.rules(n["isolate_in"]) if raw else ():
            kept = _returned(rule)
            if kept is not None and kept not in listed:
                listed.append(kept)
    if not listed and legacy not in ("", "*"):
        listed = [m for m in legacy.split(",") if m]
    if status is IsolationStatus.ISOLATED:
        problem = (_unknown_rule(raws, families, listed, legacy)
                   or management_changed(listed, fields))
        status = IsolationStatus.PARTIAL if problem else status
    return Isolation(since, tuple(listed), status, problem)


def parse_read(host: str, text: str, backend: str) -> HostState:
    """Parse the output of :meth:`IptablesBackend.read_command` into a :class:`HostState`.

    Lines before the first ``### irtui`` marker and anything inside a section that is not
    ipset/iptables-save syntax (comments, ``# Warning: iptables-legacy tables present ...``)
    are ignored.

    ``BlockEntry.expires`` is the remaining time ``ipset save`` reports, in seconds (None for a
    permanent entry: ``timeout 0`` or no timeout). ipset does not keep the TTL an entry was
    added with, so ``BlockEntry.timeout`` is that same remaining time.

    ``detail`` holds: ``sets`` {4|6: irtui's set exists}, ``raw`` {4|6: :class:`RawTable`},
    ``missing`` (binaries not installed), ``ipv6`` (the kernel has IPv6) and ``isolation``
    {4|6: ``complete``/``partial``/``absent``}. ``isolation`` is ``ISOLATED`` only when it is
    complete in every family the host has; a half-isolated host is ``PARTIAL``. Each entry's
    ``enforcement`` says whether raw PREROUTING/OUTPUT reach irtui's drop rules for its set
    (:func:`~irtui.core.firewall.enforcement.ipt_block_problem`); ``gaps`` says why not.

    Raises:
        ActionError: the read script did not run to its end marker, or an ipset entry is
            not an address.
    """
    sec = sections(text, MARKER)
    sec["missing"] = [k.removeprefix("missing ").strip() for k in list(sec)
                      if k.startswith("missing ")]
    if "end" not in sec:
        raise ActionError(f"{host}: the iptables/ipset read did not complete",
                          "check that the login user can run sh, ipset and iptables-save")
    blocks: list[BlockEntry] = []
    sets: dict[int, bool] = {}
    raws: dict[int, RawTable | None] = {}
    gaps: list[str] = []
    for v in (4, 6):
        raws[v] = _parse_raw(sec.get(f"raw {v}", []))
        problem = ipt_block_problem(raws[v], v, names())
        sets[v], entries, holes = _parse_set(host, v, sec.get(f"ipset {v}", []),
                                             Enforcement.NOT_ENFORCED if problem
                                             else Enforcement.ENFORCED)
        blocks.extend(_punctured(entries, holes, gaps))
        if problem and entries:
            gaps.append(problem)
    ipv6 = "no-ipv6" not in sec
    families = (4, 6) if ipv6 else (4,)
    blocks.sort(key=sort_key)
    detail: dict[str, object] = {
        "sets": sets, "raw": raws, "missing": tuple(sec.get("missing", [])), "ipv6": ipv6,
        "isolation": {v: _isolation_status(raws[v]) for v in (4, 6)},
    }
    return HostState(host=host, blocks=tuple(blocks), isolation=_isolation(raws, families),
                     backend=backend, detail=detail, gaps=tuple(gaps))
