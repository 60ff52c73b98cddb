"""Files the responder attaches to a notification (``--attach``), checked before any
connection: each must be a regular file, and together within :data:`MAX_ATTACHMENT_BYTES`.

``--attach /dev/urandom`` (a device that never ends) or a FIFO with no writer would hang a
plain read; both are refused by stat(2) before anything is opened, and a file is never read
past the cap (it may grow between the check and the read).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from irtui.core.errors import InvalidTargetError, NotifyError

MAX_ATTACHMENT_BYTES = 17 * 1024 * 1024
"""Total size of a message's attachments (17 MiB = 17,825,792 bytes). Source: common mail
providers cap a whole message at 25 MB (Gmail's and Outlook.com's help pages on attachment
size limits); base64 (RFC 2045 section 6.8) sends 4 characters per 3 bytes in lines of 76
plus CRLF, so 17 MiB becomes about 24.4 MB on the wire, leaving room for the body and
headers. It is also the bound on what irtui reads for one message."""

FIX = "attach a regular file (e.g. the incident report), or copy the data into one first"


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"


def check_attachments(paths: Sequence[str | Path]) -> list[Path]:
    """Check every attachment without opening it (stat(2), symlinks followed).

    Args:
        paths: the files as given (``~`` expanded).

    Returns:
        The expanded paths, in order.

    Raises:
        InvalidTargetError: a path that does not exist or cannot be stat'ed; one that is a
            FIFO, socket, device or directory; or files whose sizes add up to more than
            :data:`MAX_ATTACHMENT_BYTES` (names the file that crosses it).
    """
    out: list[Path] = []
    total = 0
    for raw in paths:
        path = Path(raw).expanduser()
        try:
            info = path.stat()
        except (OSError, ValueError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            raise InvalidTargetError(f"cannot read attachment {path} ({why})",
                                     "check the path given to --attach") from None
        if not stat.S_ISREG(info.st_mode):
            raise InvalidTargetError(f"attachment {path} is {_kind(info.st_mode)}, not a "
                                     "file; nothing was sent", FIX)
        total += info.st_size
        if total > MAX_ATTACHMENT_BYTES:
            raise InvalidTargetError(
                f"attachments exceed {MAX_ATTACHMENT_BYTES // 2**20} MiB (at {path}, "
                f"{info.st_size:,} bytes); nothing was sent",
                "attach fewer or smaller files, or share a link to them")
        out.append(path)
    return out


def read_attachment(path: Path, budget: int) -> bytes:
    """Read one attachment, at most ``budget + 1`` bytes.

    Opened with O_NONBLOCK so a path swapped for a FIFO since :func:`check_attachments`
    cannot block open(2); it must still be a regular file once open (fstat(2)).

    Args:
        path: the file.
        budget: bytes still allowed for this message's attachments.

    Returns:
        The file's bytes.

    Raises:
        NotifyError: it cannot be opened or read, is no longer a regular file, or holds
            more than ``budget`` bytes.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise NotifyError(f"cannot read attachment {path} ({exc.strerror or exc})",
                          "check the path given to --attach") from None
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotifyError(f"attachment {path} is {_kind(mode)}, not a file", FIX)
        try:
            data = fh.read(budget + 1)
        except OSError as exc:
            raise NotifyError(f"cannot read attachment {path} ({exc.strerror or exc})",
                              "check the path given to --attach") from None
    if len(data) > budget:
        raise NotifyError(f"attachments exceed {MAX_ATTACHMENT_BYTES // 2**20} MiB "
                          f"(at {path})", "attach fewer or smaller files, or share a link")
    return data
