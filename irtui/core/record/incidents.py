"""Incidents: ids, severities, the response phases and their allowed transitions, and the
incident as rebuilt from its records.

Nothing about an incident is kept outside the chain: opening, every status change and every
note are records (``incident.opened``, ``incident.status``, ``incident.note``), so the
incident's history is as tamper-evident as its actions. :func:`incidents_from` folds them.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from irtui.core.errors import InvalidTargetError
from irtui.core.record.store import Record

ID_RE = re.compile(r"^INC-(\d{4})-(\d{4,6})$", re.IGNORECASE)
SEVERITIES = ("unassessed", "low", "medium", "high", "critical")
"""``unassessed`` is what an incident opened automatically by a first action gets."""


class Phase(enum.Enum):
    """The response phases of NIST SP 800-61 Rev. 2 (§3, "Incident Handling"): detection and
    analysis, containment, eradication and recovery, post-incident activity (closed)."""

    DETECTED = "detected"
    ANALYSING = "analysing"
    CONTAINED = "contained"
    RECOVERING = "recovering"
    CLOSED = "closed"


TRANSITIONS: dict[Phase, tuple[Phase, ...]] = {
    Phase.DETECTED: (Phase.ANALYSING, Phase.CONTAINED, Phase.CLOSED),
    Phase.ANALYSING: (Phase.CONTAINED, Phase.CLOSED),
    Phase.CONTAINED: (Phase.RECOVERING, Phase.ANALYSING),
    Phase.RECOVERING: (Phase.CLOSED, Phase.ANALYSING),
    Phase.CLOSED: (Phase.ANALYSING,),
}
"""Allowed status changes. Containing before analysis is finished is allowed (SP 800-61
§3.3.1: containment often comes first); going back to analysing covers a failed containment,
reinfection during recovery, and reopening a closed incident. Closing straight from
detected/analysing is for false positives."""


def parse_phase(text: str) -> Phase:
    """``"contained"`` → :attr:`Phase.CONTAINED` (also ``analyzing``).

    Raises:
        InvalidTargetError: not a phase.
    """
    value = text.strip().lower().replace("analyzing", "analysing")
    for phase in Phase:
        if phase.value == value:
            return phase
    raise InvalidTargetError(f"{text!r} is not an incident status",
                             "use one of " + ", ".join(p.value for p in Phase))


def check_transition(current: Phase, wanted: Phase) -> None:
    """Raise unless ``current`` → ``wanted`` is in :data:`TRANSITIONS`.

    Raises:
        InvalidTargetError: naming the allowed next statuses.
    """
    allowed = TRANSITIONS[current]
    if wanted not in allowed:
        raise InvalidTargetError(
            f"an incident cannot go from {current.value} to {wanted.value}",
            "from " + current.value + " go to " + " or ".join(p.value for p in allowed))


def format_id(year: int, number: int) -> str:
    """``INC-2026-0042``."""
    return f"INC-{year:04d}-{number:04d}"


def parse_id(text: str) -> str:
    """Normalise an incident id as typed (``inc-2026-0042`` → ``INC-2026-0042``).

    Raises:
        InvalidTargetError: not of the form ``INC-YYYY-NNNN``.
    """
    match = ID_RE.match(text.strip()) if isinstance(text, str) else None
    if match is None or int(match.group(2)) == 0:
        raise InvalidTargetError(f"{text!r} is not an incident id",
                                 "give one like INC-2026-0042 (see irtui incident list)")
    return format_id(int(match.group(1)), int(match.group(2)))


def next_id(year: int, used: Iterable[str]) -> str:
    """The next free id of ``year`` after every id in ``used`` (ids of other years and
    malformed ones are ignored)."""
    numbers = [int(m.group(2)) for u in used if (m := ID_RE.match(u or ""))
               and int(m.group(1)) == year]
    return format_id(year, max(numbers, default=0) + 1)


def check_severity(text: str) -> str:
    """Validate a severity.

    Raises:
        InvalidTargetError: not one of :data:`SEVERITIES`.
    """
    value = text.strip().lower()
    if value not in SEVERITIES:
        raise InvalidTargetError(f"{text!r} is not a severity",
                                 "use one of " + ", ".join(SEVERITIES))
    return value


@dataclass(frozen=True)
class Note:
    """A note on an incident: when, by whom, what."""

    ts: str
    analyst: str
    text: str


@dataclass
class Incident:
    """An incident as its records say.

    Attributes:
        id: ``INC-2026-0042``.
        title: one line.
        severity: one of :data:`SEVERITIES`.
        opened_at: UTC time of the opening record.
        opened_by: analyst (``user@host``) who opened it.
        detected_at: when the activity was detected, if given at opening.
        closed_at: UTC time of the last change to ``closed`` (None while open).
        analysts: everyone who wrote a record of it, in order of first appearance.
        notes: free-text notes, in order.
        history: ``(ts, analyst, from, to, note)`` for every status change.
        records: how many records it has.
    """

    id: str
    title: str
    severity: str
    status: Phase
    """The current phase (NIST SP 800-61; see :data:`TRANSITIONS`)."""
    opened_at: str
    opened_by: str
    detected_at: str | None = None
    closed_at: str | None = None
    analysts: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    history: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    records: int = 0

    @property
    def closed(self) -> bool:
        """True while the status is closed."""
        return self.status is Phase.CLOSED


def incidents_from(records: Sequence[Record]) -> dict[str, Incident]:
    """Rebuild every incident from records (chain order); records of an incident whose
    opening record is missing are ignored here (``audit verify`` reports the gap).

    Returns:
        id → :class:`Incident`, in order of opening.
    """
    out: dict[str, Incident] = {}
    for record in records:
        inc_id = record.incident
        analyst = str(record.get("analyst", ""))
        if record.kind == "incident.opened":
            out[inc_id] = Incident(
                inc_id, str(record.get("title", "")), str(record.get("severity", "medium")),
                Phase.DETECTED, record.ts, analyst, record.get("detected_at"))
        incident = out.get(inc_id)
        if incident is None:
            continue
        incident.records += 1
        if analyst and analyst not in incident.analysts:
            incident.analysts.append(analyst)
        if record.kind == "incident.status":
            try:
                new = parse_phase(str(record.get("to", "")))
            except InvalidTargetError:
                continue
            incident.history.append((record.ts, analyst, incident.status.value, new.value,
                                     str(record.get("note", ""))))
            incident.status = new
            incident.closed_at = record.ts if new is Phase.CLOSED else None
        elif record.kind == "incident.note":
            incident.notes.append(Note(record.ts, analyst, str(record.get("text", ""))))
    return out
