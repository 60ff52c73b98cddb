"""``evidence verify`` against the incident record and the sealed tar: a manifest rewritten to
agree with an edited artifact is ALTERED (its hash is not the one recorded at sealing, and the
loose files no longer match the tar); a collection the record does not know is UNKNOWN, never
INTACT. Collections are sealed here as irtui seals them, and recorded in a real incident
record exactly as the seal step records them (``host_collection``); the last test collects on
the lab with the CLI (the tester's steps)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from irtui.cli import main
from irtui.core.config import Config, write_toml_atomic
from irtui.core.record import IncidentRecorder, SQLiteStore
from irtui.core.triage.evidence import (
    MANIFEST,
    TAR,
    TAR_SUM,
    HashingFile,
    new_collection_folder,
    seal,
    write_json,
)
from irtui.core.triage.naming import artifact_file
from irtui.core.triage.recorded import RecordState, read_record
from irtui.core.triage.verify import TarMismatch, Verdict, verify

WHEN = datetime(2026, 11, 29, 22, 30, tzinfo=UTC)
SOCKETS = "artifacts/01-network-sockets.out"


def _seal(base: Path, host: str = "host2") -> Path:
    """A sealed collection under ``base`` (not recorded anywhere)."""
    folder = new_collection_folder(base, "INC-42", host, WHEN)
    known = {}
    for i, (name, body) in enumerate([("network-sockets", b"tcp LISTEN 0.0.0.0:22\n"),
                                      ("processes", b"x" * 200_000)], start=1):
        rel = f"artifacts/{artifact_file(i, name, 'stdout')}"
        with HashingFile(folder / rel) as out:
            out.write(body)
        known[rel] = (out.sha256, out.size)
    write_json(folder / "collection.json", {"host": host})
    seal(folder, "complete", "", known)
    return folder


def _config(tmp_path: Path) -> str:
    """A config whose incident record is ``tmp_path/record.db``."""
    path = tmp_path / "config.toml"
    write_toml_atomic(path, {"hosts": [{"name": "host2", "address": "192.0.2.10"}],
                             "audit": {"dir": str(tmp_path / "audit")},
                             "record": {"path": str(tmp_path / "record.db")},
                             "triage": {"evidence_dir": str(tmp_path / "evidence")}})
    return str(path)


def _record(tmp_path: Path, folder: Path) -> str:
    """Record ``folder``'s seal in ``tmp_path/record.db`` as the seal step does; returns the
    manifest's SHA-256 as recorded."""
    recorder = IncidentRecorder(SQLiteStore(tmp_path / "record.db"), tmp_path / "audit")
    try:
        incident = recorder.register.open("triage", "high").id
        manifest = hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest()
        tar = (folder / TAR_SUM).read_text().split()[0]
        recorder.write("evidence", host=folder.parent.name, incident=incident,
                       path=str(folder), status="complete", reason="",
                       manifest_sha256=manifest, tar=str(folder / TAR), tar_sha256=tar,
                       files=4, bytes=0, started="", finished="", summary="", host_key="")
    finally:
        recorder.store.close()
    return manifest


def _rewrite_manifest_for(folder: Path, rel: str) -> None:
    """The tester's edit: append a line to ``rel``, then put its new SHA-256 and size in
    the manifest (so the manifest agrees with the loose files again)."""
    target = folder / rel
    target.write_bytes(target.read_bytes() + b"tcp ESTAB 10.0.0.5:22 203.0.113.9:4444\n")
    doc = json.loads((folder / MANIFEST).read_text())
    for entry in doc["files"]:
        if entry["path"] == rel:
            entry["sha256"] = hashlib.sha256(target.read_bytes()).hexdigest()
            entry["bytes"] = target.stat().st_size
    (folder / MANIFEST).write_text(json.dumps(doc, indent=2) + "\n")


def _verify_cli(capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["evidence", "verify", *args])
    return code, capsys.readouterr().out


def test_untouched_evidence_is_intact_against_the_record(tmp_path: Path, capsys) -> None:
    folder = _seal(tmp_path / "evidence")
    manifest = _record(tmp_path, folder)
    config = _config(tmp_path)
    code, out = _verify_cli(capsys, str(folder), "--config", config)
    assert code == 0, out
    assert f"{folder}: INTACT — 3 file(s) checked; collection complete" in out
    assert "match the incident record (record #" in out and manifest in out
    code, out = _verify_cli(capsys, str(folder / TAR), "--config", config)
    assert code == 0 and "INTACT" in out, out
    moved = tmp_path / "elsewhere" / "INC-42" / "host2" / folder.name
    shutil.copytree(folder, moved)  # copied with its folders: found by incident/host/name
    code, out = _verify_cli(capsys, str(moved), "--config", config)
    assert code == 0 and f"it was recorded at {folder}" in out, out
    copy = tmp_path / "usb" / "evidence.tar.gz"
    copy.parent.mkdir()
    shutil.copyfile(folder / TAR, copy)  # a byte-identical copy: found by its hash
    shutil.copyfile(folder / TAR_SUM, copy.with_name(TAR_SUM))
    code, out = _verify_cli(capsys, str(copy), "--config", config)
    assert code == 0 and "INTACT" in out, out


def test_manifest_rewritten_to_match_an_edited_artifact_is_altered(tmp_path: Path,
                                                                    capsys) -> None:
    folder = _seal(tmp_path / "evidence")
    recorded = _record(tmp_path, folder)
    _rewrite_manifest_for(folder, SOCKETS)
    now = hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest()
    code, out = _verify_cli(capsys, str(folder), "--config", _config(tmp_path))
    assert code == 1, out
    assert "ALTERED OR DAMAGED" in out and "INTACT" not in out
    assert f"altered: {MANIFEST} sha256 {now} is not the {recorded} recorded" in out
    assert f"altered: {SOCKETS} differs from its copy in {TAR}" in out
    assert "changed:" not in out  # the loose files agree with the rewritten manifest
    capsys.readouterr()
    assert main(["evidence", "verify", "--json", str(folder), "--config",
                 _config(tmp_path)]) == 1
    data = json.loads(capsys.readouterr().out)["data"]
    assert data["intact"] is False
    assert any(recorded in p and now in p for p in data["problems"]), data["problems"]


def test_loose_file_that_differs_from_the_tar_is_altered_without_a_record(
        tmp_path: Path, capsys) -> None:
    """With the record out of reach (copied to another machine), the sealed tar still
    shows the edit: ALTERED, naming the file, never UNKNOWN or INTACT."""
    folder = _seal(tmp_path / "evidence")
    _rewrite_manifest_for(folder, SOCKETS)
    report = verify(folder)
    assert report.verdict is Verdict.ALTERED and not report.changed
    assert [(d.file, d.how) for d in report.tar_differences] == [
        (SOCKETS, TarMismatch.DIFFERS), (MANIFEST, TarMismatch.DIFFERS)]
    code, out = _verify_cli(capsys, str(folder))  # the default record: there is none
    assert code == 1 and "ALTERED OR DAMAGED" in out, out
    assert f"{SOCKETS} differs from its copy in {TAR}" in out


def test_tar_rebuilt_to_match_is_altered_against_the_record(tmp_path: Path, capsys) -> None:
    """Everything in the folder made consistent again (manifest, tar, .sha256 rebuilt):
    only the record can tell, and it does."""
    folder = _seal(tmp_path / "evidence")
    _record(tmp_path, folder)
    _rewrite_manifest_for(folder, SOCKETS)
    for name in (TAR, TAR_SUM):
        (folder / name).unlink()
    known = {}
    doc = json.loads((folder / MANIFEST).read_text())
    (folder / MANIFEST).unlink()
    known = {e["path"]: (e["sha256"], e["bytes"]) for e in doc["files"]}
    seal(folder, "complete", "", known)
    assert verify(folder).ok  # consistent in itself
    code, out = _verify_cli(capsys, str(folder), "--config", _config(tmp_path))
    assert code == 1 and "ALTERED OR DAMAGED" in out, out
    assert f"altered: {MANIFEST} sha256" in out and f"altered: {TAR} sha256" in out


def test_collection_the_record_does_not_know_is_unknown(tmp_path: Path, capsys) -> None:
    known = _seal(tmp_path / "evidence", "host1")
    _record(tmp_path, known)
    stranger = _seal(tmp_path / "evidence", "host2")  # sealed, never recorded
    config = _config(tmp_path)
    for args in ([str(stranger), "--config", config], [str(stranger / TAR), "--config", config],
                 [str(known)]):  # the last: no config, so the default record (none here)
        code, out = _verify_cli(capsys, *args)
        assert code == 1, out
        assert ": UNKNOWN — " in out and "INTACT" not in out, out
        assert f"unknown: {MANIFEST} could not be checked against the incident record" in out
        assert "--config PATH" in out
    capsys.readouterr()
    assert main(["evidence", "verify", "--json", str(stranger), "--config", config]) == 1
    assert json.loads(capsys.readouterr().out)["data"]["intact"] is False
    records = read_record(tmp_path / "record.db")
    assert verify(stranger, records).record.state is RecordState.NOT_FOUND
    assert verify(known, records).verdict is Verdict.INTACT
    assert verify(known).verdict is Verdict.UNKNOWN  # no record given: never INTACT
    assert not (tmp_path / "nowhere.db").exists()
    assert read_record(tmp_path / "nowhere.db").problem
    assert not (tmp_path / "nowhere.db").exists()  # looking never creates a record


@pytest.mark.usefixtures("clean_lab")
def test_lab_collect_then_rewritten_manifest_is_altered(lab_config: Config, tmp_path: Path,
                                                        capsys) -> None:
    """The tester's steps: collect host2 --volatile-only, append a line to the sockets
    artifact, fix its hash and size in the manifest, verify."""
    doc = tomllib.loads(Path(lab_config.path).read_text())
    doc["audit"] = {"dir": str(tmp_path / "audit")}
    doc["record"] = {"path": str(tmp_path / "record.db")}
    doc["triage"] = {"evidence_dir": str(tmp_path / "evidence")}
    config = str(tmp_path / "config.toml")
    write_toml_atomic(Path(config), doc)
    assert main(["--config", config, "collect", "host2", "--volatile-only", "-q"]) == 0
    out = capsys.readouterr().out
    folder = Path(re.search(r"evidence: (\S+) \(complete", out).group(1))
    code, out = _verify_cli(capsys, str(folder), "--config", config)
    assert code == 0 and "INTACT" in out, out
    recorded = hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest()
    _rewrite_manifest_for(folder, SOCKETS)
    code, out = _verify_cli(capsys, str(folder), "--config", config)
    assert code == 1 and "ALTERED OR DAMAGED" in out and "INTACT" not in out, out
    assert f"is not the {recorded} recorded" in out
    assert f"{SOCKETS} differs from its copy in {TAR}" in out


def _reseal_consistently(folder: Path) -> None:
    """The tester's full rewrite of the evidence: an artifact edited, then the manifest, the
    tar and its ``.sha256`` rebuilt to agree with it (consistent in itself)."""
    _rewrite_manifest_for(folder, SOCKETS)
    for name in (TAR, TAR_SUM):
        (folder / name).unlink(missing_ok=True)
    doc = json.loads((folder / MANIFEST).read_text())
    (folder / MANIFEST).unlink()
    seal(folder, "complete", "", {e["path"]: (e["sha256"], e["bytes"]) for e in doc["files"]})
    assert verify(folder).ok


def _edit_record_row(db: Path, folder: Path, *, rehash: bool) -> int:
    """The tester's edit of the record (in a copy of record.db): drop the no-update trigger
    and put ``folder``'s new manifest and tar hashes in its ``evidence`` row's body (with
    ``rehash``, its SHA-256 column recomputed too). Returns the row's number."""
    conn = sqlite3.connect(db)
    try:
        seq, body = conn.execute("SELECT seq, body FROM records WHERE kind = 'evidence' "
                                 "ORDER BY seq DESC LIMIT 1").fetchone()
        doc = json.loads(body)
        doc["manifest_sha256"] = hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest()
        doc["tar_sha256"] = (folder / TAR_SUM).read_text().split()[0]
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        conn.execute("DROP TRIGGER records_no_update")
        conn.execute("UPDATE records SET body = ? WHERE seq = ?", (text, seq))
        if rehash:
            conn.execute("UPDATE records SET hash = ? WHERE seq = ?",
                         (hashlib.sha256(text.encode()).hexdigest(), seq))
        conn.commit()
    finally:
        conn.close()
    return int(seq)


@pytest.mark.parametrize("rehash", [False, True], ids=["body", "body-and-hash"])
def test_evidence_rewritten_with_an_edited_record_row_is_not_intact(
        tmp_path: Path, capsys, rehash: bool) -> None:
    """The tester's FALSE INTACT: evidence rewritten consistently and the record row edited
    to hold its new hashes. The row no longer matches its SHA-256 (or, rehashed, the chain's
    head): the record proves nothing, so UNKNOWN, naming the record."""
    earlier = _seal(tmp_path / "evidence", "host1")
    _record(tmp_path, earlier)
    folder = _seal(tmp_path / "evidence")
    _record(tmp_path, folder)
    _reseal_consistently(folder)
    seq = _edit_record_row(tmp_path / "record.db", folder, rehash=rehash)
    config = _config(tmp_path)
    for target in (folder, folder / TAR):
        code, out = _verify_cli(capsys, str(target), "--config", config)
        assert code == 1, out
        assert f"{target}: UNKNOWN — " in out and "INTACT" not in out, out
        assert "the incident record itself is TAMPERED" in out.splitlines()[0], out
        assert f"is TAMPERED at record #{seq}" in out and "irtui audit verify" in out, out
    capsys.readouterr()
    assert main(["evidence", "verify", "--json", str(folder), "--config", config]) == 1
    data = json.loads(capsys.readouterr().out)["data"]
    assert data["intact"] is False and any(f"#{seq}" in p for p in data["problems"])
    records = read_record(tmp_path / "record.db")
    assert verify(folder, records).record.state is RecordState.UNTRUSTED
    # the collection recorded before the edited row: the chain is intact up to it
    assert verify(earlier, records).verdict is Verdict.INTACT
    assert main(["--config", config, "audit", "verify"]) != 0  # the record says TAMPERED


def test_tar_without_its_sha256_is_intact_when_the_record_vouches(tmp_path: Path,
                                                                   capsys) -> None:
    """The tester's FALSE ALTERED: the tar copied alone (renamed), or the folder's
    ``.sha256`` deleted. The trusted record holds the tar's hash: INTACT, the missing side
    file a note. Without a record nothing proves the tar: UNKNOWN (never INTACT), and not
    ALTERED either, since nothing was found to differ."""
    folder = _seal(tmp_path / "evidence")
    _record(tmp_path, folder)
    config = _config(tmp_path)
    alone = tmp_path / "usb" / "host2-INC1.tar.gz"
    alone.parent.mkdir()
    shutil.copyfile(folder / TAR, alone)
    (folder / TAR_SUM).unlink()
    for target, side in ((alone, "host2-INC1.tar.gz.sha256"), (folder, TAR_SUM)):
        code, out = _verify_cli(capsys, str(target), "--config", config)
        assert code == 0, out
        assert f"{target}: INTACT — " in out and "problem:" not in out, out
        assert f"note:    {side} is missing" in out, out
        assert "match the incident record" in out, out
        report = verify(target)  # no record
        assert report.verdict is Verdict.UNKNOWN and not report.tar_differences, report.lines()
        assert any(f"{side} is missing" in p for p in report.findings())
        code, out = _verify_cli(capsys, str(target))  # the default record: there is none
        assert code == 1 and ": UNKNOWN — " in out and "INTACT" not in out, out
        assert f"{side} is missing: the tar's hash cannot be checked" in out
    # a tar that is not the recorded one, its .sha256 gone: still ALTERED against the record
    _reseal_consistently(folder)
    (folder / TAR_SUM).unlink()
    code, out = _verify_cli(capsys, str(folder), "--config", config)
    assert code == 1 and "ALTERED OR DAMAGED" in out and f"altered: {TAR} sha256" in out, out
