"""The command palette (``ctrl+p``): every action of the registry (minus those read-only mode
removes), every host, group and incident, and the drill when the launcher provides it.

``block`` finds "Block", "Unblock", "Unblock shown"…; ``host2`` finds the host, its log and
its group; ``INC-`` every incident. The app builds the commands
(:meth:`irtui.tui.app.IrtuiApp.palette_commands`); incidents are read from the record in a
thread when the palette opens.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol

from textual.command import DiscoveryHit, Hit, Hits, Provider

Command = tuple[str, Callable[[], object], str]
"""``(text shown and matched, callback, help line)``."""


class HasCommands(Protocol):
    """What the provider needs of the app."""

    def palette_commands(self) -> list[Command]:
        """Commands that need no I/O (actions, hosts, groups, the drill)."""

    def incident_commands(self) -> list[Command]:
        """One command per incident (reads the record: called in a thread)."""


class IrtuiCommands(Provider):
    """irtui's commands for Textual's command palette."""

    async def startup(self) -> None:
        app: HasCommands = self.app  # type: ignore[assignment]
        self.commands = app.palette_commands()
        with contextlib.suppress(Exception):  # a record problem must not break the palette
            self.commands += await asyncio.to_thread(app.incident_commands)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, callback, help_text in self.commands:
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, text=text, help=help_text)

    async def discover(self) -> Hits:
        for text, callback, help_text in self.commands:
            yield DiscoveryHit(text, callback, text=text, help=help_text)
