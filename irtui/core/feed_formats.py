"""IOC feed formats seen in the field, detected by content.

Each reader returns the feed's entries as text, in order, without validating them: the
action validates and accounts for every entry (see :mod:`irtui.core.actions.block`). What a
reader cannot turn into an address entry exactly (a STIX pattern with conditions, a
CrowdSec decision that is not a ban of an IP or range) is returned as a refusal with its
reason, so it is accounted for instead of silently dropped.

Formats (FIELD-NOTES, "Feed formats seen in the field"):

- ``crowdsec``: ``cscli decisions list -o json`` — a list of alerts with ``decisions[]``.
- ``stix``: a STIX 2.1 bundle or list of indicators (``"pattern": "[ipv4-addr:value = '…']"``),
  or patterns one per line.
- ``spamhaus-json``: Spamhaus DROP in JSON lines (``{"cidr": …, "sblid": …}``).
- ``csv``: a header row naming an address column (``ip``, ``dst_ip``, ``indicator``…),
  including abuse.ch's style where the header is the last ``#`` comment line.
- ``list``: one entry per line, ``#`` or ``;`` comments, whole-line or trailing (plain
  lists, FireHOL netsets, Spamhaus DROP/EDROP ``CIDR ; SBLnnn``).
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any

from irtui.core.errors import InvalidTargetError

ADDRESS_COLUMNS = ("address", "ip", "ioc", "indicator", "cidr", "network", "value",
                   "src_ip", "dst_ip", "dstip", "ip_address", "ioc_value")
"""CSV column names taken as the address column, first match wins (case-insensitive)."""

_STIX_VALUE = re.compile(
    r"\[\s*(ipv4-addr|ipv6-addr)\s*:\s*value\s*(=|ISSUBSET)\s*'((?:[^'\\]|\\.)*)'\s*\]")
_STIX_COMPARISON = re.compile(r"\[[^\]]*\]")
_STIX_SAFE_JOIN = re.compile(r"^\s*(\[[^\]]*\]\s*(OR\s+|$))+$", re.IGNORECASE)


@dataclass
class Feed:
    """What a feed file holds.

    Attributes:
        format: the detected format name (see the module docstring).
        entries: address/CIDR texts in feed order (not validated yet).
        refused: ``(item, reason)`` for items the format reader could not turn into an
            entry exactly.
        lines: how many non-blank, non-comment records were read.
    """

    format: str
    entries: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    lines: int = 0


def _strip_comment(line: str) -> str:
    cut = len(line)
    for mark in ("#", ";"):
        at = line.find(mark)
        if at >= 0:
            cut = min(cut, at)
    return line[:cut].strip()


def _addresses_in_comment(line: str, value: str) -> list[str]:
    """The addresses a trailing comment holds as whole words (``a;b;c``, ``a # b``): more
    entries on the line, which the comment rule would drop without a word."""
    rest = line.strip()[len(value):]
    found = []
    for word in re.split(r"[\s;#,]+", rest):
        try:
            ipaddress.ip_network(word, strict=False)
        except ValueError:
            continue
        found.append(word)
    return found


def read_list(text: str) -> Feed:
    """One entry per line; ``#`` and ``;`` start comments (whole-line or trailing), so
    plain lists, FireHOL netsets and Spamhaus DROP/EDROP (``CIDR ; SBLnnn``) all read. A
    trailing comment that starts with an address (``203.0.113.5;203.0.113.6``) is reported
    as refused: the first entry is read, the second is not, and the summary says so."""
    feed = Feed("list")
    for line in text.splitlines():
        value = _strip_comment(line)
        if value:
            feed.lines += 1
            feed.entries.append(value)
            if len(value) < len(line.strip()):
                feed.refused += [(other, f"follows {value} on the same line, in the part a "
                                  "list feed reads as a comment: not read as an entry (put "
                                  "one entry per line)")
                                 for other in _addresses_in_comment(line, value)]
    return feed


def _header_index(header: list[str]) -> int | None:
    names = [h.strip().strip('"').strip().lower() for h in header]
    return next((names.index(c) for c in ADDRESS_COLUMNS if c in names), None)


def _comment_header(lines: list[str]) -> list[str] | None:
    """abuse.ch style: the last ``#`` line before the data, if it is a CSV header naming an
    address column."""
    last = None
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#"):
            break
        last = stripped
    if last is None:
        return None
    row = next(csv.reader([last.lstrip("#").strip()]), [])
    return row if len(row) > 1 and _header_index(row) is not None else None


def read_csv(text: str, name: str) -> Feed:
    """CSV (RFC 4180) whose header names an address column; the header may be the last
    ``#`` comment line (abuse.ch). Other ``#`` lines are comments.

    Raises:
        InvalidTargetError: the header has no address column.
    """
    lines = text.splitlines()
    header = _comment_header(lines)
    body = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    rows = csv.reader(io.StringIO(body))
    if header is None:
        header = next(rows, [])
    column = _header_index(header)
    if column is None:
        raise InvalidTargetError(
            f"{name}: CSV header {','.join(h.strip() for h in header)!r} has no address "
            "column", f"name the column one of: {', '.join(ADDRESS_COLUMNS)}")
    feed = Feed("csv")
    for row in rows:
        if not any(cell.strip() for cell in row):
            continue
        feed.lines += 1
        if len(row) > column and row[column].strip():
            feed.entries.append(row[column].strip())
    return feed


def _stix_pattern(pattern: str, feed: Feed) -> None:
    """Take the address values of one STIX pattern; a pattern that is not a plain OR of
    ``ipv4-addr/ipv6-addr:value =|ISSUBSET`` comparisons is refused (blocking only its
    address would not be the indicator)."""
    feed.lines += 1
    comparisons = _STIX_COMPARISON.findall(pattern)
    values = [_STIX_VALUE.fullmatch(c.strip()) for c in comparisons]
    if not comparisons or not _STIX_SAFE_JOIN.match(pattern) or not all(values):
        feed.refused.append((pattern.strip(), "STIX pattern is not a plain list of IP "
                             "address values (other objects, AND/NOT/LIKE or qualifiers): "
                             "irtui cannot enforce it exactly"))
        return
    feed.entries += [m.group(3) for m in values if m]


def read_stix(doc: Any) -> Feed:
    """STIX 2.1: a bundle (``objects``), a list of indicators, one indicator, or a list of
    pattern strings. Non-indicator objects are ignored; indicators whose ``pattern_type``
    is not ``stix`` are refused."""
    feed = Feed("stix")
    objects = doc.get("objects", [doc]) if isinstance(doc, dict) else doc
    for obj in objects if isinstance(objects, list) else []:
        if isinstance(obj, str):
            _stix_pattern(obj, feed)
        elif isinstance(obj, dict) and obj.get("type") == "indicator":
            if obj.get("pattern_type", "stix") != "stix":
                feed.lines += 1
                feed.refused.append((str(obj.get("id", "indicator")),
                                     f"pattern_type {obj.get('pattern_type')!r} is not stix"))
            else:
                _stix_pattern(str(obj.get("pattern", "")), feed)
    return feed


def read_crowdsec(doc: Any) -> Feed:
    """``cscli decisions list -o json``: alerts with ``decisions[]`` (``value``, ``scope``
    ``Ip``/``Range``, ``type``). Only ``ban`` decisions on an IP or a range are entries;
    others (captcha, country or AS scopes) are refused with the reason."""
    feed = Feed("crowdsec")
    for alert in doc or []:
        for decision in (alert.get("decisions") or []) if isinstance(alert, dict) else []:
            feed.lines += 1
            value = str(decision.get("value", "")).strip()
            scope = str(decision.get("scope", "")).lower()
            kind = str(decision.get("type", "")).lower()
            if scope not in ("ip", "range"):
                feed.refused.append((f"{scope}:{value}", f"CrowdSec scope {scope!r} is not "
                                     "an IP or a range"))
            elif kind != "ban":
                feed.refused.append((value, f"CrowdSec decision type {kind!r} is not a ban"))
            else:
                feed.entries.append(value)
    return feed


def _is_crowdsec(doc: Any) -> bool:
    return isinstance(doc, list) and any(isinstance(a, dict) and "decisions" in a
                                         for a in doc)


def _is_stix(doc: Any) -> bool:
    if isinstance(doc, dict):
        return doc.get("type") in ("bundle", "indicator")
    return isinstance(doc, list) and any(
        (isinstance(o, dict) and o.get("type") == "indicator")
        or (isinstance(o, str) and _STIX_COMPARISON.search(o)) for o in doc)


def _json_lines(text: str) -> list[Any] | None:
    docs = []
    for line in text.splitlines():
        if line.strip():
            try:
                docs.append(json.loads(line))
            except ValueError:
                return None
    return docs


def read_spamhaus_json(docs: list[Any]) -> Feed:
    """Spamhaus DROP as JSON lines: ``{"cidr": …, "sblid": …}`` per line and a final
    ``{"type": "metadata", …}`` line."""
    feed = Feed("spamhaus-json")
    for doc in docs:
        if isinstance(doc, dict) and "cidr" in doc:
            feed.lines += 1
            feed.entries.append(str(doc["cidr"]).strip())
    return feed


_NOT_A_FEED_FIX = ("give a CrowdSec decisions export (cscli decisions list -o json), a STIX 2.1 "
                   "bundle of indicators, Spamhaus DROP (text or JSON), CSV with an address "
                   "column, or one address per line")


def _read_json(stripped: str, name: str) -> Feed | None:
    """The JSON formats; None when the text is not JSON at all (it may be STIX pattern
    text that starts with ``[``)."""
    try:
        doc = json.loads(stripped)
    except ValueError:
        lines = _json_lines(stripped)
        if lines and any(isinstance(d, dict) and "cidr" in d for d in lines):
            return read_spamhaus_json(lines)
        if stripped.startswith("{"):
            raise InvalidTargetError(f"{name}: looks like JSON but does not parse",
                                     _NOT_A_FEED_FIX) from None
        return None
    if doc is None or doc == []:
        return Feed("json")  # `cscli decisions list -o json` prints null when empty
    if isinstance(doc, dict) and "cidr" in doc:
        return read_spamhaus_json([doc])
    if _is_crowdsec(doc):
        return read_crowdsec(doc)
    if _is_stix(doc):
        return read_stix(doc)
    raise InvalidTargetError(f"{name}: JSON that is not a feed irtui reads", _NOT_A_FEED_FIX)


def _read_stix_text(text: str) -> Feed:
    feed = Feed("stix")
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            _stix_pattern(line, feed)
    return feed


def detect_and_read(text: str, name: str = "feed") -> Feed:
    """Detect the feed's format by its content and read it.

    Raises:
        InvalidTargetError: JSON that is none of the known formats, or CSV without an
            address column (the message names the formats irtui reads).
    """
    stripped = text.strip()
    if stripped[:1] in ("[", "{") or stripped == "null":
        feed = _read_json(stripped, name)
        if feed is not None:
            return feed
    if _STIX_VALUE.search(stripped):
        return _read_stix_text(stripped)
    lines = text.splitlines()
    first = next((line for line in lines if _strip_comment(line)), "")
    if _comment_header(lines) is not None or "," in _strip_comment(first):
        return read_csv(text, name)
    return read_list(text)
