"""Per-feed accounting: what happened to every record of a feed once a plan was built
(read, planned, duplicates, refused by reason), so no line of a feed is silently lost."""

from __future__ import annotations

import socket
from collections import Counter
from dataclasses import dataclass, field

from irtui.core.errors import InvalidTargetError
from irtui.core.feed_formats import Feed
from irtui.core.ioc_paste import refang
from irtui.core.plan import EntryFate, Plan
from irtui.core.targets import parse_network


@dataclass(frozen=True)
class FeedAccount:
    """One feed's accounting against a plan.

    Attributes:
        name: the feed's name (path or ``stdin``) and ``format`` its detected format.
        read: records read (lines, rows, decisions or patterns).
        planned: distinct entries the plan adds, refreshes or (an unblock) removes on at
            least one host.
        duplicates: entries that repeat an earlier entry of the feed (after normalising).
        refused: reason → count, for entries refused everywhere and records the format
            reader could not use.
    """

    name: str
    format: str
    read: int
    planned: int
    duplicates: int
    refused: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        """``feed.txt (list): read 1,204 · planned 1,180 · duplicates 4 · refused 20
        (is not an IP address or CIDR: 3, …)``."""
        total = sum(self.refused.values())
        reasons = ", ".join(f"{why}: {n:,}" for why, n in
                            sorted(self.refused.items(), key=lambda kv: -kv[1])[:6])
        return (f"{self.name} ({self.format}): read {self.read:,} · planned {self.planned:,}"
                f" · duplicates {self.duplicates:,} · refused {total:,}"
                + (f" ({reasons})" if reasons else ""))


def _key(text: str) -> str:
    """The plan's accounting key for one feed entry: the normalised network, else the text."""
    if "/" not in text:
        try:  # a bare dotted quad (inet_pton(3) takes only the canonical form): feed fast path
            socket.inet_pton(socket.AF_INET, text)
            return f"{text}/32"
        except (OSError, ValueError):  # ValueError: a NUL or a lone surrogate in the text
            pass
    try:
        return str(parse_network(refang(text))[0])
    except InvalidTargetError:
        return text.strip()


def _category(reason: str, entry: str) -> str:
    """A refusal reason without the entry it is about, so equal rules count together: only
    a leading subject (``'bogus' is not…``, ``127.0.0.1/32 overlaps…``) is dropped; the
    entry named elsewhere in the reason (``overlaps 198.18.16.1/32, the responder's
    management address``, refusing that very address) is the rule's network and stays."""
    text = reason.strip()
    for subject in (repr(entry), entry):
        if subject and text.startswith(subject):
            text = text[len(subject):]
            break
    text = text.strip(" :")
    return text.split(";")[0].strip() or reason


def account(name: str, feed: Feed, plan: Plan | None) -> FeedAccount:
    """Account for ``feed`` in ``plan`` (None: the plan could not be built, every entry is
    counted as not planned)."""
    keys = [_key(e) for e in feed.entries]
    distinct = list(dict.fromkeys(keys))
    planned: set[str] = set()
    refusal: dict[str, str] = {}
    for per_host in (plan.entries.values() if plan else []):
        for key, status in per_host.items():
            if status.fate in (EntryFate.TO_ADD, EntryFate.REFRESH, EntryFate.TO_REMOVE):
                planned.add(key)
            elif status.refused:
                refusal.setdefault(key, _category(status.reason, key))
    refused: Counter[str] = Counter(_category(why, item) for item, why in feed.refused)
    refused.update(refusal[k] for k in distinct if k not in planned and k in refusal)
    return FeedAccount(name, feed.format, feed.lines,
                       sum(1 for k in distinct if k in planned), len(keys) - len(distinct),
                       dict(refused))
