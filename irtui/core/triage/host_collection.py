"""One host's collection as plan steps: one local step per artifact (its ``command`` is the
exact remote command line, so plans show it), then a step that seals the evidence.

Every artifact step records its artifact whatever happens (a failed command, a missing
tool, a lost connection, a cancel) and lets the next one run; only the seal step decides the
host's outcome: a collection in which every artifact ran to an end of its own is
``complete``; otherwise it is sealed ``incomplete`` with the reason, and the step fails.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Protocol

from irtui.core.errors import IrtuiError
from irtui.core.events import EventSink, OutputCallback, Progress
from irtui.core.plan import Step, StepOutcome
from irtui.core.settings import HostConfig
from irtui.core.ssh import SSHPool
from irtui.core.triage.catalog import ORDERS
from irtui.core.triage.collector import (
    ArtifactRecord,
    ArtifactStatus,
    PlannedArtifact,
    TriageFacts,
    run_artifact,
    skipped_record,
    utc_stamp,
)
from irtui.core.triage.evidence import (
    CUSTODY,
    LOG,
    Seal,
    custody_document,
    new_collection_folder,
    seal,
    write_json,
)

EVIDENCE_PREFIX = "evidence:"
"""Start of the seal step's report line (picked up into the host's result message)."""
_GATE_POLL = 0.2


class AuditSink(Protocol):
    """What the collection needs of the audit trail / incident record."""

    def write(self, event: str, **fields: Any) -> None:  # pragma: no cover - protocol
        """Append one record."""


class HostCollection:
    """The evidence collection of one host.

    Args:
        pool: SSH connections; audit: where the chain-of-custody entry is written
            (``audit.write("evidence", ...)``).
        host: the host; facts: its triage probe; planned: its artifacts, in order.
        base_dir: the evidence directory; incident: the incident id or None.
        gate: limits how many hosts collect at once (``triage.parallel``); held from the
            first artifact to the seal.
        before: what follows the collection on this host (``"containment"``), if anything:
            the seal then reports how long the collection took before it began.
    """

    def __init__(self, pool: SSHPool, audit: AuditSink, host: HostConfig,
                 facts: TriageFacts, planned: list[PlannedArtifact], *, base_dir: Path,
                 incident: str | None, gate: threading.Semaphore, before: str = "") -> None:
        self.pool = pool
        self.audit = audit
        self.host = host
        self.facts = facts
        self.planned = planned
        self.base_dir = base_dir
        self.incident = incident
        self.gate = gate
        self.before = before
        self.folder: Path | None = None
        self.records: list[ArtifactRecord] = []
        self.known: dict[str, tuple[str, int]] = {}
        self.stop_reason = ""
        self.started = ""
        self.began = 0.0
        self.sealed: Seal | None = None
        self._holding = False

    # ---- steps ------------------------------------------------------------------------

    def steps(self) -> list[Step]:
        """The plan steps: one per artifact, then the seal."""
        out = []
        for p in self.planned:
            a = p.artifact
            command = p.command or (f"# {a.name}: not available on this host "
                                    f"({', '.join(p.missing)} missing); nothing is run")
            out.append(Step(self.host.name, command,
                            f"artifact {p.index}/{p.total}: {a.name} ({ORDERS[a.order]})",
                            local=self._artifact_action(p)))
        where = self.base_dir / "<incident>" / self.host.name
        out.append(Step(self.host.name, f"# local: seal the evidence under {where}/: "
                        "manifest.json (SHA-256 of every file), evidence.tar.gz + .sha256, "
                        "custody.json; nothing runs on the host",
                        "seal the evidence (manifest, tar.gz, chain of custody)",
                        report_prefix=EVIDENCE_PREFIX, local=self._seal))
        return out

    def _open(self, cancel: threading.Event | None) -> bool:
        """Take a collection slot and make the folder (first artifact only)."""
        if self.folder is not None or self.stop_reason:
            return self.folder is not None
        while not self.gate.acquire(timeout=_GATE_POLL):
            if cancel is not None and cancel.is_set():
                self.stop_reason = "cancelled before the collection began"
                return False
        self._holding = True
        self.started, self.began = utc_stamp(), time.monotonic()
        try:
            self.folder = new_collection_folder(self.base_dir, self.incident, self.host.name)
        except IrtuiError as exc:
            self.stop_reason = exc.line
            return False
        return True

    def _artifact_action(self, planned: PlannedArtifact):  # type: ignore[no-untyped-def]
        def action(on_output: OutputCallback, cancel: threading.Event | None,
                   on_event: EventSink) -> StepOutcome:
            began = time.monotonic()
            record = self._collect(planned, cancel, on_event)
            on_output("stdout", record.headline())
            return StepOutcome(0, time.monotonic() - began, record.headline())
        return action

    def _collect(self, planned: PlannedArtifact, cancel: threading.Event | None,
                 on_event: EventSink) -> ArtifactRecord:
        a = planned.artifact
        if cancel is not None and cancel.is_set() and not self.stop_reason:
            self.stop_reason = f"cancelled after {len(self.records)} of {planned.total} artifacts"
        if not self._open(cancel) or self.folder is None or self.stop_reason:
            record = skipped_record(planned, ArtifactStatus.NOT_RUN, self.stop_reason)
            self.records.append(record)
            return record

        def progress(received: int) -> None:
            on_event(Progress(self.host.name, a.name, planned.index, planned.total, received))

        progress(0)
        try:
            record = run_artifact(self.pool, self.host, planned, self.folder, cancel, progress)
        except IrtuiError as exc:
            self.stop_reason = exc.line
            record = skipped_record(planned, ArtifactStatus.NOT_RUN, exc.line)
        progress(record.stdout_bytes + record.stderr_bytes)
        if record.status is ArtifactStatus.CANCELLED:
            self.stop_reason = (f"cancelled during {a.name} ({planned.index} of "
                                f"{planned.total})")
        elif any(n.startswith("connection lost") for n in record.notes):
            self.stop_reason = f"connection lost during {a.name}"
        for name, sha, size in ((record.stdout_file, record.stdout_sha256, record.stdout_bytes),
                                (record.stderr_file, record.stderr_sha256,
                                 record.stderr_bytes)):
            if name and sha:
                self.known[name] = (sha, size)
        self.records.append(record)
        return record

    # ---- sealing -----------------------------------------------------------------------

    @property
    def complete(self) -> bool:
        """True when every planned artifact ran to an end of its own."""
        return (not self.stop_reason and len(self.records) == len(self.planned)
                and all(r.status.attempted for r in self.records))

    def target(self) -> dict[str, Any]:
        """How the host was reached and who answered, for the log and the custody."""
        f = self.facts
        return {"name": self.host.name, "address": self.host.address, "port": self.host.port,
                "login_user": self.host.user, "uid": f.uid, "privileges": f.sudo,
                "host_key": f.host_key, "hostname": f.hostname,
                "ssh_connection": f.ssh_connection, "clock_offset_s": f.clock_offset,
                "clock_uncertainty_s": f.clock_uncertainty}

    def summary(self) -> str:
        """``N artifacts: 14 complete, 1 failed (fs-suid: exit 1), 1 not available, ...``:
        failed and partial artifacts are named."""
        counts = Counter(r.status.value for r in self.records)
        named = {ArtifactStatus.FAILED, ArtifactStatus.PARTIAL}  # a responder must see which
        parts = []
        for status, n in counts.most_common():
            names = [r.name + ("" if r.exit_code is None else f": exit {r.exit_code}")
                     for r in self.records if r.status.value == status
                     and r.status in named]
            parts.append(f"{n} {status}" + (f" ({', '.join(names)})" if names else ""))
        unprivileged = [r.name for r in self.records
                        if any(n.startswith("ran without root") for n in r.notes)]
        text = f"{len(self.records)} artifacts: {', '.join(parts)}"
        if unprivileged:
            text += f"; without root: {', '.join(unprivileged)}"
        return text

    def _seal(self, on_output: OutputCallback, cancel: threading.Event | None,
              on_event: EventSink) -> StepOutcome:
        began = time.monotonic()
        try:
            return self._write_seal(on_output)
        except IrtuiError as exc:
            return StepOutcome(1, time.monotonic() - began, "", exc.line)
        finally:
            if self._holding:
                self._holding = False
                self.gate.release()

    def _write_seal(self, on_output: OutputCallback) -> StepOutcome:
        if self.folder is None:
            reason = self.stop_reason or "nothing was collected"
            return StepOutcome(1, 0.0, "", f"no evidence folder: {reason}")
        folder, finished = self.folder, utc_stamp()
        status = "complete" if self.complete else "incomplete"
        reason = "" if self.complete else (self.stop_reason or "not every artifact ran")
        took = time.monotonic() - self.began
        write_json(folder / LOG, {
            "host": self.host.name, "incident": self.incident, "started": self.started,
            "finished": finished, "duration_s": round(took, 3), "status": status,
            "reason": reason, "target": self.target(),
            "artifacts": [r.to_json() for r in self.records]})
        hashes = [{"file": name, "sha256": sha, "bytes": size}
                  for name, (sha, size) in sorted(self.known.items())]
        write_json(folder / CUSTODY, custody_document(
            host=self.host.name, incident=self.incident, target=self.target(),
            started=self.started, finished=finished, artifacts=hashes))
        sealed = self.sealed = seal(folder, status, reason, self.known)
        self.audit.write("evidence", host=self.host.name, incident=self.incident,
                         path=str(folder), status=status, reason=reason,
                         manifest_sha256=sealed.manifest_sha256,
                         tar=str(folder / "evidence.tar.gz"), tar_sha256=sealed.tar_sha256,
                         files=sealed.files, bytes=sealed.bytes, started=self.started,
                         finished=finished, summary=self.summary(),
                         host_key=self.facts.host_key)
        line = (f"{EVIDENCE_PREFIX} {folder} ({status}; {self.summary()}; "
                f"{sealed.bytes:,} bytes; tar sha256 {sealed.tar_sha256[:16]}…)")
        if self.before:
            line += f"; collected in {took:.1f} s before {self.before} began"
        on_output("stdout", line)
        if not self.complete:
            return StepOutcome(1, took, line, f"evidence incomplete: {reason}")
        return StepOutcome(0, took, line)
