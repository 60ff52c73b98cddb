"""Shared steps for the Pilot tests of the TUI."""

from __future__ import annotations

import asyncio
import warnings

from textual.app import App
from textual.pilot import Pilot
from textual.worker import WorkerState

from irtui.tui.app import DRAIN_SECONDS
from irtui.tui.hosts_table import HostTable

QUIET_DRAINS = 3
"""Drain periods in a row the app must stay quiet for :func:`settle` to return."""
SETTLE_TIMEOUT = 60.0


def _busy(app: App) -> bool:
    """A worker pending or running, something queued from a thread for the UI, or errors
    waiting for their toast (shown a drain after the last one came)."""
    running = (WorkerState.PENDING, WorkerState.RUNNING)
    toaster = getattr(app, "toaster", None)
    return (bool(getattr(app, "events", ())) or any(w.state in running for w in app.workers)
            or bool(toaster is not None and toaster.pending))


async def settle(app: App, pilot: Pilot) -> None:
    """Let queued keys, workers and the event drain (every DRAIN_SECONDS, and the blocklist
    aggregation or refresh it starts) finish before asserting.

    Polled, not a fixed sleep: returns once every pending message is handled, no worker is
    pending or running and the thread→UI queue is empty, for QUIET_DRAINS drain periods in a
    row (a worker's last event starts the next worker only at the next drain).

    Raises:
        AssertionError: the app was still busy after SETTLE_TIMEOUT seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_TIMEOUT
    quiet = 0
    while quiet < QUIET_DRAINS:
        await pilot.pause(DRAIN_SECONDS)
        if _busy(app):
            quiet = 0
            await app.workers.wait_for_complete()
        else:
            quiet += 1
        assert loop.time() < deadline, f"the app was still busy after {SETTLE_TIMEOUT:g} s"


def log_text(app: App) -> str:
    """Everything in the live log panel."""
    return "\n".join(app.query_one("#log").lines)


async def block_to_confirmation(app: App, pilot: Pilot, address: str) -> None:
    """From a settled app: `b`, type ``address``, Enter, and wait for the block's plan to be
    shown for confirmation (asserted)."""
    from irtui.tui.screens import ConfirmScreen

    await pilot.press("b", *address, "enter")
    await settle(app, pilot)
    assert isinstance(app.screen, ConfirmScreen)


async def release_with_keys(app: App, pilot: Pilot) -> None:
    """`r` on the selected host, confirm with `y`, and wait for the release and the
    refresh that follows it."""
    await pilot.press("r")
    await settle(app, pilot)
    await pilot.press("y")
    await settle(app, pilot)
    await settle(app, pilot)


async def hosts_read(app: App, pilot: Pilot) -> None:
    """Make sure every host's last read back succeeded before a step that plans from the
    tables: a read that failed on a loaded test machine (see :func:`isolation_cell`) is
    reported as a warning and the hosts are read once more."""
    failed = {n: v.error for n, v in app.views.items() if v.error is not None}  # type: ignore[attr-defined]
    if failed:
        warnings.warn(f"reads back failed once, read again: {failed}", stacklevel=2)
        await pilot.press("ctrl+r")
        await settle(app, pilot)


async def isolation_cell(app: App, pilot: Pilot, host: str) -> str:
    """The host table's Isolation cell of ``host``, as shown after its last read back.

    A read that failed shows ``unknown`` (the honest answer, see HostTable.isolation_cell);
    on a loaded test machine one read in thousands fails for a reason of the machine's own
    (CI, stop 18). Then the failure is reported as a warning (pytest lists it in its
    summary, even when the test passes), the hosts are read once more (``ctrl+r``) and the
    cell of that read is returned: it still reads ``unknown`` if the host cannot be read.
    """
    view = app.views[host]  # type: ignore[attr-defined]
    if view.error is not None:
        warnings.warn(f"{host}'s read back failed once, read again: {view.error}",
                      stacklevel=2)
        await pilot.press("ctrl+r")
        await settle(app, pilot)
    return str(app.query_one(HostTable).get_row(host)[3])
