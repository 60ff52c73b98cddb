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

import re
from collections.abc import Iterable, Sequence
from typing import Any

from irtui.core.errors import ActionError
from irtui.core.firewall.backend import (
    BlockRequest,
    Command,
    FirewallBackend,
    IsolationPolicy,
    endpoint_text,
    management_sum,
)
from irtui.core.firewall.iptables_state import (
    Facts,
    RawTable,
    fill,
    names,
    parse_read,
    set_name,
    temp_set_name,
    templates,
    tokens,
)
from irtui.core.firewall.state import HostState, Network, describe_networks, entry_text
from irtui.core.remote import run_script

VARIANTS = ("iptables-nft", "iptables-legacy")
"""The backend names this module provides."""

MAX_TIMEOUT = 2147483
"""Largest ipset timeout in seconds (ipset(8) rejects more: "out of range 0-2147483")."""

COMMENT_MAX = 255
"""Longest text the xt_comment match stores (256 bytes with the terminating NUL)."""

_SINCE = re.compile(r"^[0-9A-Za-z:.+-]{1,64}$")
_FAMILY_WORD = {4: "inet", 6: "inet6"}

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

    def _require(self, facts: Facts, tools: Iterable[str], what: str, host: str) -> None:
        missing = [t for t in tools if t in facts.missing]
        if missing:
            package = "ipset" if missing == ["ipset"] else "iptables and ipset"
            raise ActionError(f"{host}: cannot {what}: {', '.join(missing)} not installed",
                              f"install the Debian package(s) {package} on the host")

    # -- reading ------------------------------------------------------------------------------

    def _wait(self) -> int:
        """Seconds the legacy tools wait for the xtables lock (iptables(8) ``-w``); 0 for the
        nft tools, which take no lock (and whose restore rejects ``-w``)."""
        return int(self._tools["wait"])

    def read_command(self) -> Command:
        """``remote/iptables_read.sh`` printing ``### irtui <section>`` blocks: missing
        binaries, ``ipset save irtui4``/``irtui6`` (nothing when a set is absent),
        ``X-save -t raw`` for both families (legacy: only when the raw table exists, since
        reading would create it), then ``### irtui end``. Always exits 0; changes nothing."""
        return run_script("iptables_read", int(bool(self._tools["legacy"])),
                          self._tool("save", 4), self._tool("save", 6),
                          self._tool("restore", 4), self._tool("restore", 6),
                          set_name(4), set_name(6),
                          purpose=f"read irtui's ipsets and raw table ({self.name})")

    def parse_state(self, host: str, stdout: str) -> HostState:
        """See :func:`~irtui.core.firewall.iptables_state.parse_read`."""
        return parse_read(host, stdout, self.name)

    def _restore_command(self, inputs: dict[int, list[str]], purpose: str) -> Command:
        """``remote/iptables_restore_apply.sh`` applying ``inputs`` (IP version → restore
        lines for the raw table) with ``X-restore --noflush``: every input is first checked
        with ``--test`` (iptables-restore(8)), then each is committed as one transaction,
        IPv4 first; when a later commit fails, the raw tables already committed are
        restored from ``X-save -t raw`` copies taken just before."""
        versions = sorted(inputs)
        args: list[str | int] = [self._wait()]
        text: list[str] = []
        for version in versions:
            args += [version, self._tool("restore", version), self._tool("save", version)]
            text += [fill("restore_family", version=version),
                     fill("restore_input", body="\n".join(inputs[version]))]
        tools = " + ".join("iptables" if v == 4 else "ip6tables" for v in versions)
        return run_script("iptables_restore_apply", *args,
                          purpose=f"{purpose} ({tools}, raw table)", stdin="\n".join(text) + "\n")

    def _ipset_command(self, versions: Sequence[int], changes: list[str],
                       purpose: str) -> Command:
        """``remote/ipset_apply.sh`` rebuilding the sets of ``versions`` with ``changes``
        (``add``/``del`` lines for the temp sets) on stdin, then swapping them in."""
        args: list[str | int] = [names()["maxelem"]]
        for v in versions:
            args += [v, set_name(v), temp_set_name(v), _FAMILY_WORD[v]]
        return run_script("ipset_apply", *args, purpose=purpose,
                          stdin="".join(f"{c}\n" for c in changes))

    @staticmethod
    def _jump_lines(raw: RawTable | None, chain: str, target: str) -> list[str]:
        """Nothing when ``chain`` already starts with the one jump to ``target`` (after other
        irtui jumps only); else a ``jump_head`` line, which the apply script expands from the
        raw table as it is when the change runs (delete every such jump, insert one at
        position 1), so a stale plan can neither fail nor leave two jumps."""
        n = names()
        ours = (n["block_in"], n["block_out"], n["isolate_in"], n["isolate_out"])
        if raw is not None and raw.jump_at_head(chain, target, ours):
            return []
        return [fill("jump_head", chain=chain, target=target)]

    @staticmethod
    def _chain_lines(raw: RawTable | None, rules: list[str], chains: Sequence[str]) -> list[str]:
        """(Re)declare ``chains`` and append ``rules`` unless the chains already hold exactly
        those rules. Declaring an existing chain with --noflush empties it first."""
        wanted: dict[str, list[tuple[str, ...]]] = {c: [] for c in chains}
        for rule in rules:
            words = tokens(rule)
            wanted[words[1]].append(words[2:])
        if raw is not None and all(raw.has_chain(c) and list(raw.rules(c)) == wanted[c]
                                   for c in chains):
            return []
        return [fill("chain", chain=c) for c in chains] + rules

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
        facts = Facts.of(state)
        versions = sorted({n.version for n in latest})
        self._require(facts, ["ipset", *(self._tool("restore", v) for v in versions)],
                      "block", state.host)
        changes = [fill("ipset_add", temp=temp_set_name(r.network.version),
                         entry=entry_text(r.network), timeout=r.ttl or 0)
                   for r in latest.values()]
        refresh = all(r.refresh for r in latest.values())
        nets = list(latest)
        verb = "refresh the TTL of" if refresh else "add"
        what = f"{verb} {describe_networks(nets)} in the blocklist (ipset)"
        commands = [self._ipset_command(versions, changes, what)]
        n = names()
        inputs: dict[int, list[str]] = {}
        for v in versions:
            raw = facts.raw.get(v)
            rules = fill("block_rules", set=set_name(v)).splitlines()
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
        self._require(Facts.of(state), ["ipset"], "unblock", state.host)
        changes = [fill("ipset_del", temp=temp_set_name(net.version), entry=entry_text(net))
                   for net in nets]
        versions = sorted({net.version for net in nets})
        return [self._ipset_command(versions, changes,
                                    f"remove {describe_networks(nets)} from the blocklist (ipset)")]

    def isolate_commands(self, policy: IsolationPolicy, state: HostState) -> list[Command]:
        """Isolate: one command with a checked restore per family (IPv6 too, unless the
        kernel has none; one command, because the first family applied may cut the SSH
        session that would carry a second) declaring ``IRTUI-ISOLATE-IN``/``-OUT``
        (loopback, management networks, DHCP and neighbour discovery as the policy says, then
        DROP) and jumping to them at the head of raw PREROUTING/OUTPUT. Chains ``state`` shows
        absent are created with ``-N``, so the restore fails (changing nothing) if another
        run created them meanwhile; re-isolating a partial isolation replaces the chains'
        rules; an unchanged isolation gives no command.

        Raises:
            ActionError: ``policy.since`` is not a plain ISO timestamp, or iptables is
                missing on the host.
        """
        if not _SINCE.match(policy.since):
            raise ActionError(f"{state.host}: isolation start time {policy.since!r} is not an "
                              "ISO 8601 timestamp", "pass the time irtui generated")
        facts = Facts.of(state)
        versions = (4, 6) if facts.ipv6 else (4,)
        self._require(facts, [self._tool("restore", v) for v in versions], "isolate",
                      state.host)
        listed = [str(n) for n in policy.management if n.version in versions] + [
            endpoint_text(n, p) for n, p in policy.endpoints if n.version in versions]
        comment = fill("isolate_comment", since=policy.since, sum=management_sum(listed))
        assert len(comment) <= COMMENT_MAX  # since is at most 64 plain characters
        n = names()
        inputs: dict[int, list[str]] = {}
        for v in versions:
            rules = {"in": [fill("isolate_in_first", comment=comment)],
                     "out": [fill("isolate_out_first")]}
            for way in ("in", "out"):
                rules[way] += [fill(f"isolate_{way}_mgmt", network=str(net))
                               for net in policy.management if net.version == v]
                if way == "in" and v == 6:
                    rules[way] += [fill("isolate_in_mgmt_nd", network=str(net))
                                   for net in policy.management if net.version == 6]
                rules[way] += [fill(f"isolate_{way}_endpoint", network=str(net), proto=proto,
                                     side=side, port=port)
                               for net, port in policy.endpoints if net.version == v
                               for proto in ("tcp", "udp") for side in ("dport", "sport")]
                if v == 6:
                    rules[way] += [fill(f"isolate_{way}_endpoint_nd", network=str(net), type=t)
                                   for net in dict.fromkeys(n for n, _ in policy.endpoints
                                                            if n.version == 6)
                                   for t in templates()["endpoint_nd_types"]]
                if policy.allow_dhcp:
                    rules[way].append(fill(f"isolate_{way}_dhcp{v}"))
                if policy.allow_nd and v == 6:
                    rules[way] += [fill(f"isolate_{way}_nd", peer=str(peer), type=int(t))
                                   for peer in templates()[f"nd_peers_{way}"]
                                   for t in templates()[f"nd_types_{way}"]]
                rules[way].append(fill(f"isolate_{way}_last"))
            raw = facts.raw.get(v)
            chains = (n["isolate_in"], n["isolate_out"])
            lines = self._chain_lines(raw, rules["in"] + rules["out"], chains) + \
                self._jump_lines(raw, "PREROUTING", n["isolate_in"]) + \
                self._jump_lines(raw, "OUTPUT", n["isolate_out"])
            absent = [c for c in chains if raw is None or not raw.has_chain(c)]
            lines = [fill("chain_new", chain=line[1:].split()[0])
                     if line.startswith(":") and line[1:].split()[0] in absent else line
                     for line in lines]
            if lines:
                inputs[v] = lines
        if not inputs:
            return []
        return [self._restore_command(inputs, "isolate: drop all but management traffic")]

    def release_commands(self, state: HostState) -> list[Command]:
        """Remove exactly irtui's isolation: one command with, per family where ``state``
        shows any of it, a checked restore deleting the jumps to ``IRTUI-ISOLATE-IN``/``-OUT``
        and then flushing and deleting those chains. Other rules are untouched. A state
        without this backend's detail falls back to :meth:`rollback_command`."""
        facts = Facts.of(state)
        if not facts.known:
            return [self.rollback_command()]
        n = names()
        inputs: dict[int, list[str]] = {}
        for v in (4, 6):
            raw = facts.raw.get(v)
            if raw is None:
                continue
            lines = [fill("jump_delete", chain=chain, target=target)
                     for chain, target in (("PREROUTING", n["isolate_in"]),
                                           ("OUTPUT", n["isolate_out"]))
                     for _ in raw.jumps(chain, target)]
            for chain in (n["isolate_in"], n["isolate_out"]):
                if raw.has_chain(chain):
                    lines += [fill("chain_flush", chain=chain), fill("chain_delete", chain=chain)]
            if lines:
                inputs[v] = lines
        return [self._restore_command(inputs, "release the isolation")] if inputs else []

    def rollback_command(self) -> Command:
        """``remote/iptables_rollback.sh``: removes irtui's isolation jumps and chains from
        both families (one ``X-save -t raw`` and one ``X-restore --noflush`` per family,
        falling back to single ``-D/-F/-X`` calls). Exits 0; legacy tables are touched only
        when they exist. Safe to run when no isolation exists."""
        n = names()
        return run_script("iptables_rollback", int(bool(self._tools["legacy"])), self._wait(),
                          self._tool("cmd", 4), self._tool("cmd", 6), self._tool("save", 4),
                          self._tool("save", 6), self._tool("restore", 4),
                          self._tool("restore", 6), n["isolate_in"], n["isolate_out"],
                          purpose="remove irtui's isolation chains")


def backends() -> list[IptablesBackend]:
    """Both variants: ``[IptablesBackend("iptables-nft"), IptablesBackend("iptables-legacy")]``."""
    return [IptablesBackend(v) for v in VARIANTS]
