"""The panes: host list, blocklist, live log, notification compose."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar, NamedTuple, overload

from rich.cells import cell_len
from rich.highlighter import Highlighter
from rich.text import Text
from textual import on
from textual._two_way_dict import TwoWayDict
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.message import Message
from textual.widgets import DataTable, Input, Label, Log, Static, TextArea
from textual.widgets.data_table import Row, RowKey

from irtui.core.actions import HostProfile
from irtui.core.config import HostConfig
from irtui.core.durations import format_duration
from irtui.core.firewall.state import HostState, IsolationStatus

STDERR_MARK = " ! "
STDOUT_MARK = " | "
ERROR_MARK = "✗ "
"""Starts irtui's own error lines in the log; the app also shows them as a toast."""
WAIT_MARK = "⏳ "
"""Starts the log's countdown lines (waiting for a host): highlighted, not an error."""

BlockInfo = tuple[float | None, int, int]
"""One blocklist entry of one host, for the blocklist pane: (deadline, family, order).
The deadline is the absolute expiry (``read_at + expires``, seconds since the epoch) or None
if permanent; order sorts by family, then address, then prefix length. A plain tuple of
numbers on purpose: CPython stops tracking those for cyclic GC, and 50,000 per host would
otherwise slow down every full GC pass (which stops the UI too)."""
_DEADLINE, _FAMILY, _ORDER = 0, 1, 2


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


@dataclass
class HostView:
    """What the TUI knows of a host: the last state read or the last error, its preflight
    profile, and its last known blocklist (kept while the host is unreachable)."""

    config: HostConfig
    state: HostState | None = None
    """The last state read; None after a failed read. Once :meth:`update` has indexed its
    entries into :attr:`blocks` it is kept without them (``blocks=()``): holding 50,000
    BlockEntry/ipaddress objects per host makes every full cyclic-GC pass, which stops the
    UI too, about 4x slower (~0.24 s instead of ~0.06 s with 3 such hosts, measured by
    ``benchmarks/bench_blocklist_pane.py``)."""
    error: str | None = None
    busy: str = ""
    rollback: str = ""
    """The host's rollback timer as read back: ``armed <s>``, ``fired …`` or ``none``."""
    profile: HostProfile | None = None
    blocks: dict[str, BlockInfo] | None = None
    """Last known entries; still set (the cache) after the host became unreachable."""
    _indexed: HostState | None = field(default=None, repr=False, compare=False)

    def update(self, state: HostState | None, error: str | None,
               profile: HostProfile | None = None,
               blocks: dict[str, BlockInfo] | None = None) -> None:
        """Record a read: ``state`` (None when it failed with ``error``); ``blocks`` is
        ``index_blocks(state)`` if the caller already computed it (in a worker)."""
        self.error = error
        if profile is not None:
            self.profile = profile
        if state is None:
            self.state = None
            return
        self.blocks = index_blocks(state) if blocks is None else blocks
        self.state = self._indexed = replace(state, blocks=())

    def known_blocks(self) -> dict[str, BlockInfo] | None:
        """The entries of the current state, or the cached ones if the host is unreachable;
        None if it was never read."""
        if self.state is not None and self._indexed is not self.state:
            self.blocks, self._indexed = index_blocks(self.state), self.state
        return self.blocks

    def snapshot(self) -> HostBlocks:
        """What :func:`aggregate_blocks` needs of this host (immutable: safe in a thread)."""
        return HostBlocks(self.config.name, self.config.groups, self.state is not None,
                          self.known_blocks())


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


SHORT_BACKEND = {"iptables-nft": "ipt-nft", "iptables-legacy": "ipt-legacy"}
"""Backend names as the host table's Firewall column shows them (80 columns are tight)."""


class HostTable(DataTable[str]):
    """One row per configured host: name, address, reachable, isolated, blocks, firewall
    backend, activity; sized for 80 columns. Posts :class:`Detail` with the full preflight
    line, activity and error of the host under the cursor."""

    COLUMNS = (("Host", "host"), ("Address", "address"), ("Reach", "reachable"),
               ("Isolation", "isolation"), ("Blocks", "blocks"), ("Firewall", "firewall"),
               ("Activity", "activity"))
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="hosts.down"),
        Binding("k", "cursor_up", "Up", show=False, id="hosts.up"),
    ]

    class Detail(Message):
        """The one-line detail of the host under the cursor changed."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self._views: dict[str, HostView] = {}
        self._detail = ""
        for label, key in self.COLUMNS:
            self.add_column(label, key=key)

    def show(self, views: list[HostView]) -> None:
        """Add or update rows in place, keyed by host name."""
        for view in views:
            cells = self._cells(view)
            key = view.config.name
            self._views[key] = view
            if key in self.rows:
                old = self.get_row(key)
                for (_, col), value, was in zip(self.COLUMNS, cells, old, strict=True):
                    if value != was:
                        self.update_cell(key, col, value, update_width=True)
            else:
                self.add_row(*cells, key=key)
        self._post_detail()

    @staticmethod
    def _cells(view: HostView) -> tuple[str, ...]:
        c = view.config
        name, address = _clip(c.name, 12), _clip(c.address, 16)
        backend = view.profile.choice.name if view.profile else (
            view.state.backend if view.state and view.state.backend else "")
        firewall = SHORT_BACKEND.get(backend, backend) or ("?" if view.error else "…")
        activity = _clip(view.busy or (view.error or "").removeprefix(f"{c.name}: "), 10)
        if view.state is None and view.error is None:
            return (name, address, "…", "…", "…", firewall, activity)
        if view.error is not None:
            return (name, address, "✗ no", "unknown", "?", firewall, activity)
        state = view.state
        assert state is not None
        count = str(len(view.known_blocks() or ()))
        return (name, address, "✓ yes", HostTable.isolation_cell(view),
                f"{count} ⚠" if state.gaps else count, firewall, activity)

    @staticmethod
    def isolation_cell(view: HostView) -> str:
        """``normal``, ``■ ISO 22:30`` (since, UTC), ``⏳ rollback 42s`` or ``unknown``,
        always from the host's ruleset and timer as last read back."""
        if view.rollback.startswith("armed"):
            left = view.rollback.removeprefix("armed").strip()
            return f"⏳ rollback {left}s" if left else "⏳ rollback"
        state = view.state
        if state is None:
            return "unknown"
        if state.isolation_status is IsolationStatus.PARTIAL:
            return "◐ PARTIAL"
        if not state.isolated:
            return "normal"
        since = state.isolation.since if state.isolation else ""
        return f"■ ISO {since[11:16]}" if len(since) >= 16 else "■ ISOLATED"

    @staticmethod
    def detail_line(view: HostView) -> str:
        """``name: preflight · activity · error`` of a host (each part when known)."""
        parts = []
        if view.profile:
            parts.append(view.profile.preflight)
        elif view.state is not None and view.state.backend:
            parts.append(view.state.backend)
        elif not view.error:
            parts.append("probing the firewall…")
        if view.state is not None and view.state.isolation is not None:
            iso = view.state.isolation
            if iso.problem:
                parts.append(f"{ERROR_MARK}PARTIAL isolation: {iso.problem}")
            else:
                parts.append(f"isolated since {iso.since}" if iso.since else "isolated")
        if view.state is not None and view.state.gaps:
            parts.append(f"{ERROR_MARK}blocks NOT ENFORCED: {'; '.join(view.state.gaps[:2])}")
        if view.rollback.startswith(("armed", "fired")):
            parts.append(f"rollback timer {view.rollback}")
        if view.busy:
            parts.append(view.busy)
        if view.error:
            parts.append(f"{ERROR_MARK}{view.error}")
        return f"{view.config.name}: " + " · ".join(parts)

    def _post_detail(self) -> None:
        name = self.selected_host()
        view = self._views.get(name or "")
        text = self.detail_line(view) if view else ""
        if text != self._detail:
            self._detail = text
            self.post_message(self.Detail(text))

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._post_detail()

    def selected_host(self) -> str | None:
        """The host name under the cursor."""
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return str(row_key.value)


class HostPane(Vertical):
    """The host table and, under it, the preflight line of the host under the cursor."""

    def compose(self) -> ComposeResult:
        yield HostTable(id="host-table")
        yield Static("", id="host-detail", markup=False)

    @on(HostTable.Detail)
    def _detail(self, message: HostTable.Detail) -> None:
        self.query_one("#host-detail", Static).update(message.text)


class BlockRow(NamedTuple):
    """One blocklist entry aggregated across hosts (one table row), as :meth:`BlockTable.row`
    returns it."""

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


class _OrderedRows:
    """Replaces DataTable's list of all rows in display order (rebuilt in O(rows) after each
    change, and used even to find the 0 fixed rows) with a lazy view: slicing and iterating
    cost only what is used."""

    __slots__ = ("_indexes", "_table")

    def __init__(self, table: BlockTable, indexes: range | None = None) -> None:
        self._table = table
        self._indexes = range(len(table.rows)) if indexes is None else indexes

    def __len__(self) -> int:
        return len(self._indexes)

    @overload
    def __getitem__(self, index: int) -> Row: ...
    @overload
    def __getitem__(self, index: slice) -> _OrderedRows: ...

    def __getitem__(self, index: int | slice) -> Row | _OrderedRows:
        if isinstance(index, slice):
            return _OrderedRows(self._table, self._indexes[index])
        table = self._table
        return table.rows[table._row_locations.get_key(self._indexes[index])]  # type: ignore[index]

    def __iter__(self) -> Iterator[Row]:
        rows, get_key = self._table.rows, self._table._row_locations.get_key
        for index in self._indexes:
            yield rows[get_key(index)]  # type: ignore[index]


class _UnitRowOffsets:
    """Replaces DataTable's list of every line's (row key, line in row) — rebuilt in O(rows)
    after each change — with O(1) lookups, valid because every BlockTable row is 1 line."""

    __slots__ = ("_table",)

    def __init__(self, table: BlockTable) -> None:
        self._table = table

    def __len__(self) -> int:
        return len(self._table.rows)

    def __getitem__(self, y: int) -> tuple[RowKey, int]:
        key = self._table._row_locations.get_key(y)
        if key is None:
            raise IndexError(y)
        return key, 0

    def clear(self) -> None:
        """Nothing is cached."""


class _HostSet(NamedTuple):
    """What the table shows for one combination of hosts (shared by all its entries)."""

    hosts: str
    mark: str
    targets: tuple[str, ...]
    unreachable: tuple[str, ...]
    search: str


HOSTS_WIDTH = 24
"""The Hosts column shows at most this many cells, then ``+N`` (the filter sees all)."""


class HostBlocks(NamedTuple):
    """One host's part of the blocklist pane: :meth:`HostView.snapshot`."""

    name: str
    groups: tuple[str, ...]
    reachable: bool
    """False: ``blocks`` is the cache from the last successful read."""
    blocks: dict[str, BlockInfo] | None


# One entry of the model is a plain tuple of atomic values, like BlockInfo:
# (soonest deadline or None, family, order, host labels "host1,host3?").
_LABELS = 3
ModelEntry = tuple[float | None, int, int, str]


class BlockModel(NamedTuple):
    """The blocklists of all hosts, aggregated by entry: what :class:`BlockTable` shows."""

    entries: dict[str, ModelEntry]
    sets: dict[str, _HostSet]
    """Host labels → what the table shows for them."""
    order: list[str]
    """Every entry, sorted by family, address, prefix length."""
    partial: int
    """How many entries have a partial mark."""


def aggregate_blocks(hosts: Sequence[HostBlocks], now: float | None = None) -> BlockModel:
    """Aggregate the hosts' blocklists by entry. Pure: the app runs it in a worker thread.

    Unreachable hosts contribute their cached entries (minus those whose TTL has run out
    since: the host's kernel dropped them) labelled ``name?``; they never count as missing
    an entry for the partial mark.
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
        label = host.name
        if not host.reachable:
            label += "?"
            blocks = {k: v for k, v in blocks.items()  # the kernel dropped these meanwhile
                      if v[_DEADLINE] is None or v[_DEADLINE] > now}  # type: ignore[operator]
        if not entries:
            entries = {k: (*v, label) for k, v in blocks.items()}
            continue
        get = entries.get
        for text, (deadline, family, order) in blocks.items():
            seen = get(text)
            if seen is None:
                entries[text] = (deadline, family, order, label)
                continue
            soonest = seen[_DEADLINE]
            if deadline is not None and (soonest is None or deadline < soonest):
                soonest = deadline
            entries[text] = (soonest, family, order, seen[_LABELS] + "," + label)
    counts = Counter(v[_LABELS] for v in entries.values())
    sets = {labels: _host_set(labels, groups, reachable) for labels in counts}
    order = sorted(entries, key=lambda k: entries[k][_ORDER])
    return BlockModel(entries, sets, order,
                      sum(n for labels, n in counts.items() if sets[labels].mark))


def _host_set(labels: str, groups: dict[str, set[str]], reachable: set[str]) -> _HostSet:
    parts = labels.split(",")
    names = [p.rstrip("?") for p in parts]
    present = set(names)
    marks = []
    for group in sorted(groups):
        members = groups[group]
        have = len(members & present)
        missing = len((members - present) & reachable)
        if have and missing:
            marks.append(f"{group}: {have}/{have + missing}")
    hosts = labels
    if len(hosts) > HOSTS_WIDTH and len(parts) == 1:
        hosts = _clip(hosts, HOSTS_WIDTH)
    elif len(hosts) > HOSTS_WIDTH:
        kept: list[str] = []
        for part in parts:
            rest = len(parts) - len(kept) - 1
            if len(",".join([*kept, part])) + len(f",+{rest}") > HOSTS_WIDTH:
                break
            kept.append(part)
        if not kept:  # even the first name is too long
            kept = [_clip(parts[0], HOSTS_WIDTH - len(f",+{len(parts) - 1}"))]
        hosts = ",".join(kept) + f",+{len(parts) - len(kept)}"
    return _HostSet(hosts, "⚠ " + ", ".join(marks) if marks else "",
                    tuple(n for n, p in zip(names, parts, strict=True) if p == n),
                    tuple(n for n, p in zip(names, parts, strict=True) if p != n),
                    " ".join(names).lower())


class BlockTable(DataTable[str]):
    """Blocklist entries aggregated across hosts: one row per entry (key: the entry text),
    with the hosts where it is blocked, the soonest expiry counting down, and a mark when
    only some hosts of a group have it.

    Built for 50,000+ rows. The app aggregates the hosts' blocklists in a worker
    (:func:`aggregate_blocks`); :meth:`apply` then changes the table in place in one pass:
    remove gone rows, update changed cells, add new ones, re-index once — instead of
    DataTable's per-row ``remove_row`` (O(rows) each) and per-row Rich measuring. The 1 s
    :meth:`tick` rewrites only the countdown cells on screen whose text changed. This uses
    DataTable internals (``_data``, ``_row_locations``, ``_update_count``; checked against
    Textual 8.2), and relies on every row being one line high.
    """

    COLUMNS: ClassVar[tuple[tuple[str, str, int | None], ...]] = (
        ("Entry", "entry", None), ("Fam", "fam", 3), ("Hosts", "hosts", None),
        ("Expires in", "expires in", 10), ("Mark", "mark", None))
    EXPIRES = "expires in"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="blocks.down"),
        Binding("k", "cursor_up", "Up", show=False, id="blocks.up"),
    ]

    class Counts(Message):
        """The number of entries (all / shown / partial) or the filter changed."""

        def __init__(self, total: int, shown: int, partial: int, filter_text: str) -> None:
            super().__init__()
            self.total = total
            self.shown = shown
            self.partial = partial
            self.filter_text = filter_text

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self.filter_text = ""
        self._model = BlockModel({}, {}, [], 0)
        self._shown: dict[str, str] = {}
        """Entries in the table → the host labels their cells show."""
        self._shown_sets: dict[str, tuple[str, str]] = {}
        """Host labels → the (hosts, mark) cells last written for them."""

    def on_mount(self) -> None:
        for label, key, width in self.COLUMNS:
            self.add_column(label, key=key, width=width)

    # ---- DataTable internals: uniform one-line rows ------------------------------------

    @property
    def _y_offsets(self) -> _UnitRowOffsets:  # type: ignore[override]
        return _UnitRowOffsets(self)

    @property
    def ordered_rows(self) -> _OrderedRows:  # type: ignore[override]
        """The rows in display order (a lazy sequence)."""
        return _OrderedRows(self)

    def _row_y(self, row_index: int) -> int:
        return row_index + (self.header_height if self.show_header else 0)

    def _get_row_region(self, row_index: int) -> Region:
        if not self.is_valid_row_index(row_index):
            return Region(0, 0, 0, 0)
        width = (sum(c.get_render_width(self) for c in self.columns.values())
                 + self._row_label_column_width)
        return Region(0, self._row_y(row_index), max(self.size.width, width), 1)

    def _get_cell_region(self, coordinate: Coordinate) -> Region:
        if not self.is_valid_coordinate(coordinate):
            return Region(0, 0, 0, 0)
        row_index, column_index = coordinate
        columns = self.ordered_columns
        x = (sum(c.get_render_width(self) for c in columns[:column_index])
             + self._row_label_column_width)
        return Region(x, self._row_y(row_index), columns[column_index].get_render_width(self),
                      1)

    def clear(self, columns: bool = False) -> BlockTable:
        self._shown.clear()
        super().clear(columns)
        return self

    # ---- data --------------------------------------------------------------------------

    def show(self, views: Sequence[HostView]) -> None:
        """Aggregate the hosts' blocklists and update the rows in place (on this thread;
        the app aggregates in a worker and calls :meth:`apply`)."""
        self.apply(aggregate_blocks([view.snapshot() for view in views]))

    def apply(self, model: BlockModel) -> None:
        """Show ``model`` (from :func:`aggregate_blocks`), changing only what differs."""
        self._model = model
        self._render()

    def set_filter(self, text: str) -> None:
        """Show only entries whose text or host names contain ``text`` (case-insensitive);
        empty shows all."""
        self.filter_text = text.strip()
        self._render()

    def _render(self) -> None:
        needle = self.filter_text.lower()
        model = self._model
        if not needle:
            keys = model.order
        else:
            entries = model.entries
            by_host = {labels for labels, s in model.sets.items() if needle in s.search}
            keys = [k for k in model.order
                    if needle in k.lower() or entries[k][_LABELS] in by_host]
        with self.app.batch_update():
            self._sync(keys)
        self.post_message(self.Counts(len(model.entries), len(keys), model.partial,
                                      self.filter_text))

    def _sync(self, keys: list[str]) -> None:
        """Make the rows be ``keys`` in that order, touching only the cells that changed."""
        entries, sets = self._model.entries, self._model.sets
        shown, shown_sets = self._shown, self._shown_sets
        data, rows = self._data, self.rows
        now = time.time()
        countdowns: dict[int, str] = {}
        cursor_key = None
        if rows:
            at = self._row_locations.get_key(self.cursor_row)
            cursor_key = at.value if at is not None else None
        wanted = set(keys)
        gone = [k for k in shown if k not in wanted]
        for key in gone:
            del rows[key], data[key], shown[key]  # type: ignore[arg-type]
        # host sets whose cells are the same as last time: their rows need no look
        same = {labels for labels, s in sets.items()
                if shown_sets.get(labels) == (s.hosts, s.mark)}
        changed = added = False
        for key in keys:
            deadline, family, _, labels = entries[key]
            was = shown.get(key)
            if was is not None:
                if was == labels and labels in same:
                    continue
                host_set = sets[labels]
                cells = data[key]  # type: ignore[index]
                if cells["hosts"] != host_set.hosts:  # type: ignore[index]
                    cells["hosts"] = host_set.hosts  # type: ignore[index]
                    changed = True
                if cells["mark"] != host_set.mark:  # type: ignore[index]
                    cells["mark"] = host_set.mark  # type: ignore[index]
                    changed = True
            else:
                host_set = sets[labels]
                if deadline is None:
                    remaining = "permanent"
                else:
                    left = int(deadline - now)
                    remaining = countdowns.get(left) or countdowns.setdefault(
                        left, format_duration(left))
                row_key = RowKey(key)
                rows[row_key] = Row(row_key, 1)
                data[row_key] = {"entry": key, "fam": "v6" if family == 6 else "v4",  # type: ignore[dict-item]
                                 "hosts": host_set.hosts, self.EXPIRES: remaining,
                                 "mark": host_set.mark}
                added = True
            shown[key] = labels
        self._shown_sets = {labels: (s.hosts, s.mark) for labels, s in sets.items()}
        if added or gone:
            self._row_locations = TwoWayDict({rows[k].key: i  # type: ignore[index]
                                              for i, k in enumerate(keys)})
        elif not changed:
            self.tick()  # deadlines may have moved (TTL refreshed): redo the visible ones
            return
        self._fit_columns()
        self._update_count += 1
        self._require_update_dimensions = True
        self.check_idle()
        if self.row_count:
            index = (self._row_locations.get(rows[cursor_key].key)  # type: ignore[index]
                     if cursor_key is not None and cursor_key in shown else self.cursor_row)
            self.cursor_coordinate = Coordinate(
                max(0, min(index or 0, self.row_count - 1)), self.cursor_column)
        self.hover_coordinate = self.hover_coordinate
        self.refresh(layout=True)
        self.tick()

    def _fit_columns(self) -> None:
        """Auto-width columns fit their widest cell (DataTable would measure every new row
        with Rich: seconds for 50,000)."""
        sets = [self._model.sets[labels] for labels in set(self._shown.values())]
        widest = {"entry": max(map(len, self._shown), default=0),
                  "hosts": max((len(s.hosts) for s in sets), default=0),
                  "mark": max((cell_len(s.mark) for s in sets), default=0)}
        for label, key, width in self.COLUMNS:
            if width is None:
                self.columns[key].content_width = max(widest[key], cell_len(label))  # type: ignore[index]

    # ---- countdown -----------------------------------------------------------------------

    def visible_rows(self) -> range:
        """Indexes of the rows on screen now."""
        if not self.row_count or not self.size.height:
            return range(0)
        header = self.header_height if self.show_header else 0
        top = max(0, int(self.scroll_y))
        height = max(0, self.scrollable_content_region.height - header)
        return range(top, min(self.row_count, top + height + 1))

    def tick(self) -> int:
        """Rewrite the countdown of the rows on screen whose text changed (called every
        second and after scrolling). Returns how many cells changed."""
        now = time.time()
        get_key = self._row_locations.get_key
        entries, data = self._model.entries, self._data
        changed = 0
        for index in self.visible_rows():
            row_key = get_key(index)
            entry = entries.get(row_key.value) if row_key is not None else None  # type: ignore[arg-type]
            deadline = entry[_DEADLINE] if entry is not None else None
            if deadline is None:
                continue
            text = format_duration(deadline - now)
            if data[row_key][self.EXPIRES] != text:  # type: ignore[index]
                self.update_cell(row_key, self.EXPIRES, text)  # type: ignore[arg-type]
                changed += 1
        return changed

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if int(old_value) != int(new_value):
            self.tick()  # rows scrolled into view may show an old countdown

    def on_resize(self) -> None:
        self.tick()

    def on_show(self) -> None:
        self.tick()

    # ---- selection -----------------------------------------------------------------------

    def row(self, entry: str) -> BlockRow | None:
        """The aggregated row of ``entry`` (shown or filtered out), if any host has it."""
        found = self._model.entries.get(entry)
        if found is None:
            return None
        deadline, family, _, labels = found
        s = self._model.sets[labels]
        return BlockRow(entry, f"v{family}", s.hosts, s.mark, deadline, s.targets,
                        s.unreachable)

    def selected(self) -> BlockRow | None:
        """The entry under the cursor."""
        if not self.row_count:
            return None
        row_key = self._row_locations.get_key(self.cursor_row)
        return self.row(row_key.value) if row_key is not None and row_key.value else None


class FilterInput(Input):
    """The blocklist filter: Enter applies, Esc clears."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear_filter", "Clear filter", id="filter.clear"),
    ]

    class Cleared(Message):
        """Esc: drop the filter."""

    def action_clear_filter(self) -> None:
        self.value = ""
        self.post_message(self.Cleared())


class BlockPane(Vertical):
    """The blocklist table, a status line (counts, filter) and the filter line: ``/`` opens
    it (via the app), Enter applies, Esc clears (also from the table)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear_filter", "Clear filter", show=False, id="blocks.clear"),
    ]

    def compose(self) -> ComposeResult:
        yield BlockTable(id="block-table")
        yield Static("no entries yet", id="block-status", markup=False)
        yield FilterInput(placeholder="filter: text in entry or host · Enter apply · Esc clear",
                          id="block-filter")

    def start_filter(self) -> None:
        """Show the filter input and focus it."""
        field_ = self.query_one(FilterInput)
        field_.display = True
        field_.focus()

    @on(Input.Submitted, "#block-filter")
    def _apply(self, event: Input.Submitted) -> None:
        event.stop()
        table = self.query_one(BlockTable)
        table.set_filter(event.value)
        self.query_one(FilterInput).display = bool(table.filter_text)
        table.focus()

    @on(FilterInput.Cleared)
    def action_clear_filter(self) -> None:
        """Show every entry again."""
        table = self.query_one(BlockTable)
        self.query_one(FilterInput).value = ""
        if table.filter_text:
            table.set_filter("")
        self.query_one(FilterInput).display = False
        table.focus()

    @on(BlockTable.Counts)
    def _counts(self, message: BlockTable.Counts) -> None:
        text = f"{message.total:,} entries"
        if message.filter_text:
            text = f"{message.shown:,} of {text} match '{message.filter_text}'"
        if message.partial:
            text += f" · ⚠ {message.partial:,} partial"
        self.query_one("#block-status", Static).update(text + " · / filter · u unblock")


class _StreamHighlighter(Highlighter):
    """Colours stderr and error lines of the log so they stand out from stdout."""

    def __init__(self, error_style: str, dim_style: str) -> None:
        self.error_style = error_style
        self.dim_style = dim_style

    def highlight(self, text: Text) -> None:
        plain = text.plain
        if (STDERR_MARK in plain[:40] or plain.startswith(ERROR_MARK)
                or plain.startswith(WAIT_MARK)):
            text.stylize(self.error_style)
        elif plain.startswith("$ ") or plain.startswith("── "):
            text.stylize(self.dim_style)


class LogPanel(Log):
    """The live log: remote stdout/stderr lines prefixed by host, bounded to ``max_lines``."""

    def on_mount(self) -> None:
        theme = self.app.current_theme
        self.highlight = True
        self.highlighter = _StreamHighlighter(f"bold {theme.error or 'red'}",
                                              f"{theme.accent or 'yellow'}")


class NotifyPane(Vertical):
    """Compose an email to the team; the body is prefilled with the session's summary and
    refreshed after each action unless the responder edited it. Esc leaves the fields (to
    the tab bar) so the app's keys work again."""

    HINT = "ctrl+s send · ctrl+l summary · esc leave"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "Leave the form", show=False, id="notify.leave"),
    ]

    class Send(Message):
        """The responder asked to send what is in the form."""

        def __init__(self, to: list[str], subject: str, body: str) -> None:
            super().__init__()
            self.to = to
            self.subject = subject
            self.body = body

    def __init__(self, default_to: list[str], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.default_to = default_to
        self._filled: str | None = None
        """The body text irtui last put there (None: never filled)."""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="notify-row"):
            yield Label("To:", classes="notify-label")
            yield Input(", ".join(self.default_to), id="notify-to", compact=True,
                        placeholder="addresses, comma-separated")
        with Horizontal(classes="notify-row"):
            yield Label("Subject:", classes="notify-label")
            yield Input("[irtui] containment update", id="notify-subject", compact=True)
        yield TextArea(id="notify-body", soft_wrap=True)
        yield Label(self.HINT, id="notify-hint", classes="hint", markup=False)

    def fill_body(self, text: str) -> None:
        """Replace the body with ``text``."""
        body = self.query_one("#notify-body", TextArea)
        body.text = text
        self._filled = body.text

    def refill_body(self, text: str) -> bool:
        """Replace the body with ``text`` only if the responder has not edited what irtui
        last put there (a draft is never overwritten). Returns True if it was replaced."""
        current = self.query_one("#notify-body", TextArea).text
        if self._filled is not None and current != self._filled:
            return False
        self.fill_body(text)
        return True

    def request_send(self) -> None:
        """Post :class:`Send` with the form's content."""
        to = [a.strip() for a in self.query_one("#notify-to", Input).value.split(",")
              if a.strip()]
        self.post_message(self.Send(to, self.query_one("#notify-subject", Input).value,
                                    self.query_one("#notify-body", TextArea).text))

    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#notify-body", TextArea).focus()

    def action_leave(self) -> None:
        """Esc: focus the tab bar (1/2/3, q and ? work again; Tab comes back in)."""
        tabs = self.screen.query("#tabs Tabs")
        if tabs:
            tabs.first().focus()
        else:
            self.screen.set_focus(None)
