"""A table cell updated after a frame was drawn is shown whole once its column is measured
(Textual 8.2 caches rendered cells without their width; see irtui.tui.fitted_table)."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from irtui.tui.fitted_table import FittedDataTable

WIDE = "■ ISO 09:42 until rollback"


class _TableApp(App[None]):
    def __init__(self, table: DataTable) -> None:
        super().__init__()
        self.table = table

    def compose(self) -> ComposeResult:
        yield self.table


@pytest.mark.parametrize("how", ["update", "add"])
async def test_a_wider_cell_is_drawn_whole_after_a_frame_in_between(how: str) -> None:
    table = FittedDataTable()
    app = _TableApp(table)
    async with app.run_test(size=(60, 10)) as pilot:
        table.add_column("Isolation", key="iso")
        table.add_column("Blocks", key="blocks")
        table.add_row("normal", "1", key="host1")
        await pilot.pause(0.05)
        if how == "update":
            table.update_cell("host1", "iso", WIDE, update_width=True)
        else:
            table.add_row(WIDE, "2", key="host2")
        row = 1 if how == "update" else 2
        assert WIDE not in table.render_line(row).text  # drawn before the table idled
        await pilot.pause(0.05)
        await pilot.pause(0.05)
        assert WIDE in table.render_line(row).text
