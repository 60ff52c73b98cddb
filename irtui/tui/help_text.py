"""What the help screen says besides the keys: every symbol the TUI shows, the input syntax,
and why some confirmations need a name typed. (The keys come from :mod:`irtui.tui.registry`.)
"""

from __future__ import annotations

from irtui.core.durations import MAX_TTL, format_duration

SYMBOLS: tuple[tuple[str, str], ...] = (
    ("✓ yes / ✗ no", "Reach: the host answered its last read / it did not"),
    ("normal", "Isolation: no irtui isolation in the host's ruleset (read back)"),
    ("■ ISO 22:30", "isolated by irtui since 22:30 UTC, read back from the host's ruleset"),
    ("⏳ rollback 42s", "a commit-confirm timer is armed on the host: it removes the "
                       "isolation by itself in 42 s unless irtui confirms"),
    ("◐ PARTIAL", "an isolation read back as only partly in force (the line under the "
                  "table says what is missing)"),
    ("3 ⚠", "Blocks: the host lists the entries but its rules do not enforce them"),
    ("3 ≠ / normal ≠", "drift: the host differs from what the incident record means to be "
                       "true (a block lost before its expiry, an isolation removed or opened "
                       "by hand: R re-applies those; an entry or isolation the record never "
                       "placed: u unblocks it, or keep it)"),
    ("unknown", "the host's state could not be read (see its error under the table)"),
    ("⠋ block…", "an action runs on this host now (x cancels a block or unblock)"),
    ("✓ block ok / ✗ block failed", "how the host's last action ended (the log says why)"),
    ("●", "marked with space: the next action applies to every marked row"),
    ("⚠ web: 2/3", "only 2 of the 3 reachable members of group web hold this entry "
                   "(p blocks it on the rest)"),
    ("host3?", "host3 is unreachable: the entry is from its last known blocklist"),
    ("host2✗", "host2 lists the entry but its rules do not enforce it (Mark: ✗ NOT "
               "ENFORCED; the Hosts tab says why)"),
    ("? host3 unreachable", "(Blocklist status) the ⚠ marks cannot count host3: its "
                            "blocklist is unknown until it answers again"),
    ("expired", "the entry's soonest copy has just expired; the next read drops it"),
    ("+12 new lines — End", "(Log) lines that came while you were scrolled up"),
    ("INC-2026-0042", "(header) the incident every action is recorded in (o switches)"),
)

SYNTAX: tuple[str, ...] = (
    "Addresses: IPv4/IPv6 addresses or CIDRs (203.0.113.7, 2001:db8::/32), separated by "
    "spaces, commas, ; or |. Pasted lists may span lines. Defanged IOCs (203.0.113[.]7, "
    "2001:db8[:]:1) are refanged; a URL or an address:port is refused, naming the "
    "address to give instead. Bad tokens are marked in the field; ctrl+t drops them.",
    f"TTL: 30m, 24h, 7d, 1h30m (s, m, h, d, w), up to {format_duration(MAX_TTL)} (the "
    "longest timeout ipset and the kernel sets accept), or permanent (always typed out). "
    "The host's kernel expires the entry, even when irtui is not running.",
    "Hosts: host names, @group (every host of that group), or all; separated by spaces "
    "or commas. Marked hosts (space) are prefilled.",
)

WHY_TYPED: tuple[str, ...] = (
    "Isolation cuts a host off the network: on the wrong row it is an outage, so its "
    "name must be typed (a typo cannot confirm). Blocking a prefix larger than "
    "firewall.confirm_prefix_v4/v6 (default /24 and /48) also needs the prefix typed.",
    "Release and unblock only remove what irtui added and give traffic back: they cannot "
    "cut anyone off, so y is enough. Every confirmation shows the plan first, and focus "
    "starts on Cancel.",
    "An isolation is commit-confirmed: if irtui loses the host while applying it, the "
    "host rolls it back by itself. x never cancels an isolation for that reason.",
)


def help_notes(read_only: bool = False) -> list[str]:
    """The help screen's lines after the keys (every line non-empty)."""
    width = max(len(symbol) for symbol, _ in SYMBOLS)
    lines = ["── Symbols"]
    lines += [f"{symbol:>{width}}  {meaning}" for symbol, meaning in SYMBOLS]
    lines.append("── What you type")
    lines += [f"  {line}" for line in SYNTAX]
    lines.append("── Why isolate needs the name typed and release only y")
    lines += [f"  {line}" for line in WHY_TYPED]
    if read_only:
        lines += ["── Read-only mode",
                  "  Started with --read-only (or ui.read_only): every action that changes a "
                  "host is gone; reading, the log, the record and reports remain."]
    return lines
