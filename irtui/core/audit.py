"""Audit trail: an append-only JSON Lines record of every plan, result and notification,
plus a plain-text transcript of all remote output, one pair of files per session."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from irtui.core.errors import AuditError
from irtui.core.events import Outcome, OutputLine, PlanResult
from irtui.core.filenames import file_component
from irtui.core.identity import analyst
from irtui.core.plan import Plan
from irtui.core.text import escape_text

NOTHING_CHANGED = "nothing was changed"
WRITABLE_FIX = "set audit.dir to a writable directory"


def operator_name() -> str:
    """Who runs irtui, for the record: see :func:`irtui.core.identity.analyst`."""
    return analyst()


def utc_now() -> str:
    """Current time as ISO 8601 UTC with seconds, e.g. ``2026-11-29T22:30:00Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


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
        name = file_component(self.session)
        self.trail_path = directory / f"{name}.jsonl"
        self.transcript_path = directory / f"{name}.log"
        self.records: list[AuditRecord] = []
        self._lock = threading.Lock()
        self._operator = operator_name()

    @property
    def operator(self) -> str:
        """Who runs this session: ``user@host``."""
        return self._operator

    def _write_file(self, path: Path, text: str, mode: str,
                    failed: Callable[[str], AuditError] | None = None) -> None:
        """Write ``text`` to ``path`` (``mode`` ``a`` appends, ``w`` replaces), 0600.

        Args:
            failed: builds the error from ``"cannot write … (reason)"``, saying what had
                been changed by then; default: no claim either way.

        Raises:
            AuditError: the directory or file cannot be written (names both and the fix).
        """
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
        data = memoryview(text.encode("utf-8"))
        with self._lock:
            try:
                # one open, write and close per record (the trail is written as it happens,
                # several records per host and action); the directory is made only when
                # missing (first write, or removed meanwhile)
                try:
                    fd = os.open(path, flags, 0o600)
                except FileNotFoundError:
                    self.directory.mkdir(parents=True, exist_ok=True)
                    fd = os.open(path, flags, 0o600)
                try:
                    while data:
                        data = data[os.write(fd, data):]
                finally:
                    os.close(fd)
            except OSError as exc:
                reason = f"cannot write the audit trail {path} ({exc.strerror or exc})"
                raise (failed or (lambda r: AuditError(r, WRITABLE_FIX)))(reason) from None

    def _append(self, path: Path, text: str,
                failed: Callable[[str], AuditError] | None = None) -> None:
        self._write_file(path, text, "a", failed)

    def check(self) -> None:
        """Make sure the trail can be written (creates the directory).

        Raises:
            AuditError: naming the directory and the reason; nothing was changed.
        """
        self._append(self.trail_path, "", _before_any_change)

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
        """Append one JSON object ``{"ts", "session", "operator", "event", **fields}``.

        Raises:
            AuditError: it cannot be written (the message makes no claim about changes).
        """
        self._record(event, fields, None)

    def _record(self, event: str, fields: dict[str, Any],
                failed: Callable[[str], AuditError] | None) -> None:
        record = {"ts": utc_now(), "session": self.session, "operator": self._operator,
                  "event": event, **fields}
        self._append(self.trail_path, json.dumps(record, ensure_ascii=False) + "\n", failed)

    def plan(self, plan: Plan) -> None:
        """Record a plan about to be executed, with its exact commands.

        Raises:
            AuditError: it cannot be written; nothing was changed (and nothing will be).
        """
        self._record("plan", {
            "action": plan.action, "summary": plan.summary, "hosts": plan.hosts,
            "commands": [{"host": s.host, "command": s.render()} for s in plan.steps],
            "skipped": plan.skipped, "notes": plan.notes}, _before_any_change)

    def result(self, result: PlanResult) -> None:
        """Record a plan's outcome per host (``outcome``: ``ok``, ``unchanged``, ``failed``,
        ``inconclusive``, ``interrupted``) and keep it for :meth:`summary`.

        Raises:
            AuditError: it cannot be written; the message names the hosts whose firewall
                WAS changed (outcome ok) or may have been (failed or interrupted part-way),
                and ``AuditError.changed`` lists them.
        """
        self.records.append(AuditRecord(utc_now(), result.action, result.summary, result.ok,
                                        "; ".join(r.line for r in result.results)))
        self._record("result", {
            "action": result.action, "summary": result.summary, "ok": result.ok,
            "interrupted": result.interrupted,
            "results": [{"host": r.host, "ok": r.ok, "outcome": r.outcome.value,
                         "message": r.message, "duration_s": round(r.duration, 3)}
                        for r in result.results]},
            lambda reason: result_not_recorded(result, reason))

    def note(self, action: str, summary: str, ok: bool, detail: str = "") -> None:
        """Record an action that is not a remote plan (e.g. a notification)."""
        self.write("action", action=action, summary=summary, ok=ok, detail=detail)
        self.records.append(AuditRecord(utc_now(), action, summary, ok, detail))

    def output(self, line: OutputLine) -> None:
        """Append one remote output line to the transcript as
        ``HH:MM:SS host stream: <line>``, the line escaped by
        :func:`irtui.core.text.escape_text`: control characters and bytes that are not UTF-8
        as ``\\xHH``, ``\\`` doubled, so the transcript is safe to ``cat`` and
        :func:`irtui.core.text.unescape_bytes` gives the host's exact bytes back.

        Raises:
            AuditError: it cannot be written; a step was running on ``line.host``, so its
                firewall may have been changed.
        """
        stamp = time.strftime("%H:%M:%S")
        self._append(self.transcript_path,
                     f"{stamp} {line.host} {line.stream}: {escape_text(line.line)}\n",
                     lambda reason: _after_change(reason, (), (line.host,)))

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


def _before_any_change(reason: str) -> AuditError:
    return AuditError(f"{reason}; {NOTHING_CHANGED}", WRITABLE_FIX)


def result_not_recorded(result: PlanResult, reason: str) -> AuditError:
    """The error for a plan's result that could not be recorded (``reason``): it names the
    hosts whose firewall WAS changed (outcome ok) or may have been (failed or interrupted
    part-way), never says nothing was changed."""
    changed = tuple(r.host for r in result.results if r.outcome is Outcome.OK)
    maybe = tuple(r.host for r in result.results if not r.ok)
    return _after_change(reason, changed, maybe)


def _after_change(reason: str, changed: tuple[str, ...], maybe: tuple[str, ...]) -> AuditError:
    """The error for a record that failed once hosts may have been changed: it names them,
    never says nothing was changed."""
    parts = []
    if changed:
        parts.append(f"the firewall WAS changed on {', '.join(changed)}")
    if maybe:
        parts.append(f"the firewall may have been changed on {', '.join(maybe)} "
                     "(its action stopped part-way)")
    if not parts:
        return AuditError(f"{reason}; no host was changed", WRITABLE_FIX)
    return AuditError(f"{' and '.join(parts)} but the record could not be written: {reason}",
                      "note what was done by hand now (irtui status reads each host's live "
                      f"state), then {WRITABLE_FIX}", changed + maybe)
