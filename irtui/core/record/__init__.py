"""The incident record: incidents, a hash-chained append-only audit trail, drift between what
irtui meant to be true and what the hosts say, reports with metrics.

- :mod:`.store` — :class:`RecordStore` (the interface) and :class:`SQLiteStore` (WAL).
- :mod:`.chain` — canonical record bytes, SHA-256 links, verification naming the bad record.
- :mod:`.incidents` — ids, severities, NIST SP 800-61 phases and transitions.
- :mod:`.recorder` — :class:`IncidentRecorder`, what the actions write through.
- :mod:`.timeline` — records grouped into actions; :mod:`.stops` — runs stopped by an error
  (whether anything changed); :mod:`.metrics` — what a report measures.
- :mod:`.drift` — intended state from the record vs live read-back.
- :mod:`.report` — Markdown and standalone HTML (Jinja2 templates in ``templates/``).
- :mod:`.legacy` — importing the JSON Lines trails of earlier versions.
- :mod:`.signing` — signing the chain head with an SSH key (``ssh-keygen -Y``).
"""

from irtui.core.record.recorder import IncidentRecorder
from irtui.core.record.store import RecordStore, SQLiteStore

__all__ = ["IncidentRecorder", "RecordStore", "SQLiteStore"]
