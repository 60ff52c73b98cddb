"""``--json`` of the verbs that touch hosts, on the practice lab: every document validates
against the shipped schema, and what it says is true at the traffic level (a result ``ok``
for a block means the attacker's TCP connect fails)."""

from __future__ import annotations

import ipaddress
import json
import signal
import subprocess
import threading
from pathlib import Path

from irtui.lab.probe import ns_run, tcp_connects
from tests.isolation_helpers import (
    IRTUI,
    ROLLED_BACK,
    UNCHANGED,
    end_state,
    wait_for,
    wait_for_no_strays,
)
from tests.json_helpers import irtui_json, one_host, record_config, schema_problems

SCOPED = "2001:db8::1%eth0"
"""An IOC refused per entry (an IPv6 scope id cannot be enforced), the others go ahead."""


def test_block_blocks_status_drift_reapply_unblock(clean_lab, tmp_path: Path) -> None:
    cfg = record_config(tmp_path / "lab.toml", clean_lab)
    attacker, h1, h2 = clean_lab.attacker, clean_lab.hosts[0], clean_lab.hosts[1]
    feed = tmp_path / "feed.txt"
    feed.write_text(f"# analyst feed\n{attacker.v4}\nnot-an-address\n{attacker.v4}\n")
    on = ["--on", "host1", "--on", "host2"]

    probe = irtui_json("probe", config=cfg)
    assert [r["host"] for r in probe["data"]["hosts"]] == ["host1", "host2", "host3"]
    assert all(r["error"] is None and r["backend"] for r in probe["data"]["hosts"])

    dry = irtui_json("block", "203.0.113.7", SCOPED, "--from-file", str(feed), *on, "--ttl",
                     "1h", "--dry-run", config=cfg, expect=5)  # entries refused: exit 5
    plan = dry["plan"]
    assert dry["dry_run"] and dry["results"] == [] and dry["incident"] is None
    assert plan["action"] == "block" and plan["hosts"] == ["host1", "host2"]
    fates = {e["entry"]: e["fate"] for e in plan["entries"]["host1"]}
    assert fates[f"{attacker.v4}/32"] == "to add" and fates[SCOPED] == "refused"
    assert {(r["host"], r["entry"]) for r in plan["refused"]} == {
        (h, e) for h in ("host1", "host2") for e in (SCOPED, "not-an-address")}
    assert all(r["reason"] for r in plan["refused"])
    assert plan["counts"] == {"to add": 4, "refused": 4}
    assert any("nft -f -" in c["command"] and f"{attacker.v4} timeout 3600s" in c["command"]
               for c in plan["commands"]["host1"])
    [account] = dry["data"]["feeds"]
    assert (account["read"], account["planned"], account["duplicates"]) == (3, 1, 1)
    assert sum(account["refused"].values()) == 1
    assert tcp_connects(attacker.namespace, h1.v4, 22)  # the dry run changed nothing

    done = irtui_json("block", attacker.v4, SCOPED, *on, "--ttl", "1h", "--reason", "C2",
                      config=cfg, expect=5)  # blocked the valid one, refused the other
    assert done["incident"] and not done["dry_run"] and done["plan"]["refused"]
    assert [(r["host"], r["outcome"], r["ok"]) for r in done["results"]] == [
        ("host1", "ok", True), ("host2", "ok", True)]
    assert not tcp_connects(attacker.namespace, h1.v4, 22)  # the "ok" is true
    assert not tcp_connects(attacker.namespace, h2.v4, 22)

    blocks = irtui_json("blocks", "--on", "host1", config=cfg)
    [entry] = one_host(blocks, "host1")["entries"]
    assert (entry["entry"], entry["enforced"], entry["family"]) == (attacker.v4, True, 4)
    assert 3500 < entry["expires_s"] <= 3600 and entry["timeout_s"] == 3600
    status = irtui_json("status", "host1", config=cfg)
    row = one_host(status, "host1")
    assert (row["blocks"], row["not_enforced"], row["isolation"]["status"]) == (1, 0, "normal")

    assert ns_run(h2.namespace, ["nft", "flush", "ruleset"]).returncode == 0
    drift = irtui_json("drift", config=cfg, expect=1)
    lost = one_host(drift, "host2")
    assert lost["drifted"] and [b["entry"] for b in lost["lost"]] == [f"{attacker.v4}/32"]
    assert not one_host(drift, "host1")["drifted"]
    planned = irtui_json("reapply", "--dry-run", config=cfg)
    assert [p["hosts"] for p in planned["data"]["plans"]] == [["host2"]]
    assert planned["results"] == [] and tcp_connects(attacker.namespace, h2.v4, 22)
    again = irtui_json("reapply", config=cfg)
    assert [(r["host"], r["outcome"]) for r in again["results"]] == [("host2", "ok")]
    assert not tcp_connects(attacker.namespace, h2.v4, 22)

    gone = irtui_json("unblock", attacker.v4, *on, "-q", config=cfg)
    assert [r["outcome"] for r in gone["results"]] == ["ok", "ok"]
    assert gone["incident"] == done["incident"]
    assert tcp_connects(attacker.namespace, h1.v4, 22)
    assert tcp_connects(attacker.namespace, h2.v4, 22)


def test_isolate_release_collect_and_evidence(clean_lab, tmp_path: Path) -> None:
    cfg = record_config(tmp_path / "lab.toml", clean_lab)
    attacker, h3 = clean_lab.attacker, clean_lab.hosts[2]

    dry = irtui_json("isolate", "host3", "--dry-run", config=cfg)
    assert dry["plan"]["action"] == "isolate" and dry["plan"]["commands"]["host3"]
    assert any(c["local"] for c in dry["plan"]["commands"]["host3"])  # confirm over SSH
    isolated = irtui_json("isolate", "host3", config=cfg)
    assert [(r["host"], r["outcome"]) for r in isolated["results"]] == [("host3", "ok")]
    assert not tcp_connects(attacker.namespace, h3.v4, 22)
    row = one_host(irtui_json("status", "host3", config=cfg), "host3")
    assert row["isolation"]["status"] == "isolated" and row["isolation"]["since"]
    released = irtui_json("release", "host3", config=cfg)
    assert [r["outcome"] for r in released["results"]] == ["ok"]
    assert tcp_connects(attacker.namespace, h3.v4, 22)

    collected = irtui_json("collect", "host1", "--artifacts",
                           "network-sockets,system-identity", "-q", config=cfg)
    assert [(r["host"], r["outcome"]) for r in collected["results"]] == [("host1", "ok")]
    listed = irtui_json("evidence", "list", config=cfg)
    [folder] = listed["data"]["collections"]
    assert (folder["host"], folder["status"], folder["incident"]) == (
        "host1", "complete", collected["incident"])
    check = irtui_json("evidence", "verify", folder["path"], config=cfg)
    assert check["data"]["intact"] and check["data"]["checked"] == folder["files"]
    target = next(Path(folder["path"], "artifacts").glob("*network-sockets.out"))
    target.write_bytes(target.read_bytes() + b"x")
    altered = irtui_json("evidence", "verify", folder["path"], expect=1, config=cfg)
    assert not altered["data"]["intact"] and altered["data"]["changed"]
    artifacts = irtui_json("evidence", "artifacts", config=cfg)["data"]["artifacts"]
    assert {"network-sockets", "system-identity"} <= {a["name"] for a in artifacts}


def test_refusals_and_unreachable_hosts(clean_lab, tmp_path: Path) -> None:
    ghost = str(ipaddress.ip_network(clean_lab.subnet4).network_address + 99)
    cfg = record_config(tmp_path / "lab.toml", clean_lab, ssh={"connect_timeout": 1.5})
    text = cfg.read_text() + f'\n[[hosts]]\nname = "ghost"\naddress = "{ghost}"\n'
    cfg.write_text(text)
    before = ns_run(clean_lab.hosts[0].namespace, ["nft", "list", "ruleset"]).stdout

    bad = irtui_json("block", "999.1.1.1", "--on", "host1", config=cfg, expect=2)
    assert bad["error"]["type"] == "InvalidTargetError" and bad["error"]["fix"]
    assert "999.1.1.1" in bad["error"]["problem"] and bad["plan"] is None
    unknown = irtui_json("block", "203.0.113.7", "--on", "nohost", config=cfg, expect=2)
    assert unknown["error"]["type"] == "UnknownHostError"
    wide = irtui_json("block", "198.51.0.0/16", "--on", "host1", config=cfg, expect=2)
    assert wide["plan"]["confirm_text"] == "198.51.0.0/16" and wide["results"] == []
    assert "--confirm-prefix" in wide["error"]["fix"]
    usage = irtui_json("block", "203.0.113.7", config=cfg, expect=2)
    assert usage["error"]["type"] == "UsageError" and "--on" in usage["error"]["problem"]
    assert ns_run(clean_lab.hosts[0].namespace, ["nft", "list", "ruleset"]).stdout == before

    down = irtui_json("status", "ghost", config=cfg, expect=3)
    assert one_host(down, "ghost")["error"]["type"] == "SSHError" and down["error"] is None
    unknown_drift = irtui_json("drift", "--on", "ghost", config=cfg, expect=3)
    assert "unreachable" in one_host(unknown_drift, "ghost")["error"]["problem"]
    some = irtui_json("blocks", "--on", "ghost", "--on", "host1", config=cfg, expect=1)
    assert one_host(some, "ghost")["error"] and one_host(some, "host1")["error"] is None
    alone = irtui_json("block", "203.0.113.7", "--on", "ghost", config=cfg, expect=3)
    assert alone["error"]["type"] == "SSHError" and alone["plan"] is None
    assert ns_run(clean_lab.hosts[0].namespace, ["nft", "list", "ruleset"]).stdout == before
    both = irtui_json("block", "203.0.113.7", "--on", "ghost", "--on", "host1", config=cfg,
                      expect=1)
    assert "unreachable" in both["plan"]["failed"]["ghost"]
    assert {r["host"]: r["outcome"] for r in both["results"]} == {
        "ghost": "failed", "host1": "ok"}


def test_ctrl_c_still_gives_the_document(clean_lab, tmp_path: Path) -> None:
    """Interrupted mid-isolation: exit 130 in the document too, the host's result
    ``interrupted``, and the host in a known state (left as it was, or rolled back)."""
    cfg = record_config(tmp_path / "lab.toml", clean_lab)
    proc = subprocess.Popen([str(IRTUI), "--config", str(cfg), "isolate", "host1",
                             "--confirm-timeout", "5", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or ()), daemon=True)
    reader.start()
    try:
        wait_for(lambda: any("# arm a rollback" in line for line in list(lines)), 30,
                 "the arm step")  # live output: on stderr with --json
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    doc = json.loads(out)
    assert schema_problems(doc) == [], doc
    assert proc.returncode == doc["exit_code"] == 130 and not doc["ok"]
    assert [(r["host"], r["outcome"], r["ok"]) for r in doc["results"]] == [
        ("host1", "interrupted", False)]
    assert end_state(clean_lab.hosts[0]) in {UNCHANGED, ROLLED_BACK}
    wait_for_no_strays(clean_lab.hosts[0])
