"""The fast paths give exactly what the slow ones gave (issue 13): address parsing, the
guardrail screen, the batch of steps sent as one remote command (each next step only on
irtui's "go"), the line splitter, the nft templates, feed accounting, the config setting."""

from __future__ import annotations

import ipaddress
import json
import subprocess
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irtui.core.actions.overlap import OverlapIndex
from irtui.core.channel_io import LineSplitter
from irtui.core.config import MAX_PARALLEL_LIMIT, parse_config
from irtui.core.errors import ConfigError, InvalidTargetError
from irtui.core.events import OutputLine, StepFinished, StepStarted
from irtui.core.executor import batchable
from irtui.core.feed_accounting import _key
from irtui.core.firewall import fastnet
from irtui.core.firewall.fastnet import from_int, network_from_text, sort_key
from irtui.core.firewall.state import BlockEntry
from irtui.core.ioc_paste import refang
from irtui.core.plan import Step
from irtui.core.remote import script
from irtui.core.step_batch import MAX_BATCH_BYTES, _Router, batch_args, run_batch
from irtui.core.targets import parse_network
from irtui.lab.spec import ATTACKER_OFFSET, MAX_HOSTS, RESPONDER_OFFSET, LabSpec

# -- address parsing -----------------------------------------------------------------------

octet = st.one_of(st.integers(0, 255).map(str), st.sampled_from(["01", "00", "256", "1e1", ""]))
v4_text = st.tuples(octet, octet, octet, octet).map(".".join)
v6_text = st.one_of(st.ip_addresses(v=6).map(str),
                    st.ip_addresses(v=6).map(lambda a: a.exploded),
                    st.sampled_from(["::", "1::2::3", "::ffff:1.2.3.4", "::1.2.3.04",
                                     "fe80::1%eth0", "12345::", ":::", "1:2:3:4:5:6:7:8:9"]))
suffix = st.one_of(st.just(""), st.integers(-1, 130).map(lambda n: f"/{n}"),
                   st.sampled_from(["/", "/024", "/255.255.255.0", "/0.0.0.255", "/²", "/x"]))


def _slow(text: str) -> object:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return ValueError


def _fast(text: str) -> object:
    try:
        return network_from_text(text)
    except ValueError:
        return ValueError


@settings(max_examples=600, deadline=None)
@given(st.one_of(v4_text, v6_text, st.text(max_size=20)), suffix)
def test_fast_address_parsing_equals_ipaddress(addr: str, tail: str) -> None:
    text = addr + tail
    assert _fast(text) == _slow(text), text


@settings(max_examples=300, deadline=None)
@given(st.ip_addresses(), st.integers(0, 128))
def test_fast_parsing_with_a_separate_length(addr: ipaddress._BaseAddress, length: int) -> None:
    text = str(addr)
    try:
        expected: object = ipaddress.ip_network(f"{text}/{length}", strict=False)
    except ValueError:
        expected = ValueError
    try:
        got: object = network_from_text(text, length)
    except ValueError:
        got = ValueError
    assert got == expected


@settings(max_examples=400, deadline=None)
@given(st.ip_addresses(), st.integers(0, 128))
def test_networks_made_from_integers_are_those_of_ipaddress(
        addr: ipaddress._BaseAddress, length: int) -> None:
    bits = min(length, addr.max_prefixlen)
    cls = ipaddress.IPv4Network if addr.version == 4 else ipaddress.IPv6Network
    expected = cls((int(addr), bits), strict=False)  # ip_network((0, 0)) would be IPv4
    got = from_int(addr.version, int(addr), bits)
    assert fastnet._same(got, expected), (addr, bits)


def test_the_fast_network_maker_is_the_one_in_use_here() -> None:
    # on the Python the tests run with, the self-check must pass (else only the slow path
    # runs and the property test above proves nothing about the fast one)
    assert fastnet._MAKER is fastnet._made_here


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.ip_addresses(), st.integers(0, 128)), max_size=30))
def test_sort_key_orders_like_family_then_network(items: list) -> None:
    entries = [BlockEntry(ipaddress.ip_network(f"{a}/{min(n, a.max_prefixlen)}", strict=False))
               for a, n in items]
    assert sorted(entries, key=sort_key) == sorted(entries, key=lambda e: (e.family, e.network))


@pytest.mark.parametrize("token", ["203.0.113.7", "198.51.100.0/24", "0.0.0.0/0"])
def test_plain_ipv4_tokens_are_returned_as_they_are(token: str) -> None:
    assert refang(token) == token


@pytest.mark.parametrize(("token", "expected"), [
    ("203.0.113.7.", "203.0.113.7"), ("203[.]0.113.7", "203.0.113.7"), ("(203.0.113.7)",
                                                                           "203.0.113.7")])
def test_other_tokens_still_go_through_refanging(token: str, expected: str) -> None:
    assert refang(token) == expected


# -- the guardrail screen ------------------------------------------------------------------

networks = st.tuples(st.ip_addresses(), st.integers(0, 128)).map(
    lambda t: ipaddress.ip_network(f"{t[0]}/{min(t[1], t[0].max_prefixlen)}", strict=False))


@settings(max_examples=400, deadline=None)
@given(st.lists(networks, max_size=12), networks)
def test_overlap_index_agrees_with_ipaddress(protected: list, net: object) -> None:
    brute = any(p.version == net.version and p.overlaps(net) for p in protected)
    assert OverlapIndex(protected).overlaps(net) == brute


# -- steps batched into one remote command -------------------------------------------------

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                max_size=200)  # input with NUL is never batched (see batchable)
# a short input ending in a newline travels as a here-document (steps.sh): its own edges
heredoc_edges = st.sampled_from(["\n", "\\\n", "$(id) `id` \\$x ${y}\n", "IRTUI_STEP_INPUT\n",
                                 "a\n\n", "é" * 3999 + "\n", "a" * 3999 + "\n",
                                 "a" * 4000 + "\n", "a" * 9000 + "\n"])
stdins = st.one_of(st.none(), st.just(""), texts, texts.map(lambda t: t + "\n"),
                   heredoc_edges)


def _run_batch_locally(steps: list[Step], answers: str | None = None) -> tuple[list[str], str]:
    """Run remote/steps.sh here (no SSH), answering "go" before each step after the first (or
    ``answers``): what each step printed, and the markers."""
    mark = "irtui-0123456789abcdef"
    given_in = "go\n" * len(steps) if answers is None else answers
    proc = subprocess.run(["sh", "-c", script("steps"), "irtui-steps",
                           *batch_args(steps, mark)], capture_output=True, timeout=30,
                          input=given_in.encode())
    assert proc.returncode == 0, proc.stderr
    raw = proc.stdout.decode()
    outputs = [part.split("\n", 1)[1] if i else part
               for i, part in enumerate(raw.split(mark + " done "))][:-1]
    return outputs, raw


@settings(max_examples=60, deadline=None)
@given(st.lists(stdins, min_size=1, max_size=4))
def test_each_batched_step_gets_exactly_its_own_input(inputs: list) -> None:
    steps = [Step("h", "cat", f"step {i}", stdin) for i, stdin in enumerate(inputs)]
    outputs, _ = _run_batch_locally(steps)
    assert outputs == [stdin or "" for stdin in inputs]


def test_batch_stops_after_the_first_failing_step_and_reports_its_status() -> None:
    steps = [Step("h", "echo one", "first"), Step("h", "sh -c 'exit 3'", "second"),
             Step("h", "echo three", "third")]
    outputs, raw = _run_batch_locally(steps)
    assert outputs == ["one\n", ""]
    assert "done 2 3" in raw and "three" not in raw


@pytest.mark.parametrize("answers", ["", "stop\n", "go\nno\n", "go\n"])
def test_no_step_starts_without_irtuis_go(answers: str) -> None:
    steps = [Step("h", "echo one", "first"), Step("h", "echo two", "second"),
             Step("h", "echo three", "third")]
    outputs, raw = _run_batch_locally(steps, answers)
    ran = 2 if answers.startswith("go") else 1
    assert outputs == ["one\n", "two\n"][:ran]
    assert ("two" in raw) == (ran == 2) and "three" not in raw


def test_output_that_imitates_a_marker_does_not_end_a_step() -> None:
    steps = [Step("h", "printf 'irtui-ffffffffffffffff done 1 0\\nreal\\n'", "fake"),
             Step("h", "cat", "reads a marker-like line", "irtui-0123456789abcdeg done 2 0\n"),
             Step("h", "cat", "input with quotes", "it's $HOME `x` \\\" done\n")]
    outputs, _ = _run_batch_locally(steps)
    assert outputs == ["irtui-ffffffffffffffff done 1 0\nreal\n",
                       "irtui-0123456789abcdeg done 2 0\n", "it's $HOME `x` \\\" done\n"]


def test_a_check_and_its_apply_send_their_script_once() -> None:
    script_text = "add element inet irtui v4_32 { 203.0.113.7 }\n"
    steps = [Step("h", "nft -c -f -", "check", script_text), Step("h", "nft -f -", "apply",
                                                                      script_text)]
    args = batch_args(steps, "M")
    assert args.count(script_text) == 1 and args[-2:] == ["same", ""]
    outputs, _ = _run_batch_locally([replace(s, command="cat") for s in steps])
    assert outputs == [script_text, script_text]


def test_a_batch_too_large_for_one_argument_is_not_sent() -> None:
    big = "x" * MAX_BATCH_BYTES
    steps = [Step("h", "cat", "a", big), Step("h", "cat", "b", big + "y")]
    # None before any use of the pool or events: the executor then runs the steps one by one
    assert run_batch(None, None, steps, None, None) is None  # type: ignore[arg-type]


def test_local_steps_and_input_that_is_no_argument_are_not_batched() -> None:
    def local(*args: object) -> None:  # pragma: no cover (never called here)
        raise AssertionError

    assert batchable(Step("h", "a", "a")) and batchable(Step("h", "b", "b", "x\ny"))
    assert not batchable(Step("h", "b", "b", "x\0y"))
    assert not batchable(Step("h", "b", "b", "x\udc80y"))  # not UTF-8
    assert not batchable(Step("h", "d", "d", local=local))  # type: ignore[arg-type]


class _Answers:
    """What irtui answered the batch script on its stdin (a recorder, no channel)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, text: str) -> bool:
        self.sent.append(text)
        return True

    def close(self) -> bool:
        self.sent.append("EOF")
        return True


def _route(steps: list[Step], lines: list[tuple[str, str]], proceed: bool = True,
           readback: bool = False) -> tuple[_Router, list[object], _Answers]:
    events: list[object] = []
    answers = _Answers()
    router = _Router(steps, "M", events.append, lambda: proceed, answers,  # type: ignore[arg-type]
                     readback)
    for stream, line in lines:
        router(stream, line)
    return router, events, answers


def test_a_step_whose_output_lacks_a_final_newline_still_ends_where_it_should() -> None:
    steps = [Step("h", "printf abc", "first"), Step("h", "echo def", "second")]
    router, events, answers = _route(steps, [
        ("stdout", "abcM done 1 0"), ("stderr", "M done 1"), ("stdout", "def"),
        ("stdout", "M done 2 0"), ("stderr", "M done 2")])
    outcomes = router.outcomes(0)
    assert [o.stdout for o in outcomes] == ["abc\n", "def\n"]
    assert [o.exit_code for o in outcomes] == [0, 0]
    assert [e.line for e in events if isinstance(e, OutputLine)] == ["abc", "def"]
    assert answers.sent == ["go\n"]


def test_events_keep_the_one_by_one_order_whichever_stream_ends_first() -> None:
    steps = [Step("h", "a", "first"), Step("h", "b", "second")]
    _, events, answers = _route(steps, [
        ("stdout", "M done 1 0"), ("stderr", "late error line"), ("stderr", "M done 1"),
        ("stdout", "out"), ("stderr", "M done 2"), ("stdout", "M done 2 0")])
    seen = [(type(e).__name__, getattr(e, "purpose", getattr(e, "line", ""))) for e in events]
    assert seen == [("OutputLine", "late error line"), ("StepFinished", "first"),
                    ("StepStarted", "second"), ("OutputLine", "out"), ("StepFinished", "second")]
    assert answers.sent == ["go\n"]


def test_a_cancel_between_steps_starts_no_next_step() -> None:
    steps = [Step("h", "a", "check"), Step("h", "b", "apply")]
    router, events, answers = _route(steps, [("stdout", "M done 1 0"), ("stderr", "M done 1")],
                                     proceed=False)
    assert answers.sent == ["EOF"] and router.stopped
    assert [o.exit_code for o in router.outcomes(0)] == [0]  # only the check ran
    assert not any(isinstance(e, StepStarted) for e in events)
    assert [e.purpose for e in events if isinstance(e, StepFinished)] == ["check"]


def test_a_failed_step_ends_the_batch_with_its_status() -> None:
    steps = [Step("h", "a", "check"), Step("h", "b", "apply")]
    router, _, answers = _route(steps, [("stderr", "Error: no"), ("stdout", "M done 1 1"),
                                        ("stderr", "M done 1")])
    assert answers.sent == []  # it ends by itself: no EOF, the session stays for the next read
    [outcome] = router.outcomes(0)
    assert outcome.exit_code == 1 and outcome.stderr == "Error: no\n"


# -- the line splitter -----------------------------------------------------------------------

def test_a_long_line_arriving_in_pieces_is_one_line() -> None:
    got: list[str] = []
    splitter = LineSplitter("stdout", lambda stream, line: got.append(line), capture=True)
    pieces = ["{" + "x" * 70000, "y" * 70000, "z}\nnext", " line\n", "tail"]
    for piece in pieces:
        splitter.feed(piece.encode())
    splitter.flush()
    assert got == ["{" + "x" * 70000 + "y" * 70000 + "z}", "next line", "tail"]
    assert splitter.text() == "".join(pieces)


# -- feeds and templates ---------------------------------------------------------------------

@settings(max_examples=400, deadline=None)
@given(st.one_of(v4_text, st.text(max_size=16)), suffix)
def test_feed_accounting_keys_are_the_plans_keys(addr: str, tail: str) -> None:
    text = addr + tail
    try:
        expected = str(parse_network(refang(text))[0])
    except InvalidTargetError:
        expected = text.strip()
    assert _key(text) == expected


def test_nft_templates_fill_exactly_as_string_template_does() -> None:
    from string import Template

    from irtui.core.firewall import nftables

    values = {"set": "v4_32", "type": "ipv4_addr", "match": "ip", "mask": "& 255.255.0.0 ",
              "element": "203.0.113.7 timeout 60s", "elements": "203.0.113.7",
              "mgmt4": "elements = { 192.0.2.1 }", "mgmt6": "", "since": "2026-01-01T00:00:00Z",
              "sum": "0123456789ab",
              "mgmt_list": "192.0.2.1", "input_extra": "    accept", "output_extra": "",
              "network": "192.0.2.0/24", "port": 22}
    filled = 0
    for name, text in nftables.templates().items():
        if isinstance(text, str):
            expected = Template(text).substitute(nftables._names(), **values)
            assert nftables._fill(name, **values) == expected.strip("\n") + "\n", name
            filled += 1
    assert filled >= 8


# -- the setting ---------------------------------------------------------------------------

def test_max_parallel_defaults_to_64() -> None:
    assert parse_config({}).ssh.max_parallel == 64
    assert parse_config({"ssh": {"max_parallel": 200}}).ssh.max_parallel == 200


@pytest.mark.parametrize("value", [0, -3, MAX_PARALLEL_LIMIT + 1, "many", 2.5, True])
def test_max_parallel_is_validated(value: object) -> None:
    with pytest.raises(ConfigError, match=r"ssh\.max_parallel: must be"):
        parse_config({"ssh": {"max_parallel": value}})


# -- a 50-host lab fits its address plan ---------------------------------------------------

def test_the_largest_lab_collides_with_nothing() -> None:
    spec = LabSpec(hosts=MAX_HOSTS)
    offsets = [spec.host_offset(i) for i in range(1, MAX_HOSTS + 1)]
    roles = [RESPONDER_OFFSET, ATTACKER_OFFSET, *offsets]
    assert len(set(roles)) == len(roles)  # hosts 11..60, responder 1, attacker 66
    v4 = {spec.v4(o) for o in roles} | {spec.attacker_v4, spec.responder_v4}
    v6 = {spec.v6(o) for o in roles}
    assert len(v4) == len(v6) == len(roles)
    subnet = ipaddress.ip_network(spec.subnet4)
    assert all(ipaddress.ip_address(a) in subnet for a in v4)
    assert len({spec.mac(o) for o in roles}) == len(roles)


# -- --json: long row lists one object per line --------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12))
flat_rows = st.lists(st.dictionaries(st.text(max_size=6), scalars, max_size=4), min_size=1,
                     max_size=3).map(lambda rows: rows * 40)  # 40..120: around ROW_LIST_MIN
json_docs = st.recursive(
    st.one_of(scalars, flat_rows),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=6), json_docs, max_size=4))
def test_json_documents_read_back_exactly_and_stay_printable(doc: dict) -> None:
    from irtui.commands import jsonout

    text = jsonout.dumps(doc)
    assert json.loads(text) == doc
    assert text.isascii() and all(" " <= c <= "~" or c == "\n" for c in text)


def test_a_blocklist_in_json_has_one_entry_per_line() -> None:
    from irtui.commands import jsonout

    entry = {"entry": "192.0.2.7", "family": 4, "timeout_s": None, "expires_s": None,
             "enforcement": "enforced", "enforced": True}
    doc = {"data": {"hosts": [{"host": "h", "entries": [entry] * jsonout.ROW_LIST_MIN}]}}
    lines = jsonout.dumps(doc).splitlines()
    assert lines.count(f"          {json.dumps(entry)},") == jsonout.ROW_LIST_MIN - 1
    assert json.loads("\n".join(lines)) == doc


def test_the_read_back_after_the_last_step_is_captured_not_shown() -> None:
    steps = [Step("h", "apply", "apply"), Step("h", "cut", "cut")]
    router, events, answers = _route(steps, [
        ("stdout", "M done 1 0"), ("stderr", "M done 1"), ("stdout", "flows cut: 0"),
        ("stdout", "M done 2 0"), ("stderr", "M done 2"), ("stdout", '{"nftables": []}'),
        ("stderr", "a warning"), ("stdout", "M done 3 0"), ("stderr", "M done 3")],
        readback=True)
    assert answers.sent == ["go\n", "go\n"]  # the read starts only on irtui's go
    assert router.readback() == '{"nftables": []}\n'
    assert [o.stdout for o in router.outcomes(0)] == ["", "flows cut: 0\n"]
    assert [e.line for e in events if isinstance(e, OutputLine)] == ["flows cut: 0"]
    assert [e.purpose for e in events if isinstance(e, StepFinished)] == ["apply", "cut"]


def test_no_read_back_after_a_failure_a_cancel_or_a_failed_read() -> None:
    steps = [Step("h", "apply", "apply")]
    failed, _, answers = _route(steps, [("stdout", "M done 1 1"), ("stderr", "M done 1")],
                                readback=True)
    assert answers.sent == [] and failed.readback() is None
    cancelled, _, answers = _route(steps, [("stdout", "M done 1 0"), ("stderr", "M done 1")],
                                   proceed=False, readback=True)
    assert answers.sent == ["EOF"] and cancelled.readback() is None
    assert [o.exit_code for o in cancelled.outcomes(0)] == [0]
    bad_read, _, answers = _route(steps, [
        ("stdout", "M done 1 0"), ("stderr", "M done 1"), ("stdout", "partial"),
        ("stdout", "M done 2 1"), ("stderr", "M done 2")], readback=True)
    assert answers.sent == ["go\n"] and bad_read.readback() is None
    assert [o.exit_code for o in bad_read.outcomes(0)] == [0]


def test_a_cli_verb_runs_without_the_cyclic_gc(monkeypatch: pytest.MonkeyPatch) -> None:
    """A verb runs with the collector paused and gets it back as it was; only the process's
    own command line (argv None: the process ends next) freezes what it made."""
    import gc
    import sys

    from irtui import cli, launcher

    seen: list[bool] = []
    monkeypatch.setattr(cli, "run", lambda args: seen.append(gc.isenabled()) or 0)
    was, frozen = gc.isenabled(), gc.get_freeze_count()
    assert launcher.main(["status"]) == 0
    assert seen == [False] and gc.isenabled() is was and gc.get_freeze_count() == frozen
    monkeypatch.setattr(sys, "argv", ["irtui", "status"])
    try:
        assert launcher.main() == 0
        assert seen == [False, False] and gc.isenabled() is was
        assert gc.get_freeze_count() > max(frozen, 1000)  # this process's objects, frozen
    finally:
        gc.unfreeze()
