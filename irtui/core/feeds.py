"""Read IOC feeds from files or stdin, in any format :mod:`irtui.core.feed_formats`
detects, within fixed caps (a wrong path such as ``/dev/urandom`` fails fast)."""

from __future__ import annotations

from pathlib import Path

from irtui.core.errors import InvalidTargetError
from irtui.core.feed_formats import ADDRESS_COLUMNS, Feed, detect_and_read
from irtui.core.textfile import TextLimits, read_text_file

__all__ = ["ADDRESS_COLUMNS", "Feed", "load_feed", "parse_feed", "read_feed"]

STDIN = "-"
MAX_FEED_BYTES = 16 << 20
"""Largest feed file irtui reads (16 MiB, about a million IPv4 lines): a fixed cap, whatever
the config says, so a wrong path (``/dev/urandom``, a disk image) fails fast."""
MAX_FEED_LINE = 4096
"""Longest line of a feed in characters; an address with a comment is far shorter."""
MAX_FEED_ENTRIES = 1_000_000
"""Most entries one feed may hold."""
FEED_LIMITS = TextLimits(MAX_FEED_BYTES, MAX_FEED_LINE)


def parse_feed(text: str, name: str = "feed") -> list[str]:
    """The entries of a feed's text, in order, without validating them (the action validates
    and accounts for each one). See :func:`irtui.core.feed_formats.detect_and_read`.

    Raises:
        InvalidTargetError: an unknown JSON document or a CSV header without an address
            column.
    """
    return detect_and_read(text, name).entries


def load_feed(path: str | Path) -> tuple[str, Feed]:
    """Read and parse a feed file; ``-`` reads standard input.

    Returns:
        ``(name, feed)``: the name to show (the path, or ``stdin``) and the parsed feed.

    Raises:
        InvalidTargetError: the file cannot be read; it is binary (a NUL byte), not UTF-8,
            larger than :data:`MAX_FEED_BYTES`, has a line over :data:`MAX_FEED_LINE`
            characters or more than :data:`MAX_FEED_ENTRIES` entries; or it is in no format
            irtui reads. Never more than :data:`MAX_FEED_BYTES` + 1 bytes are read.
    """
    stdin = str(path) == STDIN
    name = "stdin" if stdin else str(path)
    text = read_text_file("/dev/stdin" if stdin else path, "feed", FEED_LIMITS,
                          "check the path given to --from-file")
    feed = detect_and_read(text, name)
    if len(feed.entries) > MAX_FEED_ENTRIES:
        raise InvalidTargetError(
            f"feed {name} has {len(feed.entries):,} entries, more than {MAX_FEED_ENTRIES:,} "
            "(irtui's cap for one feed)", "split it into smaller feeds")
    return name, feed


def read_feed(path: str | Path) -> list[str]:
    """The entries of the feed at ``path`` (``-``: stdin). See :func:`load_feed`.

    Raises:
        InvalidTargetError: see :func:`load_feed`.
    """
    return load_feed(path)[1].entries
