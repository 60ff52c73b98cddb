"""The incident record on the practice lab: a scripted incident gives a report whose timeline,
counts and durations match what happened; a process killed mid-isolation leaves a chain that
verifies with the action marked interrupted; a firewall flushed behind irtui's back shows as
drift, and re-apply puts it back (proven with traffic)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from irtui.core import secrets
from irtui.core.actions import Responder
from irtui.core.actions.record import _check_artifacts
from irtui.core.audit import AuditLog
from irtui.core.config import Config, write_toml_atomic
from irtui.core.notify.dispatch import Outgoing
from irtui.core.record import IncidentRecorder
from irtui.core.record.isolations import SINCE_ON_HOST
from irtui.core.record.report import ReportInput, build_context, render
from irtui.core.record.store import SQLiteStore
from irtui.core.record.times import seconds_between, utc_stamp
from irtui.core.settings import EmailSettings
from irtui.lab.probe import ns_run, tcp_connects
from tests.json_helpers import schema_problems
from tests.lab_fixtures import reset_firewall

pytestmark = pytest.mark.lab


def _timed(fw: Responder, plan) -> float:
    started = time.monotonic()
    result = fw.execute(plan, lambda e: None)
    assert result.ok, result
    return time.monotonic() - started


def test_scripted_incident_report_matches_what_happened(lab_config: Config, clean_lab,
                                                        smtp_server, keyring_session,
                                                        tmp_path: Path) -> None:
    h1, h2, attacker = clean_lab.hosts[0], clean_lab.hosts[1], clean_lab.attacker
    secrets.set_secret("smtp", smtp_server.password)
    config = replace(lab_config, email=EmailSettings(
        host=smtp_server.host, port=smtp_server.port, username=smtp_server.username,
        sender="irtui@example.org", to=("soc@example.org",), cafile=smtp_server.cafile))
    recorder = IncidentRecorder.for_config(config, reason="attacker seen on host1")
    detected = utc_stamp(datetime.now(UTC) - timedelta(seconds=30))
    incident = recorder.register.open("scripted incident", "high", detected)
    fw = Responder(config, audit=recorder)
    try:
        took = {"block": _timed(fw, fw.plan_block([attacker.v4], ["host1", "host2"], "10m"))}
        assert not tcp_connects(attacker.namespace, h2.v4, 22)
        took["isolate"] = _timed(fw, fw.plan_isolate(["host1"], canary=f"{h2.v4}:22"))
        assert not tcp_connects(h1.namespace, h2.v4, 22)
        (sent,) = fw.notify(Outgoing("host1 isolated",
                                     "host1 is isolated; the attacker is blocked."), ["email"])
        assert sent.ok, sent.line
        took["release"] = _timed(fw, fw.plan_release(["host1"]))
        assert tcp_connects(h1.namespace, h2.v4, 22)
    finally:
        fw.close()
    assert len(smtp_server.messages) == 1

    check = fw.verify_record(incident.id)
    assert check.ok, check.as_dict()
    # a copy of the record without its artifacts folder names where it looked
    copy = tmp_path / "copied" / "record.db"
    copy.parent.mkdir()
    with sqlite3.connect(recorder.store.path) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    copied = IncidentRecorder(SQLiteStore(copy), tmp_path / "copied-audit")
    problems = _check_artifacts(copied, copied.store.records(incident.id))
    assert problems and all(str(copy.parent / "record-artifacts") in p and "folder beside it"
                            in p for p in problems), problems
    records = recorder.store.records(incident.id)
    ctx = build_context(ReportInput(recorder.register.get(incident.id), records, {},
                                    check.as_dict()), recorder.store)
    actions = ctx["actions"]
    assert [a.action for a in actions] == ["block", "isolate", "notify", "release"]
    assert all(a.ok and a.reason == "attacker seen on host1" for a in actions)
    for action in actions:
        if action.action in took:  # recorded duration = what the test measured
            assert abs(seconds_between(action.ts, action.end) - took[action.action]) < 0.5
    m = ctx["metrics"]
    assert (m.actions, m.succeeded, m.failed, m.interrupted) == (4, 4, 0, 0)
    assert m.hosts_contained == 2 and m.notifications_sent == 1
    block = actions[0]
    for host in ("host1", "host2"):
        hm = next(h for h in m.hosts if h.host == host)
        assert hm.contained_at == block.results[host].ts
        assert hm.time_to_contain_s == pytest.approx(seconds_between(detected, hm.contained_at))
        assert 30 <= hm.time_to_contain_s < 30 + took["block"] + 5
    assert m.time_to_notify_s == pytest.approx(seconds_between(detected, actions[2].ts))
    (period,) = m.isolations  # from the host's "isolated since", not the later result
    assert (period.host, period.end) == ("host1", actions[3].results["host1"].ts)
    assert period.start_source == SINCE_ON_HOST and period.confirmed
    # "since" is stamped to the second (truncated): up to 1 s before the apply began
    assert 0 <= seconds_between(period.start, actions[1].results["host1"].ts) < took["isolate"] + 1
    assert [(b.entry, b.hosts, b.ttl_s) for b in m.blocks] == [
        (f"{attacker.v4}/32", ("host1", "host2"), 600)]
    steps = [s for s in actions[1].steps if s["host"] == "host1"]
    assert steps and all(s["exit_code"] == 0 and len(s["stdout"]["sha256"]) == 64
                         for s in steps)
    assert any(s["stdout"]["bytes"] > 0 for s in steps)  # output kept beside the record

    markdown, html = render(ctx)
    rows = [line for line in markdown.splitlines() if line.startswith("| 20")]
    order = [i for i, row in enumerate(rows) if any(
        word in row for word in ("| block ", "| isolate ", "| email ", "| release "))]
    assert len(order) >= 4 and order == sorted(order)
    assert "Actions: 4 — 4 succeeded, 0 failed, 0 interrupted" in markdown
    assert f"| {attacker.v4}/32 | host1, host2 | 10m 00s |" in markdown
    assert "The whole record" in html and "<script" not in html


def _config_file(lab_config: Config, clean_lab, tmp_path: Path) -> Path:
    import tomllib

    data = tomllib.loads(Path(clean_lab.config_path).read_text())
    data["audit"] = {"dir": lab_config.audit_dir}
    data["record"] = {"path": lab_config.record_path}
    path = tmp_path / "config.toml"
    write_toml_atomic(path, data)
    return path


def _irtui(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "irtui", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=120)


def _isolated(namespace: str) -> bool:
    return b"irtui_isolation" in ns_run(namespace, ["nft", "list", "tables"]).stdout


def test_killed_mid_isolation_the_chain_verifies_and_the_action_is_interrupted(
        lab_config: Config, clean_lab, tmp_path: Path) -> None:
    config = _config_file(lab_config, clean_lab, tmp_path)
    assert _irtui(config, "incident", "new", "kill test").returncode == 0
    h1 = clean_lab.hosts[0]
    proc = subprocess.Popen([sys.executable, "-m", "irtui", "--config", str(config), "isolate",
                             "host1", "--confirm-timeout", "6", "--reason", "kill test"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not _isolated(h1.namespace):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)  # between applying and confirming
    finally:
        proc.kill()
        proc.wait(10)
    verify = _irtui(config, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "chain intact" in verify.stdout
    records = json.loads(_irtui(config, "audit", "export", "--json").stdout)["data"]["records"]
    plans = [r for r in records if r["kind"] == "plan"]
    assert [p["action"] for p in plans] == ["isolate"] and plans[0]["reason"] == "kill test"
    assert not [r for r in records if r["kind"] == "result"]
    shown = _irtui(config, "incident", "show")
    assert "INTERRUPTED" in shown.stdout and "isolate host1" in shown.stdout
    drift = _irtui(config, "drift", "--on", "host1")
    assert "uncertain isolation: action #" in drift.stdout and "interrupted" in drift.stdout
    deadline = time.monotonic() + 20  # the host's own rollback timer undoes the isolation
    while _isolated(h1.namespace):
        assert time.monotonic() < deadline, "the host did not roll back by itself"
        time.sleep(0.2)


def test_drift_names_every_lost_block_and_reapply_restores_them(lab_config: Config, clean_lab,
                                                                tmp_path: Path) -> None:
    h1, h2, attacker = clean_lab.hosts[0], clean_lab.hosts[1], clean_lab.attacker
    fw = Responder(lab_config)
    targets = [attacker.v4, "203.0.113.50", "203.0.113.51/32"]
    try:
        assert fw.execute(fw.plan_block(targets, ["host1", "host2"], "1h"), lambda e: None).ok
        assert not any(d.drifted for d in fw.drift())
        reset_firewall(h2.namespace)  # someone's `nft flush ruleset` on host2
        assert tcp_connects(attacker.namespace, h2.v4, 22)
        outsider = Responder(lab_config, audit=AuditLog(tmp_path / "other"))
        assert outsider.execute(outsider.plan_block(["203.0.113.60"], ["host1"], "1h"),
                                lambda e: None).ok
        outsider.close()
        drifts = {d.host: d for d in fw.drift()}
        wanted = sorted([f"{attacker.v4}/32", "203.0.113.50/32", "203.0.113.51/32"])
        assert sorted(b.entry for b in drifts["host2"].lost) == wanted
        assert drifts["host1"].lost == [] and drifts["host1"].unrecorded == ["203.0.113.60/32"]
        assert not drifts["host3"].drifted

        config = _config_file(lab_config, clean_lab, tmp_path)
        shown = _irtui(config, "drift")
        assert shown.returncode == 1
        for entry in wanted:
            assert f"lost      {entry}" in shown.stdout
        plans = fw.plan_reapply(list(drifts.values()))
        assert [p.hosts for p in plans] == [["host2"]]
        assert sorted(plans[0].entries["host2"]) == wanted
        assert fw.execute(plans[0], lambda e: None).ok
        assert not tcp_connects(attacker.namespace, h2.v4, 22)
        after = {d.host: d for d in fw.drift()}
        assert after["host2"].lost == [] and not after["host2"].expiry
        left = {str(b.network): b.expires for b in fw.read_state("host2").blocks}
        assert all(3500 < (left[e] or 0) <= 3600 for e in wanted)  # the intended expiry kept
        assert tcp_connects(h1.namespace, h2.v4, 22)
    finally:
        fw.close()


def test_drill_auto_passes_and_writes_a_report_with_a_screenshot(clean_lab,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "drill"
    run = subprocess.run([sys.executable, "-m", "irtui", "drill", "--auto", "--lab-dir",
                          str(clean_lab.lab_dir), "--out", str(out), "--json"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "drill PASSED" in run.stderr  # with --json the human text goes to stderr
    incident = run.stderr.strip().splitlines()[-1].split("(")[1].rstrip(")")
    doc = json.loads(run.stdout)  # stdout: the one JSON document (tests/test_json_*.py)
    assert schema_problems(doc) == [] and doc["exit_code"] == 0 and doc["verb"] == "drill"
    assert doc["incident"] == incident and doc["data"]["passed"]
    assert [s["passed"] for s in doc["data"]["steps"]] == [True] * 4
    assert doc["data"]["report"] == [str(out / f"{incident}.md"), str(out / f"{incident}.html")]
    html = (out / f"{incident}.html").read_text()
    markdown = (out / f"{incident}.md").read_text()
    assert html.count('src="data:image/svg+xml;base64,') >= 1
    for section in ("Introduction", "Setup", "Actions", "Testing", "Conclusion"):
        assert f"## {section}" in markdown
    assert markdown.count("| PASS |") == 4 and "| FAIL |" not in markdown
    assert "Time saved: irtui blocked 2 addresses on 3 hosts in" in markdown
    assert "The whole record" in markdown
    (shot,) = (out / f"{incident}-screens").iterdir()
    assert shot.read_text().lstrip().startswith("<svg") and "host1" in shot.read_text()
    # the lab is left as it was: the attacker reaches every host again
    assert all(tcp_connects(clean_lab.attacker.namespace, h.v4, 22) for h in clean_lab.hosts)
    assert list((out / "notifications").iterdir())
