"""An audit write that fails says truthfully what had been changed by then (issue 8, item
13): "nothing was changed" only before anything ran; after a change, the hosts that WERE
changed, and an exit code other than 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from irtui.commands.common import EXIT_FAILED, EXIT_INPUT, exit_code
from irtui.core.actions import Responder
from irtui.core.audit import AuditLog
from irtui.core.config import Config
from irtui.core.errors import AuditError
from irtui.core.events import Event, PlanResult
from irtui.lab.probe import tcp_connects


def _break_directory(directory: Path) -> None:
    """A real fault: the audit directory is moved away and a plain file takes its place, so
    creating or appending to the trail fails (mkdir: File exists)."""
    directory.rename(directory.with_name(directory.name + ".moved"))
    directory.write_text("not a directory\n")


def test_record_failing_after_the_block_says_the_firewall_was_changed(
        lab_config: Config, clean_lab, tmp_path: Path) -> None:
    attacker, h1 = clean_lab.attacker, clean_lab.hosts[0]
    audit = tmp_path / "audit-now"
    responder = Responder(lab_config, audit=AuditLog(audit))

    def on_event(event: Event) -> None:
        if isinstance(event, PlanResult):  # the block is applied and verified; not recorded
            _break_directory(audit)

    try:
        plan = responder.plan_block([attacker.v4], ["host1"], "1h")
        with pytest.raises(AuditError) as err:
            responder.execute(plan, on_event)
    finally:
        responder.close()
    message = str(err.value)
    assert "nothing was changed" not in message
    assert "the firewall WAS changed on host1 but the record could not be written" in message
    assert err.value.changed == ("host1",)
    assert exit_code(err.value) == EXIT_FAILED
    assert not tcp_connects(attacker.namespace, h1.v4, 22)  # it was indeed changed


def test_record_failing_before_the_plan_runs_says_nothing_was_changed(
        lab_config: Config, clean_lab, tmp_path: Path) -> None:
    attacker, h1 = clean_lab.attacker, clean_lab.hosts[0]
    audit = tmp_path / "audit-now"
    responder = Responder(lab_config, audit=AuditLog(audit))
    try:
        plan = responder.plan_block([attacker.v4], ["host1"], "1h")
        audit.mkdir(parents=True, exist_ok=True)
        _break_directory(audit)
        with pytest.raises(AuditError) as err:
            responder.execute(plan, lambda e: None)
    finally:
        responder.close()
    assert "nothing was changed" in str(err.value)
    assert err.value.changed == ()
    assert exit_code(err.value) == EXIT_INPUT
    assert tcp_connects(attacker.namespace, h1.v4, 22)  # and indeed nothing was
