"""Real feed formats, pasted IOCs, and per-feed accounting (issue 15)."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irtui.core.errors import InvalidTargetError
from irtui.core.feed_accounting import account
from irtui.core.feed_formats import detect_and_read
from irtui.core.feeds import load_feed
from irtui.core.ioc_paste import refang, split_pasted
from irtui.core.plan import EntryFate, EntryStatus, Plan
from irtui.lab.probe import tcp_connects

DATA = Path(__file__).parent / "data" / "feeds"


@pytest.mark.parametrize("name, fmt, entries, refused", [
    ("spamhaus_drop.txt", "list", ["192.0.2.0/24", "198.51.100.0/25", "203.0.113.128/25"], 0),
    ("spamhaus_drop_v4.json", "spamhaus-json", ["192.0.2.0/24", "198.51.100.0/25"], 0),
    ("firehol_level1.netset", "list", ["192.0.2.0/24", "198.51.100.7", "203.0.113.0/26"], 0),
    ("feodo_ipblocklist.csv", "csv", ["192.0.2.5", "198.51.100.9", "203.0.113.77"], 0),
    ("misp_export.csv", "csv", ["192.0.2.44", "2001:db8::44", "not-an-ip"], 0),
    ("crowdsec_decisions.json", "crowdsec", ["192.0.2.66", "198.51.100.0/24"], 2),
    ("stix_bundle.json", "stix",
     ["203.0.113.5", "198.51.100.1", "2001:db8::1", "192.0.2.0/25"], 2),
])
def test_each_real_format_is_detected_and_read(name: str, fmt: str, entries: list[str],
                                               refused: int) -> None:
    label, feed = load_feed(DATA / name)
    assert label.endswith(name)
    assert feed.format == fmt
    assert feed.entries == entries
    assert len(feed.refused) == refused, feed.refused
    assert all(why for _, why in feed.refused)


def test_refused_feed_records_say_why() -> None:
    _, crowdsec = load_feed(DATA / "crowdsec_decisions.json")
    reasons = dict(crowdsec.refused)
    assert "not a ban" in reasons["203.0.113.3"]
    assert "not an IP or a range" in reasons["country:ZZ"]
    _, stix = load_feed(DATA / "stix_bundle.json")
    why = " ".join(r for _, r in stix.refused)
    assert "cannot enforce it exactly" in why and "'yara' is not stix" in why


def test_stix_patterns_as_text_lines() -> None:
    feed = detect_and_read("# exported patterns\n"
                           "[ipv4-addr:value = '203.0.113.5']\n"
                           "[ipv6-addr:value = '2001:db8::9'] OR [ipv4-addr:value = '192.0.2.9']\n"
                           "[ipv4-addr:value != '198.51.100.1']\n")
    assert feed.format == "stix"
    assert feed.entries == ["203.0.113.5", "2001:db8::9", "192.0.2.9"]
    assert [p for p, _ in feed.refused] == ["[ipv4-addr:value != '198.51.100.1']"]


def test_unknown_json_and_headerless_csv_are_named() -> None:
    with pytest.raises(InvalidTargetError, match=r"x.json: JSON that is not a feed") as info:
        detect_and_read('{"hello": "world"}', "x.json")
    assert "CrowdSec" in info.value.fix and "STIX" in info.value.fix
    with pytest.raises(InvalidTargetError, match="no address column"):
        detect_and_read("# abuse.ch URLhaus\n# \"id\",\"url\"\n\"1\",\"hxxp://x\"\n"
                        "\"2\",\"hxxp://y\"\n", "urlhaus.csv")
    assert detect_and_read("null\n").entries == []  # cscli prints null when empty


def test_plain_list_with_semicolon_and_hash_comments() -> None:
    feed = detect_and_read("203.0.113.7 ; SBL1\n198.51.100.7 # seen, twice\n; header\n")
    assert feed.format == "list" and feed.entries == ["203.0.113.7", "198.51.100.7"]
    assert feed.refused == []


@pytest.mark.parametrize("line", ["203.0.113.174;203.0.113.175", "203.0.113.174#203.0.113.175",
                                  "203.0.113.174 ; 203.0.113.175/32 second"])
def test_a_second_address_after_a_comment_mark_is_refused_not_dropped(line: str) -> None:
    """Two entries on one line joined by ';' or '#': the comment rule would drop the second
    without a word; it is reported refused (the first is read), so the summary counts it."""
    feed = detect_and_read(f"198.51.100.1\n{line}\n")
    assert feed.entries == ["198.51.100.1", "203.0.113.174"]
    [(item, why)] = feed.refused
    assert item.startswith("203.0.113.175") and "one entry per line" in why
    assert ";" not in why and "#" not in why  # the accounting line splits on them


def test_every_address_after_a_comment_mark_is_refused() -> None:
    feed = detect_and_read("203.0.113.174;203.0.113.175;203.0.113.176\n"
                           "203.0.113.1 ; SBL12 see 2001:db8::/32\n203.0.113.2;\n")
    assert feed.entries == ["203.0.113.174", "203.0.113.1", "203.0.113.2"]
    assert [item for item, _ in feed.refused] == ["203.0.113.175", "203.0.113.176",
                                                  "2001:db8::/32"]


@pytest.mark.parametrize("pasted, expected", [
    ("203.0.113[.]7", "203.0.113.7"),
    ("203[.]0[.]113[.]7", "203.0.113.7"),
    ("198.51.100(.)0/24", "198.51.100.0/24"),
    ("203.0.113[dot]9", "203.0.113.9"),
    ("2001:db8[:]:1", "2001:db8::1"),
    ("[2001:db8::5]", "2001:db8::5"),
    ('"203.0.113.7",', "203.0.113.7"),
    ("(203.0.113.7).", "203.0.113.7"),
    ("•203.0.113.7", "203.0.113.7"),
    ("2001:db8::", "2001:db8::"),
])
def test_pasted_iocs_are_refanged(pasted: str, expected: str) -> None:
    assert refang(pasted) == expected


@pytest.mark.parametrize("pasted, problem, fix", [
    ("hxxp://203.0.113.7/payload.exe", "is a URL", "give 203.0.113.7"),
    ("hxxps[:]//evil.example/x", "is a URL", "server's address"),
    ("203.0.113.7:443", "address with a port", "give 203.0.113.7"),
    ("[2001:db8::7]:8443", "address with a port", "give 2001:db8::7"),
])
def test_urls_and_ports_are_refused_naming_the_address(pasted: str, problem: str,
                                                        fix: str) -> None:
    with pytest.raises(InvalidTargetError) as info:
        refang(pasted)
    assert problem in info.value.problem and fix in info.value.fix


def test_a_ticket_paste_splits_into_tokens() -> None:
    text = ("IOCs: 203.0.113[.]7, 198.51.100.0/24;\n"
            "  - 2001:db8::9 | hxxp://192.0.2.1/x\n")
    tokens = split_pasted(text)
    assert tokens == ["IOCs:", "203.0.113[.]7", "198.51.100.0/24", "-", "2001:db8::9",
                      "hxxp://192.0.2.1/x"]


@settings(max_examples=600, deadline=None)
@given(st.ip_addresses(), st.sampled_from(["[.]", "(.)", "[dot]", "{.}"]),
       st.sampled_from(["", '"', "'", "(", "<"]))
def test_refang_of_a_defanged_address_is_the_address(ip: object, mark: str,
                                                     quote: str) -> None:
    text = str(ip)
    defanged = text.replace(".", mark) if ip.version == 4 else text  # type: ignore[attr-defined]
    closing = {"(": ")", "<": ">"}.get(quote, quote)
    assert ipaddress.ip_address(refang(f"{quote}{defanged}{closing}")) == ip


@settings(max_examples=1500, deadline=None)
@given(st.text(max_size=80))
def test_refang_never_fails_but_with_a_reason(text: str) -> None:
    try:
        out = refang(text)
    except InvalidTargetError as exc:
        assert exc.problem and exc.fix
    else:
        assert isinstance(out, str) and len(out) <= len(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_is_a_feed_or_one_clear_refusal(text: str) -> None:
    try:
        feed = detect_and_read(text, "fuzz")
    except InvalidTargetError as exc:
        assert exc.problem.startswith("fuzz") and exc.fix
    else:
        assert all(isinstance(e, str) and e.strip() == e and e for e in feed.entries)


def test_accounting_counts_read_planned_duplicates_refused() -> None:
    feed = detect_and_read("203.0.113.7\n203.0.113.7/32\n127.0.0.1\nbogus\n198.51.100.0/24\n")
    plan = Plan("block", "", ["h1"])
    plan.entries["h1"] = {
        "203.0.113.7/32": EntryStatus(EntryFate.TO_ADD),
        "198.51.100.0/24": EntryStatus(EntryFate.REFRESH),
        "127.0.0.1/32": EntryStatus(EntryFate.REFUSED, "127.0.0.1/32 overlaps 127.0.0.0/8, "
                                    "loopback (RFC 6890); blocking it would break the host"),
        "bogus": EntryStatus(EntryFate.REFUSED, "'bogus' is not an IP address or CIDR"),
    }
    acc = account("f.txt", feed, plan)
    assert (acc.read, acc.planned, acc.duplicates) == (5, 2, 1)
    assert acc.refused == {"overlaps 127.0.0.0/8, loopback (RFC 6890)": 1,
                           "is not an IP address or CIDR": 1}
    line = acc.line()
    assert line.startswith("f.txt (list): read 5 · planned 2 · duplicates 1 · refused 2")


@pytest.mark.lab
def test_cli_block_and_unblock_from_stdin_feeds(clean_lab, tmp_path) -> None:
    """`--from-file -` reads a CrowdSec export from stdin; `unblock --from-file` takes it
    back; the accounting line names the refusals; the attacker is cut, then restored."""
    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    config = clean_lab.config_path
    doc = (DATA / "crowdsec_decisions.json").read_text().replace("192.0.2.66", attacker.v4)
    irtui = [sys.executable, "-m", "irtui", "--config", str(config)]
    out = subprocess.run([*irtui, "block", "--on", "host1", "--from-file", "-", "-q"],
                         input=doc, capture_output=True, text=True, timeout=120)
    assert out.returncode == 5, out.stderr  # 2 decisions refused (EXIT_REFUSED)
    assert "stdin (crowdsec): read 4 · planned 2 · duplicates 0 · refused 2" in out.stderr
    assert not tcp_connects(attacker.namespace, h1.v4, 22)
    feed = tmp_path / "back.txt"
    feed.write_text(f"# take it back\n{attacker.v4}\n203.0.113[.]250\n")
    out = subprocess.run([*irtui, "unblock", "--on", "host1", "--from-file", str(feed), "-q"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert tcp_connects(attacker.namespace, h1.v4, 22)
    # the attacker is removed; 203.0.113.250 was not blocked there (a note says so)
    assert "read 2 · planned 1 · duplicates 0 · refused 0" in out.stderr


@given(st.sampled_from(["198.18.16.1/32", "2001:db8::1/128", "203.0.113.0/24"]),
       st.sampled_from(["the responder's management address (this SSH session)",
                        "the host's own address", "firewall.never_block"]))
def test_a_refusal_naming_the_entry_itself_keeps_the_network(net: str, rule: str) -> None:
    """The entry IS the protected network (the responder's own address in a feed): the
    summary still names it, never ``overlaps , the responder's…``."""
    feed = detect_and_read(f"{net}\n")
    plan = Plan("block", "", ["h1"])
    plan.entries["h1"] = {net: EntryStatus(EntryFate.REFUSED, f"overlaps {net}, {rule}")}
    acc = account("f.txt", feed, plan)
    assert acc.refused == {f"overlaps {net}, {rule}": 1}
    assert f"refused 1 (overlaps {net}, {rule}: 1)" in acc.line()
    assert "overlaps ," not in acc.line()
