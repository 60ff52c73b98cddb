"""A config forcing a backend that holds none of irtui's state while another backend holds it
(``firewall = "iptables-legacy"`` on a host whose blocks and isolation are in nftables): the
conflict says where the state really is and that the config is what to fix (never deleting
the real state); ``status`` and ``blocks`` say unknown and exit 1 instead of "normal; 0
blocked" / "(no blocks)"; every change is refused and the host stays as it was."""

from __future__ import annotations

import tomllib
from pathlib import Path

from irtui.commands import jsonout
from irtui.core.actions import Responder
from irtui.core.config import HostConfig, write_toml_atomic
from irtui.core.firewall.detect import HostFacts, choose_backend, preflight_line
from irtui.core.firewall.state import HostState
from irtui.lab import LabInfo
from irtui.lab.probe import ns_run
from tests.cli_helpers import run_irtui
from tests.json_helpers import irtui_json, one_host, schema_problems

ALL_TOOLS = {t: f"/usr/sbin/{t}" for t in ("nft", "iptables-nft", "ip6tables-nft",
                                            "iptables-legacy", "ip6tables-legacy", "ipset")}
NFT_STATE = ("inet irtui", "inet irtui_isolation")
CONFIG_FIX = 'set firewall = "nftables" in host1\'s [[hosts]] table instead of "iptables-legacy"'


def _facts(**kw: object) -> HostFacts:
    return HostFacts("host1", binaries=dict(ALL_TOOLS), **kw)  # type: ignore[arg-type]


def _no_deletion(text: str) -> None:
    """``text`` never tells the responder to delete or remove irtui's real state."""
    for word in ("nft delete", "delete table", "remove irtui's state", "no longer used"):
        assert word not in text, text


def test_forced_backend_without_state_is_a_config_conflict() -> None:
    f = _facts(nft_tables=NFT_STATE)
    choice = choose_backend(f, "iptables-legacy")
    assert choice.name == "iptables-legacy" and choice.config_conflict
    assert choice.conflict == (
        "irtui's state is in nftables (table inet irtui, inet irtui_isolation), but the "
        'config forces firewall "iptables-legacy" on host1, where irtui has no state')
    assert choice.conflict_fix == (f'in the config, {CONFIG_FIX} (or "auto", which follows '
                                   "irtui's own state)")
    assert "irtui state in both" not in choice.conflict
    _no_deletion(choice.conflict + choice.conflict_fix)
    line = preflight_line(f, choice)
    assert "CONFLICT: irtui's state is in nftables" in line
    assert "changes refused until the config is fixed: in the config, " + CONFIG_FIX in line
    _no_deletion(line)


def test_forced_nftables_with_state_in_iptables_names_iptables() -> None:
    choice = choose_backend(_facts(xt_chains=("IRTUI-BLOCK", "IRTUI-BLOCK-OUT")), "nftables")
    assert choice.config_conflict
    assert choice.conflict.startswith("irtui's state is in iptables-nft (chains IRTUI-BLOCK")
    assert 'set firewall = "iptables-nft" in host1\'s [[hosts]] table' in choice.conflict_fix


def test_state_in_two_backends_keeps_its_message() -> None:
    """The true two-backend case (the forced one among them) is unchanged: one must go."""
    f = _facts(nft_tables=("inet irtui",), legacy_chains=("IRTUI-BLOCK",))
    choice = choose_backend(f, "iptables-legacy")
    assert not choice.config_conflict
    assert choice.conflict == ("irtui state in both nftables (table inet irtui) and "
                               "iptables-legacy (chains IRTUI-BLOCK)")
    assert choice.conflict_fix.startswith("remove irtui's state from the backend no longer")
    assert "changes refused until one is removed" in preflight_line(f, choice)


def test_state_in_two_other_backends_names_both_and_the_config() -> None:
    choice = choose_backend(_facts(nft_tables=("inet irtui",), xt_chains=("IRTUI-BLOCK",)),
                            "iptables-legacy")
    assert "nftables" in choice.conflict and "iptables-nft" in choice.conflict
    assert 'the config forces firewall "iptables-legacy" on host1' in choice.conflict
    assert "host1's [[hosts]] table" in choice.conflict_fix


def test_status_json_row_says_unknown_under_a_conflict() -> None:
    host = HostConfig("host1", "192.0.2.10")
    row = jsonout.status_row(host, HostState("host1", backend="iptables-legacy"),
                             "irtui's state is in nftables", True)
    assert row["isolation"]["status"] == "unknown"
    assert row["blocks"] is None and row["not_enforced"] is None
    doc = {"schema": "irtui/1", "verb": "status", "ok": False, "exit_code": 1, "error": None,
           "data": {"hosts": [row]}}
    assert not [p for p in schema_problems(doc) if "hosts" in p], schema_problems(doc)


def test_tui_host_row_says_unknown_under_a_conflict() -> None:
    """The TUI's host table does not show "normal" and "0" blocks for such a host; its
    detail line (the preflight) says where the state is and what to fix in the config."""
    from irtui.core.actions.profiles import HostProfile
    from irtui.tui.host_view import HostView
    from irtui.tui.hosts_table import HostTable

    f = _facts(nft_tables=NFT_STATE)
    view = HostView(HostConfig("host1", "192.0.2.10", firewall="iptables-legacy"))
    view.update(HostState("host1", backend="iptables-legacy"), None,
                HostProfile(f, choose_backend(f, "iptables-legacy")))
    cells = HostTable._cells(view)
    assert cells[3] == "unknown" and cells[4] == "? CONFLICT", cells
    detail = HostTable.detail_line(view)
    assert "CONFLICT: irtui's state is in nftables" in detail and CONFIG_FIX in detail
    _no_deletion(detail)


# ---- on the lab ---------------------------------------------------------------------------

BLOCKED = [f"203.0.113.{i}" for i in range(1, 9)]


def _forcing_legacy(info: LabInfo, path: Path) -> Path:
    """The lab's config with ``firewall = "iptables-legacy"`` on host1 alone."""
    data = tomllib.loads(Path(info.config_path).read_text())
    for host in data["hosts"]:
        if host["name"] == "host1":
            host["firewall"] = "iptables-legacy"
    data["audit"] = {"dir": str(path.parent / "audit-cli")}
    write_toml_atomic(path, data)
    return path


def _host_firewall(namespace: str) -> tuple[bytes, ...]:
    """Everything irtui could change on a host, without counters or expiry times."""
    return tuple(ns_run(namespace, argv).stdout for argv in (
        ["nft", "-s", "list", "ruleset"], ["iptables-legacy", "-S"],
        ["iptables-legacy", "-t", "raw", "-S"], ["ip6tables-legacy", "-t", "raw", "-S"],
        ["ipset", "list", "-n"]))


def test_nft_state_with_iptables_legacy_forced(clean_lab: LabInfo, responder: Responder,
                                               tmp_path: Path) -> None:
    h1 = clean_lab.hosts[0]
    assert responder.profile("host1").choice.name == "nftables"
    assert responder.execute(responder.plan_block(BLOCKED, ["host1"], "1h"),
                             lambda e: None).ok
    assert responder.execute(responder.plan_isolate(["host1"]), lambda e: None).ok
    try:
        config = str(_forcing_legacy(clean_lab, tmp_path / "forced.toml"))
        before = _host_firewall(h1.namespace)

        blocks = run_irtui("--config", config, "blocks", "--on", "host1")
        text = blocks.stdout.decode() + blocks.stderr.decode()
        assert blocks.returncode == 1, text
        assert "(no blocks)" not in text
        assert "CONFLICT: irtui's state is in nftables" in text and CONFIG_FIX in text, text
        _no_deletion(text)
        row = one_host(irtui_json("blocks", "--on", "host1", config=config, expect=1),
                       "host1")
        assert row["error"] and "CONFLICT" in row["error"]["problem"], row
        assert CONFIG_FIX in row["error"]["fix"]

        status = run_irtui("--config", config, "status", "host1")
        line = status.stdout.decode()
        assert status.returncode == 1, line + status.stderr.decode()
        assert "normal" not in line and "0 blocked" not in line, line
        assert "isolation unknown; blocks unknown; CONFLICT: irtui's state is in nftables" \
            in line and CONFIG_FIX in line, line
        _no_deletion(line)
        row = one_host(irtui_json("status", "host1", config=config, expect=1), "host1")
        assert row["isolation"]["status"] == "unknown" and row["blocks"] is None, row
        assert row["attention"] and "nftables" in row["conflict"]

        for verb in (("block", "198.51.100.77", "--on", "host1"),
                     ("unblock", BLOCKED[0], "--on", "host1"),
                     ("isolate", "host1"), ("release", "host1")):
            out = run_irtui("--config", config, *verb)
            said = out.stdout.decode() + out.stderr.decode()
            assert out.returncode == 1, (verb, said)
            assert "irtui's state is in nftables" in said and CONFIG_FIX in said, (verb, said)
            assert "nothing was changed" in said, (verb, said)
            _no_deletion(said)
        # drift and re-apply: the blocks are unknown there, never "lost"
        drift = run_irtui("--config", config, "drift", "--on", "host1")
        said = drift.stdout.decode() + drift.stderr.decode()
        assert "CONFLICT" in said and "lost" not in said and drift.returncode != 0, said
        reapply = run_irtui("--config", config, "reapply", "--on", "host1", "--dry-run")
        said = reapply.stdout.decode() + reapply.stderr.decode()
        assert "were lost" not in said and "re-block" not in said, said
        assert _host_firewall(h1.namespace) == before
        state = responder.read_state("host1")  # still all there, read with nftables
        assert sorted(e.text for e in state.blocks) == sorted(BLOCKED) and state.isolated
    finally:
        assert responder.execute(responder.plan_release(["host1"]), lambda e: None).ok
