"""Drift checks enforcement, not membership: a block still in irtui's set but no longer
dropped (a firewall reload flushed the raw table) is lost, and an isolation only PARTIAL
(a rule added by hand lets traffic in) is lost, so ``irtui drift`` never says "as recorded"
while the attacker connects, and ``reapply`` puts the block back in force."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from irtui.core.actions import Responder
from irtui.core.config import Config
from irtui.lab.probe import ns_run, tcp_connects


def _sh(namespace: str, script: str) -> None:
    out = ns_run(namespace, ["sh", "-c", script])
    assert out.returncode == 0, out.stderr.decode()


def _forced(config: Config, backend: str) -> Config:
    return replace(config, hosts=tuple(replace(h, firewall=backend) for h in config.hosts))


def test_a_block_no_longer_dropped_is_lost_and_reapply_enforces_it(lab_config: Config,
                                                                   clean_lab) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    fw = Responder(_forced(lab_config, "iptables-nft"))
    try:
        assert fw.execute(fw.plan_block([attacker.v4], ["host1"], "1h"), lambda e: None).ok
        assert not any(d.drifted for d in fw.drift())
        # a firewall reload (firewalld, iptables-restore of a saved ruleset) empties raw:
        # irtui's ipset keeps the entry, nothing drops it any more
        _sh(h1.namespace, "iptables-nft -t raw -F && iptables-nft -t raw -X")
        assert tcp_connects(attacker.namespace, h1.v4, 22)
        drifts = {d.host: d for d in fw.drift()}
        assert [b.entry for b in drifts["host1"].lost] == [f"{attacker.v4}/32"]
        assert drifts["host1"].unenforced == [f"{attacker.v4}/32"]
        plans = fw.plan_reapply(list(drifts.values()))
        assert [p.hosts for p in plans] == [["host1"]]
        assert fw.execute(plans[0], lambda e: None).ok
        assert not tcp_connects(attacker.namespace, h1.v4, 22)
        assert not {d.host: d for d in fw.drift()}["host1"].drifted
    finally:
        fw.close()


def test_an_isolation_opened_by_hand_is_lost(lab_config: Config, clean_lab) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    fw = Responder(lab_config)
    try:
        assert fw.execute(fw.plan_isolate(["host1"], confirm_timeout=30), lambda e: None).ok
        assert not {d.host: d for d in fw.drift()}["host1"].drifted
        _sh(h1.namespace, "nft insert rule inet irtui_isolation input accept && "
            "nft insert rule inet irtui_isolation output accept")
        assert tcp_connects(attacker.namespace, h1.v4, 22)
        drift = {d.host: d for d in fw.drift()}["host1"]
        assert drift.drifted and drift.isolation_lost
        assert drift.isolation_problem and "added by hand" in drift.isolation_problem
        assert fw.execute(fw.plan_release(["host1"]), lambda e: None).ok
    finally:
        fw.close()


def test_reapply_puts_blocks_back_while_a_partial_isolation_is_refused(
        lab_config: Config, clean_lab) -> None:
    """A host whose isolation reads PARTIAL cannot be isolated again until released; that
    refusal is the isolate plan's failure, and the lost block is still put back in force."""
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    fw = Responder(lab_config)
    try:
        assert fw.execute(fw.plan_block([attacker.v4], ["host1"], "1h"), lambda e: None).ok
        assert fw.execute(fw.plan_isolate(["host1"], confirm_timeout=30), lambda e: None).ok
        _sh(h1.namespace, "nft flush set inet irtui v4_32 && "
            "nft insert rule inet irtui_isolation input accept && "
            "nft insert rule inet irtui_isolation output accept")
        assert tcp_connects(attacker.namespace, h1.v4, 22)
        drift = {d.host: d for d in fw.drift()}["host1"]
        assert drift.isolation_lost and [b.entry for b in drift.lost] == [f"{attacker.v4}/32"]
        plans = fw.plan_reapply([drift])
        assert [p.action for p in plans] == ["block", "isolate"]
        refused = plans[1]
        assert "partially isolated" in refused.failed["host1"] and not refused.steps
        results = [fw.execute(p, lambda e: None) for p in plans]
        assert results[0].ok and not tcp_connects(attacker.namespace, h1.v4, 22)
        assert not results[1].ok
        assert "release it first" in results[1].results[0].message
        # refused before any change: the record still means host1 isolated (a recorded
        # refusal once made the isolation "uncertain" and drift said "as recorded")
        assert {d.host: d for d in fw.drift()}["host1"].isolation_lost
        assert fw.execute(fw.plan_release(["host1"]), lambda e: None).ok
        assert not tcp_connects(attacker.namespace, h1.v4, 22)  # the block stays in force
    finally:
        fw.close()


def test_a_management_list_widened_by_hand_is_drift(lab_config: Config, clean_lab) -> None:
    """Every piece of the isolation is still there and complete, but its management set now
    lets the attacker in: the record keeps what the isolation was meant to keep reachable,
    so drift says so (it once said "as recorded")."""
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    fw = Responder(lab_config)
    try:
        assert fw.execute(fw.plan_isolate(["host1"], confirm_timeout=30), lambda e: None).ok
        assert not tcp_connects(attacker.namespace, h1.v4, 22)
        assert not {d.host: d for d in fw.drift()}["host1"].drifted
        _sh(h1.namespace, f"nft add element inet irtui_isolation mgmt4 {{ {attacker.v4} }}")
        assert tcp_connects(attacker.namespace, h1.v4, 22)
        drift = {d.host: d for d in fw.drift()}["host1"]
        assert drift.drifted and drift.isolation_widened == [f"{attacker.v4}/32"], drift
        assert "isolation open to 1 unrecorded peer(s)" in drift.summary()
        assert fw.execute(fw.plan_release(["host1"]), lambda e: None).ok
    finally:
        fw.close()


def test_notification_says_partial_and_not_enforced(lab_config: Config, clean_lab) -> None:
    """The team is never told a host is contained or an address blocked when the host's
    firewall says otherwise: a PARTIAL isolation and an entry nothing drops are named."""
    h1, h2, attacker = clean_lab.hosts[0], clean_lab.hosts[1], clean_lab.attacker
    fw = Responder(lab_config)
    try:
        assert fw.execute(fw.plan_block([attacker.v4], ["host1", "host2"], "1h"),
                          lambda e: None).ok
        assert fw.execute(fw.plan_isolate(["host2"], confirm_timeout=30), lambda e: None).ok
        _sh(h1.namespace, "nft insert rule inet irtui v4_32_in accept && "
            "nft insert rule inet irtui v4_32_out accept")
        _sh(h2.namespace, "nft insert rule inet irtui_isolation input accept && "
            "nft insert rule inet irtui_isolation output accept")
        assert tcp_connects(attacker.namespace, h1.v4, 22)
        values = fw.notify_context().values(one_line=False)
        assert values["headline"].startswith("0 host(s) isolated, 1 address(es) blocked, "
                                             "1 only PARTIALLY isolated"), values["headline"]
        assert "host2: PARTIAL isolation, not contained" in values["hosts_isolated"]
        assert f"{attacker.v4} on host1 (NOT ENFORCED), host2" in values["addresses_blocked"]
        assert fw.execute(fw.plan_release(["host2"]), lambda e: None).ok
    finally:
        fw.close()


def test_one_block_lost_on_two_hosts_is_one_reapply_plan(lab_config: Config,
                                                         clean_lab) -> None:
    """One command blocked it on both hosts (their results recorded milliseconds apart):
    re-applying it is one plan, one confirmation, and both hosts drop the attacker again."""
    h1, h2, attacker = clean_lab.hosts[0], clean_lab.hosts[1], clean_lab.attacker
    fw = Responder(lab_config)
    try:
        assert fw.execute(fw.plan_block([attacker.v4], ["host1", "host2"], "1h"),
                          lambda e: None).ok
        for host in (h1, h2):
            _sh(host.namespace, "nft flush set inet irtui v4_32")
        drifts = fw.drift(["host1", "host2"])
        expiries = {d.host: d.lost[0].expires_at for d in drifts}
        assert len(expiries) == 2 and all(expiries.values())
        plans = fw.plan_reapply(drifts)
        assert [p.hosts for p in plans] == [["host1", "host2"]]
        assert fw.execute(plans[0], lambda e: None).ok
        assert not any(tcp_connects(attacker.namespace, h.v4, 22) for h in (h1, h2))
        later = {d.host: d for d in fw.drift(["host1", "host2"])}
        assert not later["host1"].drifted and not later["host2"].drifted  # TTL as meant
    finally:
        fw.close()


def test_a_block_kept_longer_than_asked_is_as_recorded(lab_config: Config, clean_lab) -> None:
    """Blocking an entry already held longer (here permanent) keeps the longer TTL on the
    host; the record keeps that TTL too, so drift never reads irtui's own choice as "expiry
    differs" (and, once the shorter TTL asked had passed, as "unrecorded")."""
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    fw = Responder(lab_config)
    try:
        assert fw.execute(fw.plan_block([attacker.v4], ["host1"], None), lambda e: None).ok
        again = fw.plan_block([attacker.v4], ["host1"], "2m")
        assert fw.execute(again, lambda e: None).ok
        assert not tcp_connects(attacker.namespace, h1.v4, 22)
        live = fw.read_state("host1").find(ipaddress.ip_network(attacker.v4))
        assert live is not None and live.expires is None  # still permanent
        drift = {d.host: d for d in fw.drift()}["host1"]
        assert not drift.drifted, drift.summary()
        assert again.kept_ttl == {"host1": {f"{attacker.v4}/32": None}}
        assert fw.execute(fw.plan_block([attacker.v4], ["host1"], "1h"), lambda e: None).ok
        assert not {d.host: d for d in fw.drift()}["host1"].drifted
    finally:
        fw.close()
