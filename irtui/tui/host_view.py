"""What the TUI knows of each host between two reads of its firewall."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from irtui.core.config import HostConfig
from irtui.core.firewall.state import HostState
from irtui.core.rollback import RollbackTimer, TimerState
from irtui.tui.blocklist import BlockInfo, HostBlocks, index_blocks

if TYPE_CHECKING:
    from irtui.core.actions import HostProfile
    from irtui.core.record.drift import HostDrift


@dataclass
class HostView:
    """What the TUI knows of a host: the last state read or the last error, its preflight
    profile, and its last known blocklist (kept while the host is unreachable)."""

    config: HostConfig
    state: HostState | None = None
    """The last state read; None after a failed read. Once :meth:`update` has indexed its
    entries into :attr:`blocks` it is kept without them (``blocks=()``): holding 50,000
    BlockEntry/ipaddress objects per host makes every full cyclic-GC pass, which stops the
    UI too, about 4x slower (~0.24 s instead of ~0.06 s with 3 such hosts, measured by
    ``benchmarks/bench_blocklist_pane.py``)."""
    error: str | None = None
    busy: str = ""
    """The last action's outcome (``✓ block ok``) or a wait (``⏳ rollback 42s``)."""
    running: str = ""
    """The action running on the host now (``block``), or ``""``: the table spins."""
    rollback: RollbackTimer = field(default_factory=lambda: RollbackTimer(TimerState.NONE))
    """The host's rollback timer as read back."""
    profile: HostProfile | None = None
    read_seq: int = 0
    """Order of the read shown: an older read finishing late is not shown over it."""
    blocks: dict[str, BlockInfo] | None = None
    """Last known entries; still set (the cache) after the host became unreachable."""
    unenforced: frozenset[str] = frozenset()
    """Entries of :attr:`blocks` the host lists but does not enforce (read with them)."""
    drift: HostDrift | None = None
    """How the state shown differs from what the incident record means to be true; None
    while unknown (the host or the record could not be read)."""
    _indexed: HostState | None = field(default=None, repr=False, compare=False)

    def update(self, state: HostState | None, error: str | None,
               profile: HostProfile | None = None,
               blocks: dict[str, BlockInfo] | None = None) -> None:
        """Record a read: ``state`` (None when it failed with ``error``); ``blocks`` is
        ``index_blocks(state)`` if the caller already computed it (in a worker)."""
        self.error = error
        if profile is not None:
            self.profile = profile
        if state is None:
            self.state = self.drift = None
            return
        self.blocks = index_blocks(state) if blocks is None else blocks
        self.unenforced = _unenforced(state)
        self.state = self._indexed = replace(state, blocks=())

    def known_blocks(self) -> dict[str, BlockInfo] | None:
        """The entries of the current state, or the cached ones if the host is unreachable;
        None if it was never read."""
        if self.state is not None and self._indexed is not self.state:
            self.blocks, self._indexed = index_blocks(self.state), self.state
            self.unenforced = _unenforced(self.state)
        return self.blocks

    def snapshot(self) -> HostBlocks:
        """What :func:`aggregate_blocks` needs of this host (immutable: safe in a thread)."""
        return HostBlocks(self.config.name, self.config.groups, self.state is not None,
                          self.known_blocks(), self.unenforced)


def _unenforced(state: HostState) -> frozenset[str]:
    """The texts of the entries ``state`` lists but does not enforce (usually none)."""
    return frozenset(e.text for e in state.not_enforced) if state.gaps else frozenset()
