"""Waiting for a quiet machine before timing (``benchmarks/fleet.py`` and its suites)."""

from __future__ import annotations

import time


def _busy_and_total() -> tuple[int, int]:
    """CPU time spent busy and in all, summed over every CPU (clock ticks; proc(5),
    /proc/stat: idle and iowait count as not busy)."""
    with open("/proc/stat") as stat:
        ticks = [int(v) for v in stat.readline().split()[1:]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


def settle(idle: float = 0.85, longest: float = 120.0) -> str:
    """Wait until the machine is quiet before timing: bringing up 50 hosts (or a run just
    before) leaves the CPUs busy for a while, and a run started then is measured on a
    loaded machine. Waits until one second has at least ``idle`` of its CPU time idle, at
    most ``longest`` seconds; returns what it saw."""
    started = time.monotonic()
    share = 0.0
    while time.monotonic() - started < longest:
        busy0, total0 = _busy_and_total()
        time.sleep(1.0)
        busy1, total1 = _busy_and_total()
        share = 1 - (busy1 - busy0) / max(1, total1 - total0)
        if share >= idle:
            break
    return f"{share:.0%} idle after {time.monotonic() - started:.0f} s"
