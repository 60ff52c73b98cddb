"""Text that came from a host (or any untrusted source), made safe to show and to keep.

A compromised host controls what its commands print. Sent raw to a terminal, its output can
move the cursor, rewrite lines already shown, retitle the window or set the clipboard (OSC 52,
``ESC ] 52 ; c ; <base64> BEL``), and bidirectional overrides can make a line read differently
from what it holds (CVE-2021-42574, "Trojan Source"). So:

- :func:`printable` is what both fronts show: every control character is replaced by a
  visible escape (``\\x1b``, ``\\u202e``); printable text, tab included, is unchanged.
- :func:`escape_bytes` / :func:`unescape_bytes` is what the record keeps: the raw bytes, with
  the same characters escaped and ``\\`` doubled, so the escaping is reversible byte for byte
  (invalid UTF-8 included).

"Control character" here (:func:`is_control`): C0 (U+0000–U+001F) except tab, DEL (U+007F),
C1 (U+0080–U+009F; U+009B is an 8-bit CSI and U+009D an 8-bit OSC to some terminals), the
Unicode line and paragraph separators (U+2028, U+2029), the Bidi_Control characters of
Unicode UAX #9 (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), and lone surrogates
(U+D800–U+DFFF): Python's ``surrogateescape`` error handler (PEP 383) stands for each byte
that is not valid UTF-8 with U+DC80–U+DCFF, shown as that byte (``\\xff``).
"""

from __future__ import annotations

import re

_NOT_C0 = "\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff"
_CONTROL_CLASS = "\x00-\x08\x0a-\x1f" + _NOT_C0
_CONTROL = re.compile(f"[{_CONTROL_CLASS}]")
_CONTROL_EXCEPT_NEWLINE = re.compile(f"[\x00-\x08\x0b-\x1f{_NOT_C0}]")
_TO_ESCAPE_IN_RECORD = re.compile(f"[{_CONTROL_CLASS}\\\\]")
_RECORD_ESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2})")


def is_control(char: str) -> bool:
    """True when the one-character string ``char`` is a control character as defined in the
    module docstring (tab is not)."""
    return _CONTROL.fullmatch(char) is not None


def first_control(text: str) -> int | None:
    """The index of the first control character in ``text``, or None if it has none."""
    match = _CONTROL.search(text)
    return match.start() if match else None


def _visible(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the undecodable byte itself
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control character replaced by a visible escape, for a terminal
    or a log panel.

    Args:
        text: untrusted text, e.g. one line of a host's stdout.
        keep_newlines: keep ``\\n`` as is (for whole blocks of output irtui itself laid out,
            such as a CLI verb's report); otherwise it is escaped like the rest.

    Returns:
        The same text when it holds no control character; else each one as ``\\xHH``
        (code points below U+0100, and bytes that were not valid UTF-8) or ``\\uHHHH``.
        Not reversible (a literal ``\\x1b`` looks the same); the record uses
        :func:`escape_bytes` instead.
    """
    pattern = _CONTROL_EXCEPT_NEWLINE if keep_newlines else _CONTROL
    if pattern.search(text) is None:
        return text
    return pattern.sub(lambda m: _visible(m.group()), text)


def _record_escape(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\\":
        return "\\\\"
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return "".join(f"\\x{b:02x}" for b in char.encode("utf-8", "surrogatepass"))


def escape_bytes(data: bytes) -> str:
    """Escape raw bytes (e.g. a host's output line) for the record, reversibly.

    Valid UTF-8 that is not a control character is kept as text; ``\\`` becomes ``\\\\``;
    every byte of a control character, and every byte that is not valid UTF-8, becomes
    ``\\xHH`` (lower-case hex). :func:`unescape_bytes` gives ``data`` back exactly.

    Returns:
        Text with no control character (tab is kept).
    """
    text = data.decode("utf-8", "surrogateescape")
    return _TO_ESCAPE_IN_RECORD.sub(_record_escape, text)


def escape_text(text: str) -> str:
    """:func:`escape_bytes` of ``text`` as UTF-8, where lone surrogates U+DC80–U+DCFF stand
    for the undecodable bytes they replaced (``surrogateescape``, PEP 383)."""
    return escape_bytes(text.encode("utf-8", "surrogateescape"))


def unescape_bytes(text: str) -> bytes:
    """Undo :func:`escape_bytes`: ``\\\\`` → ``\\``, ``\\xHH`` → that byte, the rest as UTF-8.

    Raises:
        ValueError: ``text`` is not something :func:`escape_bytes` produced (a lone ``\\``,
            ``\\x`` without two lower-case hex digits, or a lone surrogate).
    """
    out = bytearray()
    pos = 0
    for match in _RECORD_ESCAPE.finditer(text):
        out += _literal(text[pos:match.start()])
        token = match.group(1)
        out += b"\\" if token == "\\" else bytes([int(token[1:], 16)])
        pos = match.end()
    out += _literal(text[pos:])
    return bytes(out)


def _literal(part: str) -> bytes:
    if "\\" in part:
        raise ValueError(f"lone backslash in escaped text: {part!r}")
    return part.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError (a ValueError)
