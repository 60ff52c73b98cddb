"""The :class:`IncidentRecorder`: the audit trail of the actions, written as hash-chained
records of an incident.

It offers what :class:`irtui.core.audit.AuditLog` offers (``check``, ``save_text``, ``write``,
``plan``, ``result``, ``note``, ``output``, ``summary``; ``directory``, ``session``,
``trail_path``, ``transcript_path``, ``records``), so the actions use it unchanged, and adds
the incident, the reason, one record per step (exact command, exit code, duration, SHA-256
of each output stream with the full text kept as an artifact) and per host result.

Crash safety: :meth:`track` writes the plan record (one transaction) before anything runs;
the result comes after. A process killed in between leaves a plan without a result, which
the timeline shows as ``interrupted``; the chain still verifies.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from irtui.core.audit import AuditRecord
from irtui.core.errors import AuditError, InvalidTargetError, IrtuiError
from irtui.core.events import (
    Event,
    HostResult,
    OutputLine,
    PlanResult,
    RollbackEvent,
    StepFinished,
    StepStarted,
)
from irtui.core.plan import EntryFate, Plan
from irtui.core.record.incidents import parse_id
from irtui.core.record.register import IncidentRegister, analyst_name
from irtui.core.record.stops import StopKind, classify
from irtui.core.record.store import Record, RecordStore, SQLiteStore
from irtui.core.record.timeline import actions_of, summary_text
from irtui.core.record.times import utc_stamp
from irtui.core.text import escape_text

if TYPE_CHECKING:
    from irtui.core.settings import Config


def _intent(plan: Plan, params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What the plan means to be true on each host once it succeeds there (for drift)."""
    out: dict[str, dict[str, Any]] = {}
    for host in plan.hosts:
        entries = plan.entries.get(host, {})
        if plan.action == "block":
            wanted = [e for e, st in entries.items()
                      if st.fate in (EntryFate.TO_ADD, EntryFate.REFRESH)]
            out[host] = {"block": wanted}
            if "ttl_s" in params:
                out[host]["ttl_s"] = params["ttl_s"]
            if plan.kept_ttl.get(host):  # kept longer than asked: see Plan.kept_ttl
                out[host]["ttl_kept"] = plan.kept_ttl[host]
        elif plan.action == "unblock":
            out[host] = {"unblock": [e for e, st in entries.items() if not st.refused]}
        elif plan.action in ("isolate", "release"):
            out[host] = {"isolated": plan.action == "isolate"}
            if host in plan.management:
                out[host]["management"] = plan.management[host]
    return out


def rollback_fields(event: RollbackEvent) -> dict[str, Any]:
    """The fields of a ``rollback`` record: host, phase, seconds left and the UTC time the
    host rolls back by itself (for ``armed``/``left armed``), and the host's words."""
    fires = (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + event.seconds))
             if event.seconds is not None else None)
    return {"host": event.host, "phase": event.phase.value, "seconds_left": event.seconds,
            "fires_at": fires, "detail": event.detail}


class ActionTrack:
    """Records one plan's execution: feed it every event, then :meth:`finish`.

    Attributes:
        id: the action's id, the ``seq`` of its plan record.
        incident: the incident it belongs to.
    """

    def __init__(self, recorder: IncidentRecorder, plan: Plan, record: Record) -> None:
        self.recorder = recorder
        self.plan = plan
        self.id = record.seq
        self.incident = record.incident
        self._steps = {h: [s for s in plan.steps if s.host == h] for h in plan.hosts}
        self._done: dict[str, int] = {}
        self._open: dict[str, tuple[str, dict[str, list[str]]]] = {}
        self._lock = threading.Lock()

    def _write(self, kind: str, **fields: Any) -> Record:
        return self.recorder.append(kind, self.incident, action_id=self.id,
                                    action=self.plan.action, **fields)

    def _stream(self, lines: list[str]) -> dict[str, Any]:
        # the host's exact bytes (output lines keep undecodable bytes as surrogates)
        data = "".join(f"{line}\n" for line in lines).encode("utf-8", "surrogateescape")
        if not data:
            return {"sha256": self.recorder.empty_sha, "bytes": 0, "lines": 0}
        ref = self.recorder.store.put_artifact(data)
        return {**ref.as_field(), "lines": len(lines)}

    def event(self, event: Event) -> None:
        """Record what ``event`` says (called from the executor's worker threads)."""
        if isinstance(event, OutputLine):
            self.recorder.output(event)
            with self._lock:
                current = self._open.get(event.host)
            if current is not None:
                current[1].setdefault(event.stream, []).append(event.line)
        elif isinstance(event, StepStarted):
            with self._lock:
                self._open[event.host] = (utc_stamp(), {})
            # so a process killed mid-step leaves a trail of how far it got
            self._write("step", host=event.host, purpose=event.purpose, phase="started")
        elif isinstance(event, RollbackEvent):
            self._write("rollback", **rollback_fields(event))
        elif isinstance(event, StepFinished):
            with self._lock:
                started, streams = self._open.pop(event.host, (utc_stamp(), {}))
                index = self._done.get(event.host, 0)
                self._done[event.host] = index + 1
            steps = self._steps.get(event.host, [])
            command = steps[index].render() if index < len(steps) else event.purpose
            self._write("step", host=event.host, purpose=event.purpose, phase="finished",
                        command=command,
                        started_at=started, exit_code=event.exit_code,
                        duration_s=event.duration,
                        stdout=self._stream(streams.get("stdout", [])),
                        stderr=self._stream(streams.get("stderr", [])))
        elif isinstance(event, HostResult):
            self._write("host_result", host=event.host, outcome=event.outcome.value,
                        ok=event.ok, message=event.message, duration_s=event.duration)

    def finish(self, result: PlanResult) -> None:
        """Write the result record (after every host's)."""
        self._write("result", summary=result.summary, ok=result.ok,
                    interrupted=result.interrupted,
                    results=[{"host": r.host, "outcome": r.outcome.value, "ok": r.ok,
                              "message": r.message, "duration_s": r.duration}
                             for r in result.results])
        detail = "; ".join(r.line for r in result.results)
        self.recorder.records.append(AuditRecord(utc_stamp(), result.action, result.summary,
                                                 result.ok, detail))


class IncidentRecorder:
    """The session's audit trail, kept as records of an incident in ``store``.

    Args:
        store: where records go (see :class:`RecordStore`).
        directory: where the session's transcript and ruleset snapshots are written (the
            ``audit.dir`` of the config), 0600.
        session: session id; default ``YYYYmmddTHHMMSSZ-<pid>``.
        incident: the incident to record in (``--incident``); default the analyst's current
            incident, or a new one opened at the first action.
        reason: why the actions are taken (``--reason``); default the incident's title.
        notice: called with one line when the recorder does something the responder should
            know (e.g. it opened an incident by itself).
    """

    def __init__(self, store: RecordStore, directory: Path, session: str | None = None, *,
                 incident: str | None = None, reason: str = "",
                 notice: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.directory = Path(directory)
        self.session = session or (datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
                                   + f"-{os.getpid()}")
        self.trail_path = Path(store.location)
        self.transcript_path = self.directory / f"{self.session}.log"
        self.records: list[AuditRecord] = []
        self.analyst = analyst_name()
        self.register = IncidentRegister(store, self.analyst, self.session)
        self.reason = reason
        self.confirmation = ""
        """How the analyst confirmed the next plans (``cli``, ``tui``, ``drill``); set by
        the front, recorded with each plan."""
        self.notice = notice or (lambda line: None)
        self.empty_sha = hashlib.sha256(b"").hexdigest()
        self._incident = parse_id(incident) if incident else None
        self._lock = threading.RLock()
        self._params: dict[int, tuple[Plan, dict[str, Any]]] = {}
        self._last: ActionTrack | None = None
        self._last_written = -1
        self._failed_note: tuple[str, int] | None = None

    @classmethod
    def for_config(cls, config: Config, **kwargs: Any) -> IncidentRecorder:
        """A recorder on ``config``'s store (``record.path``) and audit directory."""
        return cls(SQLiteStore(config.resolved_record_path), config.resolved_audit_dir,
                   **kwargs)

    # ---- writing -------------------------------------------------------------------------

    def append(self, kind: str, incident: str | None, **fields: Any) -> Record:
        """Append one record (see :meth:`IncidentRegister.append`)."""
        record = self.register.append(kind, incident, **fields)
        self._last_written = record.seq
        return record

    def _file(self, path: Path, data: bytes, append: bool) -> None:
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, flags, 0o600)
            with open(fd, "wb") as out:
                out.write(data)
        except OSError as exc:
            raise AuditError(f"cannot write the audit trail in {self.directory} "
                             f"({exc.strerror or exc})",
                             "set audit.dir to a writable directory") from None

    def check(self) -> None:
        """Make sure the record and the audit directory can be written (creates both).

        Raises:
            AuditError: naming the place and the reason.
        """
        self._file(self.transcript_path, b"", append=True)
        self.store.check()

    def save_text(self, path: Path, text: str) -> None:
        """Write ``text`` (e.g. a ruleset snapshot) to ``path`` (0600) and record its
        SHA-256, keeping a copy beside the record for chain of custody."""
        data = text.encode("utf-8", "replace")
        self._file(Path(path), data, append=False)
        ref = self.store.put_artifact(data)
        self.append("snapshot", self.incident_for("snapshot"), path=str(path),
                    **ref.as_field())

    def write(self, event: str, **fields: Any) -> None:
        """Record ``fields`` as a record of kind ``event``, in the ``incident`` field's
        incident if it names one (a collection filed under it), else the session's."""
        incident = fields.pop("incident", None) or self.incident_for(event)
        self.append(event, incident, **fields)

    def parameters(self, plan: Plan, **params: Any) -> Plan:
        """Note the parameters ``plan`` was built from (recorded with it); returns it."""
        with self._lock:
            self._params[id(plan)] = (plan, params)
            while len(self._params) > 64:
                self._params.pop(next(iter(self._params)))
        return plan

    def give_reason(self, plan: Plan, reason: str) -> Plan:
        """Record ``reason`` with ``plan`` (instead of the session's :attr:`reason`): the
        hook for the TUI's reason field, prefilled from the incident. Returns ``plan``."""
        return self.parameters(plan, **{**self._params.get(id(plan), (plan, {}))[1],
                                        "reason": reason})

    def track(self, plan: Plan) -> ActionTrack:
        """Write the plan record (one transaction) before ``plan`` runs and return the
        tracker its events go to.

        Raises:
            AuditError: the record or the audit directory cannot be written (nothing ran).
            InvalidTargetError: ``--incident`` names a missing or closed incident.
        """
        self.check()
        incident = self.incident_for(plan.summary)
        with self._lock:
            params = dict(self._params.pop(id(plan), (plan, {}))[1])
        reason = str(params.pop("reason", "") or self.reason)
        title = self.register.get(incident).title
        record = self.append(
            "plan", incident, action=plan.action, summary=plan.summary, hosts=plan.hosts,
            reason=reason or title, reason_given=bool(reason),
            confirmation=self.confirmation, parameters=params,
            commands=[{"host": s.host, "purpose": s.purpose, "command": s.render()}
                      for s in plan.steps],
            entries={h: {e: str(st) for e, st in per.items()}
                     for h, per in plan.entries.items()},
            skipped=plan.skipped, failed=plan.failed, notes=plan.notes,
            intent=_intent(plan, params))
        track = ActionTrack(self, plan, record)
        self._last = track
        return track

    def plan(self, plan: Plan) -> None:
        """As :meth:`AuditLog.plan`: record a plan about to be executed."""
        self.track(plan)

    def result(self, result: PlanResult) -> None:
        """As :meth:`AuditLog.result`: record the outcome of the last plan."""
        if self._last is not None:
            self._last.finish(result)
            self._last = None

    def output(self, line: OutputLine) -> None:
        """Append one remote output line to the session transcript, escaped as the plain
        trail does it (:func:`irtui.core.text.escape_text`: control characters and bytes that
        are not UTF-8 as ``\\xHH``, so the file is safe to ``cat`` and
        :func:`irtui.core.text.unescape_bytes` gives the host's exact bytes back)."""
        stamp = utc_stamp()[11:23]
        self._file(self.transcript_path,
                   f"{stamp} {line.host} {line.stream}: {escape_text(line.line)}\n"
                   .encode(), append=True)

    def note(self, action: str, summary: str, ok: bool, detail: str = "") -> None:
        """Record an action that is not a remote plan (e.g. a notification)."""
        record = self.append("action", self.incident_for(summary), action=action,
                             summary=summary, ok=ok, detail=detail, reason=self.reason)
        self._failed_note = None if ok else (action, record.seq)
        self.records.append(AuditRecord(utc_stamp(), action, summary, ok, detail))

    def error(self, action: str, message: str, error: BaseException | None = None, *,
              dry_run: bool = False) -> None:
        """Record an error that stopped a verb, with whether anything had changed (its
        :class:`~irtui.core.record.stops.StopKind`): a refusal of bad input or an error
        while planning changed nothing and is not a failed action; an error while a plan of
        this session runs, or right after a failed notification of the same verb, belongs
        to that action (``action_id``). Never raises.

        Args:
            action: the verb; message: the error's one line.
            error: the exception; default the one being handled (``sys.exception()``) when
                its line is ``message``.
            dry_run: the verb was a ``--dry-run``.
        """
        if error is None:
            handled = sys.exception()
            error = handled if isinstance(handled, IrtuiError) and handled.line == message \
                else None
        with self._lock:
            running = self._last
            note = self._failed_note
        owner = running.id if running is not None else None
        if owner is None and note is not None and note == (action, self._last_written):
            owner = note[1]
        kind = StopKind.FAILED if owner is not None else classify(error, running=False)
        try:
            incident = self.incident_id()
            if incident:
                self.append("error", incident, action=action, message=message,
                            stop=kind.value, action_id=owner, dry_run=dry_run,
                            error_type=type(error).__name__ if error else None)
        except (AuditError, InvalidTargetError):
            pass

    def declined(self, plan: Plan) -> None:
        """Record a plan the analyst was shown and declined (nothing ran)."""
        self.append("plan.declined", self.incident_for(plan.summary), action=plan.action,
                    summary=plan.summary, hosts=plan.hosts)

    def evidence(self, host: str, name: str, *, data: bytes | None = None,
                 path: Path | None = None, command: str = "", **details: Any) -> Record:
        """Record one piece of evidence (for the triage capability): its SHA-256 and size,
        with ``data`` kept beside the record, or ``path`` hashed where it lies.

        Args:
            host: where it was collected.
            name: what it is (``ps``, ``bodyfile``…).
            data / path: its bytes, or the file holding them (hashed in 1 MiB chunks).
            command: the exact command that produced it.
            details: more fields (``order_of_volatility``, ``truncated``…).

        Raises:
            AuditError: cannot be stored; OSError: ``path`` cannot be read.
        """
        if data is not None:
            ref = self.store.put_artifact(data).as_field()
        else:
            sha, size = hashlib.sha256(), 0
            with open(Path(path or ""), "rb") as fh:
                while chunk := fh.read(1 << 20):
                    sha.update(chunk)
                    size += len(chunk)
            ref = {"sha256": sha.hexdigest(), "bytes": size, "path": str(path)}
        return self.append("evidence", self.incident_for(name), host=host, name=name,
                           command=command, **ref, details=details)

    def screenshot(self, svg: str, title: str, action_id: int | None = None) -> Record:
        """Keep an SVG screen (Textual's ``App.export_screenshot()``) as an artifact record
        (``role: screenshot``); reports embed it."""
        ref = self.store.put_artifact(svg.encode("utf-8"))
        return self.append("artifact", self.incident_for(title), role="screenshot",
                           media_type="image/svg+xml", title=title, action_id=action_id,
                           **ref.as_field())

    # ---- the incident of this session -------------------------------------------------

    def incident_id(self) -> str | None:
        """The incident this session records in, without opening one."""
        return self._incident or self.register.current_id()

    @property
    def pinned_incident(self) -> str | None:
        """The incident this session was told to record in (``--incident``) or has recorded
        in so far; None while it has written nothing (e.g. a dry run). Never opens one."""
        return self._incident

    def use(self, incident_id: str) -> None:
        """Record this session's actions in ``incident_id`` and make it the analyst's
        current incident (the TUI's "switch incident").

        Raises:
            InvalidTargetError: no such incident.
        """
        incident = self.register.use(incident_id)
        with self._lock:
            self._incident = incident.id

    def incident_for(self, what: str) -> str:
        """The incident the next record belongs to: ``--incident``, else the current one,
        else a new one (told through ``notice``). Pinned for the rest of the session.

        Raises:
            InvalidTargetError: the named incident is missing or closed.
        """
        with self._lock:
            wanted = self._incident
            current = wanted or self.register.current_id()
            if current:
                incident = self.register.all().get(current)
                if incident is not None and not incident.closed:
                    self._incident = current
                    return current
                if wanted:
                    self.register.get(wanted)  # raises when missing
                    raise InvalidTargetError(
                        f"incident {wanted} is closed",
                        f"reopen it (irtui incident status {wanted} --set analysing) or "
                        "open a new one (irtui incident new TITLE)")
            opened = self.register.open(f"opened at the first action: {what}", "unassessed")
            self._incident = opened.id
            self.notice(f"recording in new incident {opened.id} (there was no current "
                        "incident; irtui incident new TITLE opens one with a title)")
            return opened.id

    def summary(self) -> str:
        """The current incident's actions as plain text (all sessions, CLI and TUI alike),
        one line each, for a notification body. Never raises: an unreadable record gives
        one line saying so."""
        try:
            incident = self.register.all().get(self.incident_id() or "")
            if incident is None:
                return "No containment actions recorded yet (no current incident)."
            actions = actions_of(self.store.records(incident.id))
        except AuditError as exc:
            return f"The incident record cannot be read: {exc.line}"
        return summary_text(incident, actions, self.store.location)
