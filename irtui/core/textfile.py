"""Reading a text file the responder names (a feed, a config, a message body) without trusting
it: bounded in size and line length, refused at once when it is binary.

``--from-file /dev/urandom`` must end in a second with one line, not hang or fill memory. The
file is read in chunks; each chunk is checked before the next is read, so nothing larger than
the cap is ever held and a binary file is refused after its first chunk.
"""

from __future__ import annotations

import codecs
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from irtui.core.errors import InvalidTargetError

_CHUNK = 65536


@dataclass(frozen=True)
class TextLimits:
    """Caps for :func:`read_text_file`.

    Attributes:
        max_bytes: the most bytes the file may hold.
        max_line: the most characters one line may hold (its newline excluded).
    """

    max_bytes: int
    max_line: int


def _human(size: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} bytes"


class TextFileError(InvalidTargetError):
    """A file that is not acceptable text. ``reason`` is the problem without the file's name
    (``is not UTF-8 text (invalid byte 0xe9 at offset 17, line 2)``), for callers that name
    the file their own way (the config)."""

    def __init__(self, what: str, name: str, reason: str, fix: str) -> None:
        self.reason = reason
        super().__init__(f"{what} {name} {reason}", fix)


def special_kind(path: str | Path) -> str | None:
    """What ``path`` is when it is a FIFO or a socket (``"a FIFO"``, ``"a socket"``), found
    with stat(2) without opening it; None for anything else, a missing path included.

    open(2) of a FIFO for reading blocks until a writer opens it (fifo(7)), so a file irtui
    reads as configuration must be checked with this first; a socket cannot be opened at
    all (ENXIO, open(2)).
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return None


def refuse_special(path: str | Path, what: str, fix: str) -> None:
    """Refuse ``path`` when it is a FIFO or a socket (:func:`special_kind`), without opening
    it: a configuration-like file (config, known_hosts, ssh config, inventory) from a FIFO
    nobody writes to would hang irtui in open(2). Character devices (``/dev/null``) pass.

    Raises:
        TextFileError: ``<what> <path> is a FIFO, not a file`` (``reason``: ``is a FIFO,
            not a file``) with ``fix``.
    """
    kind = special_kind(path)
    if kind is not None:
        raise TextFileError(what, str(path), f"is {kind}, not a file", fix)


class _Checker:
    """Incremental UTF-8 decoding with the line-length and NUL checks."""

    def __init__(self, name: str, what: str, limits: TextLimits, fix: str) -> None:
        self.name, self.what, self.limits, self.fix = name, what, limits, fix
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.offset = 0  # bytes checked so far
        self.line_no = 1
        self.line_len = 0
        self.parts: list[str] = []

    def refuse(self, reason: str, fix: str) -> TextFileError:
        return TextFileError(self.what, self.name, reason, fix)

    def feed(self, data: bytes, final: bool = False) -> None:
        if self.offset == 0 and data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise self.refuse("is UTF-16 text (it starts with a UTF-16 byte order mark), "
                              "not UTF-8", "convert it to UTF-8, e.g. iconv -f utf-16 -t "
                              f"utf-8 (Windows: save as UTF-8); {self.fix}")
        nul = data.find(b"\0")
        if nul != -1:
            line = self.line_no + data.count(b"\n", 0, nul)
            raise self.refuse(f"is binary, not text (NUL byte at offset {self.offset + nul}, "
                              f"line {line})", f"give a UTF-8 text file; {self.fix}")
        held = len(self.decoder.getstate()[0])  # bytes of a character cut by the last chunk
        try:
            text = self.decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            at = self.offset - held + exc.start
            line = self.line_no + data.count(b"\n", 0, max(exc.start - held, 0))
            raise self.refuse(f"is not UTF-8 text (invalid byte 0x{exc.object[exc.start]:02x} "
                              f"at offset {at}, line {line})",
                              "convert it to UTF-8, e.g. iconv -f latin1 -t utf-8") from None
        self.offset += len(data)
        self._lines(text)
        self.parts.append(text)

    def _lines(self, text: str) -> None:
        start = 0
        while True:
            newline = text.find("\n", start)
            end = len(text) if newline == -1 else newline
            self.line_len += end - start
            if self.line_len > self.limits.max_line:
                raise self.refuse(f"has a line longer than {self.limits.max_line:,} characters "
                                  f"(line {self.line_no}; irtui's cap for one line)",
                                  f"shorten or remove that line; {self.fix}")
            if newline == -1:
                return
            self.line_no += 1
            self.line_len = 0
            start = newline + 1


def read_text_file(path: str | Path, what: str, limits: TextLimits, fix: str,
                   pipes: bool = True) -> str:
    """Read a UTF-8 text file (a leading BOM is dropped), refusing what is not one.

    Args:
        path: the file; pipes and character devices work too (``/dev/stdin``) unless
            ``pipes`` is False.
        pipes: False for a file irtui reads as configuration: a FIFO or a socket is then
            refused before it is opened (:func:`refuse_special`), so a FIFO with no writer
            cannot hang irtui. A feed or a message body may come from a pipe.
        what: what the file is, for messages (``"feed"``, ``"config"``).
        limits: the caps; they are stated in the refusal.
        fix: the usual fix for this kind of file (e.g. ``"check the path given to
            --from-file"``).

    Returns:
        The text.

    Raises:
        TextFileError: a FIFO or socket when ``pipes`` is False; larger than
            ``limits.max_bytes``; a line longer than
            ``limits.max_line``; a NUL byte (binary data); not valid UTF-8 (names the byte
            offset and line). At most ``limits.max_bytes + 1`` bytes are ever read.
        InvalidTargetError: the file cannot be opened or read.
    """
    p = Path(path)
    if not pipes:
        refuse_special(p, what, fix)
    checker = _Checker(str(p), what, limits, fix)
    try:
        with p.open("rb") as fh:
            while True:
                chunk = fh.read(min(_CHUNK, limits.max_bytes + 1 - checker.offset))
                if not chunk:
                    break
                if checker.offset + len(chunk) > limits.max_bytes:
                    raise checker.refuse(f"is larger than {_human(limits.max_bytes)} "
                                         "(irtui's cap for one file)",
                                         f"split it into smaller files; {fix}")
                checker.feed(chunk)
            checker.feed(b"", final=True)
    except OSError as exc:
        raise InvalidTargetError(f"cannot read {what} {p} ({exc.strerror or exc})",
                                 fix) from None
    return "".join(checker.parts).removeprefix("\ufeff")
