"""Fixed data for TUI tests that need the same screen on every run (snapshots) or many rows
without a lab: a config of three hosts at documentation addresses, and a Responder whose host
reads return fixed states. Everything else — the incident record (SQLite), plans, the app —
is the real thing; only the SSH side is replaced, because a snapshot cannot depend on a lab's
timing.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import replace
from pathlib import Path

from irtui.core.actions import Responder
from irtui.core.actions.reads import HostRead
from irtui.core.config import Config, HostConfig
from irtui.core.errors import SSHError
from irtui.core.events import HostResult, Outcome, PlanResult
from irtui.core.firewall.state import BlockEntry, HostState, Isolation
from irtui.core.plan import EntryFate, EntryStatus, Plan, Step
from irtui.core.rollback import RollbackTimer, TimerState

FIXED_NOW = 1_767_261_600.0
"""2026-01-01T10:00:00Z: the clock of the header and the log in snapshots."""
HOSTS = ("host1", "host2", "host3")


def fixed_config(tmp_path: Path, **ui: object) -> Config:
    """Three hosts of group ``lab`` (host1, host2 also in ``web``) on loopback addresses
    with a closed port: nothing should connect to them (:class:`CannedResponder` answers
    for them), and if something did, it would stay on this machine and fail at once."""
    hosts = tuple(HostConfig(name, f"127.0.0.{11 + i}", port=9,
                             groups=("lab", "web") if i < 2 else ("lab",))
                  for i, name in enumerate(HOSTS))
    config = Config(hosts=hosts, audit_dir=str(tmp_path / "audit"),
                    record_path=str(tmp_path / "record.db"), path="/etc/irtui/config.toml")
    return replace(config, ui=replace(config.ui, **ui)) if ui else config


def _net(text: str) -> BlockEntry:
    return BlockEntry(ipaddress.ip_network(text), 86_400, 86_400)


FIXED_STATES: dict[str, HostState | Exception] = {
    "host1": HostState("host1", (_net("203.0.113.7/32"), _net("198.51.100.0/24"),
                                 BlockEntry(ipaddress.ip_network("2001:db8::/32"))),
                       backend="nftables"),
    "host2": HostState("host2", (_net("203.0.113.7/32"),),
                       isolation=Isolation("2026-01-01T09:42:00Z"), backend="iptables-nft"),
    "host3": SSHError("host3: unreachable (connection timed out after 10 s)",
                      "check the address and that sshd runs"),
}


class CannedResponder(Responder):
    """A real Responder (record, plans, config) whose host reads return ``states``: a
    state (its ``read_at`` set to now) or an error raised as the host's read failure."""

    def __init__(self, config: Config,
                 states: dict[str, HostState | Exception] | None = None) -> None:
        super().__init__(config)
        self.states = dict(FIXED_STATES if states is None else states)
        self.ctx.read_state = self.read_state  # type: ignore[method-assign]  (the notify
        # context and the plans read hosts through the session, not the Responder)

    def profile(self, name: str, refresh: bool = False):  # type: ignore[override]
        """No preflight profile: the table shows the backend of the state."""
        self.read_state(name)
        return None

    def read_host(self, name: str) -> HostRead:
        """The canned state, without a preflight profile (as :meth:`profile`)."""
        return HostRead(None, self.read_state(name))  # type: ignore[arg-type]

    def read_state(self, name: str) -> HostState:
        found = self.states[name]
        if isinstance(found, Exception):
            raise found
        return replace(found, read_at=time.time())

    def rollback_status(self, name: str) -> RollbackTimer:
        return RollbackTimer(TimerState.NONE)


def mixed_plan() -> Plan:
    """A block on three hosts: one adds, one has it already, one failed before any change,
    and one entry refused everywhere by a guardrail."""
    refused = EntryStatus(EntryFate.REFUSED, "overlaps 127.0.0.0/8, loopback (RFC 6890)")
    steps = [Step(h, f"nft -f -   # {h}", "add 203.0.113.9/32 to the blocklist",
                  stdin="add element inet irtui v4_32 { 203.0.113.9 timeout 86400s }")
             for h in ("host1", "host2")]
    return Plan("block", "block 203.0.113.9/32 on host1, host2, host3 (TTL 1d)",
                list(HOSTS), steps=steps, failed={"host3": "host3: unreachable (timed out)"},
                notes=["203.0.113.9/32: 1 address"],
                entries={"host1": {"203.0.113.9/32": EntryStatus(EntryFate.TO_ADD),
                                   "127.0.0.1": refused},
                         "host2": {"203.0.113.9/32": EntryStatus(EntryFate.REFRESH),
                                   "127.0.0.1": refused}})


def record_actions(responder: Responder) -> str:
    """Write a small incident into the responder's record: opened, a block that succeeded
    on two hosts and failed on one, a notification. Returns the incident id."""
    recorder = responder.recorder
    incident = recorder.register.open("Beacon from web1 to 203.0.113.9", "high")
    recorder.use(incident.id)
    plan = mixed_plan()
    track = recorder.track(plan)
    results = (HostResult("host1", Outcome.OK, "blocked", 0.41),
               HostResult("host2", Outcome.OK, "already present", 0.38),
               HostResult("host3", Outcome.FAILED, "unreachable", 0.0))
    for result in results:
        track.event(result)
    track.finish(PlanResult("block", plan.summary, results))
    recorder.note("notify", "email 'INC update' to soc@example.org", True)
    return incident.id
