"""The TUI's host table shows what the read-back found (issue 8, item 10): a PARTIAL
isolation is not "normal", and a host whose blocks are not all enforced is marked, with the
reason in the detail line. Pure widget logic: no app, no lab."""

from __future__ import annotations

import ipaddress

from irtui.core.firewall.state import (
    BlockEntry,
    Enforcement,
    HostState,
    Isolation,
    IsolationStatus,
)
from irtui.core.settings import HostConfig
from irtui.tui.host_view import HostView
from irtui.tui.hosts_table import HostTable

NET = ipaddress.ip_network("203.0.113.7/32")


def _view(state: HostState) -> HostView:
    view = HostView(HostConfig("h1", "192.0.2.10"))
    view.update(state, None)
    return view


def test_partial_isolation_and_unenforced_blocks_are_shown() -> None:
    state = HostState("h1", (BlockEntry(NET, enforcement=Enforcement.NOT_ENFORCED),),
                      isolation=Isolation("2024-05-01T10:00:00Z", (),
                                          IsolationStatus.PARTIAL, "IPv6 not isolated"),
                      gaps=("v4_32: no reachable drop rule for ip saddr @v4_32",))
    view = _view(state)
    assert HostTable.isolation_cell(view) == "◐ PARTIAL"
    cells = HostTable._cells(view)
    assert cells[4] == "1 ⚠"
    detail = HostTable.detail_line(view)
    assert "PARTIAL isolation: IPv6 not isolated" in detail
    assert "blocks NOT ENFORCED: v4_32: no reachable drop rule" in detail


def test_enforced_host_shows_no_mark() -> None:
    state = HostState("h1", (BlockEntry(NET, enforcement=Enforcement.ENFORCED),),
                      isolation=Isolation("2024-05-01T10:00:00Z"))
    view = _view(state)
    assert HostTable.isolation_cell(view) == "■ ISO 10:00"
    assert HostTable._cells(view)[4] == "1"
    assert "NOT ENFORCED" not in HostTable.detail_line(view)
