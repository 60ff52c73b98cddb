"""Benchmark: the live log under a flood — 200,000 remote output lines streamed into the TUI
while the responder presses keys in the log — headless (Textual ``run_test``, 120x40).

Lines go the way real output goes: a worker thread posts ``OutputLine`` events on the app's
queue (``IrtuiApp._post``), the UI drains it every 80 ms and writes one batch to the log.
Meanwhile a key is pressed every 50 ms in the focused log (``k``/``j`` move the cursor, every
10th key toggles the host filter ``h`` or the streams ``s``). Each key is timed from the moment
its event is posted to the app until the log is painted (its ``render_line`` runs) after the
key took effect (the cursor, filter or scroll position changed): "keypress to screen". (Pilot's
own ``press``, which also waits for the whole app to be idle, is timed too, for comparison.)

Side by side, in the same run and on the same lines, the log this replaced: Textual's own
``Log`` widget (``max_lines``, ``write_lines`` per batch; ↑/↓ scroll, as before) in an app that
drains the same way. Each variant runs in a process of its own so its memory (RSS, and the
peak ``VmHWM``) is its own.

Targets (issue 14): p95 keypress-to-screen under 100 ms; RSS under 200 MB. Run::

    python benchmarks/bench_log_panel.py                 # 200,000 lines, both variants
    python benchmarks/bench_log_panel.py --lines 50000 --rate 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from textual import events
from textual.app import App, ComposeResult
from textual.widgets import Log

from irtui.core.config import Config
from irtui.core.events import OutputLine
from irtui.tui.app import DRAIN_SECONDS, IrtuiApp

HOSTS = ("web1", "web2", "db1")
KEY_EVERY = 0.05
"""Seconds between two key presses."""


def line(i: int) -> OutputLine:
    """Line ``i`` of the flood: 90% stdout, 10% stderr, ~90 characters."""
    host = HOSTS[i % len(HOSTS)]
    stream = "stderr" if i % 10 == 9 else "stdout"
    return OutputLine(host, stream, f"[{i:07d}] conntrack -D -s 198.18.{i % 250}.{i % 200} "
                                    f"-p tcp --dport 443: 1 flow entries have been deleted")


def memory() -> dict[str, float]:
    """VmRSS and VmHWM (peak) of this process, in MiB (from /proc/self/status)."""
    out = {}
    for row in Path("/proc/self/status").read_text().splitlines():
        key, _, value = row.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


class Feeder(threading.Thread):
    """Posts ``count`` lines at ``rate`` per second through ``post(kind, payload)``."""

    def __init__(self, post: Any, count: int, rate: int) -> None:
        super().__init__(daemon=True)
        self.post, self.count, self.rate = post, count, rate

    def run(self) -> None:
        started = time.monotonic()
        batch = max(1, self.rate // 100)
        for first in range(0, self.count, batch):
            for i in range(first, min(first + batch, self.count)):
                self.post("event", line(i))
            ahead = started + (first + batch) / self.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)


class PlainLog(App[None]):
    """Before: Textual's ``Log`` fed from a queue drained every 80 ms, as the app did."""

    def compose(self) -> ComposeResult:
        yield Log(max_lines=5000, id="log")

    def on_mount(self) -> None:
        self.events: deque[tuple[str, Any]] = deque()
        self.set_interval(DRAIN_SECONDS, self._drain)
        self.query_one(Log).focus()

    def _post(self, kind: str, payload: Any) -> None:
        self.events.append((kind, payload))

    def _drain(self) -> None:
        lines = []
        while self.events:
            _, event = self.events.popleft()
            mark = " ! " if event.stream == "stderr" else " | "
            lines.append(f"{event.host}{mark}{event.line}")
        if lines:
            self.query_one(Log).write_lines(lines)


async def run_variant(variant: str, count: int, rate: int) -> dict[str, Any]:
    """Stream ``count`` lines at ``rate``/s into ``variant`` while pressing keys."""
    folder = Path(tempfile.mkdtemp(prefix="irtui-bench-"))
    if variant == "after":
        app: Any = IrtuiApp(Config(audit_dir=str(folder / "audit"),  # as run_app does
                                   record_path=str(folder / "record.db")), freeze_gc=True)
        keys = ["k", "j"] * 4 + ["h", "s"]
    else:
        app = PlainLog()
        keys = ["up", "down"] * 5
    timings: list[float] = []
    pilot_timings: list[float] = []
    missed = 0
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.5)
        if variant == "after":
            await pilot.press("l")
        panel = app.query_one("#log")
        painted = [0.0]
        render_line = panel.render_line

        def timed_render_line(y: int) -> Any:
            painted[0] = time.perf_counter()
            return render_line(y)

        panel.render_line = timed_render_line  # the paint of the log, timed

        def state() -> tuple[Any, ...]:
            return (getattr(panel, "cursor_row", None), getattr(panel, "host_filter", None),
                    getattr(panel, "streams", None), panel.scroll_offset.y)

        feeder = Feeder(app._post, count, rate)
        started = time.monotonic()
        feeder.start()
        n = 0
        while feeder.is_alive() or app.events:
            key = keys[n % len(keys)]
            n += 1
            if n % 5 == 0:  # now and then through Pilot, which waits for the idle app
                before = time.perf_counter()
                await pilot.press(key)
                pilot_timings.append(time.perf_counter() - before)
                continue
            was = state()
            pressed = time.perf_counter()
            app.post_message(events.Key(key, key if len(key) == 1 else None))
            handled = None
            while time.perf_counter() - pressed < 2.0:
                await asyncio.sleep(0.0005)
                if handled is None and state() != was:
                    handled = time.perf_counter()
                if handled is not None and painted[0] >= handled:
                    timings.append(painted[0] - pressed)
                    break
            else:
                missed += 1  # the key changed nothing visible (e.g. already at the end)
            await asyncio.sleep(max(0.0, KEY_EVERY - (time.perf_counter() - pressed)))
        streamed = time.monotonic() - started
        await pilot.pause(0.3)
        kept = len(panel.lines)
    timings.sort()
    return {"variant": variant, "lines": count, "kept": kept, "seconds": streamed,
            "keys": len(timings), "missed": missed, "p50": statistics.median(timings),
            "p95": timings[int(len(timings) * 0.95) - 1], "max": timings[-1],
            "pilot_p95": sorted(pilot_timings)[int(len(pilot_timings) * 0.95) - 1],
            **memory()}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--rate", type=int, default=20_000, help="lines per second")
    parser.add_argument("--variant", choices=["after", "before"],
                        help="run one variant here and print JSON (used by the parent)")
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(asyncio.run(run_variant(args.variant, args.lines, args.rate))))
        return
    import textual

    print(f"log flood: {args.lines:,} lines at {args.rate:,}/s, a key every "
          f"{KEY_EVERY * 1000:.0f} ms, 120x40; Python {sys.version.split()[0]}, "
          f"Textual {textual.__version__}")
    rows = []
    for variant in ("before", "after"):
        done = subprocess.run([sys.executable, __file__, "--variant", variant, "--lines",
                               str(args.lines), "--rate", str(args.rate)],
                              capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"{'variant':<34}{'keys':>6}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"
          f"{'Pilot p95':>10}{'RSS MiB':>9}{'peak MiB':>10}{'kept':>7}{'stream s':>10}")
    names = {"before": "before: Textual Log (max 5000)",
             "after": "after: irtui LogPanel (max 5000)"}
    for row in rows:
        print(f"{names[row['variant']]:<34}{row['keys']:>6}{row['p50'] * 1000:>9.1f}"
              f"{row['p95'] * 1000:>9.1f}{row['max'] * 1000:>9.1f}"
              f"{row['pilot_p95'] * 1000:>10.1f}{row['VmRSS']:>9.1f}"
              f"{row['VmHWM']:>10.1f}{row['kept']:>7}{row['seconds']:>10.1f}")
    before, after = rows
    print(f"after/before: p95 {after['p95'] / before['p95']:.2f}×, "
          f"peak memory {after['VmHWM'] / before['VmHWM']:.2f}×")


if __name__ == "__main__":
    main()
