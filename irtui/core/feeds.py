"""Read IOC feeds from files or stdin, in any format :mod:`irtui.core.feed_formats`
detects."""

from __future__ import annotations

import sys
from pathlib import Path

from irtui.core.errors import InvalidTargetError
from irtui.core.feed_formats import ADDRESS_COLUMNS, Feed, detect_and_read

__all__ = ["ADDRESS_COLUMNS", "Feed", "load_feed", "parse_feed", "read_feed"]

STDIN = "-"


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
        InvalidTargetError: the file cannot be read, is not UTF-8 text, or is in no format
            irtui reads.
    """
    if str(path) == STDIN:
        name = "stdin"
        try:
            data = sys.stdin.buffer.read()
        except OSError as exc:
            raise InvalidTargetError(f"cannot read the feed from stdin ({exc.strerror})",
                                     "pipe a feed file into --from-file -") from None
    else:
        p = Path(path)
        name = str(p)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise InvalidTargetError(f"cannot read feed {p} ({exc.strerror})",
                                     "check the path given to --from-file") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidTargetError(f"feed {name} is not UTF-8 text (byte {exc.start})",
                                 "convert it to UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None
    return name, detect_and_read(text, name)


def read_feed(path: str | Path) -> list[str]:
    """The entries of the feed at ``path`` (``-``: stdin). See :func:`load_feed`.

    Raises:
        InvalidTargetError: see :func:`load_feed`.
    """
    return load_feed(path)[1].entries
