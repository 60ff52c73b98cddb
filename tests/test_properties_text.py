"""Property tests (hypothesis) for what turns untrusted text into terminal output, a record,
a shell word or a file name (issue 8). Each property is checked on generated cases, the
shell words through real ``sh`` (dash) and ``bash``, the file names on the real file system."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from irtui.core.channel_io import LineSplitter
from irtui.core.errors import InvalidTargetError
from irtui.core.filenames import MAX_COMPONENT, file_component, is_safe_component
from irtui.core.plan import command_line
from irtui.core.settings import HostConfig
from irtui.core.text import (
    escape_bytes,
    escape_text,
    first_control,
    is_control,
    printable,
    unescape_bytes,
)

FAST = settings(max_examples=400, deadline=None, database=None)
SLOW = settings(max_examples=120, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])

CONTROLS = ([chr(c) for c in range(0x20) if c != 9] + ["\x7f"]
            + [chr(c) for c in range(0x80, 0xA0)]
            + list("\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e"
                   "\u2066\u2067\u2068\u2069"))
any_char = st.one_of(
    st.characters(),  # everything but surrogates, weighted to interesting code points
    st.sampled_from([*CONTROLS, "\t", "\\", "x", "é", "\U0001f512", "%", "/", "."]),
    st.integers(0xD800, 0xDFFF).map(chr),  # lone surrogates (surrogateescape'd bytes)
)
any_text = st.text(any_char, max_size=30)
shell_char = st.one_of(st.characters(exclude_categories=("Cs",), exclude_characters="\0"),
                       st.sampled_from(list("'\"\\$`!*?[]{}()<>|&;#~ \t\n-=%^")))
shell_word = st.text(shell_char, max_size=12)


# ---- the sanitiser -----------------------------------------------------------------------

@FAST
@given(any_text)
def test_printable_escapes_every_control_and_nothing_else(text: str) -> None:
    shown = printable(text)
    assert first_control(shown) is None
    shown_lines = printable(text, keep_newlines=True)
    assert all(first_control(line) is None for line in shown_lines.split("\n"))
    assert shown_lines.count("\n") == text.count("\n")
    clean = "".join(c for c in text if not is_control(c))
    assert printable(clean) == clean
    assert printable(clean + "\n" + clean, keep_newlines=True) == clean + "\n" + clean
    assert escape_text(clean.replace("\\", "")) == clean.replace("\\", "")  # the record too


@pytest.mark.parametrize("char", CONTROLS)
def test_every_control_character_is_escaped(char: str) -> None:
    assert is_control(char)
    assert printable(f"a{char}b").startswith("a\\") and char not in printable(f"a{char}b")


# ---- the record's reversible escaping ----------------------------------------------------

@FAST
@given(st.binary(max_size=64))
def test_record_escaping_is_reversible_and_safe(data: bytes) -> None:
    escaped = escape_bytes(data)
    assert first_control(escaped) is None
    assert unescape_bytes(escaped) == data
    line = data.decode("utf-8", "surrogateescape")  # what a host's output line holds
    assert escape_text(line) == escaped


@FAST
@given(st.lists(st.binary(max_size=24), max_size=8))
def test_output_lines_keep_every_byte_whatever_the_chunking(chunks: list[bytes]) -> None:
    """Bytes split across SSH reads anywhere (inside a UTF-8 sequence too) come out as the
    same lines, byte for byte (a trailing CR of a line is dropped, as for CRLF)."""
    lines: list[str] = []
    splitter = LineSplitter("stdout", lambda _s, line: lines.append(line), capture=True)
    for chunk in chunks:
        splitter.feed(chunk)
    splitter.flush()
    data = b"".join(chunks)
    expected = [part.rstrip(b"\r") for part in data.split(b"\n")]
    if expected and not data.endswith(b"\n") and expected[-1] == b"":
        expected.pop()
    if data.endswith(b"\n"):
        expected.pop()
    assert [line.encode("utf-8", "surrogateescape") for line in lines] == expected
    assert splitter.text() == data.decode("utf-8", "replace")


# ---- shell words ------------------------------------------------------------------------

ROOT = HostConfig("h1", "192.0.2.1", user="root")
SUDO = HostConfig("h1", "192.0.2.1", user="responder")


def _through_shell(shell: str, argv: list[str]) -> list[str]:
    line = command_line(ROOT, ["printf", "%s\\0", *argv])
    out = subprocess.run([shell, "-c", line], capture_output=True, check=True, timeout=10,
                         env={"PATH": os.defpath, "LC_ALL": "C.UTF-8"})
    return out.stdout.decode("utf-8").split("\0")[:-1]


@SLOW
@given(st.lists(shell_word, min_size=1, max_size=5))
@pytest.mark.parametrize("shell", ["/bin/sh", "/bin/bash"])
def test_any_argv_round_trips_through_the_remote_shell(shell: str, argv: list[str]) -> None:
    """The host runs the command line with its login shell (``sh -c LINE``): every word
    arrives exactly as planned, whatever quotes, globs, ``$``, backticks or newlines hold."""
    assert _through_shell(shell, argv) == argv


@FAST
@given(st.lists(shell_word, max_size=5))
def test_sudo_prefix_keeps_the_words(argv: list[str]) -> None:
    assert shlex.split(command_line(SUDO, argv)) == ["sudo", "-n", *argv]


@FAST
@given(st.lists(shell_word, max_size=3), shell_word, shell_word)
def test_a_word_with_nul_is_refused(before: list[str], head: str, tail: str) -> None:
    """execve(2) would cut the word at the NUL: the host would run something else."""
    with pytest.raises(InvalidTargetError, match="nothing was sent"):
        command_line(ROOT, [*before, f"{head}\0{tail}"])


# ---- file names -------------------------------------------------------------------------

@FAST
@given(st.text(any_char, min_size=1, max_size=300))
def test_file_component_is_one_safe_name(value: str) -> None:
    name = file_component(value)
    assert is_safe_component(name) and len(name) <= MAX_COMPONENT
    assert name not in (".", "..") and "/" not in name and "\0" not in name
    assert not name.startswith(("-", "."))
    if "~" not in name:
        assert unquote(name, errors="surrogatepass") == value


@FAST
@given(st.text(any_char, min_size=1, max_size=300), st.text(any_char, min_size=1,
                                                            max_size=300))
def test_file_component_never_merges_two_names(a: str, b: str) -> None:
    assume(a != b)
    assert file_component(a) != file_component(b)


@pytest.mark.parametrize("value", ["/", "..", ".", "../../etc/passwd", "-rf", "a/../b", "\0",
                                   "x" * 1000, ".hidden", "host1\n", "%2F"])
def test_file_component_of_awkward_names(value: str) -> None:
    assert is_safe_component(file_component(value))


@SLOW
@given(st.lists(st.text(any_char, min_size=1, max_size=80), min_size=1, max_size=6,
                unique=True))
def test_file_components_create_exactly_their_files(values: list[str]) -> None:
    """On the real file system: each value gives one new file directly in the folder."""
    with tempfile.TemporaryDirectory() as folder:
        for value in values:
            Path(folder, file_component(value) + ".log").write_text("x")
        assert len(os.listdir(folder)) == len(values)
        assert not any(p.is_dir() for p in Path(folder).iterdir())


def test_empty_name_is_refused() -> None:
    with pytest.raises(InvalidTargetError):
        file_component("")
