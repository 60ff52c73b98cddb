"""``--json`` of the verbs that need no lab host: the schema itself, the incident record,
notifications and secrets (real SMTP, webhook and Secret Service), the inventory import, the
lab's own verbs; plus the guarantees of the envelope (one ASCII document on stdout, human text
on stderr, ``-q``). The verbs that touch hosts are in ``test_json_lab.py``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from irtui.cli import build_parser
from irtui.commands import jsonout
from irtui.core.audit import AuditLog
from irtui.schema import cli_schema
from tests.cli_helpers import run_irtui
from tests.json_helpers import GROUPS, irtui_json, record_config, schema_problems
from tests.service_fixtures import HTTPTestServer, SMTPTestServer

INVENTORY = Path(__file__).parent / "data" / "inventory" / "hosts.ini"


def _leaf_verbs() -> dict[str, bool]:
    """Every verb of the parser → whether it takes ``--json``."""
    import argparse

    out: dict[str, bool] = {}

    def walk(parser: argparse.ArgumentParser, verb: str) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            out[verb] = "--json" in parser._option_string_actions
        for action in subs:
            for name, child in action.choices.items():
                walk(child, f"{verb} {name}".strip())

    walk(build_parser(), "")
    out.pop("tui")
    return out


def test_the_schema_is_valid_and_covers_every_verb() -> None:
    schema = cli_schema()
    Draft202012Validator.check_schema(schema)
    verbs = _leaf_verbs()
    assert all(verbs.values()), [v for v, has in verbs.items() if not has]
    assert set(schema["properties"]["verb"]["enum"]) == set(verbs) | GROUPS | {""}
    assert {f"data_{v.replace(' ', '_')}" for v in verbs} <= set(schema["$defs"])
    # a document of an unknown shape is refused: the schema is a real check
    assert schema_problems({"schema": "irtui/1", "verb": "block"})
    doc = jsonout.Report("block").document()
    doc.update(exit_code=0, ok=True, data={"feeds": [{"name": "x"}]})
    assert any("feeds" in p for p in schema_problems(doc))


def test_output_is_ascii_and_round_trips_hostile_text() -> None:
    hostile = "evil\x1b]52;c;aGk=\x07 \x9b2J \u202eexe.txt\x7f\udcff ✓"
    text = jsonout.dumps({"message": hostile})
    assert text.isascii() and all(c == "\n" or " " <= c <= "~" for c in text)
    assert json.loads(text) == {"message": hostile}


def test_incident_and_audit_verbs(tmp_path: Path) -> None:
    cfg = record_config(tmp_path / "config.toml")
    opened = irtui_json("incident", "new", "Beacon", "to", "203.0.113.9", "--severity",
                        "high", config=cfg)
    inc = opened["incident"]
    assert opened["data"]["incident"]["id"] == inc and opened["data"]["incident"]["current"]
    assert opened["data"]["incident"]["severity"] == "high"
    listed = irtui_json("incident", "list", config=cfg)
    assert listed["data"]["current"] == inc and len(listed["data"]["incidents"]) == 1
    assert irtui_json("incident", "note", "seen", "on", "web1", config=cfg)["data"][
        "incident"]["notes"][0]["text"] == "seen on web1"
    moved = irtui_json("incident", "status", "--set", "analysing", "--note", "triage",
                       config=cfg)
    assert moved["data"]["incident"]["status"] == "analysing"
    assert moved["data"]["incident"]["history"][-1]["to"] == "analysing"
    assert irtui_json("incident", "use", inc, config=cfg)["incident"] == inc
    shown = irtui_json("incident", "show", config=cfg)
    assert shown["incident"] == inc and shown["data"]["actions"] == []
    report = irtui_json("report", "--out", str(tmp_path / "out"), config=cfg)
    assert Path(report["data"]["markdown"]).read_text().startswith("#")
    assert Path(report["data"]["html"]).exists() and report["incident"] == inc

    legacy = tmp_path / "old"
    AuditLog(legacy, session="20250101T000000Z-1").note("notify", "old mail", True)
    imported = irtui_json("audit", "import", str(legacy), "--incident", inc, config=cfg)
    assert list(imported["data"]["imported"].values()) == [1]
    verified = irtui_json("audit", "verify", inc, config=cfg)
    assert verified["data"]["ok"] and verified["data"]["records"] >= 4
    exported = irtui_json("audit", "export", inc, config=cfg)
    kinds = [r["kind"] for r in exported["data"]["records"]]
    assert kinds[0] == "incident.opened" and "legacy" in kinds
    closed = irtui_json("incident", "close", "--note", "contained", config=cfg)
    assert closed["data"]["incident"]["status"] == "closed"

    conn = sqlite3.connect(tmp_path / "rec.db", isolation_level=None)  # someone edits it
    conn.execute("DROP TRIGGER records_no_update")
    conn.execute("UPDATE records SET body = replace(body, 'seen on web1', 'nothing') "
                 "WHERE body LIKE '%seen on web1%'")
    conn.close()
    tampered = irtui_json("audit", "verify", config=cfg, expect=1)["data"]
    assert (tampered["ok"], tampered["tamper"]) == (False, "edited") and tampered["bad_record"]

    missing = irtui_json("incident", "show", "INC-2000-0001", config=cfg, expect=2)
    assert missing["error"]["type"] == "InvalidTargetError" and missing["incident"] is None
    plain = run_irtui("--config", str(cfg), "audit", "export", inc)  # without --json: as before
    assert isinstance(json.loads(plain.stdout), list)


def test_notify_and_secrets(tmp_path: Path, smtp_server: SMTPTestServer,
                            http_server: HTTPTestServer, keyring_session: dict[str, str]) -> None:
    cfg = record_config(tmp_path / "config.toml", notify={
        "email": {"host": smtp_server.host, "port": smtp_server.port,
                  "username": smtp_server.username, "sender": "irtui@example.org",
                  "to": ["soc@example.org"], "cafile": smtp_server.cafile, "timeout": 10},
        "channels": {"soc": "keyring:apprise-soc"}})
    env = keyring_session
    stored = irtui_json("secrets", "set", "smtp", "--stdin", config=cfg, env=env,
                        stdin=smtp_server.password)
    assert stored["data"]["stored"] and stored["data"]["name"] == "smtp"
    missing = irtui_json("secrets", "list", config=cfg, env=env, expect=4)
    assert {s["name"]: s["stored"] for s in missing["data"]["secrets"]} == {
        "smtp": True, "apprise-soc": False}
    irtui_json("secrets", "set", "apprise-soc", "--stdin", config=cfg, env=env,
               stdin=f"json://{http_server.base}/hooks/tok")
    assert irtui_json("secrets", "status", config=cfg, env=env)["data"]["keyring"]["ready"]

    dry = irtui_json("notify", "--subject", "INC ✅", "--body", "b", "--dry-run", config=cfg,
                     env=env)
    assert [p["channel"] for p in dry["data"]["previews"]] == ["email", "soc"]
    assert smtp_server.password not in json.dumps(dry) and "tok" not in json.dumps(dry)
    assert smtp_server.messages == [] and http_server.requests == []
    sent = irtui_json("notify", "--subject", "INC ✅", "--body", "b", config=cfg, env=env)
    assert [(c["channel"], c["delivery"]) for c in sent["data"]["channels"]] == [
        ("email", "sent"), ("soc", "sent")]
    assert sent["incident"] and len(smtp_server.messages) == 1 and len(http_server.requests) == 1
    http_server.replies["/hooks/tok"] = (503, "down")
    failed = irtui_json("notify", "--subject", "s", "--body", "b", config=cfg, env=env, expect=4)
    assert {c["channel"]: c["ok"] for c in failed["data"]["channels"]} == {
        "email": True, "soc": False}
    gone = irtui_json("secrets", "delete", "apprise-soc", config=cfg, env=env)
    assert gone["data"]["deleted"]


def test_hosts_import_lab_verbs_and_quiet(tmp_path: Path, clean_lab) -> None:
    out = tmp_path / "new.toml"
    dry = irtui_json("hosts", "import", str(INVENTORY), "--out", str(out), "--dry-run",
                     config=tmp_path / "none.toml")
    assert len(dry["data"]["added"]) == 5 and not dry["data"]["written"] and not out.exists()
    done = irtui_json("hosts", "import", str(INVENTORY), "--out", str(out),
                      config=tmp_path / "none.toml")
    assert done["data"]["written"] and out.exists()
    again = irtui_json("hosts", "import", str(INVENTORY), config=out)
    assert again["data"]["added"] == [] and len(again["data"]["skipped"]) == 7

    status = irtui_json("lab", "status", expect=_lab_status_code())
    assert status["data"]["prefix"] and isinstance(status["data"]["up"], bool)
    assert isinstance(irtui_json("lab", "inbox")["data"]["items"], list)
    for verb, data in (("lab up", {"lab": clean_lab.to_json()}),
                       ("lab down", {"removed": ["namespace irtest0-host1"]})):
        doc = jsonout.Report(verb).document()
        doc.update(exit_code=0, ok=True, data=data)
        assert schema_problems(doc) == []

    cfg = record_config(tmp_path / "lab.toml", clean_lab)
    quiet = run_irtui("--config", str(cfg), "block", "203.0.113.7", "--on", "host1",
                      "--dry-run", "--json", "-q")
    assert quiet.returncode == 0 and b"[host1]" not in quiet.stderr  # only notes remain
    assert json.loads(quiet.stdout)["plan"]["hosts"] == ["host1"]
    loud = run_irtui("--config", str(cfg), "block", "203.0.113.7", "--on", "host1",
                     "--dry-run", "--json")
    assert b"[host1]" in loud.stderr and json.loads(loud.stdout)["dry_run"]


def _lab_status_code() -> int:
    """What ``irtui lab status`` exits with here (0 when the default lab is up, else 1)."""
    return run_irtui("lab", "status").returncode


_FLAT = st.dictionaries(st.text(max_size=5), st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
    st.text(alphabet=st.sampled_from('{}, "\\a\u00e9\x7f\n\x1b'), max_size=8)), max_size=4)


@settings(max_examples=500, deadline=None)
@given(st.lists(_FLAT, min_size=jsonout.ROW_LIST_MIN, max_size=jsonout.ROW_LIST_MIN + 4))
def test_long_row_lists_are_written_as_the_one_by_one_encoding_gives(rows: list) -> None:
    """A long list of flat objects is encoded in one call and cut between its objects; a
    string holding "}, {" must not move a cut (the result equals encoding each object)."""
    text = jsonout.dumps({"rows": rows})
    assert json.loads(text) == {"rows": rows}
    lines = text.splitlines()[2:-2]  # '{', '"rows": [' ... ']', '}'
    assert [json.loads(line.strip().rstrip(",")) for line in lines] == rows
    assert lines == [f"    {json.dumps(row, ensure_ascii=True)}".replace("\x7f", "\\u007f")
                     + ("," if i < len(rows) - 1 else "") for i, row in enumerate(rows)]
