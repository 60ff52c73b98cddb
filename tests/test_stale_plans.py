"""A plan that found a host needing no change reads it again when it runs: between the plan
and its execution (a confirmation left open, another responder's process) the host may have
changed, and "no change: not isolated" must not be said of a host that is isolated now."""

from __future__ import annotations

from irtui.core.events import Outcome
from irtui.lab.probe import tcp_connects


def test_a_release_planned_before_an_isolation_landed_does_not_say_ok(clean_lab, responder):
    h2 = clean_lab.hosts[1]
    attacker = clean_lab.attacker
    release = responder.plan_release(["host2"])
    assert "host2" in release.skipped  # not isolated when planned
    assert responder.execute(responder.plan_isolate(["host2"]), lambda e: None).ok
    try:
        assert not tcp_connects(attacker.namespace, h2.v4, 22)
        result = responder.execute(release, lambda e: None)
        one = next(r for r in result.results if r.host == "host2")
        assert one.outcome is Outcome.FAILED, one
        assert "isolated now" in one.message and "nothing was done" in one.message, one
        assert not result.ok
        assert not tcp_connects(attacker.namespace, h2.v4, 22)  # the claim matches the host
    finally:
        assert responder.execute(responder.plan_release(["host2"]), lambda e: None).ok
    assert tcp_connects(attacker.namespace, h2.v4, 22)


def test_an_unblock_planned_before_a_block_landed_does_not_say_unchanged(clean_lab, responder):
    h1 = clean_lab.hosts[0]
    attacker = clean_lab.attacker
    unblock = responder.plan_unblock([attacker.v4], ["host1"])
    assert "host1" in unblock.skipped  # not blocked when planned
    assert responder.execute(responder.plan_block([attacker.v4], ["host1"]),
                             lambda e: None).ok
    try:
        one = responder.execute(unblock, lambda e: None).results[0]
        assert one.outcome is Outcome.FAILED, one
        assert f"blocked there now: {attacker.v4}" in one.message, one
        assert not tcp_connects(attacker.namespace, h1.v4, 22)
    finally:
        assert responder.execute(responder.plan_unblock([attacker.v4], ["host1"]),
                                 lambda e: None).ok


def test_a_skipped_host_that_still_needs_nothing_is_unchanged(clean_lab, responder):
    result = responder.execute(responder.plan_release(["host1"]), lambda e: None)
    one = result.results[0]
    assert one.outcome is Outcome.UNCHANGED and "read again now" in one.message, one
    assert result.ok
