"""Benchmark: the blocklist pane with 50,000 entries, headless (Textual ``run_test``, 80x24).

Three hosts in one group: host1 has every entry, host2 every other one, host3 all but every
7th (so rows are a mix of complete and partial). Each step does what the app does:

* index: one host's read state → the pane's index (the app's refresh worker thread);
* aggregate: all hosts' indexes → one row per entry (the app's blocklist worker thread);
* first load: 50,000 rows into the empty table (UI thread);
* refresh with 1% churn: 500 entries gone, 500 new (UI thread);
* refresh, nothing changed: the same entries read again, new deadlines (UI thread);
* countdown tick: the 1 s tick when every countdown on screen changes (worst case);
* filter: ``/`` text that keeps 1 entry in 200, then clearing it (all rows come back);
* page down: one key press mid-table (mostly the Pilot round trip and the repaint);
* filter as you type: each prefix of the same text, as the filter line applies it on every
  key; then the same keys pressed through Pilot (whose round trip alone is most of that: an
  unbound key is timed for comparison); Esc clears it;
* memory: what tracemalloc sees allocated for the model and, on top, by the table;
* full GC pass: ``gc.collect()`` with the pane loaded, and — for comparison — if the views
  kept the 3 read states (50,000 BlockEntry/ipaddress objects each) instead of the index.
  CPython runs such passes by itself every few seconds while objects are being created, and
  each one stops the UI thread too.

"call" is how long the UI thread is busy in irtui's code (the app cannot react meanwhile);
"to screen" adds Textual's layout and repaint until the pilot sees the app idle (and any GC
pass that fell there). Rows marked [worker] run off the UI thread.

Only benchmarking/documentation address ranges are used (198.18.0.0/15, 2001:db8::/32);
nothing is sent anywhere. Run::

    python benchmarks/bench_blocklist_pane.py            # 50,000 entries, 5 repeats
    python benchmarks/bench_blocklist_pane.py --entries 100000 --repeats 3
    python benchmarks/bench_blocklist_pane.py --compare  # also plain DataTable calls
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import ipaddress
import statistics
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from types import SimpleNamespace

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Input

from irtui.core.config import HostConfig
from irtui.core.firewall.state import BlockEntry, HostState
from irtui.tui import blocklist_view
from irtui.tui.blocklist import BlockModel, aggregate_blocks, index_blocks
from irtui.tui.blocklist_view import BlockPane, BlockTable
from irtui.tui.host_view import HostView

V4 = int(ipaddress.IPv4Address("198.18.0.0"))   # 198.18.0.0/15: 131,072 addresses
V6 = int(ipaddress.IPv6Address("2001:db8::"))
HOSTS: dict[str, Callable[[int], bool]] = {
    "host1": lambda i: True,
    "host2": lambda i: i % 2 == 0,
    "host3": lambda i: i % 7 != 0,
}

def needle_for(count: int) -> str:
    """The filter text: one /24 of the entries (at most 256 of them; 1 in 200 of 50,000)."""
    return "198.18.42." if count > 42 * 256 + 255 else "198.18.1."

Timing = tuple[float, float]
Results = dict[str, list[Timing]]


def entry(i: int) -> BlockEntry:
    """Entry number ``i``: 90% IPv4 /32, 10% IPv6 /128; TTLs under an hour, so every
    countdown shows seconds and changes on each tick (the tick's worst case)."""
    net: ipaddress.IPv4Network | ipaddress.IPv6Network = (
        ipaddress.IPv6Network(V6 + i) if i % 10 == 9 else ipaddress.IPv4Network(V4 + i))
    ttl = 600 + (i * 7919) % 2900
    return BlockEntry(net, ttl, ttl - (i * 104729) % 500)


def read_hosts(first: int, count: int) -> list[HostState]:
    """What the 3 hosts' firewalls return when entries ``first`` .. ``first+count-1`` are
    blocked: new objects on every call, like a real read."""
    return [HostState(name, tuple(entry(i) for i in range(first, first + count) if keep(i)))
            for name, keep in HOSTS.items()]


class Bench(App[None]):
    def compose(self) -> ComposeResult:
        yield BlockPane(id="block-pane")


class Plain(App[None]):
    def compose(self) -> ComposeResult:
        yield DataTable()


class PlainInput(App[None]):
    def compose(self) -> ComposeResult:
        yield Input()


class Clock:
    """Stands in for the ``time`` module in blocklist_view: a tick 1 s later without sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset


def add(results: Results, name: str, timing: Timing) -> None:
    results.setdefault(name, []).append(timing)


def worker(results: Results, name: str, call: Callable[[], object]) -> object:
    """Time something the app runs in a worker thread."""
    started = time.perf_counter()
    result = call()
    elapsed = time.perf_counter() - started
    add(results, name, (elapsed, elapsed))
    return result


async def timed(pilot, call: Callable[[], object]) -> Timing:
    """(UI-thread time of ``call``, time until the app is idle again after it)."""
    await pilot.pause()
    started = time.perf_counter()
    result = call()
    if isinstance(result, Awaitable):
        await result
    called = time.perf_counter()
    await pilot.pause()
    return called - started, time.perf_counter() - started


def full_gc() -> Timing:
    started = time.perf_counter()
    gc.collect()
    elapsed = time.perf_counter() - started
    return elapsed, elapsed


def refresh(results: Results, views: list[HostView], states: list[HostState],
            name: str) -> BlockModel:
    """The app's refresh: index each state (refresh worker), then aggregate (blocklist
    worker)."""
    for view, state in zip(views, states, strict=True):
        blocks = worker(results, "index one host's read state  [worker]",
                        lambda s=state: index_blocks(s))
        view.update(state, None, None, blocks)  # type: ignore[arg-type]
    return worker(results, f"{name}: aggregate 3 hosts  [worker]",  # type: ignore[return-value]
                  lambda: aggregate_blocks([v.snapshot() for v in views]))


async def one_round(results: Results, count: int, rep: int, clock: Clock) -> None:
    churn = count // 100
    needle = needle_for(count)
    views = [HostView(HostConfig(name, "198.18.1.1", groups=("lab",))) for name in HOSTS]
    app = Bench()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(BlockTable)
        table.focus()
        model = refresh(results, views, read_hosts(0, count), "first load")
        add(results, f"first load: {count:,} rows into the table",
            await timed(pilot, lambda: table.apply(model)))
        assert table.row_count == count, table.row_count
        table.move_cursor(row=count // 2)
        await pilot.pause()
        add(results, "full GC pass, pane loaded", full_gc())
        kept = read_hosts(0, count)
        add(results, "full GC pass if views kept the states", full_gc())
        del kept

        start = churn * (rep + 1)
        churned = refresh(results, views, read_hosts(start, count), "refresh")
        add(results, f"refresh, 1% churn ({churn:,} out, {churn:,} in)",
            await timed(pilot, lambda: table.apply(churned)))
        assert table.row_count == count, table.row_count

        same = refresh(results, views, read_hosts(start, count), "refresh")
        add(results, "refresh, nothing changed", await timed(pilot, lambda: table.apply(same)))

        clock.offset += 1.0  # every countdown on screen changes on this tick
        add(results, "countdown tick (cells on screen)", await timed(pilot, table.tick))

        add(results, f"filter '{needle}' (narrows)",
            await timed(pilot, lambda: table.set_filter(needle)))
        narrowed = table.row_count
        add(results, "filter cleared (all rows back)",
            await timed(pilot, lambda: table.set_filter("")))
        assert table.row_count == count and 0 < narrowed <= 256, narrowed
        for end in range(1, len(needle) + 1):  # the first prefixes match nearly every entry
            add(results, f"filter as you type '{needle}', each key",
                await timed(pilot, lambda t=needle[:end]: table.set_filter(t)))  # type: ignore[misc]
        table.set_filter("")

        add(results, "page down key, mid-table",
            await timed(pilot, lambda: pilot.press("pagedown")))
        add(results, "unbound key (the Pilot round trip alone)",
            await timed(pilot, lambda: pilot.press("x")))
        app.query_one(BlockPane).start_filter()
        await pilot.pause()
        for key in needle:
            add(results, "key press in the filter line (Pilot, end to end)",
                await timed(pilot, lambda k=key: pilot.press(k)))  # type: ignore[misc]
        assert table.row_count == narrowed, table.row_count
        add(results, "Esc in the filter line (all rows back)",
            await timed(pilot, lambda: pilot.press("escape")))
        assert table.row_count == count, table.row_count


async def held_memory(count: int) -> tuple[int, int]:
    """Bytes still allocated (tracemalloc) for the aggregated model (built in a worker, kept
    by the app) and, on top of it, by the table after the first load and repaint."""
    views = [HostView(HostConfig(name, "198.18.1.1", groups=("lab",))) for name in HOSTS]
    for view, state in zip(views, read_hosts(0, count), strict=True):
        view.update(state, None)
    app = Bench()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(BlockTable)
        await pilot.pause()
        tracemalloc.start()
        try:
            model = aggregate_blocks([v.snapshot() for v in views])
            for_model = tracemalloc.get_traced_memory()[0]
            table.apply(model)
            await pilot.pause()
            for_table = tracemalloc.get_traced_memory()[0] - for_model
        finally:
            tracemalloc.stop()
    return for_model, for_table


async def run(count: int, repeats: int) -> Results:
    results: Results = {}
    clock = Clock()
    blocklist_view.time = SimpleNamespace(time=clock.time)  # type: ignore[assignment]
    for rep in range(repeats):
        await one_round(results, count, rep, clock)
        print(f"  repeat {rep + 1}/{repeats} done", file=sys.stderr, flush=True)
    return results


async def run_plain_input(needle: str, repeats: int) -> Results:
    """The same key presses into a lone Input that filters nothing: the baseline of the
    filter line's end-to-end figure."""
    results: Results = {}
    app = PlainInput()
    async with app.run_test(size=(80, 24)) as pilot:
        app.query_one(Input).focus()
        for key in needle * repeats:
            add(results, "key press in a plain Input (Pilot baseline)",
                await timed(pilot, lambda k=key: pilot.press(k)))  # type: ignore[misc]
    return results


async def run_plain(count: int) -> Results:
    """The same work with DataTable's public per-row calls (what the pane used to do)."""
    results: Results = {}
    app = Plain()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(DataTable)
        for label in ("Entry", "Fam", "Hosts", "Expires in", "Mark"):
            table.add_column(label, key=label)

        def load() -> None:
            for i in range(count):
                table.add_row(f"198.18.{i // 256}.{i % 256}", "v4", "host1", "59m59s", "",
                              key=str(i))

        add(results, "plain DataTable: add_row x all", await timed(pilot, load))

        def tick() -> None:
            for i in range(count):
                table.update_cell(str(i), "Expires in", "59m58s")

        add(results, "plain DataTable: update_cell x all", await timed(pilot, tick))
        removals = 20

        def remove() -> None:
            for i in range(removals):
                table.remove_row(str(i))

        call, screen = await timed(pilot, remove)
        add(results, "plain DataTable: remove_row, each", (call / removals, screen / removals))
    return results


def report(results: Results) -> None:
    width = max(map(len, results)) + 2
    print(f"{'operation':<{width}}{'call ms':>10}{'to screen ms':>14}{'max call ms':>13}")
    print("-" * (width + 37))
    for name, timings in results.items():
        calls = [c * 1000 for c, _ in timings]
        screens = [s * 1000 for _, s in timings]
        print(f"{name:<{width}}{statistics.median(calls):>10.1f}"
              f"{statistics.median(screens):>14.1f}{max(calls):>13.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compare", action="store_true",
                        help="also time plain DataTable add_row/update_cell/remove_row")
    args = parser.parse_args()
    if not 1_000 <= args.entries <= 100_000:
        parser.error("use 1,000 to 100,000 entries (the address range used holds that many)")
    import textual

    print(f"blocklist pane, {args.entries:,} entries, 3 hosts, 80x24, median of "
          f"{args.repeats}; Python {sys.version.split()[0]}, Textual {textual.__version__}")
    results = asyncio.run(run(args.entries, args.repeats))
    results |= asyncio.run(run_plain_input(needle_for(args.entries), args.repeats))
    if args.compare:
        results |= asyncio.run(run_plain(args.entries))
    report(results)
    model, table = asyncio.run(held_memory(args.entries))
    print(f"memory (tracemalloc): aggregated model {model / 2**20:.1f} MiB; "
          f"the table on top of it after the first load {table / 2**20:.2f} MiB")


if __name__ == "__main__":
    main()
