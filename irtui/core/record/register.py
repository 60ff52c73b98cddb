"""The incident register: opening incidents, changing their status, notes, and each
analyst's current incident — every change written as a record of the chain.

Also the one place that builds a record's common fields (UTC time, kind, incident, analyst,
session), with secrets redacted by field name (:func:`clean`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from irtui.core.errors import InvalidTargetError
from irtui.core.identity import analyst
from irtui.core.record.incidents import (
    Incident,
    Phase,
    check_severity,
    check_transition,
    incidents_from,
    next_id,
    parse_id,
)
from irtui.core.record.store import IdAllocator, Record, RecordStore
from irtui.core.record.times import parse_past_time, utc_stamp

SECRET_KEY = re.compile(r"pass(word|phrase)|secret|token|api.?key|credential", re.IGNORECASE)
"""Field names whose values are never recorded (replaced by ``[redacted]``)."""
INCIDENT_KINDS = ("incident.opened", "incident.status", "incident.note")


def analyst_name() -> str:
    """The analyst as ``user@host`` (see :func:`irtui.core.identity.analyst`)."""
    return analyst()


def _secret(key: str) -> bool:
    """True when ``key`` names a secret (:data:`SECRET_KEY`). An ASCII key first needs one
    of the words' letters in a row (cheap, and every match holds one): a plan's 100,000
    address keys then skip the regular expression. Other keys always take it (its
    case-insensitive match also folds e.g. U+017F to "s")."""
    if key.isascii():
        low = key.lower()
        if not ("pass" in low or "secret" in low or "token" in low or "credential" in low
                or ("api" in low and "key" in low)):
            return False
    return SECRET_KEY.search(key) is not None


def clean(value: Any, key: str = "") -> Any:
    """``value`` made fit for a record: secrets (by field name) redacted, text made valid
    UTF-8, floats rounded to milliseconds, tuples/paths/enums as JSON values."""
    if key and _secret(key) and value not in (None, ""):
        return "[redacted]"
    if isinstance(value, str):  # first: a feed's 100,000 entries are strings
        return value if value.isascii() else value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            key = k if type(k) is str else str(k)
            # a plan's 100,000 entries are ASCII text under address keys: kept as they are
            out[key] = v if type(v) is str and v.isascii() and not _secret(key) \
                else clean(v, key)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [clean(v) for v in value]
    if isinstance(value, bool | int) or value is None:
        return value
    if isinstance(value, float):
        return round(value, 3) if value == value and abs(value) != float("inf") else str(value)
    inner = getattr(value, "value", None)
    return clean(inner if isinstance(inner, str | int) else str(value))


class IncidentRegister:
    """Incidents kept in ``store``, written as ``analyst`` in ``session``.

    Args:
        store: the record store.
        analyst: ``user@host`` (see :func:`analyst_name`).
        session: the session id written in each record.
    """

    def __init__(self, store: RecordStore, analyst: str, session: str) -> None:
        self.store = store
        self.analyst = analyst
        self.session = session

    def append(self, kind: str, incident: str | None, allocate: IdAllocator | None = None,
               **fields: Any) -> Record:
        """Append one record of ``kind`` to ``incident`` with the common fields.

        Raises:
            AuditError: the store cannot be written.
        """
        body = clean({**fields, "ts": utc_stamp(), "kind": kind, "incident": incident,
                      "analyst": self.analyst, "session": self.session})
        return self.store.append(body, allocate)

    @property
    def current_key(self) -> str:
        """The settings key of this analyst's current incident."""
        return f"current:{self.analyst}"

    def current_id(self) -> str | None:
        """This analyst's current incident id, if any."""
        return self.store.setting(self.current_key)

    def all(self) -> dict[str, Incident]:
        """Every incident in the store, rebuilt from its records, in order of opening."""
        return incidents_from(self.store.records(kinds=INCIDENT_KINDS))

    def get(self, incident_id: str) -> Incident:
        """The incident ``incident_id`` (any case).

        Raises:
            InvalidTargetError: malformed id, or no such incident.
        """
        found = self.all().get(parse_id(incident_id))
        if found is None:
            raise InvalidTargetError(f"incident {incident_id} is not in the record "
                                     f"({self.store.location})",
                                     "see irtui incident list, or open one with irtui "
                                     "incident new TITLE")
        return found

    def open(self, title: str, severity: str = "medium",
             detected_at: str | None = None) -> Incident:
        """Open an incident (status ``detected``) and make it the analyst's current one.

        Args:
            title: one line.
            severity: one of :data:`~irtui.core.record.incidents.SEVERITIES`.
            detected_at: when the activity was detected (ISO 8601; no offset = UTC).

        Raises:
            InvalidTargetError: empty title, unknown severity, malformed time.
        """
        if not title.strip():
            raise InvalidTargetError("an incident needs a title", "give it one line of text")
        detected = utc_stamp(parse_past_time(detected_at)) if detected_at else None
        year = datetime.now(UTC).year
        record = self.append("incident.opened", None, lambda used: next_id(year, used),
                             title=" ".join(title.split()), severity=check_severity(severity),
                             detected_at=detected)
        return self.use(record.incident)

    def use(self, incident_id: str) -> Incident:
        """Make ``incident_id`` the analyst's current incident.

        Raises:
            InvalidTargetError: no such incident.
        """
        incident = self.get(incident_id)
        self.store.set_setting(self.current_key, incident.id)
        return incident

    def set_status(self, incident_id: str, status: Phase, note: str = "") -> Incident:
        """Move an incident to ``status`` (allowed transitions only), recorded; closing
        the analyst's current incident clears it.

        Raises:
            InvalidTargetError: no such incident, or the transition is not allowed.
        """
        incident = self.get(incident_id)
        check_transition(incident.status, status)
        self.append("incident.status", incident.id, to=status.value,
                    **{"from": incident.status.value}, note=note)
        if status is Phase.CLOSED and self.current_id() == incident.id:
            self.store.set_setting(self.current_key, None)
        return self.get(incident.id)

    def add_note(self, incident_id: str, text: str) -> None:
        """Add a free-text note to an incident.

        Raises:
            InvalidTargetError: no such incident, or an empty note.
        """
        if not text.strip():
            raise InvalidTargetError("the note is empty", "give the note's text")
        self.append("incident.note", self.get(incident_id).id, text=text)
