"""Audit trail: an append-only JSON Lines record of every plan, result and notification,
plus a plain-text transcript of all remote output, one pair of files per session."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from irtui.core.errors import AuditError
from irtui.core.events import OutputLine, PlanResult
from irtui.core.plan import Plan


def utc_now() -> str:
    """Current time as ISO 8601 UTC with seconds, e.g. ``2026-11-29T22:30:00Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class AuditRecord:
    """One finished action as kept in memory for the session summary."""

    ts: str
    action: str
    summary: str
    ok: bool
    detail: str


class AuditLog:
    """Writes ``<dir>/<session>.jsonl`` (the audit trail) and ``<dir>/<session>.log``
    (transcript of remote output). Thread-safe. Files are created 0600 on first write.

    Args:
        directory: where the files go (created if missing).
        session: session id; default ``YYYYmmddTHHMMSSZ-<pid>``.
    """

    def __init__(self, directory: Path, session: str | None = None) -> None:
        self.directory = directory
        self.session = session or (datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
                                   + f"-{os.getpid()}")
        self.trail_path = directory / f"{self.session}.jsonl"
        self.transcript_path = directory / f"{self.session}.log"
        self.records: list[AuditRecord] = []
        self._lock = threading.Lock()
        self._operator = f"{getpass.getuser()}@{socket.gethostname()}"

    @property
    def operator(self) -> str:
        """Who runs this session: ``user@host``."""
        return self._operator

    def _write_file(self, path: Path, text: str, mode: str) -> None:
        """Write ``text`` to ``path`` (``mode`` ``a`` appends, ``w`` replaces), 0600.

        Raises:
            AuditError: the directory or file cannot be written (names both and the fix).
        """
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
        with self._lock:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                with os.fdopen(os.open(path, flags, 0o600), mode, encoding="utf-8") as fh:
                    fh.write(text)
            except OSError as exc:
                raise AuditError(
                    f"cannot write the audit trail {path} ({exc.strerror or exc}); "
                    "nothing was changed", "set audit.dir to a writable directory") from None

    def _append(self, path: Path, text: str) -> None:
        self._write_file(path, text, "a")

    def check(self) -> None:
        """Make sure the trail can be written (creates the directory).

        Raises:
            AuditError: naming the directory and the reason.
        """
        self._append(self.trail_path, "")

    def save_text(self, path: Path, text: str) -> None:
        """Write evidence-like text (e.g. a ruleset snapshot) next to the trail, 0600, and
        record its SHA-256 in the trail for chain of custody.

        Raises:
            AuditError: it cannot be written.
        """
        self._write_file(path, text, "w")
        data = text.encode()
        self.write("saved", path=str(path), sha256=hashlib.sha256(data).hexdigest(),
                   bytes=len(data))

    def write(self, event: str, **fields: Any) -> None:
        """Append one JSON object ``{"ts", "session", "operator", "event", **fields}``."""
        record = {"ts": utc_now(), "session": self.session, "operator": self._operator,
                  "event": event, **fields}
        self._append(self.trail_path, json.dumps(record, ensure_ascii=False) + "\n")

    def plan(self, plan: Plan) -> None:
        """Record a plan about to be executed, with its exact commands."""
        self.write("plan", action=plan.action, summary=plan.summary, hosts=plan.hosts,
                   commands=[{"host": s.host, "command": s.render()} for s in plan.steps],
                   skipped=plan.skipped, notes=plan.notes)

    def result(self, result: PlanResult) -> None:
        """Record a plan's outcome per host (``outcome``: ``ok``, ``unchanged``, ``failed``,
        ``inconclusive``, ``interrupted``) and keep it for :meth:`summary`."""
        self.write("result", action=result.action, summary=result.summary, ok=result.ok,
                   interrupted=result.interrupted,
                   results=[{"host": r.host, "ok": r.ok, "outcome": r.outcome.value,
                             "message": r.message, "duration_s": round(r.duration, 3)}
                            for r in result.results])
        detail = "; ".join(f"{r.host}: {r.message}" for r in result.results)
        self.records.append(AuditRecord(utc_now(), result.action, result.summary,
                                        result.ok, detail))

    def note(self, action: str, summary: str, ok: bool, detail: str = "") -> None:
        """Record an action that is not a remote plan (e.g. a notification)."""
        self.write("action", action=action, summary=summary, ok=ok, detail=detail)
        self.records.append(AuditRecord(utc_now(), action, summary, ok, detail))

    def output(self, line: OutputLine) -> None:
        """Append one remote output line to the transcript."""
        stamp = time.strftime("%H:%M:%S")
        self._append(self.transcript_path,
                     f"{stamp} {line.host} {line.stream}: {line.line}\n")

    def summary(self) -> str:
        """This session's actions as plain text, one line each, for a notification body."""
        if not self.records:
            return "No containment actions recorded in this session yet."
        good = sum(r.ok for r in self.records)
        lines = [f"irtui session {self.session} by {self._operator}",
                 f"{len(self.records)} action(s): {good} succeeded, "
                 f"{len(self.records) - good} failed", ""]
        for r in self.records:
            lines.append(f"{r.ts}  {'OK  ' if r.ok else 'FAIL'}  {r.summary}")
            if not r.ok and r.detail:
                lines.append(f"    {r.detail}")
        lines += ["", f"Audit trail: {self.trail_path}"]
        return "\n".join(lines)
