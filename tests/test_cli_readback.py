"""The reading verbs on several hosts (issue 8, item 14): ``blocks`` goes on past a host it
cannot reach and ``status`` exits 1 when some of several hosts fail (3 only for the one host
named); both show entries that are NOT ENFORCED and a PARTIAL isolation (item 10)."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import tomllib
from pathlib import Path

from irtui.core.config import write_toml_atomic
from irtui.lab.probe import ns_run

GHOST_OFFSET = 99
"""A lab address nobody answers on."""


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "irtui", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=120)


def _with_ghost(clean_lab, tmp_path: Path) -> Path:
    """The lab config with an unreachable host ``ghost`` listed first."""
    data = tomllib.loads(Path(clean_lab.config_path).read_text())
    ghost = str(ipaddress.ip_network(clean_lab.subnet4).network_address + GHOST_OFFSET)
    data["hosts"].insert(0, {"name": "ghost", "address": ghost})
    data.setdefault("ssh", {})["connect_timeout"] = 1.5
    data["audit"] = {"dir": str(tmp_path / "audit")}
    path = tmp_path / "ghost.toml"
    write_toml_atomic(path, data)
    return path


def test_blocks_goes_on_past_an_unreachable_host(clean_lab, tmp_path: Path) -> None:
    cfg = _with_ghost(clean_lab, tmp_path)
    attacker = clean_lab.attacker
    assert _cli(cfg, "block", attacker.v4, "--on", "host2", "--ttl", "1h").returncode == 0
    out = _cli(cfg, "blocks")
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("ghost") and "✗" in line for line in lines), out.stdout
    assert any(line.startswith("host2") and attacker.v4 in line and line.endswith("yes")
               for line in lines), out.stdout
    listed = _cli(cfg, "blocks", "--json")
    assert listed.returncode == 1
    rows = json.loads(listed.stdout)["data"]["hosts"]
    assert [(r["host"], e["entry"], e["enforced"]) for r in rows for e in r.get("entries", [])
            ] == [("host2", attacker.v4, True)]
    assert [r["host"] for r in rows if r["error"]] == ["ghost"]
    assert "ghost" in listed.stderr
    assert _cli(cfg, "blocks", "--on", "ghost").returncode == 3  # the one host named


def test_status_exit_codes_with_one_host_down(clean_lab, tmp_path: Path) -> None:
    cfg = _with_ghost(clean_lab, tmp_path)
    every = _cli(cfg, "status")
    assert every.returncode == 1, every.stdout + every.stderr
    # one line per host, printed as each answers (tests/test_fleet_reads.py: the order)
    assert sorted(line.split()[0] for line in every.stdout.splitlines()) == [
        "ghost", "host1", "host2", "host3"]
    assert "reachable    normal; 0 blocked" in every.stdout
    assert _cli(cfg, "status", "ghost").returncode == 3
    assert _cli(cfg, "status", "host1", "host2").returncode == 0
    assert _cli(cfg, "status", "ghost", "host1").returncode == 1
    # --on, as the other verbs name hosts, alone or with names
    for verb in ("status", "probe"):
        one = _cli(cfg, verb, "--on", "host2")
        assert one.returncode == 0, one.stderr
        assert [line.split()[0] for line in one.stdout.splitlines()] == ["host2"]
        both = _cli(cfg, verb, "host1", "--on", "ghost")
        assert both.returncode == 1
        assert sorted(line.split()[0] for line in both.stdout.splitlines()) == ["ghost",
                                                                               "host1"]


def test_status_and_blocks_show_a_block_that_is_not_enforced(clean_lab, tmp_path: Path) -> None:
    cfg = clean_lab.config_path
    attacker, h1 = clean_lab.attacker, clean_lab.hosts[0]
    assert _cli(cfg, "block", attacker.v4, "--on", "host1", "--ttl", "1h").returncode == 0
    assert _cli(cfg, "status", "host1").returncode == 0
    # someone flushes irtui's drop rules for the set: the entry is still in the set
    listed = ns_run(h1.namespace, ["nft", "list", "table", "inet", "irtui"]).stdout.decode()
    chains = [w.split()[1] for w in listed.splitlines() if w.strip().startswith("chain ")]
    for chain in chains:
        assert ns_run(h1.namespace, ["nft", "flush", "chain", "inet", "irtui",
                                     chain]).returncode == 0
    status = _cli(cfg, "status", "host1")
    assert status.returncode == 1
    assert "1 blocked, 1 of them NOT ENFORCED" in status.stdout
    blocks = _cli(cfg, "blocks", "--on", "host1")
    assert blocks.returncode == 1
    assert any(attacker.v4 in line and line.endswith("NOT ENFORCED")
               for line in blocks.stdout.splitlines()), blocks.stdout
    assert "not enforced: host1: v4_32: no reachable drop rule" in blocks.stdout


def test_status_says_when_an_isolation_is_not_confirmed(lab_config, clean_lab,
                                                        responder, tmp_path: Path) -> None:
    """An isolation whose rollback timer is still armed on the host (irtui was killed before
    confirming) undoes itself: ``status`` says so, with the time left, and needs attention;
    once the timer is gone the same isolation reads as plainly isolated."""
    from irtui.core.plan import command_line
    from irtui.core.remote import run_script
    from irtui.core.rollback import arm_command, disarm_command
    from tests.cli_helpers import config_copy, run_irtui

    config = config_copy(clean_lab, tmp_path / "config.toml",
                         audit={"dir": str(tmp_path / "audit")})
    host = lab_config.host("host1")
    assert responder.execute(responder.plan_isolate(["host1"]), lambda e: None).ok
    harmless = run_script("nft_rollback", "irtui_not_a_table", purpose="no-op rollback")
    try:
        armed = responder.pool.run(host, command_line(host, arm_command("host1", 120,
                                                                        harmless).argv))
        assert armed.exit_code == 0
        out = run_irtui("--config", str(config), "status", "host1")
        text = out.stdout.decode()
        assert out.returncode == 1, (out.returncode, text, out.stderr)
        assert "isolated" in text and "NOT CONFIRMED" in text, text
        left = int(text.split("by itself in ")[1].split(" s")[0])
        assert 90 < left <= 120, text
        responder.pool.run(host, command_line(host, disarm_command("host1").argv))
        out = run_irtui("--config", str(config), "status", "host1")
        text = out.stdout.decode()
        assert out.returncode == 0 and "isolated" in text, (text, out.stderr)
        assert "NOT CONFIRMED" not in text
    finally:
        responder.pool.run(host, command_line(host, disarm_command("host1").argv))
        assert responder.execute(responder.plan_release(["host1"]), lambda e: None).ok


def test_a_dry_run_prints_each_note_once(clean_lab) -> None:
    """The plan printed by --dry-run lists its notes; they are not printed again before it
    (with --json -q, which prints no plan, they are printed alone)."""
    cfg = clean_lab.config_path
    args = ("block", "::ffff:203.0.113.7", "--on", "host1", "--dry-run")
    for extra in ((), ("--json",), ("--json", "-q")):
        out = _cli(cfg, *args, *extra)
        assert out.returncode == 0, out.stderr
        both = out.stdout + out.stderr
        notes = [line for line in both.splitlines() if line.startswith("note: ")
                 and "203.0.113.7" in line]
        assert len(notes) == 1, (extra, both)
