"""Screens of the TUI as SVG, captured headless (Textual's ``App.run_test`` and
``App.export_screenshot``), for the incident record and its reports."""

from __future__ import annotations

import asyncio

from irtui.core.config import Config
from irtui.tui.app import IrtuiApp

SETTLE_SECONDS = 0.4


def host_list_svg(config: Config, size: tuple[int, int] = (110, 32)) -> str:
    """The host list as it looks once every host's live state has been read.

    Args:
        config: the config to open the TUI on.
        size: terminal columns and rows.

    Returns:
        The SVG text.
    """

    async def capture() -> str:
        app = IrtuiApp(config)
        async with app.run_test(size=size) as pilot:
            for _ in range(3):  # reads run in workers; their results drain every 80 ms
                await pilot.pause(SETTLE_SECONDS)
                await app.workers.wait_for_complete()
            await pilot.pause(SETTLE_SECONDS)
            svg = app.export_screenshot(title=f"irtui — {config.path or 'config'}")
        app.responder.close()
        return svg

    return asyncio.run(capture())
