"""Evidence on the analyst's machine: one folder per incident, host and collection, never
overwritten; files 0600, folders 0700; a manifest with the SHA-256 and size of every file; a
tar.gz of the whole collection with its own SHA-256; and the chain-of-custody document.

Layout of one collection (``<n>`` makes two collections in the same second distinct)::

    <evidence dir>/<incident or no-incident>/<host>/<UTC YYYYmmddTHHMMSSZ>-<n>/
        artifacts/NN-<artifact>.out   raw stdout, streamed straight to disk
        artifacts/NN-<artifact>.err   raw stderr
        collection.json               the collection log (per artifact: command, times,
                                      exit code, bytes, truncation, notes)
        custody.json                  chain of custody: who, from where, when, tool, target
        manifest.json                 SHA-256 and size of every file above, and the status
        evidence.tar.gz               the folder's files (manifest first)
        evidence.tar.gz.sha256        the tar's SHA-256 (sha256sum format)
"""

from __future__ import annotations

import errno
import getpass
import hashlib
import json
import os
import platform
import pwd
import socket
import stat
import tarfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import irtui
from irtui.core.errors import IrtuiError
from irtui.core.triage.naming import collection_stamp, incident_component, safe_component

ARTIFACTS_DIR = "artifacts"
LOG = "collection.json"
CUSTODY = "custody.json"
MANIFEST = "manifest.json"
TAR = "evidence.tar.gz"
TAR_SUM = "evidence.tar.gz.sha256"
MANIFEST_FORMAT = "irtui-evidence-manifest/1"
UNSEALED = {MANIFEST, TAR, TAR_SUM}
"""Files of a collection folder that the manifest does not list (it, and what holds it)."""
_CHUNK = 1024 * 1024
MAX_SEALED_DOC = 64 * 1024 * 1024
"""Bytes: the most a manifest, hash file or collection log is read to (a manifest of
100,000 files is about 20 MB)."""


class EvidenceError(IrtuiError):
    """Evidence could not be written or read (names the path and the fix)."""


def _fail(path: Path, exc: OSError, doing: str) -> EvidenceError:
    return EvidenceError(f"cannot {doing} {path} ({exc.strerror or exc})",
                         "set triage.evidence_dir to a writable directory with free space")


def _private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) as 0700; an existing one is left as it is."""
    if path.is_dir():
        return
    _private_dir(path.parent)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        return
    os.chmod(path, 0o700)


def new_collection_folder(base: Path, incident: str | None, host: str,
                          when: datetime | None = None) -> Path:
    """Create a new, empty collection folder (0700) with its ``artifacts/`` sub-folder.

    Args:
        base: the evidence directory.
        incident: incident id (None: ``no-incident``); host: the host name. Both become
            safe path components (:func:`~irtui.core.triage.naming.safe_component`).
        when: the collection's start (default now), UTC in the name.

    Returns:
        ``base/<incident>/<host>/<stamp>-<n>`` with the lowest ``n`` not yet taken;
        ``mkdir`` is atomic, so two collections never share (or overwrite) a folder.

    Raises:
        EvidenceError: the directory cannot be created.
    """
    parent = base / incident_component(incident) / safe_component(host)
    stamp = collection_stamp(when)
    try:
        _private_dir(parent)
        n = 1
        while True:
            folder = parent / f"{stamp}-{n}"
            try:
                folder.mkdir(mode=0o700)
                break
            except FileExistsError:
                n += 1
        os.chmod(folder, 0o700)
        (folder / ARTIFACTS_DIR).mkdir(mode=0o700)
        os.chmod(folder / ARTIFACTS_DIR, 0o700)
    except OSError as exc:
        raise _fail(parent, exc, "create the evidence folder") from None
    return folder


class HashingFile:
    """A new file (created 0600, never replacing one) whose SHA-256 and size are computed
    from the bytes as they are written, i.e. as received from the host."""

    def __init__(self, path: Path) -> None:
        self.path = path
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        try:
            self._file = os.fdopen(os.open(path, flags, 0o600), "wb")
        except OSError as exc:
            raise _fail(path, exc, "create") from None
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        """Write ``data``; returns its length."""
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)
        return len(data)

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of everything written so far."""
        return self._hash.hexdigest()

    def close(self) -> None:
        """Flush to disk (fsync) and close."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def __enter__(self) -> HashingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` as indented JSON to a new 0600 file.

    Raises:
        EvidenceError: it exists already or cannot be written.
    """
    with HashingFile(path) as out:
        out.write((json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode())


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file (symbolic links followed).

    A collection's files were written by irtui as regular files; one that is now a FIFO
    would block open(2) forever (fifo(7)) and a device such as /dev/zero never ends, so
    either is refused without reading: opened O_NONBLOCK, checked with fstat(2).

    Raises:
        OSError: it cannot be opened, or is not a regular file (``strerror`` "not a
            regular file").
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_sealed(path: Path, limit: int = MAX_SEALED_DOC) -> bytes:
    """The bytes of a small file of a collection (manifest, hash, log), at most ``limit``.

    Raises:
        OSError: it cannot be read, is not a regular file (:func:`open_regular`) or is
            larger than ``limit`` bytes (errno EFBIG).
    """
    with open_regular(path) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit:,} bytes", str(path))
    return data


def file_sha256(path: Path) -> tuple[str, int]:
    """``(hex SHA-256, size in bytes)`` of a regular file, read in 1 MiB chunks.

    Raises:
        OSError: it cannot be read or is not a regular file (:func:`open_regular`).
    """
    digest = hashlib.sha256()
    size = 0
    with open_regular(path) as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def collection_files(folder: Path) -> list[str]:
    """Every regular file under ``folder`` that a manifest lists (all but :data:`UNSEALED`),
    as sorted POSIX paths relative to ``folder``."""
    out = []
    for path in folder.rglob("*"):
        rel = path.relative_to(folder).as_posix()
        if rel not in UNSEALED and (path.is_file() or path.is_symlink()):
            out.append(rel)
    return sorted(out)


def operator_identity() -> dict[str, Any]:
    """Who is collecting, for the chain of custody: the OS account (by real UID; a UID
    without a passwd entry is recorded as such, never an error), the login name from the
    environment when it differs, and this machine's host name."""
    uid = os.getuid()
    try:
        account: str | None = pwd.getpwuid(uid).pw_name
    except KeyError:
        account = None
    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = None
    machine = socket.gethostname()
    who = f"{account or f'uid-{uid}'}@{machine}"
    doc: dict[str, Any] = {"operator": who, "uid": uid, "account": account, "machine": machine}
    if login and login != account:
        doc["login_env"] = login
    return doc


def tool_identity() -> str:
    """``irtui <version> (Python <version>, <system>)``."""
    return (f"irtui {irtui.__version__} (Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()})")


@dataclass(frozen=True)
class Seal:
    """What sealing a collection produced: the manifest's and the tar's SHA-256, the file
    count and total bytes of the files listed (in bytes)."""

    manifest_sha256: str
    tar_sha256: str
    files: int
    bytes: int


def seal(folder: Path, status: str, reason: str,
         known: dict[str, tuple[str, int]] | None = None) -> Seal:
    """Write ``manifest.json`` (every file's SHA-256 and size, and the collection's
    ``status``: ``complete`` or ``incomplete`` with its ``reason``), then the tar.gz of the
    folder (manifest first, so it can be checked while streaming) and its ``.sha256``.

    Args:
        known: ``{relative path: (sha256, size)}`` already computed while writing (artifact
            files hashed as received); other files are read and hashed here.

    Raises:
        EvidenceError: a file cannot be read or written (e.g. the disk is full).
    """
    known = known or {}
    entries = []
    try:
        for rel in collection_files(folder):
            sha, size = known.get(rel) or file_sha256(folder / rel)
            entries.append({"path": rel, "sha256": sha, "bytes": size})
        write_json(folder / MANIFEST, {"format": MANIFEST_FORMAT, "status": status,
                                       "reason": reason, "algorithm": "sha256",
                                       "files": entries})
        manifest_sha, _ = file_sha256(folder / MANIFEST)
        with HashingFile(folder / TAR) as raw, \
                tarfile.open(fileobj=raw, mode="w:gz") as tar:  # type: ignore[call-overload]
            for rel in [MANIFEST, *(e["path"] for e in entries)]:
                tar.add(folder / rel, arcname=f"{folder.name}/{rel}", recursive=False)
        tar_sha = raw.sha256
        with HashingFile(folder / TAR_SUM) as out:
            out.write(f"{tar_sha}  {TAR}\n".encode())
    except OSError as exc:
        raise _fail(folder, exc, "seal the evidence in") from None
    return Seal(manifest_sha, tar_sha, len(entries), sum(e["bytes"] for e in entries))


def custody_document(*, host: str, incident: str | None, target: dict[str, Any],
                     started: str, finished: str, artifacts: list[dict[str, Any]]
                     ) -> dict[str, Any]:
    """The chain-of-custody document kept with the evidence (``custody.json``).

    Args:
        host: the host name in the config; incident: the incident id or None.
        target: how the host was reached and who it was (address, port, login user, SSH
            host key fingerprint, its own host name, the session as the host saw it, clock
            offset).
        started / finished: ISO 8601 UTC times.
        artifacts: ``[{"file", "sha256", "bytes"}]`` of every artifact file, as received.

    Returns:
        ``{"collected_by", "from", "tool", "host", "incident", "target", "started",
        "finished", "artifact_hashes"}`` (the manifest, written after it, covers it too).
    """
    who = operator_identity()
    return {"collected_by": who["operator"], "operator": who, "from": who["machine"],
            "tool": tool_identity(), "host": host, "incident": incident, "target": target,
            "started": started, "finished": finished, "hash_algorithm": "sha256",
            "artifact_hashes": artifacts}
