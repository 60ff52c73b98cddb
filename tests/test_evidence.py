"""Evidence folders, safe names, manifests, tar.gz and verification (no lab needed)."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irtui.core.triage.evidence import (
    MANIFEST,
    TAR,
    EvidenceError,
    HashingFile,
    custody_document,
    new_collection_folder,
    seal,
    write_json,
)
from irtui.core.triage.naming import (
    MAX_COMPONENT,
    SAFE_RE,
    artifact_file,
    incident_component,
    safe_component,
)
from irtui.core.triage.verify import verify

WHEN = datetime(2026, 11, 29, 22, 30, tzinfo=UTC)


@given(st.text(max_size=300))
@settings(max_examples=400)
def test_safe_component_is_always_one_harmless_path_part(text: str) -> None:
    name = safe_component(text)
    assert 1 <= len(name) <= MAX_COMPONENT
    assert name not in (".", "..") and not name.startswith((".", "-"))
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in name)
    assert safe_component(name) == name  # already safe: unchanged
    if SAFE_RE.fullmatch(text):
        assert name == text


@given(st.text(max_size=80), st.text(max_size=80))
def test_different_names_never_share_a_folder(a: str, b: str) -> None:
    if a != b:
        assert safe_component(a) != safe_component(b)


@given(st.text(max_size=100), st.text(max_size=100), st.text(min_size=1, max_size=60))
@settings(max_examples=100, deadline=None)
def test_collection_folders_stay_inside_the_evidence_dir(tmp_path_factory, incident: str,
                                                         host: str, artifact: str) -> None:
    base = tmp_path_factory.mktemp("ev")
    folder = new_collection_folder(base, incident, host, WHEN)
    assert folder.resolve().parent.parent.parent == base.resolve()
    out = folder / "artifacts" / artifact_file(3, artifact, "stdout")
    assert out.resolve().parent == (folder / "artifacts").resolve()
    assert out.name.startswith("03-") and out.name.endswith(".out")


def test_incident_names() -> None:
    assert incident_component(None) == incident_component("  ") == "no-incident"
    assert incident_component("INC-42") == "INC-42"
    assert safe_component("web1\n") != "web1\n"  # a trailing newline is not safe
    assert incident_component("../../etc").startswith("_.._etc-")


def _collection(base: Path) -> Path:
    folder = new_collection_folder(base, "INC-42", "web1", WHEN)
    known = {}
    for i, body in enumerate([b"tcp LISTEN 0.0.0.0:4444\n", b"x" * 100_000, b""], start=1):
        rel = f"artifacts/{artifact_file(i, f'a{i}', 'stdout')}"
        with HashingFile(folder / rel) as out:
            out.write(body)
        known[rel] = (out.sha256, out.size)
    write_json(folder / "collection.json", {})
    seal(folder, "complete", "", known)
    return folder


def test_collections_never_overwrite_each_other(tmp_path: Path) -> None:
    first = new_collection_folder(tmp_path, "INC-42", "web1", WHEN)
    second = new_collection_folder(tmp_path, "INC-42", "web1", WHEN)
    assert first != second and first.name == "20261129T223000Z-1"
    assert second.name == "20261129T223000Z-2"
    HashingFile(first / "artifacts" / "x").close()
    with pytest.raises(EvidenceError, match="cannot create"):
        HashingFile(first / "artifacts" / "x")


def test_sealed_collection_verifies_and_is_private(tmp_path: Path) -> None:
    folder = _collection(tmp_path)
    report = verify(folder)
    assert report.ok, report.lines()
    assert report.status == "complete" and report.checked == 4
    for path in [folder, *folder.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    assert verify(folder / TAR).ok
    with tarfile.open(folder / TAR) as tar:
        assert tar.getnames()[0].endswith(MANIFEST)


def test_one_changed_byte_is_named(tmp_path: Path) -> None:
    folder = _collection(tmp_path)
    target = folder / "artifacts" / "02-a2.out"
    data = bytearray(target.read_bytes())
    data[5000] ^= 0x01
    target.write_bytes(bytes(data))
    report = verify(folder)
    assert not report.ok and report.changed == ["artifacts/02-a2.out"]
    assert not report.missing and not report.added
    assert "changed: artifacts/02-a2.out" in "\n".join(report.lines())


def test_missing_added_and_tar_tampering_are_named(tmp_path: Path) -> None:
    folder = _collection(tmp_path)
    (folder / "artifacts" / "01-a1.out").unlink()
    (folder / "artifacts" / "99-planted.out").write_text("hello")
    with open(folder / TAR, "ab") as fh:
        fh.write(b"\0")
    report = verify(folder)
    assert report.missing == ["artifacts/01-a1.out"]
    assert report.added == ["artifacts/99-planted.out"]
    assert any("does not match" in p for p in report.problems)


def test_tar_members_are_checked_against_its_manifest(tmp_path: Path) -> None:
    folder = _collection(tmp_path)
    original = folder / TAR
    rebuilt = tmp_path / "rebuilt.tar.gz"
    with tarfile.open(original) as src, tarfile.open(rebuilt, "w:gz") as dst:
        for member in src:
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.endswith("01-a1.out"):
                data = data.replace(b"4444", b"4445")
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    report = verify(rebuilt)
    assert report.changed == ["artifacts/01-a1.out"]
    assert any(".sha256 is missing" in p for p in report.problems)


def test_unsealed_and_foreign_paths(tmp_path: Path) -> None:
    folder = new_collection_folder(tmp_path, None, "web1", WHEN)
    report = verify(folder)
    assert not report.ok and "never sealed" in report.problems[0]
    (folder / MANIFEST).write_text(json.dumps({"format": "irtui-evidence-manifest/1",
                                               "files": [{"path": "../../etc/passwd",
                                                          "sha256": "0", "bytes": 1}]}))
    report = verify(folder)
    assert any("outside the folder" in p for p in report.problems)
    with pytest.raises(Exception, match="not an evidence collection folder"):
        verify(tmp_path)
    with pytest.raises(Exception, match="does not exist"):
        verify(tmp_path / "nope")


def test_custody_for_a_uid_without_a_passwd_entry(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to a UID without an account")
    code = ("import json, os; os.setgid(54321); os.setuid(54321); "
            "from irtui.core.triage.evidence import custody_document as c; "
            "print(json.dumps(c(host='h', incident=None, target={}, started='s', "
            "finished='f', artifacts=[])))")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["collected_by"].startswith("uid-54321@") and doc["operator"]["account"] is None
    mine = custody_document(host="h", incident="I", target={}, started="s", finished="f",
                            artifacts=[])
    assert mine["tool"].startswith("irtui ") and "@" in mine["collected_by"]


def _in_time(call, seconds: float = 15.0):  # type: ignore[no-untyped-def]
    """``call()``'s result, failing (not hanging) when it takes over ``seconds``."""
    import threading

    out: list = []
    worker = threading.Thread(target=lambda: out.append(call()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"hung for {seconds} s"
    return out[0]


@pytest.mark.parametrize("name", [MANIFEST, TAR, f"{TAR}.sha256"])
@pytest.mark.parametrize("kind", ["fifo", "endless"])
def test_a_sealed_file_replaced_by_a_fifo_or_endless_device_is_named_not_read(
        tmp_path: Path, name: str, kind: str) -> None:
    """A tampered collection (its manifest, tar or hash a FIFO nobody writes to, or a link
    to /dev/zero) is reported as damaged at once: never a hang, never endless memory."""
    folder = _collection(tmp_path)
    (folder / name).unlink()
    if kind == "fifo":
        os.mkfifo(folder / name)
    else:
        (folder / name).symlink_to("/dev/zero")
    report = _in_time(lambda: verify(folder))
    assert not report.ok
    assert any(name in p and "not a regular file" in p for p in report.problems), report.lines()


def test_evidence_list_names_a_collection_whose_manifest_is_a_fifo(tmp_path: Path) -> None:
    from irtui.core.config import write_toml_atomic
    from tests.cli_helpers import run_irtui

    good = _collection(tmp_path / "evidence")
    bad = new_collection_folder(tmp_path / "evidence", "INC-42", "web2", WHEN)
    os.mkfifo(bad / MANIFEST)
    cfg = tmp_path / "config.toml"
    write_toml_atomic(cfg, {"hosts": [{"name": "web1", "address": "192.0.2.10"}],
                            "audit": {"dir": str(tmp_path / "audit")},
                            "record": {"path": str(tmp_path / "record.db")},
                            "triage": {"evidence_dir": str(tmp_path / "evidence")}})
    out = run_irtui("--config", str(cfg), "evidence", "list", timeout=20)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.decode().splitlines()
    assert any(good.name in x and "complete" in x for x in lines), lines
    assert any(str(bad) in x and "damaged" in x for x in lines), lines
