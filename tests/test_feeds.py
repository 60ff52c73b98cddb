"""IOC feeds: parsing (plain and CSV), then a 10,000-entry import on the lab, accounted for
entry by entry, applied as one transaction and proven at the traffic level."""

from __future__ import annotations

import ipaddress
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from irtui.core.actions import Responder
from irtui.core.errors import InvalidTargetError
from irtui.core.events import Event, StepFinished
from irtui.core.feeds import ADDRESS_COLUMNS, parse_feed, read_feed
from irtui.core.plan import EntryFate, EntryStatus
from irtui.lab.probe import ns_run, tcp_connects

FEED_SIZE = 10_000
CLI_TIMEOUT = 600

# ---- parse_feed / read_feed ---------------------------------------------------------------


def test_plain_feed_skips_comments_and_blank_lines() -> None:
    text = ("# exported 2024-05-01 by the SOC\n"
            "\n"
            "198.51.100.7\n"
            "   203.0.113.0/24   # C2 range, trailing comment\n"
            "\t\n"
            "    # an indented whole-line comment\n"
            "2001:db8::1#no space before the comment\n"
            "2001:db8:100::/48\r\n"
            "#198.51.100.99 commented out\n"
            "198.51.100.7\n")
    assert parse_feed(text) == ["198.51.100.7", "203.0.113.0/24", "2001:db8::1",
                                "2001:db8:100::/48", "198.51.100.7"]


def test_plain_feed_keeps_bad_entries_for_the_action_to_refuse() -> None:
    # parse_feed does not validate: the action accounts for each entry, bad ones included
    assert parse_feed("300.1.1.1\nnot-an-ip  # junk\n127.0.0.1\n") == [
        "300.1.1.1", "not-an-ip", "127.0.0.1"]


def test_empty_or_comment_only_feed_has_no_entries() -> None:
    assert parse_feed("") == []
    assert parse_feed("# nothing today\n\n   \n") == []


def test_csv_feed_takes_the_ip_column_with_quoted_fields() -> None:
    text = ("# MISP export\r\n"
            "first_seen,ip,source\r\n"
            '2024-05-01T10:00:00Z,198.51.100.7,"abuse feed, inc."\r\n'
            '"2024-05-01T11:00:00Z","203.0.113.9","says ""hi"", bye"\r\n'
            "2024-05-02,  2001:db8::42  ,plain\r\n"
            "2024-05-03,,row without an address\r\n"
            "2024-05-04\r\n"
            '2024-05-05,"198.51.100.0/24","multi\r\nline note"\r\n')
    assert parse_feed(text) == ["198.51.100.7", "203.0.113.9", "2001:db8::42",
                                "198.51.100.0/24"]


def test_csv_header_is_case_insensitive_and_column_order_free() -> None:
    text = 'Source,Indicator,Seen\n"x, y",198.51.100.8,today\nz,2001:db8::8,today\n'
    assert parse_feed(text) == ["198.51.100.8", "2001:db8::8"]


def test_csv_without_an_address_column_names_the_allowed_columns() -> None:
    text = "first_seen,host,source\n2024-05-01,evil.example,feed\n"
    with pytest.raises(InvalidTargetError) as info:
        parse_feed(text, "iocs.csv")
    err = info.value
    assert "iocs.csv" in err.problem and "no address column" in err.problem
    assert "first_seen,host,source" in err.problem
    assert ", ".join(ADDRESS_COLUMNS) in err.fix
    assert {"address", "ip", "indicator"} <= set(ADDRESS_COLUMNS)


@pytest.mark.parametrize("text, expected", [
    ("198.51.100.7\n203.0.113.9 # c\n", ["198.51.100.7", "203.0.113.9"]),
    ("ip,source\n198.51.100.7,x\n2001:db8::7,y\n", ["198.51.100.7", "2001:db8::7"]),
])
def test_read_feed_strips_a_byte_order_mark(tmp_path: Path, text: str,
                                            expected: list[str]) -> None:
    path = tmp_path / "feed.txt"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert read_feed(path) == expected


def test_read_feed_of_a_missing_file_says_which(tmp_path: Path) -> None:
    with pytest.raises(InvalidTargetError, match=r"cannot read feed .*missing\.txt"):
        read_feed(tmp_path / "missing.txt")


# ---- a 10,000-entry feed on the lab --------------------------------------------------------

V4_PREFIXES = ["198.19.200.0/24", "198.19.201.0/24", "198.19.202.128/25",
               "198.19.1.0/24",     # overlaps single addresses of the feed: both coexist
               "198.19.210.77/24"]  # host bits set: normalised to 198.19.210.0/24
V6_PREFIXES = ["2001:db8:100::/48", "2001:db8:200::/56", "2001:db8:300::/64"]
V6_SINGLES = 980
MALFORMED = ["300.1.1.1", "not-an-ip"]


@dataclass
class LabFeed:
    """A generated feed and what irtui must make of it on one host."""

    entries: list[str]          # in feed order, FEED_SIZE of them
    text: str                   # the file content (with comments and blank lines)
    pre_blocked: list[str]      # entries blocked on the host before the import
    refused: dict[str, str]     # accounting key -> word the refusal must contain
    duplicate: str              # the entry that appears twice

    @property
    def keys(self) -> set[str]:
        """Every distinct accounting key (normalised network, or the text if malformed)."""
        return {key(e) for e in self.entries}

    @property
    def blocked(self) -> set[str]:
        """What the host's live blocklist must hold afterwards."""
        return self.keys - set(self.refused)


def key(entry: str) -> str:
    """The accounting key irtui uses for an entry: the normalised network, or the stripped
    text when it is not an address at all."""
    try:
        return str(ipaddress.ip_network(entry.strip(), strict=False))
    except ValueError:
        return entry.strip()


def make_feed(responder_v4: str) -> LabFeed:
    """FEED_SIZE entries from 198.19.0.0/16 (RFC 2544; the lab lives in 198.18.x.x) and
    2001:db8::/32 (RFC 3849), plus malformed lines, loopback, the responder's own address and
    one duplicate line."""
    lab_nets = [ipaddress.ip_network("198.18.0.0/16"), ipaddress.ip_network("fd00::/8")]
    v6 = [str(ipaddress.IPv6Address("2001:db8::1000") + i) for i in range(V6_SINGLES)]
    specials = [*MALFORMED, "127.0.0.1", responder_v4]
    n_v4 = FEED_SIZE - V6_SINGLES - len(V4_PREFIXES) - len(V6_PREFIXES) - len(specials) - 1
    v4 = [str(ipaddress.IPv4Address("198.19.1.0") + i) for i in range(n_v4)]
    duplicate = v4[10]
    entries = [*v4[:5000], *V4_PREFIXES, *v6[:500], *specials[:2], duplicate, *v4[5000:],
               *V6_PREFIXES, *specials[2:], *v6[500:]]
    assert len(entries) == FEED_SIZE
    for e in entries:  # nothing but the responder's address touches the lab
        if e not in MALFORMED and e != responder_v4:
            net = ipaddress.ip_network(e, strict=False)
            assert not any(net.version == lab.version and net.overlaps(lab) for lab in lab_nets)
    lines = ["# irtui lab feed: 198.19.0.0/16 (RFC 2544) and 2001:db8::/32 (RFC 3849)", ""]
    for i, e in enumerate(entries):
        lines.append(f"{e}   # seen by sensor {i % 7}" if i % 97 == 0 else e)
        if i % 1000 == 999:
            lines += ["", f"# --- {i + 1} entries so far"]
    refused = {"300.1.1.1": "not an IP address", "not-an-ip": "not an IP address",
               "127.0.0.1/32": "loopback", f"{responder_v4}/32": "management address"}
    return LabFeed(entries=entries, text="\n".join(lines) + "\n",
                   pre_blocked=[v4[3], v4[4000], v4[-1], v6[0], v6[-1]], refused=refused,
                   duplicate=duplicate)


def irtui_cli(config_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "irtui", "--config", str(config_path), *args],
                          capture_output=True, text=True, timeout=CLI_TIMEOUT)


def live_blocks(responder: Responder, host: str) -> dict[str, int | None]:
    """The host's live blocklist as {normalised network: timeout}."""
    return {str(b.network): b.timeout for b in responder.read_state(host).blocks}


@pytest.mark.lab
def test_import_of_10000_entries_is_accounted_applied_and_enforced(
        responder: Responder, clean_lab, tmp_path: Path) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    feed = make_feed(clean_lab.responder_v4)
    assert key(attacker.v4) not in feed.keys and key(attacker.v6) not in feed.keys

    pre = responder.execute(responder.plan_block(feed.pre_blocked, ["host1"], "10m"),
                            lambda e: None)
    assert pre.ok, pre
    assert set(live_blocks(responder, "host1")) == {key(e) for e in feed.pre_blocked}

    path = tmp_path / "feed.txt"
    path.write_text(feed.text)
    entries = read_feed(path)
    assert entries == feed.entries

    plan = responder.plan_block(entries, ["host1"], "2h")

    # every input entry is accounted for, duplicates collapsed into one key
    acc = plan.entries["host1"]
    assert list(plan.entries) == ["host1"]
    assert set(acc) == feed.keys
    assert len(acc) == FEED_SIZE - 1
    for entry in entries:
        assert key(entry) in acc, entry
    for entry, word in feed.refused.items():
        assert acc[entry].fate is EntryFate.REFUSED, (entry, acc[entry])
        assert word in acc[entry].reason, (entry, acc[entry])
    for entry in feed.pre_blocked:
        assert acc[key(entry)] == EntryStatus(EntryFate.REFRESH)
    statuses = {s.fate for e, s in acc.items() if e not in feed.refused}
    assert statuses == {EntryFate.TO_ADD, EntryFate.REFRESH}
    counts = plan.counts()
    assert counts == {"to add": FEED_SIZE - 1 - len(feed.refused) - len(feed.pre_blocked),
                      "already present": len(feed.pre_blocked), "refused": len(feed.refused)}
    assert sum(counts.values()) == len(acc)
    assert any("198.19.210.0/24" in note for note in plan.notes)  # host bits normalised

    # one transaction on host1 (nft validates the whole script before committing any of
    # it), carrying every entry, under the host's change lock (remote/host_lock.sh)
    assert {s.host for s in plan.steps} == {"host1"}
    adds = [s for s in plan.steps if s.purpose.startswith("add")]
    assert len(adds) == 1, [s.purpose for s in plan.steps]
    assert adds[0].command.endswith(" nft -f -") and "irtui-host_lock" in adds[0].command
    assert not any(" nft -c " in s.command for s in plan.steps)
    script = adds[0].stdin or ""
    # per set: those already there added, deleted and added with the TTL (set whether or
    # not it was there); the new ones created with it
    final = [line for line in script.splitlines()
             if line.startswith(("add element", "create element")) and " timeout " in line]
    assert sum(line.count(" timeout 7200s") for line in final) == len(feed.blocked)
    assert "300.1.1.1" not in script and "127.0.0.1" not in script
    assert not re.search(rf"(?<![0-9.]){re.escape(clean_lab.responder_v4)}(?![0-9.])", script)

    seen: list[Event] = []
    result = responder.execute(plan, seen.append)
    failed = [e for e in seen if isinstance(e, StepFinished) and e.exit_code != 0]
    assert result.ok, (result, failed)

    # the live state holds exactly what was accounted as applied or refreshed
    live = live_blocks(responder, "host1")
    assert set(live) == feed.blocked
    assert len(live) == FEED_SIZE - 1 - len(feed.refused)
    assert {live[key(e)] for e in feed.pre_blocked} == {7200}  # TTL renewed to the new 2h
    assert "198.19.1.0/24" in live and "198.19.1.1/32" in live  # overlap coexists

    # traffic: the attacker is not in the feed, so it still gets through
    assert tcp_connects(attacker.namespace, h1.v4, 22)
    assert tcp_connects(attacker.namespace, h1.v6, 22)
    assert tcp_connects(None, h1.v4, 22)

    # a second, small feed (CSV this time) through the CLI adds the attacker
    second = tmp_path / "second.csv"
    second.write_text(f"first_seen,ip,source\n2024-05-01,{attacker.v4},\"sensor 3, dmz\"\n")
    out = irtui_cli(clean_lab.config_path, "block", "--from-file", str(second),
                    "--on", "host1", "--ttl", "1h")
    assert out.returncode == 0, out.stderr
    assert "plan for entries × hosts: 1 — 1 to add" in out.stderr
    assert not tcp_connects(attacker.namespace, h1.v4, 22)
    assert tcp_connects(attacker.namespace, h1.v6, 22)  # only its IPv4 address was listed
    assert tcp_connects(None, h1.v4, 22)  # the responder keeps its access
    live = live_blocks(responder, "host1")
    assert set(live) == feed.blocked | {key(attacker.v4)}
    assert live[key(attacker.v4)] == 3600


@pytest.mark.lab
def test_dry_run_import_changes_nothing_and_prints_the_plan(
        responder: Responder, clean_lab, tmp_path: Path) -> None:
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    feed = make_feed(clean_lab.responder_v4)
    path = tmp_path / "feed.txt"
    path.write_text(feed.text)

    out = irtui_cli(clean_lab.config_path, "block", "--from-file", str(path), "--on", "host1",
                    "--dry-run")
    assert out.returncode == 5, out.stderr  # the plan refuses entries (EXIT_REFUSED)
    n_blocked = len(feed.blocked)
    # accounting on stderr: every refusal with its rule, then the totals
    assert (f"plan for entries × hosts: {FEED_SIZE - 1} — {len(feed.refused)} refused, "
            f"{n_blocked} to add") in out.stderr
    for entry in feed.refused:
        line = next((ln for ln in out.stderr.splitlines()
                     if ln.startswith(f"host1: {entry} refused: ")), None)
        assert line is not None and feed.refused[entry] in line, (entry, out.stderr[-2000:])
    # the plan on stdout: applied as one nft script, every element listed once
    assert "[host1]" in out.stdout
    assert out.stdout.count("nft -c -f -") == 0 and out.stdout.count("nft -f -") == 1
    assert out.stdout.count(" timeout 86400s") == n_blocked
    assert "create element inet irtui v4_32 { 198.19.1.0 timeout 86400s, " in out.stdout
    assert "create element inet irtui v6_48 { 2001:db8:100:: timeout 86400s }" in out.stdout
    assert f"entries: {len(feed.refused)} refused, {n_blocked} to add" in out.stdout

    # nothing changed on the host
    assert responder.read_state("host1").blocks == ()
    tables = ns_run(h1.namespace, ["nft", "list", "tables"])
    assert tables.returncode == 0 and b"irtui" not in tables.stdout
    assert tcp_connects(attacker.namespace, h1.v4, 22)
