"""A plan's summary for a responder under pressure: what happens on each host first (to add,
already present, refused and why, failed before any change, nothing to do), the exact commands
after. Both fronts can show it (the TUI's confirmation opens on it).

Built only from the plan's typed accounting (:class:`~irtui.core.plan.EntryStatus` per
entry and host, ``plan.failed``, ``plan.skipped``); no text is parsed back.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass

from irtui.core.plan import EntryFate, Plan

MAX_REFUSED_SHOWN = 5
"""Refusal reasons listed per host (or for all hosts); the rest are counted."""


class Tone(enum.Enum):
    """How a summary line should stand out."""

    HEAD = "head"
    CHANGE = "change"
    QUIET = "quiet"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class SummaryLine:
    """One line of :func:`summarize`: its text and its :class:`Tone`."""

    text: str
    tone: Tone


def _fates(counts: Counter[EntryFate]) -> str:
    order = (EntryFate.TO_ADD, EntryFate.REFRESH, EntryFate.TO_REMOVE, EntryFate.NOT_PRESENT,
             EntryFate.REFUSED)
    return ", ".join(f"{counts[f]:,} {f.family}" for f in order if counts[f])


def _reasons(refused: dict[str, str], indent: str) -> list[SummaryLine]:
    """``entry — reason`` lines, entries with the same reason joined."""
    by_reason: dict[str, list[str]] = {}
    for entry, reason in refused.items():
        by_reason.setdefault(reason or "refused", []).append(entry)
    out = []
    for reason, entries in list(by_reason.items())[:MAX_REFUSED_SHOWN]:
        shown = ", ".join(entries[:3]) + (f" and {len(entries) - 3:,} more"
                                          if len(entries) > 3 else "")
        out.append(SummaryLine(f"{indent}✗ {shown} — {reason}", Tone.WARN))
    if len(by_reason) > MAX_REFUSED_SHOWN:
        out.append(SummaryLine(f"{indent}… and {len(by_reason) - MAX_REFUSED_SHOWN} more "
                               "reasons (c: the full plan)", Tone.WARN))
    return out


def summarize(plan: Plan) -> list[SummaryLine]:
    """The plan, host by host, before any command.

    Returns:
        Lines: per host its counts by fate and its refusals with reasons, or "FAILED before
        any change: <why>", or "nothing to do: <why>"; then entries refused on every host
        (once, with their reasons); then the notes; then one total line.
    """
    refused_everywhere: dict[str, str] = {}
    per_host = [plan.entries.get(h, {}) for h in plan.hosts if h in plan.entries]
    if len(per_host) > 1:
        common = set.intersection(*({e for e, st in p.items() if st.refused} for p in per_host))
        refused_everywhere = {e: per_host[0][e].reason for e in per_host[0] if e in common}
    width = max((len(h) for h in plan.hosts), default=0)
    lines: list[SummaryLine] = []
    changing = 0
    for host in plan.hosts:
        name = host.ljust(width)
        if host in plan.failed:
            why = plan.failed[host].removeprefix(f"{host}: ")
            lines.append(SummaryLine(f"{name}  ✗ FAILED before any change: {why}",
                                     Tone.FAIL))
            continue
        steps = sum(s.host == host for s in plan.steps)
        entries = plan.entries.get(host, {})
        counts = Counter(st.fate for e, st in entries.items() if e not in refused_everywhere)
        if host in plan.skipped:
            detail = _fates(counts)
            lines.append(SummaryLine(f"{name}  nothing to do: {plan.skipped[host]}"
                                     + (f" ({detail})" if detail else ""), Tone.QUIET))
        else:
            changing += 1
            what = _fates(counts) or f"{plan.action}"
            lines.append(SummaryLine(f"{name}  {what} · {steps} command"
                                     f"{'s' * (steps != 1)}", Tone.CHANGE))
        refused = {e: st.reason for e, st in entries.items()
                   if st.refused and e not in refused_everywhere}
        lines += _reasons(refused, " " * (width + 2))
    if refused_everywhere:
        lines.append(SummaryLine(f"refused on every host ({len(refused_everywhere):,}):",
                                 Tone.WARN))
        lines += _reasons(refused_everywhere, "  ")
    lines += [SummaryLine(f"note: {n}", Tone.QUIET) for n in plan.notes]
    total = plan.counts()
    tally = [f"{changing} of {len(plan.hosts)} host{'s' * (len(plan.hosts) != 1)} change"]
    if plan.failed:
        tally.append(f"{len(plan.failed)} failed before any change")
    if total:
        tally.append("entries: " + ", ".join(f"{n:,} {k}" for k, n in sorted(total.items())))
    lines.append(SummaryLine(" · ".join(tally), Tone.FAIL if plan.failed else Tone.HEAD))
    return lines


def failed_line(plan: Plan) -> str:
    """``"✗ host3 FAILED before any change — the other hosts go ahead"``, or ``""``."""
    if not plan.failed:
        return ""
    names = list(plan.failed)
    shown = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
    rest = "the other hosts go ahead" if len(names) < len(plan.hosts) else "nothing will run"
    return f"✗ {shown} FAILED before any change — {rest}"
