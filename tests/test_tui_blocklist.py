"""The blocklist pane: one row per entry across hosts, partial marks, countdown, filter and
unblock — driven by key presses on the practice lab — and the table's in-place updates with
50,000 synthetic entries (documentation/benchmark ranges only; nothing is sent anywhere)."""

from __future__ import annotations

import ipaddress
import json
import re
import tracemalloc

from textual.app import App, ComposeResult
from textual.widgets import Static

from irtui.core.actions import Responder
from irtui.core.config import Config, HostConfig
from irtui.core.firewall.state import BlockEntry, HostState
from irtui.lab.probe import ns_run
from irtui.tui import blocklist, blocklist_view, hosts_table
from irtui.tui.app import IrtuiApp
from irtui.tui.blocklist import HostBlocks
from irtui.tui.blocklist_view import BlockPane, BlockTable
from irtui.tui.host_view import HostView
from irtui.tui.hosts_table import HostTable
from irtui.tui.screens import ConfirmScreen
from tests.tui_helpers import settle

ENTRY, FAM, HOSTS, EXPIRES, MARK = range(5)


def _seconds(text: str) -> int:
    """``9m58s`` / ``1h05m`` / ``2d3h`` → seconds."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+)([dhms])", text)
    assert parts, text
    return sum(int(n) * units[u] for n, u in parts)


def _block(responder: Responder, targets: list[str], hosts: list[str], ttl: str) -> None:
    result = responder.execute(responder.plan_block(targets, hosts, ttl), lambda e: None)
    assert result.ok, result


def _in_ruleset(namespace: str, text: str) -> bool:
    out = ns_run(namespace, ["nft", "-j", "list", "ruleset"])
    assert out.returncode == 0, out.stderr
    return text in json.dumps(json.loads(out.stdout))


# ---- with the practice lab ----------------------------------------------------------------


async def test_pane_aggregates_marks_counts_down_and_filters(lab_config: Config, clean_lab,
                                                             responder: Responder) -> None:
    assert all("lab" in h.groups for h in lab_config.hosts) and len(lab_config.hosts) == 3
    _block(responder, ["203.0.113.10"], ["host1", "host2"], "10m")
    _block(responder, ["203.0.113.11"], ["host1"], "10m")
    _block(responder, ["203.0.113.0/28"], ["all"], "permanent")
    app = IrtuiApp(lab_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("2")
        await pilot.pause(0.2)
        table = app.query_one(BlockTable)
        assert app.focused is table
        assert table.row_count == 3  # one row per entry, not per (entry, host)
        both = table.get_row("203.0.113.10")
        assert both[ENTRY] == "203.0.113.10" and both[FAM] == "v4"
        assert both[HOSTS] == "host1,host2"
        assert both[MARK] == "⚠ lab: 2/3"  # on 2 of the 3 members of group lab
        only1 = table.get_row("203.0.113.11")
        assert only1[HOSTS] == "host1" and only1[MARK] == "⚠ lab: 1/3"
        everywhere = table.get_row("203.0.113.0/28")
        assert everywhere[HOSTS] == "host1,host2,host3" and everywhere[MARK] == ""
        assert everywhere[EXPIRES] == "permanent"
        # sorted by address: the /28 starts at .0
        assert [table.get_row_at(i)[ENTRY] for i in range(3)] == [
            "203.0.113.0/28", "203.0.113.10", "203.0.113.11"]
        status = str(app.query_one("#block-status", Static).render())
        assert "3 entries" in status and "2 partial" in status

        # the countdown runs from the deadline kept at read time, without re-reading
        first = _seconds(table.get_row("203.0.113.10")[EXPIRES])
        assert 500 < first <= 600
        await pilot.pause(2.3)
        later = _seconds(table.get_row("203.0.113.10")[EXPIRES])
        assert 1 <= first - later <= 4, (first, later)

        # "/" filters by entry text...
        await pilot.press("slash", *"113.11", "enter")
        await pilot.pause(0.2)
        assert list(table.keys) == ["203.0.113.11"]
        assert "1 of 3 entries match '113.11'" in str(
            app.query_one("#block-status", Static).render())
        assert app.focused is table
        # ...or by host name; Esc in the filter line clears it
        await pilot.press("slash", *["backspace"] * 6, *"host2", "enter")
        await pilot.pause(0.2)
        assert sorted(table.keys) == ["203.0.113.0/28", "203.0.113.10"]
        await pilot.press("slash", "escape")
        await pilot.pause(0.2)
        assert table.row_count == 3 and table.filter_text == ""
        assert app.focused is table


async def test_unblock_from_pane_on_every_host(lab_config: Config, clean_lab,
                                               responder: Responder) -> None:
    _block(responder, ["203.0.113.10"], ["host1", "host2"], "10m")
    _block(responder, ["203.0.113.20"], ["host1"], "10m")
    h1, h2 = clean_lab.hosts[0], clean_lab.hosts[1]
    assert _in_ruleset(h1.namespace, "203.0.113.10") and _in_ruleset(h2.namespace,
                                                                      "203.0.113.10")
    app = IrtuiApp(lab_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("2")
        table = app.query_one(BlockTable)
        assert table.get_row_at(table.cursor_row)[ENTRY] == "203.0.113.10"
        await pilot.press("u")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.plan.action == "unblock"
        assert sorted(app.screen.plan.hosts) == ["host1", "host2"]
        await pilot.press("y")
        await settle(app, pilot)
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        # the refresh after the action removed the row; the other entry stayed
        assert "203.0.113.10" not in table.keys
        assert table.get_row("203.0.113.20")[HOSTS] == "host1"
    for host in ("host1", "host2"):
        assert responder.read_state(host).find(ipaddress.ip_network("203.0.113.10")) is None
    assert not _in_ruleset(h1.namespace, "203.0.113.10")
    assert not _in_ruleset(h2.namespace, "203.0.113.10")
    assert _in_ruleset(h1.namespace, "203.0.113.20")


async def test_host_table_shows_firewall_and_preflight_in_80_columns(lab_config: Config,
                                                                     clean_lab) -> None:
    app = IrtuiApp(lab_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        table = app.query_one(HostTable)
        backend = app.responder.profile("host1").choice.name
        assert table.get_row("host1")[5] == hosts_table.SHORT_BACKEND.get(backend, backend)
        detail = str(app.query_one("#host-detail", Static).render())
        assert detail.startswith("host1: " + backend)
        await pilot.press("down")
        await pilot.pause(0.2)
        assert str(app.query_one("#host-detail", Static).render()).startswith("host2: ")
        # every column is on screen: no horizontal scrolling at 80 columns
        assert table.virtual_size.width <= table.scrollable_content_region.width


# ---- the table alone, synthetic data --------------------------------------------------------


class PaneApp(App[None]):
    def compose(self) -> ComposeResult:
        yield BlockPane()


V4 = int(ipaddress.IPv4Address("198.18.0.0"))  # 198.18.0.0/15: benchmarking range


def _entries(start: int, stop: int, expires: int | None = 3000) -> tuple[BlockEntry, ...]:
    return tuple(BlockEntry(ipaddress.IPv4Network(V4 + i), expires, expires)
                 for i in range(start, stop))


def _view(name: str, entries: tuple[BlockEntry, ...], groups: tuple[str, ...] = ("lab",),
          read_at: float | None = None) -> HostView:
    state = HostState(name, entries) if read_at is None else HostState(name, entries,
                                                                        read_at=read_at)
    return HostView(HostConfig(name, "198.18.1.1", groups=groups), state)


async def test_50000_entries_update_in_place_by_key() -> None:
    n, churn = 50_000, 1_000
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(BlockTable)
        host1 = _view("host1", _entries(0, n))
        host2 = _view("host2", _entries(0, n, expires=None))
        table.show([host1, host2])
        await pilot.pause()
        assert table.row_count == n
        table.move_cursor(row=2_000)
        under = str(ipaddress.IPv4Address(V4 + 2_000))
        assert table.selected() is not None and table.selected().entry == under

        # the next read: the first 1,000 are gone, 1,000 new ones came
        host1.update(HostState("host1", _entries(churn, n + churn)), None)
        host2.update(HostState("host2", _entries(churn, n + churn, expires=None)), None)
        # the views keep the index, not 50,000 BlockEntry objects (see HostView.state)
        assert host1.state is not None and host1.state.blocks == ()
        assert host1.blocks is not None and len(host1.blocks) == n
        model = blocklist.aggregate_blocks([host1.snapshot(), host2.snapshot()])
        tracemalloc.start()
        try:
            table.apply(model)
            held, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        await pilot.pause()
        # nothing re-created per row: one DataTable row (Row + cell dict) alone is ~300 bytes
        assert held < 100_000, held

        assert table.row_count == n
        keys = set(table.keys)
        assert keys == {str(ipaddress.IPv4Address(V4 + i)) for i in range(churn, n + churn)}
        # the cursor stayed on its entry (by key), now 1,000 rows higher
        assert table.selected().entry == under and table.cursor_row == 2_000 - churn
        assert table.cursor_row in table.visible_rows()
        # still sorted by address, new entries at the end
        assert table.get_row_at(0)[ENTRY] == str(ipaddress.IPv4Address(V4 + churn))
        assert table.get_row_at(n - 1)[ENTRY] == str(ipaddress.IPv4Address(V4 + n + churn - 1))
        assert table.get_row_at(0)[HOSTS] == "host1,host2"
        assert 2990 <= _seconds(table.get_row_at(0)[EXPIRES]) <= 3000  # 50 min beats permanent

        # filter then clear: the cursor keeps its entry through both
        table.move_cursor(row=table.keys.index("198.18.42.7"))
        table.set_filter("198.18.42.")
        await pilot.pause()
        assert table.row_count == 256 and table.selected().entry == "198.18.42.7"
        table.set_filter("")
        await pilot.pause()
        assert table.row_count == n and table.selected().entry == "198.18.42.7"
        # the entry under the cursor is gone: the cursor moves to the next one
        gone = blocklist.aggregate_blocks([HostBlocks("host1", ("lab",), True, {
            k: v for k, v in (host1.blocks or {}).items() if k != "198.18.42.7"})])
        table.apply(gone)
        assert table.selected().entry == "198.18.42.8"


def _line(table: BlockTable, y: int) -> str:
    """What screen line ``y`` of the table shows (line 0 is the header)."""
    return table.render_line(y).text


async def test_countdown_tick_rewrites_only_rows_on_screen(monkeypatch) -> None:
    now = [1_000_000.0]
    monkeypatch.setattr(blocklist_view, "time", type("Clock", (), {"time": lambda: now[0]}))
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(BlockTable)
        table.show([_view("host1", _entries(0, 2_000, expires=600), read_at=now[0])])
        await pilot.pause()
        on_screen = table.visible_rows()
        assert 5 < len(on_screen) < 30
        first, last_key = table.get_row_at(0), str(ipaddress.IPv4Address(V4 + 1_999))
        assert first[EXPIRES] == "10m00s" and table.get_row(last_key)[EXPIRES] == "10m00s"
        assert "10m00s" in _line(table, 1)

        now[0] += 5
        assert table.tick() == len(on_screen)  # each line on screen, and only those
        assert table.get_row_at(0)[EXPIRES] == "9m55s"
        assert "9m55s" in _line(table, 1)
        assert table.tick() == 0  # nothing changed since: nothing rewritten

        table.move_cursor(row=1_999)  # scrolling brings it on screen, freshly counted
        await pilot.pause()
        assert table.visible_rows()[-1] == 1_999
        bottom = _line(table, len(table.visible_rows()))
        assert last_key in bottom and "9m55s" in bottom


async def test_unreachable_host_keeps_its_cache_and_is_not_counted_missing() -> None:
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(BlockTable)
        e = _entries(0, 2)
        h1, h2, h3 = _view("host1", e), _view("host2", e[:1]), _view("host3", ())
        table.show([h1, h2, h3])
        await pilot.pause()
        a, b = str(ipaddress.IPv4Address(V4)), str(ipaddress.IPv4Address(V4 + 1))
        assert table.get_row(a)[MARK] == "⚠ lab: 2/3"
        assert table.get_row(b)[MARK] == "⚠ lab: 1/3"

        # host3 is unreachable now: it has nothing cached, so it counts neither way
        h3.update(None, "host3: unreachable")
        # host2 is unreachable too: its last known entries stay, marked '?'
        h2.update(None, "host2: unreachable")
        table.show([h1, h2, h3])
        await pilot.pause()
        assert table.get_row(a)[HOSTS] == "host1,host2?" and table.get_row(a)[MARK] == ""
        assert table.get_row(b)[HOSTS] == "host1" and table.get_row(b)[MARK] == ""
        row = table.row(a)
        assert row is not None and row.targets == ("host1",) and row.unreachable == ("host2",)


async def test_many_hosts_are_shortened_but_all_filterable() -> None:
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(BlockTable)
        views = [_view(f"web{i:02d}", _entries(0, 1), groups=()) for i in range(12)]
        table.show(views)
        await pilot.pause()
        hosts = table.get_row_at(0)[HOSTS]
        assert len(hosts) <= blocklist.HOSTS_WIDTH and hosts.startswith("web00,")
        assert re.search(r",\+\d+$", hosts)
        table.set_filter("web11")
        assert table.row_count == 1
        assert table.selected() is not None and len(table.selected().targets) == 12


async def _focused(app: App, pilot, *views: HostView) -> BlockTable:
    """The pane's table showing ``views``, focused and painted."""
    table = app.query_one(BlockTable)
    table.show(views)
    table.focus()
    await pilot.pause()
    return table


async def test_filter_line_enter_applies_esc_clears() -> None:
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = await _focused(app, pilot, _view("host1", _entries(0, 600)),
                               _view("host2", _entries(0, 300)))
        app.query_one(BlockPane).start_filter()
        await pilot.press(*"198.18.2.", "enter")
        await pilot.pause()
        assert table.row_count == 88 and app.focused is table  # 198.18.2.0-87
        assert "88 of 600 entries match '198.18.2.'" in str(
            app.query_one("#block-status", Static).render())
        await pilot.press("escape")  # from the table: the filter goes away
        await pilot.pause()
        assert table.row_count == 600 and table.filter_text == ""
        assert not app.query_one("#block-filter").display


async def test_keys_move_the_cursor_under_a_fixed_header() -> None:
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = await _focused(app, pilot, _view("host1", _entries(0, 1_000)),
                               _view("host2", _entries(0, 10)))
        page = len(table.visible_rows())
        assert 5 < page < 24
        await pilot.press("j", "j", "down")
        assert table.cursor_row == 3
        await pilot.press("k", "up")
        assert table.cursor_row == 1
        await pilot.press("pagedown")  # a screen further; the cursor keeps its line
        assert table.cursor_row == 1 + page and table.visible_rows()[0] == page
        await pilot.press("pageup")
        assert table.cursor_row == 1 and table.visible_rows()[0] == 0
        for key, row in (("G", 999), ("g", 0), ("end", 999), ("home", 0)):
            await pilot.press(key)
            assert table.cursor_row == row and row in table.visible_rows(), key
            await pilot.pause()
            header = _line(table, 0).split()
            assert header == ["Entry", "Fam", "Hosts", "Expires", "in", "Mark"], key
        await pilot.press("k")  # stays on the first row
        assert table.cursor_row == 0
        await pilot.click(BlockTable, offset=(2, 4))  # the 4th row under the header
        assert table.cursor_row == 3 and table.selected().entry == "198.18.0.3"

        # the cursor row stands out; the partial mark has its own colour
        cursor, plain, partial = (list(table.render_line(y)) for y in (4, 5, 12))
        assert cursor[0].style != plain[0].style
        mark = next(segment for segment in partial if "⚠" in segment.text)
        assert mark.text.strip() == "⚠ lab: 1/2" and mark.style != plain[0].style


async def test_columns_fit_the_rows_shown_and_the_filter_applies_as_you_type() -> None:
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(BlockTable)
        table.show([_view("host1", _entries(0, 1_000)), _view("host2", _entries(0, 10))])
        await pilot.pause()
        # widest entry 198.18.3.231 (12 cells), widest hosts host1,host2: 1 cell of padding
        header = _line(table, 0)
        assert header.index("Fam") == 1 + 12 + 2 and header.index("Hosts") == 15 + 3 + 2
        assert header.index("Expires in") == 20 + len("host1,host2") + 2
        assert _line(table, 1).startswith(" 198.18.0.0    v4   host1,host2  ")
        app.query_one(BlockPane).start_filter()
        await pilot.press(*"198.18.0.")
        assert table.row_count == 256 and app.focused is not table  # applied while typing
        await pilot.press("1", "0")
        assert table.row_count == 11  # .10 and .100-.109
        await pilot.press(*["backspace"] * len("198.18.0.10"), *"host2")
        assert table.keys == [str(ipaddress.IPv4Address(V4 + i)) for i in range(10)]
        await pilot.pause()
        header = _line(table, 0)  # now the widest entry is 198.18.0.9
        assert header.index("Fam") == 1 + 10 + 2 and "Mark" in header
        await pilot.press("enter")
        assert app.focused is table and table.row_count == 10

class HostsApp(App[None]):
    def compose(self) -> ComposeResult:
        yield hosts_table.HostPane()


async def test_host_table_fits_80_columns_with_long_values() -> None:
    entries = _entries(0, 50_000)
    views = []
    for i in range(3):
        view = HostView(HostConfig(f"web-front-{i:02d}", f"203.0.113.{200 + i}"))
        view.update(HostState(view.config.name, entries, backend="iptables-legacy"), None)
        view.busy = "✗ unblock failed"
        views.append(view)
    app = HostsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(HostTable)
        table.show(views)
        await pilot.pause()
        assert table.get_row("web-front-00")[4:] == ["50000", "ipt-legacy", "✗ unblock…"]
        assert table.virtual_size.width <= table.scrollable_content_region.width <= 80
        detail = str(app.query_one("#host-detail", Static).render())
        assert detail == "web-front-00: iptables-legacy · ✗ unblock failed"
