"""Collecting triage artifacts from one host: the preflight probe (tools, privileges, clock),
the exact command chosen for each artifact, and the streaming of each artifact's output
straight into its evidence file.

Nothing is written on the host: the probe and every built-in artifact only read. (The SSH
login and ``sudo`` are themselves logged by the host, as any remote access is.)
"""

from __future__ import annotations

import enum
import shlex
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from irtui.core.errors import ActionError, SSHError
from irtui.core.known_hosts import fingerprint
from irtui.core.plan import command_line
from irtui.core.remote import script
from irtui.core.settings import HostConfig
from irtui.core.ssh import SSHPool
from irtui.core.triage.catalog import Artifact, Variant
from irtui.core.triage.evidence import ARTIFACTS_DIR, EvidenceError, HashingFile
from irtui.core.triage.naming import artifact_file

NOT_FOUND = 127
"""Exit status of a command the shell could not find (POSIX sh, 2.8.2): the artifact is then
recorded as not available."""
STDERR_TAIL = 2048
REMOTE_TIMEOUT = "timeout"
"""coreutils timeout(1), used on the host when it has it (asked for by every probe)."""


def utc_stamp() -> str:
    """Now as ISO 8601 UTC with milliseconds, e.g. ``2026-11-29T22:30:00.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class TriageFacts:
    """What the triage probe found on a host.

    Attributes:
        host: the host's name in the config.
        uid: the login user's UID there (None if unreadable); user: its name.
        sudo: ``root`` (already root), ``yes`` (``sudo -n`` works) or ``no``.
        tools: which of the asked-for tools are installed.
        hostname: the name the host gives itself.
        ssh_connection: ``$SSH_CONNECTION`` as the host saw this session (client address
            and port, server address and port).
        clock_offset: seconds the host's clock is ahead of this machine's (negative:
            behind), None if the host did not say; clock_uncertainty: ± seconds (half the
            round trip).
        host_key: the SSH host key's ``SHA256:`` fingerprint (which machine answered).
    """

    host: str
    uid: int | None
    user: str
    sudo: str
    tools: frozenset[str]
    hostname: str = ""
    ssh_connection: str = ""
    clock_offset: float | None = None
    clock_uncertainty: float = 0.0
    host_key: str = ""

    @property
    def privileged(self) -> bool:
        """True when artifacts needing root can run as root (root login or ``sudo -n``)."""
        return self.sudo in ("root", "yes")


def probe_line(tools: Iterable[str]) -> str:
    """The probe's command line (run as the login user, never through sudo); the login shell
    expands ``$SSH_CONNECTION`` before the script sees it."""
    head = shlex.join(["sh", "-c", script("triage_probe"), "irtui-triage_probe"])
    return f'{head} "$SSH_CONNECTION" {shlex.join(sorted(tools))}'.rstrip()


def parse_probe(name: str, text: str, sent: float, received: float,
                host_key: str = "") -> TriageFacts:
    """Read the probe's ``key value`` lines.

    Args:
        sent / received: this machine's clock (``time.time()``) before and after the probe,
            for the clock offset.

    Raises:
        ActionError: the output has no ``end`` line (cut short or not irtui's probe).
    """
    values: dict[str, str] = {}
    tools: set[str] = set()
    lines = text.splitlines()
    for line in lines:
        key, _, value = line.partition(" ")
        if key == "tool":
            tools.add(value.strip())
        else:
            values.setdefault(key, value.strip())
    if "end" not in values:
        raise ActionError(f"{name}: the triage probe's output was cut short",
                          "check the host (disk, shell) and retry")
    try:
        remote: float | None = float(values.get("time", ""))
    except ValueError:
        remote = None
    middle = (sent + received) / 2
    uid = values.get("uid", "")
    return TriageFacts(
        host=name, uid=int(uid) if uid.isdigit() else None, user=values.get("user", ""),
        sudo=values.get("sudo", "no"), tools=frozenset(tools),
        hostname=values.get("hostname", ""), ssh_connection=values.get("ssh", ""),
        clock_offset=None if remote is None else round(remote - middle, 3),
        clock_uncertainty=round((received - sent) / 2, 3), host_key=host_key)


def probe(pool: SSHPool, host: HostConfig, tools: Iterable[str]) -> TriageFacts:
    """Run the triage probe on ``host``.

    Raises:
        ActionError: the probe failed; SSHError, HostKeyError: see :meth:`SSHPool.run`.
    """
    client = pool.connect(host)
    transport = client.get_transport()
    key = transport.get_remote_server_key() if transport is not None else None
    sent = time.time()
    result = pool.run(host, probe_line(tools), capture=True)
    received = time.time()
    if result.exit_code != 0:
        err = (result.stderr.strip().splitlines() or [f"exit {result.exit_code}"])[-1]
        raise ActionError(f"{host.name}: the triage probe failed: {err}",
                          "check that the login user has a POSIX sh")
    return parse_probe(host.name, result.stdout, sent, received,
                       fingerprint(key) if key is not None else "")


@dataclass(frozen=True)
class PlannedArtifact:
    """One artifact as it will run on one host.

    Attributes:
        index / total: its place in the host's collection (1-based) and the count.
        artifact: what it is.
        variant: ``primary``, ``fallback``, or ``""`` when it cannot run (not available).
        command: the exact command line sent, ``""`` when not available.
        missing: tools of the primary variant the host lacks.
        unprivileged: it needs root but runs as the login user (no root, no ``sudo -n``).
    """

    index: int
    total: int
    artifact: Artifact
    variant: str
    command: str
    missing: tuple[str, ...] = ()
    unprivileged: bool = False

    def notes(self) -> list[str]:
        """What the responder should know about this artifact on this host."""
        out = []
        missing = ", ".join(self.missing)
        if self.variant == "fallback" and self.artifact.fallback is not None:
            out.append(f"{missing} not available: fallback {self.artifact.fallback.source} "
                       "used")
        elif not self.variant:
            out.append(f"not available: {missing} not installed (no fallback)")
        if self.unprivileged:
            out.append("ran without root (no sudo -n): what only root may read is missing")
        if self.artifact.writes:
            out.append(f"writes on the host: {self.artifact.writes}")
        return out


def plan_artifacts(host: HostConfig, facts: TriageFacts, artifacts: list[Artifact],
                   values: Mapping[str, int]) -> list[PlannedArtifact]:
    """Choose each artifact's variant from the tools the host has, and its exact command:
    ``sudo -n`` in front for a non-root login when it needs root and sudo works, and, when
    the host has ``timeout`` (coreutils), the artifact's own timeout enforced on the host
    too, so a command that hangs (uac#380) does not outlive its collection (timeout(1):
    TERM to the command's process group, KILL 5 s later)."""
    out = []
    for i, artifact in enumerate(artifacts, start=1):
        missing = tuple(t for t in artifact.primary.needs if t not in facts.tools)
        variant: Variant | None = artifact.primary
        label = "primary"
        if missing:
            fallback = artifact.fallback
            usable = fallback is not None and all(t in facts.tools for t in fallback.needs)
            variant, label = (fallback, "fallback") if usable else (None, "")
        command = ""
        unprivileged = artifact.needs_root and not facts.privileged
        if variant is not None:
            argv = artifact.argv(variant, values)
            if REMOTE_TIMEOUT in facts.tools:
                argv = (REMOTE_TIMEOUT, "-k", "5", f"{int(artifact.timeout) + 2}", *argv)
            as_sudo = artifact.needs_root and facts.sudo == "yes"
            command = command_line(host, argv) if as_sudo else shlex.join(argv)
        out.append(PlannedArtifact(i, len(artifacts), artifact, label, command, missing,
                                   unprivileged and variant is not None))
    return out


class ArtifactStatus(enum.Enum):
    """How one artifact's collection ended."""

    COMPLETE = "complete"
    """Exit status 0, nothing cut."""
    PARTIAL = "partial"
    """Truncated at its byte cap or stopped at its timeout: what arrived is kept."""
    FAILED = "failed"
    """Non-zero exit status (output and stderr kept) or the connection was lost."""
    NOT_AVAILABLE = "not available"
    """A tool it needs is not on the host and it has no usable fallback."""
    CANCELLED = "cancelled"
    """The responder cancelled while it ran (what arrived is kept)."""
    NOT_RUN = "not run"
    """Never started: cancelled or the host was lost before its turn."""

    @property
    def attempted(self) -> bool:
        """True when the artifact ran to an end of its own (the collection covers it)."""
        return self not in (ArtifactStatus.CANCELLED, ArtifactStatus.NOT_RUN)


@dataclass
class ArtifactRecord:
    """One entry of the collection log (``collection.json``). Times are ISO 8601 UTC,
    durations in seconds, sizes in bytes; file paths are relative to the collection."""

    index: int
    name: str
    order: int
    description: str
    variant: str
    command: str
    status: ArtifactStatus
    started: str = ""
    finished: str = ""
    duration_s: float = 0.0
    exit_code: int | None = None
    stdout_file: str = ""
    stdout_bytes: int = 0
    stdout_sha256: str = ""
    stderr_file: str = ""
    stderr_bytes: int = 0
    stderr_sha256: str = ""
    truncated: bool = False
    timed_out: bool = False
    notes: list[str] = field(default_factory=list)
    stderr_tail: str = ""

    def to_json(self) -> dict[str, Any]:
        """The record as JSON-ready values (status as its text)."""
        doc = asdict(self)
        doc["status"] = self.status.value
        return doc

    def headline(self) -> str:
        """One line for the live log: ``name: status — bytes, exit, seconds; notes``."""
        exit_text = "" if self.exit_code is None else f", exit {self.exit_code}"
        text = (f"{self.name}: {self.status.value} — {self.stdout_bytes:,} bytes"
                f"{exit_text}, {self.duration_s:.2f} s")
        return text + (f"; {'; '.join(self.notes)}" if self.notes else "")


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - STDERR_TAIL))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def skipped_record(planned: PlannedArtifact, status: ArtifactStatus,
                   note: str = "") -> ArtifactRecord:
    """The log entry of an artifact that was not run (not available, cancelled, lost)."""
    a = planned.artifact
    stamp = utc_stamp()
    notes = planned.notes() + ([note] if note else [])
    return ArtifactRecord(planned.index, a.name, a.order, a.description, planned.variant,
                          planned.command, status, stamp, stamp, notes=notes)


def run_artifact(pool: SSHPool, host: HostConfig, planned: PlannedArtifact, folder: Path,
                 cancel: threading.Event | None,
                 on_progress: Callable[[int], None] | None = None) -> ArtifactRecord:
    """Run one planned artifact, streaming stdout and stderr into their own new files
    (hashed as received) under ``folder/artifacts``.

    Args:
        on_progress: ``on_progress(bytes)`` with stdout + stderr bytes received so far.

    Returns:
        Its :class:`ArtifactRecord`; a lost connection is a ``FAILED`` record whose note
        starts with ``connection lost``.

    Raises:
        EvidenceError: a file could not be created or written.
    """
    if not planned.variant:
        return skipped_record(planned, ArtifactStatus.NOT_AVAILABLE)
    a = planned.artifact
    rel_out = f"{ARTIFACTS_DIR}/{artifact_file(planned.index, a.name, 'stdout')}"
    rel_err = f"{ARTIFACTS_DIR}/{artifact_file(planned.index, a.name, 'stderr')}"
    record = ArtifactRecord(planned.index, a.name, a.order, a.description, planned.variant,
                            planned.command, ArtifactStatus.FAILED, started=utc_stamp(),
                            stdout_file=rel_out, stderr_file=rel_err, notes=planned.notes())
    began = time.monotonic()
    with HashingFile(folder / rel_out) as out, HashingFile(folder / rel_err) as err:
        try:
            result = pool.stream(
                host, planned.command, stdout=out, stderr=err, max_bytes=a.max_bytes,
                timeout=a.timeout, cancel=cancel,
                on_progress=(lambda o, e: on_progress(o + e)) if on_progress else None)
        except SSHError as exc:
            record.notes.append(f"connection lost: {exc.problem}")
            result = None
        except OSError as exc:
            raise EvidenceError(f"cannot write {folder / rel_out} ({exc.strerror or exc})",
                                "free disk space or set triage.evidence_dir") from None
    record.finished = utc_stamp()
    record.duration_s = round(time.monotonic() - began, 3)
    record.stdout_bytes, record.stdout_sha256 = out.size, out.sha256
    record.stderr_bytes, record.stderr_sha256 = err.size, err.sha256
    record.stderr_tail = _tail(folder / rel_err)
    if result is None:
        return record
    record.exit_code = result.exit_code
    record.truncated, record.timed_out = result.truncated, result.timed_out
    if result.cancelled:
        record.status = ArtifactStatus.CANCELLED
    elif result.truncated or result.timed_out:
        record.status = ArtifactStatus.PARTIAL
        record.notes.append(f"truncated at {a.max_bytes:,} bytes (its cap)" if result.truncated
                            else f"timed out after {a.timeout:g} s (output so far kept)")
    elif result.exit_code == NOT_FOUND:
        record.status = ArtifactStatus.NOT_AVAILABLE
        record.notes.append("not available: a command it runs was not found (exit 127)")
    elif result.exit_code == 0:
        record.status = ArtifactStatus.COMPLETE
    else:
        record.notes.append(f"exit {result.exit_code}: see {rel_err}")
    if record.status is ArtifactStatus.COMPLETE and out.size == 0:
        record.notes.append("empty output")
    return record
