"""Forensic triage on the lab: planted evidence shows up, hashes verify, tampering is named,
caps/timeouts/missing tools never stop a collection, cancel leaves a folder marked
incomplete, and collect-then-contain ends with evidence and an isolated host."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import tomllib
from dataclasses import replace
from pathlib import Path

from irtui.cli import main
from irtui.core.config import Config, HostConfig, write_toml_atomic
from irtui.core.events import Progress
from irtui.core.triage.verify import verify
from irtui.lab.probe import tcp_connects
from tests.triage_helpers import (
    artifact_text,
    collect,
    evidence_entries,
    hidden_tools,
    log_of,
    plant,
    responder_for,
    triage_config,
    wait_for,
)

QUICK = ["network-sockets", "system-identity"]


def test_planted_evidence_shows_up_and_the_manifest_verifies(lab_config: Config, clean_lab,
                                                             tmp_path: Path) -> None:
    responder = responder_for(triage_config(lab_config, tmp_path), tmp_path)
    try:
        with plant(clean_lab, 0) as planted:
            result, folders, events = collect(responder, ["host1", "host2"], incident="INC-11")
    finally:
        responder.close()
    assert result.ok, [r.message for r in result.results]
    one, two = folders["host1"], folders["host2"]
    assert one.parent.parent.name == "INC-11" and one.parent.name == "host1"
    sockets = artifact_text(one, "network-sockets")
    assert re.search(rf":{planted.port}\b.*python3", sockets), sockets
    assert f":{planted.port} " not in artifact_text(two, "network-sockets")
    exe_rows = [row.split("\t") for row in artifact_text(one, "processes-exe").splitlines()]
    deleted = [r for r in exe_rows if r[4] == planted.deleted_exe]
    assert deleted and deleted[0][3] == planted.deleted_sha256
    assert planted.marker in artifact_text(one, "persistence-cron")
    assert planted.marker in artifact_text(one, "persistence-authorized-keys")
    assert planted.marker not in artifact_text(two, "persistence-cron")
    assert planted.marker not in artifact_text(two, "persistence-authorized-keys")
    assert "host1" in artifact_text(one, "system-identity")
    entries = {e["host"]: e for e in evidence_entries(responder)}
    for host, folder in folders.items():
        report = verify(folder)
        assert report.ok and report.status == "complete", report.lines()
        assert entries[host]["manifest_sha256"] == report.manifest_sha256
        assert entries[host]["tar_sha256"] == report.tar_sha256
        assert json.loads((folder / "custody.json").read_text())["target"]["hostname"] == host
    progress = [e for e in events if isinstance(e, Progress) and e.host == "host1"]
    assert progress[-1].index == progress[-1].total == len(log_of(one))


def _cli_config(lab_config: Config, tmp_path: Path) -> Path:
    doc = tomllib.loads(Path(lab_config.path).read_text())
    doc["audit"] = {"dir": str(tmp_path / "audit")}
    doc["triage"] = {"evidence_dir": str(tmp_path / "evidence")}
    path = tmp_path / "config.toml"
    write_toml_atomic(path, doc)
    return path


def test_cli_collect_then_one_changed_byte_fails_verify(lab_config: Config, tmp_path: Path,
                                                        capsys) -> None:
    config = str(_cli_config(lab_config, tmp_path))
    assert main(["--config", config, "collect", "host1", "--artifacts", ",".join(QUICK),
                 "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "ss -tupanwH" in dry and "[host1]" in dry and not (tmp_path / "evidence").exists()
    assert main(["--config", config, "incident", "new", "triage", "drill"]) == 0
    incident = re.search(r"INC-\d{4}-\d{4}", capsys.readouterr().out).group(0)
    assert main(["--config", config, "collect", "host1", "--artifacts", ",".join(QUICK),
                 "--incident", incident, "-q"]) == 0
    assert "host1: ok — done; evidence: " in capsys.readouterr().out
    assert main(["--config", config, "evidence", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["data"]["collections"]
    assert len(rows) == 1 and rows[0]["status"] == "complete" and rows[0]["incident"] == incident
    folder = Path(rows[0]["path"])
    assert main(["--config", config, "evidence", "verify", str(folder)]) == 0
    target = folder / "artifacts" / "01-network-sockets.out"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x20
    target.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["--config", config, "evidence", "verify", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "ALTERED" in out and "changed: artifacts/01-network-sockets.out" in out
    assert out.count("changed:") == 1
    sealed = str(folder / "evidence.tar.gz")
    assert main(["--config", config, "evidence", "verify", sealed]) == 0  # the sealed copy
    capsys.readouterr()
    assert main(["--config", config, "isolate", "host1", "--collect-first", "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert plan.startswith("collect volatile evidence (network, processes)")
    assert plan.index("ss -tupanwH") < plan.index("seal the evidence") \
        < plan.index("irtui-rollback_arm")
    assert "fs-suid" not in plan  # only the volatile part before containment


def test_an_unreachable_host_fails_alone(lab_config: Config, clean_lab,
                                         tmp_path: Path) -> None:
    subnet = clean_lab.hosts[0].v4.rsplit(".", 1)[0]
    config = triage_config(lab_config, tmp_path)
    config = replace(config, ssh=replace(config.ssh, connect_timeout=1.5),
                     hosts=(*config.hosts, HostConfig("ghost", f"{subnet}.99")))
    responder = responder_for(config, tmp_path)
    try:
        plan = responder.plan_collect(["host1", "ghost"], artifacts=["system-identity"])
        assert "ghost" in plan.failed and "unreachable" in plan.failed["ghost"]
        result = responder.execute(plan, lambda e: None)
    finally:
        responder.close()
    outcome = {r.host: r.ok for r in result.results}
    assert outcome == {"host1": True, "ghost": False}
    assert [e["host"] for e in evidence_entries(responder)] == ["host1"]


def test_two_collections_of_one_host_never_overwrite(lab_config: Config,
                                                     tmp_path: Path) -> None:
    responder = responder_for(triage_config(lab_config, tmp_path), tmp_path)
    try:
        for _ in range(2):
            result, _, _ = collect(responder, ["host1"], artifacts=["system-identity"])
            assert result.ok
    finally:
        responder.close()
    paths = [Path(e["path"]) for e in evidence_entries(responder)]
    assert len(set(paths)) == 2 and paths[0].parent == paths[1].parent
    assert all(verify(p).ok for p in paths)


BUSY = [
    {"name": "big", "order": 1, "command": "yes big | head -c 3000000", "max_bytes": 1_000_000},
    {"name": "hang", "order": 1, "command": "echo started; sleep 21", "timeout": 1},
    {"name": "boom", "order": 1, "command": "echo oops >&2; exit 2"},
    {"name": "both", "order": 1,
     "command": "(yes err | head -c 10485760 >&2) & yes out | head -c 10485760; wait"},
]


def test_caps_timeouts_and_failures_never_stop_a_collection(lab_config: Config,
                                                            tmp_path: Path) -> None:
    config = triage_config(lab_config, tmp_path, artifacts=BUSY)
    responder = responder_for(config, tmp_path)
    try:
        result, folders, _ = collect(responder, ["host1"], artifacts=[
            "big", "hang", "boom", "both", "system-identity"])
    finally:
        responder.close()
    assert result.ok, result.results[0].message
    message = result.results[0].message  # the responder sees which artifacts fell short
    assert "1 failed (boom: exit 2)" in message, message
    assert "2 partial (big, hang)" in message, message
    log = log_of(folders["host1"])
    assert log["big"]["status"] == "partial" and log["big"]["truncated"]
    assert log["big"]["stdout_bytes"] == 1_000_000
    assert any("truncated at 1,000,000 bytes" in n for n in log["big"]["notes"])
    assert log["hang"]["status"] == "partial" and log["hang"]["timed_out"]
    assert (folders["host1"] / log["hang"]["stdout_file"]).read_bytes() == b"started\n"
    assert log["boom"]["status"] == "failed" and log["boom"]["exit_code"] == 2
    assert "oops" in log["boom"]["stderr_tail"]
    assert log["both"]["status"] == "complete"
    assert log["both"]["stdout_bytes"] == log["both"]["stderr_bytes"] == 10485760
    assert log["system-identity"]["status"] == "complete"
    assert verify(folders["host1"]).ok
    # the host enforced the artifact's timeout too: the hung command does not live on
    wait_for(lambda: not any(b"sleep\x0021" in p.read_bytes()
                             for p in Path("/proc").glob("[0-9]*/cmdline")
                             if p.exists() and _readable(p)), "the hung command to end", 15)


def _readable(path: Path) -> bool:
    try:
        path.read_bytes()
        return True
    except OSError:
        return False


def test_host_without_ss_and_conntrack_uses_proc(lab_config: Config, clean_lab,
                                                 tmp_path: Path) -> None:
    responder = responder_for(triage_config(lab_config, tmp_path), tmp_path)
    try:
        with hidden_tools(clean_lab, 1, ["ss", "conntrack"]):
            plan = responder.plan_collect(["host2"], volatile_only=True)
            result = responder.execute(plan, lambda e: None)
    finally:
        responder.close()
    notes = "\n".join(plan.notes)
    assert "network-sockets: ss not available: fallback script triage_sockets_proc" in notes
    assert "network-conntrack: not available: conntrack not installed" in notes
    assert result.ok, result.results[0].message
    folder = Path(evidence_entries(responder)[0]["path"])
    log = log_of(folder)
    assert log["network-sockets"]["variant"] == "fallback"
    assert log["network-sockets"]["status"] == "complete"
    sockets = artifact_text(folder, "network-sockets")
    assert "### /proc/net/tcp" in sockets and ":0016 " in sockets  # sshd's port 22, in hex
    assert re.search(r"^\d+ \d+ socket:\[\d+\]$", sockets, re.M)
    assert log["network-conntrack"]["status"] == "not available"
    assert not log["network-conntrack"]["stdout_file"]
    assert verify(folder).ok and verify(folder).status == "complete"


def test_collect_then_contain(lab_config: Config, clean_lab, tmp_path: Path) -> None:
    responder = responder_for(triage_config(lab_config, tmp_path), tmp_path)
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    assert tcp_connects(attacker.namespace, h1.v4, 22)
    try:
        isolate = responder.plan_isolate(["host1"])
        plan = responder.plan_collect(["host1"], volatile_only=True, then=isolate)
        text = plan.render()
        assert plan.action == "isolate" and plan.confirm_text == "host1"
        assert text.index("ss -tupanwH") < text.index("seal the evidence") \
            < text.index(isolate.steps[0].command.splitlines()[0])
        result = responder.execute(plan, lambda e: None)
        assert result.ok, result.results[0].message
        message = result.results[0].message
        assert re.search(r"collected in \d+\.\d s before containment began", message)
        folder = Path(evidence_entries(responder)[0]["path"])
        assert verify(folder).ok
        assert all(a["order"] <= 2 for a in log_of(folder).values())
        assert not tcp_connects(attacker.namespace, h1.v4, 22)
        assert tcp_connects(None, h1.v4, 22)  # the responder keeps its management access
        release = responder.execute(responder.plan_release(["host1"]), lambda e: None)
        assert release.ok
    finally:
        responder.close()


def test_cancel_leaves_a_folder_marked_incomplete(lab_config: Config, tmp_path: Path) -> None:
    slow = [{"name": "slow", "order": 1, "command": "echo begin; sleep 6", "timeout": 60}]
    responder = responder_for(triage_config(lab_config, tmp_path, artifacts=slow), tmp_path)
    cancel = threading.Event()

    def on_event(event) -> None:  # type: ignore[no-untyped-def]
        if isinstance(event, Progress) and event.item == "slow" and event.bytes > 0:
            cancel.set()

    try:
        plan = responder.plan_collect(["host1"], artifacts=["slow", "system-identity"])
        started = time.monotonic()
        result = responder.execute(plan, on_event, cancel)
    finally:
        responder.close()
    assert time.monotonic() - started < 5
    assert not result.ok and "evidence incomplete: cancelled during slow" in \
        result.results[0].message
    folder = Path(evidence_entries(responder)[0]["path"])
    report = verify(folder)
    assert report.ok and report.status == "incomplete" and "cancelled" in report.reason
    log = log_of(folder)
    assert log["slow"]["status"] == "cancelled"
    assert log["system-identity"]["status"] == "not run"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "incomplete"
    assert hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest() == \
        evidence_entries(responder)[0]["manifest_sha256"]


def test_collected_evidence_is_filed_in_the_incident_and_its_report(lab_config: Config,
                                                                    tmp_path: Path) -> None:
    """With the default incident record, a collection is filed under the session's incident
    (its folder is named after it) and the incident report lists it with its tar hash."""
    from irtui.core.actions import Responder

    config = replace(triage_config(lab_config, tmp_path), record_path=str(tmp_path / "r.db"))
    responder = Responder(config)
    try:
        incident = responder.recorder.register.open("collect test", "high").id
        responder.recorder.use(incident)
        result = responder.execute(responder.plan_collect(["host1"], artifacts=QUICK),
                                   lambda e: None)
        assert result.ok, result.results[0].message
        (entry,) = [r for r in responder.export_record(incident) if r["kind"] == "evidence"]
        folder = Path(entry["body"]["path"] if "body" in entry else entry["path"])
        assert incident in folder.parts and verify(folder).ok
        tar_sha = (folder / "evidence.tar.gz.sha256").read_text().split()[0]
        md, _html = responder.write_report(incident, tmp_path / "report")
        text = md.read_text()
        assert "triage collection" in text and tar_sha in text and "host1" in text
    finally:
        responder.close()
