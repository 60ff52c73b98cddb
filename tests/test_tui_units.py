"""The console's pure parts: the plan summary (core), toasts, the prompt's checks, the
registry (bindings, help, the README's Keys table), the blocklist's expiry handling, and the
log's classification. No terminal, no lab."""

from __future__ import annotations

import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from irtui.core.plan import EntryFate, EntryStatus, Plan
from irtui.core.plan_summary import Tone, failed_line, summarize
from irtui.tui import registry
from irtui.tui.blocklist import HostBlocks, aggregate_blocks, countdown, status_line
from irtui.tui.checks import check_request
from irtui.tui.log_panel import CMD, ERR, ERROR, HEAD, NOTE, OUT, classify
from irtui.tui.prompt import TargetRequest
from irtui.tui.toasts import MAX_CHARS, Toaster
from tests.tui_fixtures import fixed_config, mixed_plan

README = Path(__file__).resolve().parent.parent / "README.md"


# ---- the plan summary ------------------------------------------------------------------------


def test_summary_puts_each_host_first_and_groups_refusals() -> None:
    lines = summarize(mixed_plan())
    texts = [line.text for line in lines]
    assert texts[0].startswith("host1  1 to add · 1 command")
    assert texts[1].startswith("host2  1 already present · 1 command")
    assert texts[2] == "host3  ✗ FAILED before any change: unreachable (timed out)"
    assert lines[2].tone is Tone.FAIL
    assert "refused on every host (1):" in texts
    assert "  ✗ 127.0.0.1 — overlaps 127.0.0.0/8, loopback (RFC 6890)" in texts
    assert texts[-1].startswith("2 of 3 hosts change · 1 failed before any change")
    assert failed_line(mixed_plan()).startswith("✗ host3 FAILED before any change — the other")


def test_summary_lists_per_host_refusals_and_caps_them() -> None:
    refused = {f"10.0.{i}.0/24": EntryStatus(EntryFate.REFUSED, f"rule {i % 7}")
               for i in range(40)}
    plan = Plan("block", "block many", ["web1", "web2"], skipped={"web2": "nothing to block"},
                entries={"web1": {**refused, "203.0.113.1/32": EntryStatus(EntryFate.TO_ADD)},
                         "web2": {"203.0.113.1/32": EntryStatus(EntryFate.REFRESH)}})
    texts = [line.text for line in summarize(plan)]
    assert texts[0].startswith("web1  1 to add, 40 refused")
    reasons = [t for t in texts if t.strip().startswith("✗ ")]
    assert len(reasons) == 5 and "and 3 more" in reasons[0]  # 6 entries with rule 0
    assert any("… and 2 more reasons" in t for t in texts)
    assert any(t.startswith("web2  nothing to do: nothing to block (1 already present)")
               for t in texts)


# ---- toasts ------------------------------------------------------------------------------------


def test_toasts_grouped_capped_and_not_repeated() -> None:
    shown: list[str] = []
    now = [0.0]
    toaster = Toaster(shown.append, ["host1", "host2", "host3"], clock=lambda: now[0])
    toaster.add([f"{h}: key file missing — set ssh.key_file" for h in ("host1", "host2",
                                                                       "host3")])
    toaster.add(["x" * 5000])
    assert toaster.tick() == 0  # errors came in this drain: wait one more
    assert toaster.tick() == 2
    assert shown[0] == "host1, host2, host3: key file missing — set ssh.key_file ×3"
    assert len(shown[1]) <= MAX_CHARS and shown[1].endswith("(in full in the log: l, Enter)")
    toaster.add(["host2: key file missing — set ssh.key_file"])
    toaster.tick()
    assert toaster.tick() == 0 and len(shown) == 2  # the same message, seconds later
    now[0] += 60
    toaster.add(["host2: key file missing — set ssh.key_file"])
    toaster.tick()
    toaster.tick()
    assert shown[-1] == "host2: key file missing — set ssh.key_file"
    toaster.add([f"error {i}" for i in range(6)])
    toaster.tick()
    toaster.tick()
    assert shown[-1] == "3 more errors — see the log"
    now[0] += 60
    toaster.add(["host3: host3: unreachable (connection timed out after 10 s)",
                 "host1: unreachable (connection timed out after 10 s)"])
    toaster.tick()
    toaster.tick()
    assert shown[-1] == "host3, host1: unreachable (connection timed out after 10 s) ×2"


# ---- the prompt's checks ---------------------------------------------------------------------


def test_checks_name_the_field_and_the_tokens(tmp_path: Path) -> None:
    config = fixed_config(tmp_path)
    ok = check_request(config, TargetRequest("203.0.113.7 2001:db8::1", "1h", "host1 @web"),
                       block=True)
    assert ok is None
    bad = check_request(config, TargetRequest("203.0.113.7, 198.51.100.9:443", "1h", "all"),
                        block=True)
    assert bad is not None and bad.field == "targets" and bad.bad == ("198.51.100.9:443",)
    assert "give 198.51.100.9 if you mean to block every port" in bad.message
    loopback = check_request(config, TargetRequest("127.0.0.1", "", "host1"), block=True)
    assert loopback is not None and "nothing to block: 127.0.0.1/32 overlaps" in loopback.message
    assert check_request(config, TargetRequest("127.0.0.1", "", "host1"), block=False) is None
    ttl = check_request(config, TargetRequest("203.0.113.7", "0", "host1"), block=True)
    assert ttl is not None and ttl.field == "ttl" and ttl.bad == ("0",)
    group = check_request(config, TargetRequest("203.0.113.7", "", "@nope host2"), block=False)
    assert group is not None and group.field == "hosts" and group.bad == ("@nope",)


@given(st.text(max_size=300))
def test_checks_never_raise_and_quote_short(text: str) -> None:
    problem = check_request(fixed_config(Path("/nonexistent")),
                            TargetRequest(text, "1h", "host1"), block=True)
    if problem is not None:
        assert problem.field in ("targets", "ttl", "hosts")
        assert "\n" not in problem.message or "\n" in text
        assert len(problem.message) < 700


# ---- the registry --------------------------------------------------------------------------------


def test_registry_ids_unique_and_bindings_carry_them() -> None:
    ids = [spec.id for spec in registry.ACTIONS]
    assert len(ids) == len(set(ids))
    app_ids = {b.id for b in registry.bindings(registry.APP)}
    assert {"block", "unblock", "isolate", "release", "help", "quit"} <= app_ids
    assert {"collect", "collect_contain"} <= app_ids  # forensic triage, wired
    keys: dict[tuple[str, str], str] = {}
    for spec in registry.ACTIONS:
        if spec.scope == registry.DIALOG:
            continue
        for key in spec.keys.split(","):
            other = keys.setdefault((spec.scope, key), spec.id)
            assert other == spec.id or spec.hook, (key, other, spec.id)
    rows = registry.help_rows(read_only=True)
    assert not any(desc.startswith(("block address", "isolate the")) for _, desc in rows)


def test_readme_keys_section_is_the_registry() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Keys\n", 1)[1].split("\n## ", 1)[0]
    assert registry.keys_markdown() in section, "regenerate: python -m irtui.tui.registry"


# ---- the blocklist's expiries and the log's lines -------------------------------------------


def test_expired_copies_are_dropped_for_every_host() -> None:
    now = time.time()
    one = {"203.0.113.7": (now - 1, 4, 1), "203.0.113.8": (now + 600, 4, 2)}
    other = {"203.0.113.7": (None, 4, 1)}
    model = aggregate_blocks([HostBlocks("host1", ("lab",), True, one),
                              HostBlocks("host2", ("lab",), True, other),
                              HostBlocks("host3", ("lab",), False, None)], now)
    row = model.row("203.0.113.7")
    assert row is not None and row.hosts == "host2" and row.deadline is None  # not "0s"
    assert row.missing == ("host1",) and model.unreachable == ("host3",)
    assert countdown(now - 1, now) == "expired" and countdown(None, now) == "permanent"
    assert status_line(2, 2, 1, "", 0, ("host3",)).endswith(
        "⚠ 1 partial · ? host3 unreachable · / filter · u unblock")


def test_an_entry_a_host_lists_but_does_not_enforce_is_marked_on_the_blocklist() -> None:
    """The Blocklist is the quick look at what is blocked where: a host whose rules do not
    enforce an entry it lists (an accept inserted before irtui's drop) is never shown as
    blocking it like the others."""
    now = time.time()
    entry = {"203.0.113.7": (None, 4, 1)}
    model = aggregate_blocks([HostBlocks("host1", ("lab",), True, entry),
                              HostBlocks("host2", ("lab",), True, entry,
                                         frozenset({"203.0.113.7"})),
                              HostBlocks("host3", ("lab",), True, entry)], now)
    row = model.row("203.0.113.7")
    assert row is not None and row.hosts == "host1,host2✗,host3"
    assert row.mark == "✗ NOT ENFORCED: host2"
    assert row.targets == ("host1", "host2", "host3") and row.unreachable == ()
    assert row.missing == () and model.partial == 0  # held by all: nothing to complete


def test_log_lines_are_classified_by_host_and_kind() -> None:
    hosts = ["host1", "web-1"]
    assert classify("web-1 | hello", hosts) == ("web-1", OUT)
    assert classify("host1 ! nft: error", hosts) == ("host1", ERR)
    assert classify("✗ host1: unreachable", hosts) == ("host1", ERROR)
    assert classify("✗ cannot write the audit trail", hosts) == ("", ERROR)
    assert classify("$ web-1: nft -f -   # add", hosts) == ("web-1", CMD)
    assert classify("── block 203.0.113.7", hosts) == ("", HEAD)
    assert classify("note: x", hosts) == ("", NOTE)
