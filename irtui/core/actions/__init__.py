"""The actions: one module per capability, sharing the pieces named for what they are.

- :mod:`.block` — block/unblock IOCs; :mod:`.isolate` — commit-confirmed isolation/release;
  :mod:`.status` — read hosts; :mod:`.notify` — tell the team; :mod:`.collect` — forensic
  triage (evidence) and collect-then-contain.
- Shared: :mod:`.context` (the session), :mod:`.profiles` (preflight cache),
  :mod:`.guardrails` (what may never be blocked), :mod:`.runner` (running commands).
- :mod:`.facade` — :class:`Responder`, the small API the TUI and the CLI call.
"""

from irtui.core.actions.facade import Responder
from irtui.core.actions.profiles import HostProfile

__all__ = ["HostProfile", "Responder"]
