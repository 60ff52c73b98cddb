"""Read IOC feeds: one address/CIDR per line with ``#`` comments, or CSV with an address
column (RFC 4180, via the csv module)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from irtui.core.errors import InvalidTargetError

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


def read_feed(path: str | Path) -> list[str]:
    """Read and parse a feed file (UTF-8; ``-`` is not special here).

    Raises:
        InvalidTargetError: the file cannot be read, is not UTF-8, or has no address column.
    """
    p = Path(path)
    try:
        text = p.read_text("utf-8-sig")
    except OSError as exc:
        raise InvalidTargetError(f"cannot read feed {p} ({exc.strerror})",
                                 "check the path given to --from-file") from None
    except UnicodeDecodeError as exc:
        raise InvalidTargetError(f"feed {p} is not UTF-8 text (byte {exc.start})",
                                 "convert it to UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None
    return parse_feed(text, str(p))
