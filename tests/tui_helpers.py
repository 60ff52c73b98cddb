"""Shared steps for the Pilot tests of the TUI."""

from __future__ import annotations

from textual.app import App
from textual.pilot import Pilot


async def settle(app: App, pilot: Pilot) -> None:
    """Let queued keys, workers and the 80 ms event drain (and the blocklist aggregation it
    starts) finish before asserting."""
    await pilot.pause(0.2)
    await app.workers.wait_for_complete()
    await pilot.pause(0.3)
    await app.workers.wait_for_complete()
    await pilot.pause(0.2)


def log_text(app: App) -> str:
    """Everything in the live log panel."""
    return "\n".join(app.query_one("#log").lines)


async def release_with_keys(app: App, pilot: Pilot) -> None:
    """`r` on the selected host, confirm with `y`, and wait for the release and the
    refresh that follows it."""
    await pilot.press("r")
    await settle(app, pilot)
    await pilot.press("y")
    await settle(app, pilot)
    await settle(app, pilot)
