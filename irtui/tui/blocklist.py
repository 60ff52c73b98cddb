"""The blocklist pane's model: every host's blocklist aggregated by entry.

Pure data, no widgets: the app indexes each host's read state and aggregates all of them in
worker threads; :class:`irtui.tui.blocklist_view.BlockTable` only shows the result.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

from irtui.core.durations import format_duration
from irtui.core.firewall.state import HostState
from irtui.tui.cells import clip

BlockInfo = tuple[float | None, int, int]
"""One blocklist entry of one host, for the blocklist pane: (deadline, family, order).
The deadline is the absolute expiry (``read_at + expires``, seconds since the epoch) or None
if permanent; order sorts by family, then address, then prefix length. A plain tuple of
numbers on purpose: CPython stops tracking those for cyclic GC, and 50,000 per host would
otherwise slow down every full GC pass (which stops the UI too)."""

ModelEntry = tuple[float | None, int, int, str]
"""One entry of the model, aggregated across hosts: (soonest deadline or None, family,
order, host labels ``"host1,host3?"``). Plain atomic values, like :data:`BlockInfo`."""

DEADLINE, FAMILY, ORDER, LABELS = range(4)
"""Indexes into :data:`BlockInfo` / :data:`ModelEntry`."""

EXPIRED = "expired"
"""The countdown of an entry whose soonest copy has run out (until the next read)."""
HOSTS_WIDTH = 24
"""The Hosts column shows at most this many cells, then ``+N`` (the filter sees all)."""


def index_blocks(state: HostState) -> dict[str, BlockInfo]:
    """``{entry text: BlockInfo}`` for one host's state. Pure (no widgets): the refresh worker
    calls it in its thread, so formatting 50,000 addresses never runs on the UI thread."""
    read_at = state.read_at
    out: dict[str, BlockInfo] = {}
    for entry in state.blocks:
        net = entry.network
        out[entry.text] = (None if entry.expires is None else read_at + entry.expires,
                           net.version,
                           net.version << 136 | int(net.network_address) << 8 | net.prefixlen)
    return out


class HostBlocks(NamedTuple):
    """One host's part of the blocklist pane: :meth:`HostView.snapshot`."""

    name: str
    groups: tuple[str, ...]
    reachable: bool
    """False: ``blocks`` is the cache from the last successful read."""
    blocks: dict[str, BlockInfo] | None
    unenforced: frozenset[str] = frozenset()
    """Entries of ``blocks`` the host lists but whose rules do not (or may not) drop their
    traffic (:meth:`HostState.not_enforced`)."""


class HostSet(NamedTuple):
    """What the table shows for one combination of hosts (shared by all its entries)."""

    hosts: str
    mark: str
    targets: tuple[str, ...]
    unreachable: tuple[str, ...]
    search: str
    """The host names, lower case, space-separated: what the filter matches."""
    missing: tuple[str, ...] = ()
    """Reachable members of the partially covered groups that lack these entries (what
    "complete" blocks them on)."""


class BlockRow(NamedTuple):
    """One blocklist entry aggregated across hosts (one table row), as
    :meth:`BlockModel.row` returns it."""

    entry: str
    fam: str
    hosts: str
    """Hosts where it is blocked, comma-separated (``?`` marks a host only known from the
    cache because it is unreachable now), shortened with ``+N`` when long."""
    mark: str
    """``⚠ group: have/known`` for each group where only some reachable members have it."""
    deadline: float | None
    """Soonest absolute expiry across the hosts; None if permanent everywhere."""
    targets: tuple[str, ...]
    """Reachable hosts where it is blocked (what unblock acts on)."""
    unreachable: tuple[str, ...]
    """Unreachable hosts whose cached blocklist has it."""
    missing: tuple[str, ...] = ()
    """Reachable members of its partially covered groups that lack it."""


class BlockModel(NamedTuple):
    """The blocklists of all hosts, aggregated by entry: what the blocklist table shows."""

    entries: dict[str, ModelEntry]
    sets: dict[str, HostSet]
    """Host labels → what the table shows for them."""
    order: list[str]
    """Every entry, sorted by family, address, prefix length."""
    partial: int
    """How many entries have a partial mark."""
    unreachable: tuple[str, ...] = ()
    """Hosts that did not answer their last read: the marks cannot count them."""

    def row(self, entry: str) -> BlockRow | None:
        """The aggregated row of ``entry``, or None if no host has it."""
        found = self.entries.get(entry)
        if found is None:
            return None
        deadline, family, _, labels = found
        s = self.sets[labels]
        return BlockRow(entry, f"v{family}", s.hosts, s.mark, deadline, s.targets,
                        s.unreachable, s.missing)

    def matching(self, text: str) -> list[str]:
        """The entries whose text or host names contain ``text`` (case-insensitive), in
        :attr:`order`; ``text`` empty or blank: :attr:`order` itself (not a copy).

        One pass over the entries with plain ``in`` tests (no regex, no per-entry
        objects): about 10 ms for 50,000 entries, so the pane can filter as you type."""
        needle = text.strip().lower()
        if not needle:
            return self.order
        by_host = {labels for labels, s in self.sets.items() if needle in s.search}
        if not by_host:
            return [k for k in self.order if needle in k.lower()]
        entries = self.entries
        return [k for k in self.order if needle in k.lower() or entries[k][LABELS] in by_host]


EMPTY_MODEL = BlockModel({}, {}, [], 0)
NOT_ENFORCED = "✗"
"""Suffix of a host label whose copy of the entry is not enforced (``host2✗``)."""


def aggregate_blocks(hosts: Sequence[HostBlocks], now: float | None = None) -> BlockModel:
    """Aggregate the hosts' blocklists by entry. Pure: the app runs it in a worker thread.

    Unreachable hosts contribute their cached entries labelled ``name?``; they never count
    as missing an entry for the partial mark (the model lists them in ``unreachable`` so
    the pane can say the marks do not cover them). Entries whose TTL has run out are left
    out for every host: the kernel dropped them, or lists them with 0 s left until its
    garbage collection runs (ipset does), so a row never sticks at "0s".

    Args:
        hosts: every configured host's part (:meth:`HostView.snapshot`).
        now: seconds since the epoch (default: the current time), to drop expired cache.

    Returns:
        The model; entries sorted by family, address, prefix length.
    """
    now = time.time() if now is None else now
    groups: dict[str, set[str]] = {}
    reachable = {h.name for h in hosts if h.reachable}
    for host in hosts:
        for group in host.groups:
            groups.setdefault(group, set()).add(host.name)
    entries: dict[str, ModelEntry] = {}
    for host in hosts:
        blocks = host.blocks
        if not blocks:
            continue
        label = host.name if host.reachable else host.name + "?"
        bad = host.unenforced if host.reachable else frozenset()
        if any(v[DEADLINE] is not None and v[DEADLINE] <= now  # type: ignore[operator]
               for v in blocks.values()):  # the kernel dropped these meanwhile
            blocks = {k: v for k, v in blocks.items()
                      if v[DEADLINE] is None or v[DEADLINE] > now}  # type: ignore[operator]
        if not entries and not bad:
            entries = {k: (*v, label) for k, v in blocks.items()}
            continue
        get = entries.get
        for text, (deadline, family, order) in blocks.items():
            this = label + NOT_ENFORCED if bad and text in bad else label
            seen = get(text)
            if seen is None:
                entries[text] = (deadline, family, order, this)
                continue
            soonest = seen[DEADLINE]
            if deadline is not None and (soonest is None or deadline < soonest):
                soonest = deadline
            entries[text] = (soonest, family, order, seen[LABELS] + "," + this)
    counts = Counter(v[LABELS] for v in entries.values())
    sets = {labels: _host_set(labels, groups, reachable) for labels in counts}
    order = sorted(entries, key=lambda k: entries[k][ORDER])
    return BlockModel(entries, sets, order,
                      sum(n for labels, n in counts.items() if "⚠" in sets[labels].mark),
                      tuple(h.name for h in hosts if not h.reachable))


def _host_set(labels: str, groups: dict[str, set[str]], reachable: set[str]) -> HostSet:
    parts = labels.split(",")
    names = [p.rstrip("?" + NOT_ENFORCED) for p in parts]
    present = set(names)
    marks = []
    lacking: set[str] = set()
    for group in sorted(groups):
        members = groups[group]
        have = len(members & present)
        missing = (members - present) & reachable
        if have and missing:
            marks.append(f"{group}: {have}/{have + len(missing)}")
            lacking |= missing
    hosts = labels
    if len(hosts) > HOSTS_WIDTH and len(parts) == 1:
        hosts = clip(hosts, HOSTS_WIDTH)
    elif len(hosts) > HOSTS_WIDTH:
        kept: list[str] = []
        for part in parts:
            rest = len(parts) - len(kept) - 1
            if len(",".join([*kept, part])) + len(f",+{rest}") > HOSTS_WIDTH:
                break
            kept.append(part)
        if not kept:  # even the first name is too long
            kept = [clip(parts[0], HOSTS_WIDTH - len(f",+{len(parts) - 1}"))]
        hosts = ",".join(kept) + f",+{len(parts) - len(kept)}"
    bad = [n for n, p in zip(names, parts, strict=True) if p.endswith(NOT_ENFORCED)]
    mark = " · ".join(([f"{NOT_ENFORCED} NOT ENFORCED: {', '.join(bad)}"] if bad else [])
                      + (["⚠ " + ", ".join(marks)] if marks else []))
    return HostSet(hosts, mark,
                   tuple(n for n, p in zip(names, parts, strict=True) if not p.endswith("?")),
                   tuple(n for n, p in zip(names, parts, strict=True) if p.endswith("?")),
                   " ".join(names).lower(), tuple(sorted(lacking)))


def countdown(deadline: float | None, now: float) -> str:
    """The Expires cell: ``permanent``, ``23h59m``… or :data:`EXPIRED`."""
    if deadline is None:
        return "permanent"
    return EXPIRED if deadline <= now else format_duration(deadline - now)



def status_line(total: int, shown: int, partial: int, filter_text: str, marked: int = 0,
                unreachable: Sequence[str] = ()) -> str:
    """The blocklist's status line: counts, the filter, marks, partial entries, and the
    unreachable hosts the ⚠ marks cannot count (``? host3 unreachable``)."""
    text = f"{total:,} entries"
    if filter_text:
        text = f"{shown:,} of {text} match '{filter_text}'"
    if marked:
        text += f" · ● {marked:,} marked"
    if partial:
        text += f" · ⚠ {partial:,} partial"
    if unreachable:
        more = len(unreachable) - 3
        text += f" · ? {', '.join(unreachable[:3])}{f' +{more}' if more > 0 else ''} unreachable"
    return text + " · / filter · u unblock"
