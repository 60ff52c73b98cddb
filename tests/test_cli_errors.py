"""Bad input on the CLI: one clear line on stderr naming the problem and the fix, the
documented exit code, no traceback, and nothing changed on any host."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from irtui.core.config import load_config, write_toml_atomic
from irtui.lab.probe import ns_run


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "irtui", *args], capture_output=True,
                          text=True, timeout=120)


def _one_clean_line(out: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in out.stderr, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("irtui: ")]
    assert len(lines) == 1, out.stderr
    assert " — " in lines[0]  # problem — fix
    return lines[0]


def _lab_config_with(tmp_path: Path, clean_lab, **sections: dict) -> Path:
    import tomllib

    data = tomllib.loads(Path(clean_lab.config_path).read_text())
    data.update(sections)
    path = tmp_path / "config.toml"
    write_toml_atomic(path, data)
    load_config(path)
    return path


def _ruleset(clean_lab) -> bytes:
    return ns_run(clean_lab.hosts[0].namespace, ["nft", "list", "ruleset"]).stdout


@pytest.mark.parametrize(("args", "code", "words"), [
    (["block", "203.0.113.7", "--on", "host1", "--ttl", "0"], 2, "not a positive duration"),
    (["block", "203.0.113.7", "--on", "host1", "--ttl", ""], 2, "not a duration"),
    (["block", "203.0.113.7", "--on", "host1", "--ttl", "99999999d"], 2, "longer than"),
    (["block", "203.0.113.7", "--on", "host1", "--ttl", "-1h"], 2, "'-1h'"),
    (["collect", "host1", "--artifacts", ""], 2, "--artifacts names no artifact"),
    (["collect", "host1", "--artifacts", " , "], 2, "--artifacts names no artifact"),
    (["block", "255.255.255.255", "--on", "host1"], 2, "limited broadcast"),
    (["block", "203.0.113.7", "--on", "@nosuch"], 2, "unknown group '@nosuch'"),
    (["isolate", "host1", "--confirm-timeout", "-5"], 2, "confirm timeout -5 s"),
    (["isolate", "host1", "--management", "300.1.1.1"], 2, "not a valid IP address"),
    (["notify", "--subject", "x", "--body-file", "/nonexistent/body.txt"], 2,
     "cannot read the message body"),
    (["notify", "--subject", "x", "--body", "y"], 4, "no notification channel is configured"),
    (["notify", "--subject", "x", "--body", "y", "--dry-run"], 4,
     "no notification channel is configured"),
    (["notify", "--channel", "email", "--subject", "x", "--body", "y"], 4,
     "email (email): not configured — notify.email has no host or sender"),
    (["notify", "--channel", "slack", "--subject", "x", "--body", "y"], 2,
     "unknown channel 'slack'"),
])
def test_bad_input_one_line_exit_code_nothing_changed(clean_lab, tmp_path: Path,
                                                      args: list[str], code: int,
                                                      words: str) -> None:
    before = _ruleset(clean_lab)
    # the lab's config without its notification sinks: nothing is configured to notify
    config = _lab_config_with(tmp_path, clean_lab, notify={}, secrets={})
    out = _cli("--config", str(config), *args)
    assert out.returncode == code, out.stderr
    assert words in _one_clean_line(out)
    assert _ruleset(clean_lab) == before


def test_non_utf8_feed(clean_lab, tmp_path: Path) -> None:
    feed = tmp_path / "feed.txt"
    feed.write_bytes(b"# caf\xe9 feed\n203.0.113.40\n")
    out = _cli("--config", str(clean_lab.config_path), "block", "--from-file", str(feed),
               "--on", "host1")
    assert out.returncode == 2
    assert "not UTF-8" in _one_clean_line(out)


def test_unwritable_audit_dir_refuses_before_any_change(clean_lab, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    config = _lab_config_with(tmp_path, clean_lab, audit={"dir": str(blocker / "audit")})
    before = _ruleset(clean_lab)
    out = _cli("--config", str(config), "block", clean_lab.attacker.v4, "--on", "host1")
    assert out.returncode == 2
    assert "cannot write the audit trail" in _one_clean_line(out)
    assert _ruleset(clean_lab) == before


def test_email_not_configured_is_audited(clean_lab, tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    config = _lab_config_with(tmp_path, clean_lab, audit={"dir": str(audit)}, notify={},
                              secrets={}, record={"path": str(tmp_path / "record.db")})
    out = _cli("--config", str(config), "notify", "--subject", "x", "--body", "y")
    assert out.returncode == 4
    out = _cli("--config", str(config), "notify", "--channel", "email", "--subject", "x",
               "--body", "y")
    assert out.returncode == 4
    exported = _cli("--config", str(config), "audit", "export", "--json")
    notes = [r for r in json.loads(exported.stdout)["data"]["records"]
             if r["kind"] == "action" and r["action"] == "notify"]
    assert [n["ok"] for n in notes] == [False, False]
    details = " ".join(n["detail"] for n in notes)
    assert "no notification channel is configured" in details
    assert "email (email): not configured" in details


def test_empty_config_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "empty.toml"
    path.write_text("")
    out = _cli("--config", str(path), "status")
    assert out.returncode == 2
    assert "add [[hosts]] tables" in _one_clean_line(out)


def test_config_is_taken_after_the_verb_too(tmp_path: Path) -> None:
    """``irtui status --config X`` as people type it; the one after the verb wins, and a
    verb without it keeps the one given before the verb."""
    from irtui.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["status", "--config", "b.toml"]).config == "b.toml"
    assert parser.parse_args(["--config", "a.toml", "status"]).config == "a.toml"
    assert parser.parse_args(["--config", "a.toml", "status", "--config", "b.toml"]
                             ).config == "b.toml"
    assert parser.parse_args(["evidence", "verify", "--config", "c.toml", "x"]).config == "c.toml"
    out = _cli("status", "--config", str(tmp_path / "absent.toml"))
    assert out.returncode == 2 and "absent.toml" in out.stderr, out.stderr
    assert "unrecognized arguments" not in out.stderr
