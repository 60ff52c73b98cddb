"""A DataTable that draws its cells again once their columns have been measured."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.widgets import DataTable
from textual.widgets._data_table import RowKey


class FittedDataTable(DataTable[Any]):
    """:class:`~textual.widgets.DataTable` whose cells are never left cut to an old width.

    Textual (8.2) measures added rows and updated cells only when the table next idles, and
    keys its rendered-cell cache without the column width: a frame drawn between
    ``add_row``/``update_cell`` and that idle keeps the cells cut to the old width (for
    example ``■ ISO 09:`` for ``■ ISO 09:42``) until something else clears the cache. Here a
    change of any column's measured width clears the cache and redraws."""

    _drawn_widths: tuple[int, ...] = ()

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        super()._update_dimensions(new_rows)
        widths = tuple(column.content_width for column in self.columns.values())
        if widths != self._drawn_widths:
            self._drawn_widths = widths
            self._clear_caches()
            self.refresh()
