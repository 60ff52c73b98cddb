"""Preflight: learn what a host runs (firewall tools, who holds the rules, IPv6, its own
addresses, gateways and resolvers) with one read-only command, and choose a backend."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field, replace
from typing import Any

from irtui.core.errors import ActionError
from irtui.core.firewall.state import Network
from irtui.core.remote import Command, run_script, sections

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

def probe_command() -> Command:
    """The read-only preflight command (``remote/probe.sh``); the caller appends the login
    shell's ``"$SSH_CONNECTION"`` as ``$1``."""
    return run_script("probe", purpose="preflight probe")


@dataclass(frozen=True)
class HostFacts:
    """What the preflight probe found on one host.

    Attributes:
        host: host name.
        binaries: tool name → path, for the tools present.
        nft_tables: ``family name`` of every nftables table (iptables-nft's included).
        legacy_rules / xt_rules: counts of ``-A`` rules in iptables-legacy / iptables-nft.
        services: firewalld/ufw → systemd state, where systemd reports one.
        addresses: every address on the host's interfaces.
        gateways: default-route next hops.
        resolvers: ``nameserver`` addresses from /etc/resolv.conf.
        ssh_client: the address the responder's session comes from (``$SSH_CONNECTION``).
        ipv6_disabled: ``net.ipv6.conf.all.disable_ipv6`` is 1.
        legacy_chains / xt_chains: chain names in iptables-legacy / iptables-nft (any table).
        ipsets: names of the ipsets on the host.
        network_known: the addresses and default routes were read (``ip -j`` answered
            both); False when they could not be, so ``addresses`` and ``gateways`` say
            nothing and the guardrails built on them cannot be checked.
    """

    host: str
    binaries: dict[str, str] = field(default_factory=dict)
    nft_tables: tuple[str, ...] = ()
    legacy_rules: int = 0
    xt_rules: int = 0
    services: dict[str, str] = field(default_factory=dict)
    addresses: tuple[ipaddress.IPv4Interface | ipaddress.IPv6Interface, ...] = ()
    gateways: tuple[Address, ...] = ()
    resolvers: tuple[Address, ...] = ()
    ssh_client: Address | None = None
    ipv6_disabled: bool = False
    legacy_chains: tuple[str, ...] = ()
    xt_chains: tuple[str, ...] = ()
    ipsets: tuple[str, ...] = ()
    network_known: bool = True

    def irtui_state(self) -> dict[str, str]:
        """Where irtui's own state is: backend name → what of irtui's is there (its nft
        tables; its IRTUI-* chains per iptables variant; its ipsets, which any iptables
        variant may use: they count for a variant only when no variant holds irtui's
        chains, under ``"iptables"``)."""
        from irtui.core.firewall import iptables_state, nftables

        nft = nftables.templates()["names"]
        ipt = iptables_state.names()
        out: dict[str, str] = {}
        tables = [t for t in (nft["table"], nft["isolation_table"])
                  if f"inet {t}" in self.nft_tables]
        if tables:
            out["nftables"] = "table " + ", ".join(f"inet {t}" for t in tables)
        chains = {ipt[k] for k in ("block_in", "block_out", "isolate_in", "isolate_out")}
        for variant, found in (("iptables-nft", self.xt_chains),
                               ("iptables-legacy", self.legacy_chains)):
            mine = sorted(chains & set(found))
            if mine:
                out[variant] = "chains " + ", ".join(mine)
        sets = sorted({ipt["set4"], ipt["set6"]} & set(self.ipsets))
        if sets and not {"iptables-nft", "iptables-legacy"} & set(out):
            out["iptables"] = "ipsets " + ", ".join(sets)
        return out

    @property
    def global_ipv6(self) -> bool:
        """True when the host has a global-scope IPv6 address (RFC 4291 §2.5.4; ULA counts,
        as it is routable inside a site)."""
        if not self.network_known:  # unknown: assume it has (the IPv6 warnings then show)
            return not self.ipv6_disabled
        return not self.ipv6_disabled and any(
            a.version == 6 and not a.ip.is_link_local and not a.ip.is_loopback
            for a in self.addresses)

    def has(self, *tools: str) -> bool:
        """True when every tool in ``tools`` is installed."""
        return all(t in self.binaries for t in tools)

    def protected(self) -> list[tuple[Network, str]]:
        """Networks a block must never cover on this host, each with the guardrail's name."""
        out: list[tuple[Network, str]] = []
        for iface in self.addresses:
            out.append((ipaddress.ip_network(iface.ip), "the host's own address"))
        out += [(ipaddress.ip_network(g), "the host's default gateway") for g in self.gateways]
        out += [(ipaddress.ip_network(r), "a DNS resolver of the host") for r in self.resolvers]
        if self.ssh_client is not None:
            out.append((ipaddress.ip_network(self.ssh_client),
                        "the responder's management address (this SSH session)"))
        return out


NETWORK_UNKNOWN = "ip -j addr/route gave no answer irtui can read"
"""Why a host's addresses and default routes are unknown (``HostFacts.network_known``)."""


def _json_docs(lines: list[str]) -> list[object]:
    """The JSON documents in ``lines``: one per line, or spread over several. Control
    characters inside strings are accepted (``strict=False``): ip(8) writes an interface
    label's raw, and one such label must not hide every address and route after it."""
    docs: list[object] = []
    buf = ""
    for line in lines:
        for text in ((line, buf + line) if buf else (line,)):
            try:
                docs.append(json.loads(text, strict=False))
            except ValueError:
                continue
            buf = ""
            break
        else:
            buf += line
    return docs


def _count(lines: list[str]) -> int:
    for line in lines:
        if line.strip().isdigit():
            return int(line.strip())
    return 0


def _addr(text: str) -> Address | None:
    """The address in ``text`` (scope id dropped); an IPv4-mapped IPv6 address (how a
    dual-stack sshd shows an IPv4 client, RFC 4291 §2.5.5.2) as the IPv4 address it is."""
    try:
        address = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return mapped or address


def _dicts(value: object) -> list[dict[str, Any]]:
    """The objects of a JSON array (anything else: none)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _network_known(docs: list[object]) -> bool:
    """Both ``ip -j`` documents arrived: the links (every host has ``lo``, so a list with
    at least one link carrying ``addr_info``) and the default routes (a list of routes, each
    with a ``dst``; empty when there is none)."""
    def is_links(doc: object) -> bool:
        return isinstance(doc, list) and any(isinstance(i, dict) and "addr_info" in i
                                             for i in doc)

    def is_routes(doc: object) -> bool:
        return isinstance(doc, list) and all(isinstance(i, dict) and "dst" in i
                                             and "addr_info" not in i for i in doc)

    return any(is_links(d) for d in docs) and any(is_routes(d) for d in docs)


def _addresses_and_gateways(docs: list[object]) -> tuple[
        tuple[ipaddress.IPv4Interface | ipaddress.IPv6Interface, ...], tuple[Address, ...]]:
    """The interface addresses (``ip -j addr show``: links with ``addr_info``) and the
    default routes' next hops (``ip -j route show table all default``: a ``gateway``, each
    of a multipath route's ``nexthops``, or an IPv4 route's IPv6 ``via``, RFC 5549) in
    ``docs``, told apart by their fields rather than by their order, so a command ip(8)
    could not run (``-force`` goes on) shifts nothing."""
    addresses: list[ipaddress.IPv4Interface | ipaddress.IPv6Interface] = []
    gateways: list[Address] = []
    for doc in docs:
        for item in doc if isinstance(doc, list) else []:
            if not isinstance(item, dict):
                continue
            for info in _dicts(item.get("addr_info")):
                try:
                    addresses.append(ipaddress.ip_interface(
                        f"{info['local']}/{info.get('prefixlen', 128)}"))
                except (KeyError, ValueError):
                    continue
            hops = [item, *_dicts(item.get("nexthops"))]
            for hop in hops:
                via = hop.get("via")
                for text in (hop.get("gateway"), via.get("host") if isinstance(via, dict)
                             else None):
                    if text and (a := _addr(str(text))) is not None and a not in gateways:
                        gateways.append(a)
    return tuple(addresses), tuple(gateways)


def parse_probe(host: str, text: str) -> HostFacts:
    """Parse the probe's output.

    Raises:
        ActionError: the output does not look like the probe's (no end marker).
    """
    sec = sections(text)
    if "end" not in sec:
        raise ActionError(f"{host}: the preflight probe did not complete",
                          "check that the login user can run sh and ip on the host")
    binaries = dict(line.split(" ", 1) for line in sec.get("which", []) if " " in line)
    tables = tuple(line.removeprefix("table ").strip() for line in sec.get("nft-tables", [])
                   if line.startswith("table "))
    services = dict(line.split(" ", 1) for line in sec.get("services", []) if " " in line)
    ip_docs = _json_docs(sec.get("ip", []))
    addresses, gateways = _addresses_and_gateways(ip_docs)
    resolvers = [a for line in sec.get("resolv", [])
                 if len(parts := line.split()) > 1 and (a := _addr(parts[1])) is not None]
    ssh_line = " ".join(sec.get("ssh", [])).split()
    return HostFacts(
        host=host, binaries=binaries, nft_tables=tables,
        legacy_rules=_count(sec.get("legacy-rules", [])),
        xt_rules=_count(sec.get("xt-rules", [])), services=services,
        addresses=addresses, gateways=gateways, resolvers=tuple(resolvers),
        ssh_client=_addr(ssh_line[0]) if ssh_line else None,
        ipv6_disabled="".join(sec.get("ipv6-disabled", [])).strip() == "1",
        legacy_chains=_words(sec.get("legacy-chains", [])),
        xt_chains=_words(sec.get("xt-chains", [])), ipsets=_words(sec.get("ipsets", [])),
        network_known=_network_known(ip_docs),
    )


def _words(lines: list[str]) -> tuple[str, ...]:
    return tuple(line.strip() for line in lines if line.strip())


BACKEND_TOOLS = {
    "nftables": ("nft",),
    "iptables-nft": ("iptables-nft", "ipset"),
    "iptables-legacy": ("iptables-legacy", "ipset"),
}
BACKEND_V6_TOOLS = {
    "nftables": ("nft",),
    "iptables-nft": ("ip6tables-nft",),
    "iptables-legacy": ("ip6tables-legacy",),
}


@dataclass(frozen=True)
class BackendChoice:
    """The backend for a host and why; ``ipv6_protected`` is False when the host has global
    IPv6 but the backend has no IPv6 tool there. ``conflict`` is non-empty when irtui's own
    state is in two backends, or in another backend than the one the config forces: irtui
    reads with ``name`` but refuses every change there, and what it reads is not the host's
    whole state (see :func:`choose_backend`). ``conflict_fix`` says how to resolve it;
    ``config_conflict`` is True when the config is what must change (the forced backend
    holds none of irtui's state), never irtui's state on the host."""

    name: str
    reason: str
    ipv6_protected: bool
    conflict: str = ""
    conflict_fix: str = ""
    config_conflict: bool = False

    @property
    def conflict_line(self) -> str:
        """``CONFLICT: <where irtui's state is> — <fix>`` as status and drift print it;
        "" without a conflict."""
        return f"CONFLICT: {self.conflict} — {self.conflict_fix}" if self.conflict else ""


def _iptables_by_rules(facts: HostFacts) -> str:
    if facts.legacy_rules and facts.has(*BACKEND_TOOLS["iptables-legacy"]):
        return "iptables-legacy"
    if facts.has(*BACKEND_TOOLS["iptables-nft"]):
        return "iptables-nft"
    return "iptables-legacy"


def _holders(facts: HostFacts) -> dict[str, str]:
    """:meth:`HostFacts.irtui_state` with ipsets alone given to an iptables variant."""
    found = facts.irtui_state()
    if "iptables" in found:
        found[_iptables_by_rules(facts)] = found.pop("iptables")
    return found


REMOVE_STATE_FIX = ("remove irtui's state from the backend no longer used (nftables: nft delete "
                    "table inet irtui / irtui_isolation; iptables: the IRTUI-* raw chains and "
                    "ipsets irtui4/irtui6)")
"""How to end a conflict between two backends that both hold irtui's state."""


def _with_conflict(choice: BackendChoice, holders: dict[str, str], host: str,
                   forced: bool = False) -> BackendChoice:
    """``choice`` with its ``conflict`` when irtui's state (``holders``, see
    :func:`_holders`) is also, or only, in a backend other than ``choice.name``.

    ipsets alone (no IRTUI-* chains anywhere) belong to no iptables variant in particular:
    either variant may use them (another irtui run may be half-way through creating its sets
    before its chains), so they conflict only with nftables. A ``forced`` backend holding
    none of irtui's state while another backend holds it is the config's mistake, not the
    host's: the fix is the host's ``firewall`` setting, never deleting the real state."""
    name = choice.name
    shared = name.startswith("iptables")
    others = {k: v for k, v in holders.items() if k != name
              and not (shared and v.startswith("ipsets "))}
    if not others:
        return choice
    where = " and ".join(f"{k} ({v})" for k, v in others.items())
    if not forced or name in holders or len(holders) > len(others):
        conflict = "irtui state in both " + " and ".join(
            f"{k} ({v})" for k, v in holders.items())
        return replace(choice, conflict=conflict, conflict_fix=REMOVE_STATE_FIX)
    setting = f"firewall \"{name}\" on {host}, where irtui has no state"
    if len(others) == 1:
        real = next(iter(others))
        return replace(choice, config_conflict=True, conflict=(
            f"irtui's state is in {where}, but the config forces {setting}"), conflict_fix=(
            f"in the config, set firewall = \"{real}\" in {host}'s [[hosts]] table instead "
            f"of \"{name}\" (or \"auto\", which follows irtui's own state)"))
    return replace(choice, conflict=f"irtui state in both {where}, and the config forces "
                   f"{setting}", conflict_fix=f"{REMOVE_STATE_FIX}, then set firewall = "
                   f"\"auto\" (or the backend kept) in {host}'s [[hosts]] table of the config")


def choose_backend(facts: HostFacts, forced: str = "auto") -> BackendChoice:
    """Pick the backend: the forced one; else the one holding irtui's own state (its nft
    table, or its IRTUI-* chains in one iptables variant), so fail2ban or Docker adding
    iptables rules later never hides irtui's blocks and isolation; else the tool that holds
    the host's filtering rules (iptables-legacy, then iptables-nft); else nftables, else
    whatever is installed.

    When irtui's state is in two backends (or in another one than the forced one), the
    choice carries a ``conflict``: reading one would hide the other's blocks or isolation,
    and acting on one could leave the other's rules contradicting it, so every change is
    refused there until the responder removes one (the safe reading: nothing reported as
    done can be undone by the other set of rules). When the forced backend holds none of
    irtui's state and another one does, the config is what is wrong: the conflict says where
    the state is and its fix is the host's ``firewall`` setting (``config_conflict``).

    Raises:
        ActionError: the forced backend's tools are missing, or no supported tool exists.
    """
    def v6(name: str) -> bool:
        return not facts.global_ipv6 or facts.has(*BACKEND_V6_TOOLS[name])

    holders = _holders(facts)
    if forced != "auto":
        if not facts.has(*BACKEND_TOOLS[forced]):
            missing = [t for t in BACKEND_TOOLS[forced] if t not in facts.binaries]
            raise ActionError(f"{facts.host}: firewall backend {forced} forced in the config "
                              f"but {', '.join(missing)} not installed",
                              "install it or set the host's firewall = \"auto\"")
        return _with_conflict(BackendChoice(forced, "set in the config", v6(forced)),
                              holders, facts.host, forced=True)
    for name in ("nftables", "iptables-nft", "iptables-legacy"):
        if name in holders and facts.has(*BACKEND_TOOLS[name]):
            return _with_conflict(BackendChoice(name, f"irtui's {holders[name]} already there",
                                                v6(name)), holders, facts.host)
    if facts.legacy_rules and facts.has(*BACKEND_TOOLS["iptables-legacy"]):
        return BackendChoice("iptables-legacy", f"{facts.legacy_rules} rules in "
                             "iptables-legacy", v6("iptables-legacy"))
    if facts.xt_rules and facts.has(*BACKEND_TOOLS["iptables-nft"]):
        return BackendChoice("iptables-nft", f"{facts.xt_rules} rules in iptables-nft",
                             v6("iptables-nft"))
    for name in ("nftables", "iptables-nft", "iptables-legacy"):
        if facts.has(*BACKEND_TOOLS[name]):
            why = ("nft installed, no iptables rules to follow" if name == "nftables"
                   else "no iptables rules to follow, nft not installed")
            return BackendChoice(name, why, v6(name))
    raise ActionError(f"{facts.host}: no supported firewall tool (nft, or iptables with ipset)",
                      "install the nftables package on the host")


def preflight_line(facts: HostFacts, choice: BackendChoice) -> str:
    """One line for the host list / ``irtui probe``: backend, why, IPv6 and managers."""
    parts = [f"{choice.name} ({choice.reason})"]
    if choice.conflict:
        until = (f"the config is fixed: {choice.conflict_fix}" if choice.config_conflict
                 else "one is removed")
        parts.insert(0, f"CONFLICT: {choice.conflict}; changes refused until {until}")
    if not facts.network_known:
        parts.append(f"ADDRESSES AND ROUTES UNKNOWN ({NETWORK_UNKNOWN}): blocks refused")
    if facts.global_ipv6:
        parts.append("IPv6 protected" if choice.ipv6_protected else "NOT protected over IPv6")
    else:
        parts.append("no global IPv6")
    managers = [f"{name} {state}" for name, state in facts.services.items()
                if state == "active"]
    if managers:
        parts.append("managed by " + ", ".join(managers))
    if "conntrack" not in facts.binaries:
        parts.append("no conntrack tool")
    return "; ".join(parts)
