"""Property tests (hypothesis) for what turns text into config values, TTLs, host names and
feed entries (issue 8): any input gives a typed value or the module's own named error —
never another exception, never a value outside its documented range."""

from __future__ import annotations

import math
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from irtui.core.config import HOST_NAME_RE, load_config, parse_config
from irtui.core.dnsnames import MAX_LABEL, dns_name_problem
from irtui.core.durations import MAX_TTL, exact_duration, parse_ttl
from irtui.core.errors import ConfigError, InvalidTargetError
from irtui.core.feeds import parse_feed
from irtui.core.text import first_control
from irtui.core.textfile import TextFileError, TextLimits, read_text_file

FAST = settings(max_examples=300, deadline=None, database=None)
DOCS = settings(max_examples=200, deadline=None, database=None)

# Keys irtui knows, so generated documents reach the validation of each section, mixed with
# unknown ones; values of every TOML type, including the awkward ones.
SECTIONS = {
    "ssh": ["user", "key_file", "known_hosts", "connect_timeout", "command_timeout",
            "use_agent"],
    "firewall": ["default_ttl", "backend", "never_block", "confirm_prefix_v4",
                 "confirm_prefix_v6"],
    "isolation": ["allow", "confirm_timeout", "canaries", "allow_dhcp", "allow_nd",
                  "allow_resolvers"],
    "ui": ["theme", "refresh_seconds", "log_max_lines"],
    "audit": ["dir"],
}
HOST_KEYS = ["name", "address", "port", "user", "groups", "firewall"]
awkward_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "all", "host1", "root", "-oProxyCommand=x", "a" * 64 + ".example",
                     "a..b", "198.51.100.7", "300.1.1.1", "2001:db8::1%eth0", "::ffff:1.2.3.4",
                     "203.0.113.0/24", "[2001:db8::1]:22", "host:0", "x:65536", "²", "１２h",
                     "permanent", "0", "24h", "1h30m", "nftables", "auto", "web1\n",
                     "\u202eevil", "~/k", "\x00"]),
)
scalar = st.one_of(
    awkward_text,
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(), st.dates(), st.times(),
)
"""``st.datetimes()`` and friends: TOML has date-time, date and time values."""
value = st.one_of(scalar, st.lists(scalar, max_size=3),
                  st.dictionaries(awkward_text, scalar, max_size=2))


@st.composite
def documents(draw: st.DrawFn) -> dict:
    """A TOML document: some known sections with known and unknown keys, some hosts."""
    doc: dict = {}
    for section in draw(st.lists(st.sampled_from([*SECTIONS, "notify", "typo"]), max_size=4,
                                 unique=True)):
        keys = SECTIONS.get(section, ["email", "x"])
        doc[section] = draw(st.dictionaries(st.one_of(st.sampled_from(keys), awkward_text),
                                            value, max_size=4))
    if draw(st.booleans()):
        doc["hosts"] = draw(st.one_of(
            st.lists(st.dictionaries(st.one_of(st.sampled_from(HOST_KEYS), awkward_text),
                                     value, max_size=5), max_size=3),
            value))
    if draw(st.booleans()):
        doc[draw(awkward_text)] = draw(value)
    return doc


def _only_config_error(doc: dict) -> None:
    try:
        config = parse_config(doc)
    except ConfigError as exc:
        assert "\n" not in exc.line and first_control(exc.line) is None
        return
    for host in config.hosts:  # what was accepted is usable
        assert HOST_NAME_RE.fullmatch(host.name) and 0 < host.port < 65536
        assert first_control(host.address) is None
    for number in (config.ssh.connect_timeout, config.ssh.command_timeout,
                   config.ui.refresh_seconds):
        assert math.isfinite(number) and number > 0


@DOCS
@given(documents())
def test_any_config_document_is_a_config_or_a_config_error(doc: dict) -> None:
    """As parsed data, and as TOML text read back by tomllib as irtui reads a file."""
    _only_config_error(doc)
    try:
        text = tomli_w.dumps(doc)
    except (TypeError, ValueError):  # e.g. something tomli-w cannot write
        return
    _only_config_error(tomllib.loads(text))


@contextmanager
def _file_holding(data: bytes) -> Iterator[Path]:
    """A real file with exactly ``data`` in a fresh folder."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "input")
        path.write_bytes(data)
        yield path


@FAST
@given(st.binary(max_size=200))
def test_any_config_file_bytes_give_a_config_or_a_config_error(data: bytes) -> None:
    with _file_holding(data) as path:
        try:
            load_config(path)
        except ConfigError as exc:
            assert first_control(exc.line) is None


def test_deeply_nested_config_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ConfigError):
        load_config(path)


@pytest.mark.parametrize(("section", "key", "bad"), [
    ("ssh", "connect_timeout", math.nan), ("ssh", "command_timeout", math.inf),
    ("ui", "refresh_seconds", 10**400), ("ssh", "known_hosts", "/tmp/k\x00x"),
    ("ssh", "user", "-oProxyCommand=x"), ("ssh", "user", "ops team"),
])
def test_named_config_values_that_were_accepted_before(section: str, key: str,
                                                       bad: object) -> None:
    with pytest.raises(ConfigError, match=f"{section}.{key}"):
        parse_config({section: {key: bad}})


# ---- TTLs ---------------------------------------------------------------------------------

ttl_text = st.one_of(st.text(max_size=10),
                     st.text(st.sampled_from("0123456789smhdw ²١"), max_size=10))


@FAST
@given(ttl_text)
def test_any_ttl_text_is_a_ttl_or_a_named_refusal(text: str) -> None:
    try:
        seconds = parse_ttl(text)
    except InvalidTargetError as exc:
        assert "TTL" in exc.problem and exc.fix
        return
    assert seconds is None or 1 <= seconds <= MAX_TTL


@FAST
@given(st.one_of(st.integers(1, MAX_TTL), st.none()))
def test_exact_duration_reads_back_exactly(seconds: int | None) -> None:
    assert parse_ttl(exact_duration(seconds)) == seconds


# ---- DNS names ----------------------------------------------------------------------------

dns_label = st.one_of(st.text(max_size=6), st.text(st.sampled_from("ab-_09é"), max_size=8),
                      st.sampled_from(["", "a" * 63, "a" * 64, "xn--", "-a", "a-"]))


@FAST
@given(st.lists(dns_label, min_size=1, max_size=6).map(".".join))
def test_names_passed_as_dns_names_can_be_resolved_without_a_codec_error(name: str) -> None:
    if dns_name_problem(name) is not None:
        return
    ascii_name = name.removesuffix(".").encode("idna")  # what getaddrinfo does first
    assert all(0 < len(label) <= MAX_LABEL for label in ascii_name.split(b"."))
    assert len(ascii_name) <= 253


# ---- feeds --------------------------------------------------------------------------------

@FAST
@given(st.binary(max_size=300))
def test_any_feed_bytes_give_entries_or_a_named_refusal(data: bytes) -> None:
    with _file_holding(data) as path:
        try:
            text = read_text_file(path, "feed", TextLimits(200, 40), "check the path")
        except TextFileError as exc:
            assert exc.reason and exc.fix
            assert len(data) > 200 or b"\0" in data or _bad_utf8(data) or _long_line(data)
            return
    assert text == data.decode("utf-8").removeprefix("\ufeff")
    try:
        entries = parse_feed(text)
    except InvalidTargetError:
        return
    assert all(e and e == e.strip() and "\n" not in e for e in entries)


def _bad_utf8(data: bytes) -> bool:
    return data.decode("utf-8", "replace").encode("utf-8") != data


def _long_line(data: bytes) -> bool:
    return any(len(line) > 40 for line in data.decode("utf-8", "replace").split("\n"))


