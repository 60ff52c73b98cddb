"""iptables + ipset backend (``iptables-nft`` and ``iptables-legacy``).

The blocklist is two ipsets, ``irtui4`` and ``irtui6`` (``hash:net`` with per-entry timeouts,
ipset(8)), matched from irtui's chains in the **raw** table: ``IRTUI-BLOCK`` (jumped from
``PREROUTING``: source or destination in the set, i.e. traffic to the host and forwarded
traffic) and ``IRTUI-BLOCK-OUT`` (jumped from ``OUTPUT``: destination in the set). The raw
table runs before conntrack and before every filter-table rule (iptables(8), "TABLES"), so a
block wins over ACCEPT rules in INPUT and also stops connections that are already open.
Isolation is two more raw chains, ``IRTUI-ISOLATE-IN``/``-OUT``, that RETURN what stays
allowed and DROP the rest. irtui's jumps always sit at the head of ``PREROUTING``/``OUTPUT``.

Every change is atomic per host and family and leaves the old state in force when it fails:

- ipset: a complete new set ``irtui4-new`` (live entries with their remaining timeouts, plus
  additions, minus removals) is loaded with one ``ipset restore``, then ``ipset swap``\\ ped in
  (ipset(8): swap is atomic); nothing touches the live set before the swap.
- iptables: one ``X-restore --noflush`` input per family (iptables-restore(8)), all checked
  with ``--test`` first and then applied by one remote command; a restore commits the table
  as a whole. (Across the two families it is not one transaction: if the IPv6 commit failed
  after the IPv4 one, IPv4 keeps the change and the command fails.)

All templates are data in ``iptables.toml``; this module fills them (string.Template) only with
names from that file, ints, ipaddress-normalised networks and a validated timestamp.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from irtui.core.errors import ActionError
from irtui.core.firewall.backend import (
    BlockRequest,
    Command,
    FirewallBackend,
    IsolationPolicy,
)
from irtui.core.firewall.state import BlockEntry, HostState, Isolation, Network

VARIANTS = ("iptables-nft", "iptables-legacy")
"""The backend names this module provides."""

MAX_TIMEOUT = 2147483
"""Largest ipset timeout in seconds (ipset(8) rejects more: "out of range 0-2147483")."""

COMMENT_MAX = 255
"""Longest text the xt_comment match stores (256 bytes with the terminating NUL)."""

MARKER = "### irtui "
_SINCE = re.compile(r"^[0-9A-Za-z:.+-]{1,64}$")
_FAMILY_WORD = {4: "inet", 6: "inet6"}
_PROC_NAMES = {4: "ip_tables_names", 6: "ip6_tables_names"}


@cache
def templates() -> dict[str, Any]:
    """The parsed ``iptables.toml`` (templates, names and per-variant binaries)."""
    text = resources.files("irtui.core.firewall").joinpath("iptables.toml").read_text("utf-8")
    return tomllib.loads(text)


@cache
def _names() -> dict[str, Any]:
    return dict(templates()["names"])


@cache
def _template(key: str) -> Template:
    return Template(templates()[key])


def _fill(key: str, **values: object) -> str:
    """Template ``key`` filled with the [names] table and ``values``, without the outer blank
    lines. Raises KeyError for a placeholder nobody filled (never a half-filled script)."""
    return _template(key).substitute(_names(), **values).strip("\n")


def _tokens(rule: str) -> tuple[str, ...]:
    """Split one iptables-save rule the way iptables-restore reads it (quotes respected)."""
    try:
        return tuple(shlex.split(rule))
    except ValueError:
        return tuple(rule.split())


def set_name(version: int) -> str:
    """irtui's ipset for IP ``version`` 4 or 6: ``irtui4`` / ``irtui6``."""
    return str(_names()[f"set{version}"])


def temp_set_name(version: int) -> str:
    """The set built before ``ipset swap``: ``irtui4-new`` / ``irtui6-new``."""
    return set_name(version) + str(_names()["temp_suffix"])


def entry_text(network: Network) -> str:
    """The ipset element for ``network`` as ``ipset save`` prints it: the bare address for a
    /32 or /128, else ``address/prefixlen``."""
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


# ---------------------------------------------------------------------------------------------
# Parsed state


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
class _Facts:
    """What parse_state stored in ``HostState.detail`` (defaults when absent)."""

    sets: dict[int, bool]
    raw: dict[int, RawTable | None]
    missing: tuple[str, ...]
    ipv6: bool
    known: bool

    @classmethod
    def of(cls, state: HostState) -> _Facts:
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


def _sections(text: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(MARKER):
            key = line[len(MARKER):].strip()
            if key.startswith("missing "):
                sections.setdefault("missing", []).append(key.removeprefix("missing ").strip())
                continue
            current = sections.setdefault(key, [])
        elif current is not None:
            current.append(line)
    return sections


def _parse_set(host: str, version: int, lines: list[str]) -> tuple[bool, list[BlockEntry]]:
    name = set_name(version)
    exists = False
    entries: list[BlockEntry] = []
    for line in lines:
        words = line.split()
        if len(words) < 2 or words[1] != name:
            continue  # comments, warnings, other sets
        if words[0] == "create":
            exists = True
        elif words[0] == "add" and len(words) >= 3:
            options = words[3:]
            if "nomatch" in options:
                continue  # an exception inside a blocked prefix, not a block
            try:
                network = ipaddress.ip_network(words[2], strict=False)
                remaining = int(options[options.index("timeout") + 1]) \
                    if "timeout" in options else 0
            except (ValueError, IndexError):
                raise ActionError(f"{host}: cannot understand ipset entry {line.strip()!r}",
                                  f"check `ipset save {name}` on the host") from None
            if network.version != version:
                continue
            left = remaining or None  # timeout 0 / no timeout: permanent
            entries.append(BlockEntry(network, timeout=left, expires=left))
    return exists, entries


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
            words = _tokens(text)
            if len(words) >= 2:
                chains.setdefault(words[1], []).append(words[2:])
    return RawTable(present, {name: tuple(rules) for name, rules in chains.items()})


def _isolation_status(raw: RawTable | None) -> str:
    """``complete``, ``partial`` (some of irtui's isolation pieces) or ``absent``."""
    n = _names()
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


def _isolation(raws: dict[int, RawTable | None], families: Sequence[int]) -> Isolation | None:
    """Isolation when it is complete in every family in ``families``; since/mgmt from the
    first rule's comment (``mgmt=*``: read from the RETURN rules)."""
    n = _names()
    if not all(_isolation_status(raws.get(v)) == "complete" for v in families):
        return None
    since, mgmt_text = "", "*"
    for v in families:
        raw = raws.get(v)
        rules = raw.rules(n["isolate_in"]) if raw else ()
        comment = _comment(rules[0]) if rules else None
        if comment and "since=" in comment:
            fields = dict(p.split("=", 1) for p in comment.split() if "=" in p)
            since, mgmt_text = fields.get("since", ""), fields.get("mgmt", "")
            break
    if mgmt_text != "*":
        return Isolation(since, tuple(m for m in mgmt_text.split(",") if m))
    mgmt: list[str] = []
    for v in families:
        raw = raws.get(v)
        for rule in raw.rules(n["isolate_in"]) if raw else ():
            if len(rule) >= 4 and rule[0] == "-s" and rule[-2:] == ("-j", "RETURN"):
                mgmt.append(str(ipaddress.ip_network(rule[1], strict=False)))
    return Isolation(since, tuple(mgmt))


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
    {4|6: ``complete``/``partial``/``absent``}. ``isolation`` is reported only when it is
    complete in every family the host has (a half-isolated host is not isolated).

    Raises:
        ActionError: the read script did not run to its end marker, or an ipset entry is
            not an address.
    """
    sec = _sections(text)
    if "end" not in sec:
        raise ActionError(f"{host}: the iptables/ipset read did not complete",
                          "check that the login user can run sh, ipset and iptables-save")
    blocks: list[BlockEntry] = []
    sets: dict[int, bool] = {}
    raws: dict[int, RawTable | None] = {}
    for v in (4, 6):
        sets[v], entries = _parse_set(host, v, sec.get(f"ipset {v}", []))
        blocks.extend(entries)
        raws[v] = _parse_raw(sec.get(f"raw {v}", []))
    ipv6 = "no-ipv6" not in sec
    families = (4, 6) if ipv6 else (4,)
    blocks.sort(key=lambda e: (e.family, e.network))
    detail: dict[str, object] = {
        "sets": sets, "raw": raws, "missing": tuple(sec.get("missing", [])), "ipv6": ipv6,
        "isolation": {v: _isolation_status(raws[v]) for v in (4, 6)},
    }
    return HostState(host=host, blocks=tuple(blocks), isolation=_isolation(raws, families),
                     backend=backend, detail=detail)


# ---------------------------------------------------------------------------------------------
# The backend


def _describe(networks: Sequence[Network]) -> str:
    if len(networks) <= 3:
        return ", ".join(entry_text(n) for n in networks)
    return f"{len(networks)} entries ({entry_text(networks[0])}, {entry_text(networks[1])}, …)"


class IptablesBackend(FirewallBackend):
    """iptables with ipset, for one variant: ``"iptables-nft"`` (the nf_tables-based tools,
    Debian's default) or ``"iptables-legacy"`` (the x_tables tools).

    See the module docstring for the sets, chains and why they are atomic. Commands run in
    order and the caller stops at the first failure: ipset first (the sets must exist before
    a rule can reference them), then one command holding the checked restores of both
    families.

    Args:
        variant: one of :data:`VARIANTS`; it becomes :attr:`name`.

    Raises:
        ValueError: unknown variant.
    """

    def __init__(self, variant: str) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown iptables variant {variant!r} (one of {VARIANTS})")
        self.name = variant  # type: ignore[misc]  # per instance: one class, two variants
        self._tools: dict[str, Any] = dict(templates()["variants"][variant])

    def __repr__(self) -> str:
        return f"IptablesBackend({self.name!r})"

    # -- binaries -----------------------------------------------------------------------------

    def _tool(self, kind: str, version: int) -> str:
        """``iptables``/``iptables_save``/``iptables_restore`` binary for ``version``."""
        prefix = "iptables" if version == 4 else "ip6tables"
        key = prefix if kind == "cmd" else f"{prefix}_{kind}"
        return str(self._tools[key])

    def _require(self, facts: _Facts, tools: Iterable[str], what: str, host: str) -> None:
        missing = [t for t in tools if t in facts.missing]
        if missing:
            package = "ipset" if missing == ["ipset"] else "iptables and ipset"
            raise ActionError(f"{host}: cannot {what}: {', '.join(missing)} not installed",
                              f"install the Debian package(s) {package} on the host")

    # -- reading ------------------------------------------------------------------------------

    def read_command(self) -> Command:
        """``sh -c SCRIPT`` printing ``### irtui <section>`` blocks: missing binaries,
        ``ipset save irtui4``/``irtui6`` (nothing when a set is absent), ``X-save -t raw`` for
        both families (legacy: only when the raw table exists, since reading would create
        it), then ``### irtui end``. Always exits 0; changes nothing."""
        saves = {}
        for v in (4, 6):
            key = "save_legacy" if self._tools["legacy"] else "save_nft"
            saves[f"save{v}"] = _fill(key, save=self._tool("save", v), proc_names=_PROC_NAMES[v])
        script = _fill("read", **self._tools, **saves)
        return Command(("sh", "-c", script), f"read irtui's ipsets and raw table ({self.name})")

    def parse_state(self, host: str, stdout: str) -> HostState:
        """See :func:`parse_read`."""
        return parse_read(host, stdout, self.name)

    # -- command builders ---------------------------------------------------------------------

    def _restore_command(self, inputs: dict[int, list[str]], purpose: str) -> Command:
        """One command applying ``inputs`` (IP version → restore lines for the raw table) with
        ``X-restore --noflush``: every input is first checked with ``--test``
        (iptables-restore(8); the legacy tool also builds the table, the nft tool checks
        less), then each is committed as one transaction, IPv4 first; when a later commit
        fails, the raw tables already committed are restored from ``X-save -t raw`` copies
        taken just before (``X-restore -T raw``). ``-w`` (legacy) waits for the xtables lock
        (iptables(8))."""
        test, save, commit, text = [], [], [], []
        undo = ""
        versions = sorted(inputs)
        for version in versions:
            restore = " ".join(w for w in (self._tool("restore", version), self._tools["wait"])
                               if w)
            test.append(_fill("restore_test", restore=restore, version=version))
            commit.append(_fill("restore_commit", restore=restore, version=version, undo=undo))
            if version != versions[-1]:
                save.append(_fill("restore_save", save=self._tool("save", version),
                                  version=version))
                undo = _fill("restore_undo", restore=restore, version=version) + " " + undo
            text += [_fill("restore_family", version=version),
                     _fill("restore_input", body="\n".join(inputs[version]))]
        script = _fill("restore_apply", test="\n".join(test), save="\n".join(save),
                       commit="\n".join(commit))
        tools = " + ".join("iptables" if v == 4 else "ip6tables" for v in versions)
        return Command(("sh", "-c", script), f"{purpose} ({tools}, raw table)",
                       "\n".join(text) + "\n")

    def _ipset_command(self, versions: Sequence[int], changes: list[str],
                       purpose: str) -> Command:
        """One ``sh -c`` rebuilding the sets of ``versions`` (see ``ipset_apply`` in the TOML)
        with ``changes`` (``add``/``del`` lines for the temp sets) on stdin."""
        parts: dict[str, list[str]] = {"prepare": [], "copy": [], "swap": [], "drop_temps": []}
        for v in versions:
            values = {"set": set_name(v), "temp": temp_set_name(v), "family": _FAMILY_WORD[v],
                      "version": v}
            for key in parts:
                template = "ipset_drop_temp" if key == "drop_temps" else f"ipset_{key}"
                parts[key].append(_fill(template, **values))
        script = _fill("ipset_apply", prepare="\n".join(parts["prepare"]),
                       copy="\n".join(parts["copy"]), swap="\n".join(parts["swap"]),
                       drop_temps=" ".join(parts["drop_temps"]))
        return Command(("sh", "-c", script), purpose, "".join(f"{c}\n" for c in changes))

    @staticmethod
    def _jump_lines(raw: RawTable | None, chain: str, target: str) -> list[str]:
        """Nothing when ``chain`` already starts with the one jump to ``target`` (after other
        irtui jumps only); else delete every such jump and insert one at position 1."""
        n = _names()
        ours = (n["block_in"], n["block_out"], n["isolate_in"], n["isolate_out"])
        if raw is not None and raw.jump_at_head(chain, target, ours):
            return []
        count = len(raw.jumps(chain, target)) if raw is not None else 0
        return [_fill("jump_delete", chain=chain, target=target)] * count + \
            [_fill("jump_insert", chain=chain, target=target)]

    @staticmethod
    def _chain_lines(raw: RawTable | None, rules: list[str], chains: Sequence[str]) -> list[str]:
        """(Re)declare ``chains`` and append ``rules`` unless the chains already hold exactly
        those rules. Declaring an existing chain with --noflush empties it first."""
        wanted: dict[str, list[tuple[str, ...]]] = {c: [] for c in chains}
        for rule in rules:
            words = _tokens(rule)
            wanted[words[1]].append(words[2:])
        if raw is not None and all(raw.has_chain(c) and list(raw.rules(c)) == wanted[c]
                                   for c in chains):
            return []
        return [_fill("chain", chain=c) for c in chains] + rules

    def block_commands(self, requests: list[BlockRequest], state: HostState) -> list[Command]:
        """Add (or refresh) ``requests``.

        Returns:
            One ipset command (copy live entries + ``add <set>-new NET timeout N`` lines into
            the new set, then swap; a refresh re-adds with ``-exist``, which sets the new
            timeout), then a checked restore command creating, for each family touched,
            ``IRTUI-BLOCK``/``IRTUI-BLOCK-OUT`` and their head-of-chain jumps, only where
            ``state`` shows them missing, different or misplaced. Empty list for no requests.

        Raises:
            ActionError: a /0 prefix (hash:net cannot store it), a TTL outside
                1..:data:`MAX_TIMEOUT` seconds, or ipset/iptables missing on the host.
        """
        if not requests:
            return []
        latest = {r.network: r for r in requests}  # one line per network, the last one wins
        for r in latest.values():
            if r.network.prefixlen == 0:
                raise ActionError(f"{state.host}: cannot block {r.network}: ipset hash:net "
                                  "does not store a /0 prefix", "block narrower prefixes")
            if r.ttl is not None and not 0 < r.ttl <= MAX_TIMEOUT:
                raise ActionError(f"{state.host}: TTL {r.ttl} s for {entry_text(r.network)} "
                                  f"is outside ipset's 1..{MAX_TIMEOUT} s",
                                  "use a TTL of at most 24 days, or a permanent block")
        facts = _Facts.of(state)
        versions = sorted({n.version for n in latest})
        self._require(facts, ["ipset", *(self._tool("restore", v) for v in versions)],
                      "block", state.host)
        changes = [_fill("ipset_add", temp=temp_set_name(r.network.version),
                         entry=entry_text(r.network), timeout=r.ttl or 0)
                   for r in latest.values()]
        refresh = all(r.refresh for r in latest.values())
        nets = list(latest)
        verb = "refresh the TTL of" if refresh else "add"
        commands = [self._ipset_command(versions, changes,
                                        f"{verb} {_describe(nets)} in the blocklist (ipset)")]
        n = _names()
        inputs: dict[int, list[str]] = {}
        for v in versions:
            raw = facts.raw.get(v)
            rules = _fill("block_rules", set=set_name(v)).splitlines()
            lines = self._chain_lines(raw, rules, (n["block_in"], n["block_out"])) + \
                self._jump_lines(raw, "PREROUTING", n["block_in"]) + \
                self._jump_lines(raw, "OUTPUT", n["block_out"])
            if lines:
                inputs[v] = lines
        if inputs:
            commands.append(self._restore_command(inputs, "install the blocklist rules"))
        return commands

    def unblock_commands(self, networks: list[Network], state: HostState) -> list[Command]:
        """Remove ``networks`` from the blocklist: one ipset command rebuilding the sets
        without them (``del <set>-new NET``) and swapping them in. Overlapping entries of
        other prefix lengths stay. The rules stay (an empty set matches nothing).

        Raises:
            ActionError: ipset missing on the host.
        """
        if not networks:
            return []
        nets = list(dict.fromkeys(networks))
        self._require(_Facts.of(state), ["ipset"], "unblock", state.host)
        changes = [_fill("ipset_del", temp=temp_set_name(net.version), entry=entry_text(net))
                   for net in nets]
        versions = sorted({net.version for net in nets})
        return [self._ipset_command(versions, changes,
                                    f"remove {_describe(nets)} from the blocklist (ipset)")]

    def isolate_commands(self, policy: IsolationPolicy, state: HostState) -> list[Command]:
        """Isolate: one command with a checked restore per family (IPv6 too, unless the
        kernel has none; one command, because the first family applied may cut the SSH
        session that would carry a second) declaring ``IRTUI-ISOLATE-IN``/``-OUT``
        (loopback, management networks, DHCP and neighbour discovery as the policy says, then
        DROP) and jumping to them at the head of raw PREROUTING/OUTPUT. Re-isolating replaces
        the chains' rules; an unchanged isolation gives no command.

        Raises:
            ActionError: ``policy.since`` is not a plain ISO timestamp, or iptables is
                missing on the host.
        """
        if not _SINCE.match(policy.since):
            raise ActionError(f"{state.host}: isolation start time {policy.since!r} is not an "
                              "ISO 8601 timestamp", "pass the time irtui generated")
        facts = _Facts.of(state)
        versions = (4, 6) if facts.ipv6 else (4,)
        self._require(facts, [self._tool("restore", v) for v in versions], "isolate",
                      state.host)
        mgmt = policy.listed()
        comment = _fill("isolate_comment", since=policy.since, mgmt=mgmt)
        if len(comment) > COMMENT_MAX:
            comment = _fill("isolate_comment", since=policy.since, mgmt="*")
        n = _names()
        inputs: dict[int, list[str]] = {}
        for v in versions:
            rules = {"in": [_fill("isolate_in_first", comment=comment)],
                     "out": [_fill("isolate_out_first")]}
            for way in ("in", "out"):
                rules[way] += [_fill(f"isolate_{way}_mgmt", network=str(net))
                               for net in policy.management if net.version == v]
                rules[way] += [_fill(f"isolate_{way}_endpoint", network=str(net), proto=proto,
                                     side=side, port=port)
                               for net, port in policy.endpoints if net.version == v
                               for proto in ("tcp", "udp") for side in ("dport", "sport")]
                if policy.allow_dhcp:
                    rules[way].append(_fill(f"isolate_{way}_dhcp{v}"))
                if policy.allow_nd and v == 6:
                    rules[way] += [_fill(f"isolate_{way}_nd", type=int(t))
                                   for t in templates()["nd_types"]]
                rules[way].append(_fill(f"isolate_{way}_last"))
            raw = facts.raw.get(v)
            lines = self._chain_lines(raw, rules["in"] + rules["out"],
                                      (n["isolate_in"], n["isolate_out"])) + \
                self._jump_lines(raw, "PREROUTING", n["isolate_in"]) + \
                self._jump_lines(raw, "OUTPUT", n["isolate_out"])
            if lines:
                inputs[v] = lines
        if not inputs:
            return []
        return [self._restore_command(inputs, "isolate: drop all but management traffic")]

    def release_commands(self, state: HostState) -> list[Command]:
        """Remove exactly irtui's isolation: one command with, per family where ``state``
        shows any of it, a checked restore deleting the jumps to ``IRTUI-ISOLATE-IN``/``-OUT``
        and then flushing and deleting those chains. Other rules are untouched. A state
        without this backend's detail falls back to :meth:`rollback_script`."""
        facts = _Facts.of(state)
        if not facts.known:
            return [Command(("sh", "-c", self.rollback_script()),
                            "remove irtui's isolation chains (state unknown)")]
        n = _names()
        inputs: dict[int, list[str]] = {}
        for v in (4, 6):
            raw = facts.raw.get(v)
            if raw is None:
                continue
            lines = [_fill("jump_delete", chain=chain, target=target)
                     for chain, target in (("PREROUTING", n["isolate_in"]),
                                           ("OUTPUT", n["isolate_out"]))
                     for _ in raw.jumps(chain, target)]
            for chain in (n["isolate_in"], n["isolate_out"]):
                if raw.has_chain(chain):
                    lines += [_fill("chain_flush", chain=chain), _fill("chain_delete", chain=chain)]
            if lines:
                inputs[v] = lines
        return [self._restore_command(inputs, "release the isolation")] if inputs else []

    def rollback_script(self) -> str:
        """POSIX sh removing irtui's isolation jumps and chains from both families: per
        family one ``X-save -t raw`` and one ``X-restore --noflush`` deleting exactly what it
        found (iptables-restore(8)), falling back to single ``iptables -t raw -D/-F/-X`` calls
        that ignore "does not exist" errors. Its status is 0 and it never calls ``exit``, so
        a caller may ``eval`` it and go on. Legacy tables are touched only when they exist.
        Safe to run when no isolation exists."""
        return _fill("rollback", **{**self._tools, "legacy": str(self._tools["legacy"]).lower()})


def backends() -> list[IptablesBackend]:
    """Both variants: ``[IptablesBackend("iptables-nft"), IptablesBackend("iptables-legacy")]``."""
    return [IptablesBackend(v) for v in VARIANTS]
