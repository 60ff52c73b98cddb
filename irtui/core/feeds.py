"""Read IOC feeds: one address/CIDR per line with ``#`` comments, or CSV with an address
column (RFC 4180, via the csv module)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from irtui.core.errors import InvalidTargetError
from irtui.core.textfile import TextLimits, read_text_file

ADDRESS_COLUMNS = ("address", "ip", "ioc", "indicator", "cidr", "network", "value", "src_ip")


def parse_feed(text: str, name: str = "feed") -> list[str]:
    """Extract the entries of a feed, in order, without validating them (the action
    validates and accounts for each one).

    Plain format: one entry per line; blank lines and ``#`` comments (whole-line or trailing)
    are ignored. CSV format (detected by a header with a comma and an address column such as
    ``address``, ``ip``, ``ioc``, ``indicator``): the entries are that column's values.

    Raises:
        InvalidTargetError: a CSV header without any known address column.
    """
    lines = text.splitlines()
    first = next((line for line in lines if line.strip() and not line.lstrip().startswith("#")),
                 "")
    if "," in first:
        rows = csv.reader(io.StringIO("\n".join(
            line for line in lines if not line.lstrip().startswith("#"))))
        header = [h.strip().lower() for h in next(rows, [])]
        column = next((header.index(c) for c in ADDRESS_COLUMNS if c in header), None)
        if column is None:
            raise InvalidTargetError(
                f"{name}: CSV header {','.join(header)!r} has no address column",
                f"name the column one of: {', '.join(ADDRESS_COLUMNS)}")
        return [row[column].strip() for row in rows if len(row) > column and row[column].strip()]
    entries = []
    for line in lines:
        value = line.split("#", 1)[0].strip()
        if value:
            entries.append(value)
    return entries


MAX_FEED_BYTES = 16 << 20
"""Largest feed file irtui reads (16 MiB, about a million IPv4 lines): a fixed cap, whatever
the config says, so a wrong path (``/dev/urandom``, a disk image) fails fast."""
MAX_FEED_LINE = 4096
"""Longest line of a feed in characters; an address with a comment is far shorter."""
MAX_FEED_ENTRIES = 1_000_000
"""Most entries one feed may hold."""
FEED_LIMITS = TextLimits(MAX_FEED_BYTES, MAX_FEED_LINE)


def read_feed(path: str | Path) -> list[str]:
    """Read and parse a feed file (UTF-8; ``-`` is not special here, ``/dev/stdin`` works).

    Raises:
        InvalidTargetError: the file cannot be read; it is binary (a NUL byte), not UTF-8,
            larger than :data:`MAX_FEED_BYTES`, has a line over :data:`MAX_FEED_LINE`
            characters or more than :data:`MAX_FEED_ENTRIES` entries; or a CSV header has
            no address column. Never more than :data:`MAX_FEED_BYTES` + 1 bytes are read.
    """
    text = read_text_file(path, "feed", FEED_LIMITS, "check the path given to --from-file")
    entries = parse_feed(text, str(path))
    if len(entries) > MAX_FEED_ENTRIES:
        raise InvalidTargetError(
            f"feed {path} has {len(entries):,} entries, more than {MAX_FEED_ENTRIES:,} "
            "(irtui's cap for one feed)", "split it into smaller feeds")
    return entries
