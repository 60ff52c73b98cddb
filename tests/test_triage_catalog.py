"""The triage artifact catalog: the shipped set, config overrides, command building and the
choice of variant per host (no lab needed)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from irtui.core.config import parse_config
from irtui.core.errors import ConfigError, InvalidTargetError
from irtui.core.settings import HostConfig, TriageSettings
from irtui.core.triage import catalog
from irtui.core.triage.collector import TriageFacts, parse_probe, plan_artifacts

SHELLCHECK = shutil.which("shellcheck", path="/usr/bin:/bin")
ALL_TOOLS = frozenset({"ss", "conntrack", "ip", "sha256sum", "ps", "who", "last", "systemctl",
                       "journalctl", "find"})


def _facts(tools: frozenset[str] = ALL_TOOLS, sudo: str = "root") -> TriageFacts:
    return TriageFacts("web1", 0 if sudo == "root" else 1000, "ir", sudo, tools)


def test_builtin_set_covers_every_order_of_volatility() -> None:
    artifacts = catalog.effective(TriageSettings())
    orders = [a.order for a in artifacts]
    assert orders == sorted(orders) and set(orders) == set(catalog.ORDERS)
    names = {a.name for a in artifacts}
    assert {"network-sockets", "network-conntrack", "processes-exe", "persistence-cron",
            "persistence-authorized-keys", "logs-auth", "fs-suid", "system-identity"} <= names
    assert all(a.timeout > 0 and a.max_bytes > 0 and a.description for a in artifacts)
    assert not any(a.writes for a in artifacts)  # the built-in set only reads


def test_inline_commands_are_shellcheck_clean(tmp_path: Path) -> None:
    if SHELLCHECK is None:
        pytest.skip("shellcheck is not installed (Debian package shellcheck)")
    paths = []
    for a in catalog.builtin():
        for variant in (a.primary, a.fallback):
            if variant is not None and variant.source == "inline":
                path = tmp_path / f"{a.name}.sh"
                path.write_text("#!/bin/sh\n" + catalog.PRELUDE + variant.text)
                paths.append(str(path))
    assert len(paths) >= 10
    out = subprocess.run([SHELLCHECK, "--shell=sh", "--severity=style", *paths],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


def test_config_overrides_adds_and_disables() -> None:
    config = parse_config({"triage": {
        "log_window": "2h", "parallel": 2, "disable": ["fs-suid"],
        "artifacts": [{"name": "network-sockets", "timeout": 5},
                      {"name": "docker-ps", "order": 4, "command": "docker ps -a",
                       "needs": ["docker"], "needs_root": True}]}})
    t = config.triage
    assert t.log_window == 7200 and t.parallel == 2
    artifacts = {a.name: a for a in catalog.effective(t)}
    assert "fs-suid" not in artifacts
    sockets = artifacts["network-sockets"]
    assert sockets.timeout == 5
    assert sockets.primary.needs == ("ss",) and sockets.fallback is not None  # kept
    assert artifacts["docker-ps"].order == 4 and artifacts["docker-ps"].needs_root
    names = [a.name for a in catalog.effective(t)]
    assert names.index("docker-ps") > names.index("processes-exe")  # order of volatility


@pytest.mark.parametrize(("triage", "expected"), [
    ({"parallel": 0}, "triage.parallel: must be 1-64"),
    ({"log_window": "forever"}, "triage.log_window: 'forever' is not a duration"),
    ({"disable": ["nope"]}, "triage.disable: 'nope' is not an artifact"),
    ({"artifacts": [{"name": "x", "order": 1}]}, "artifacts[0].command: missing"),
    ({"artifacts": [{"name": "Bad Name", "order": 1, "command": "true"}]},
     "artifacts[0].name: 'Bad Name' is not an artifact name"),
    ({"artifacts": [{"name": "x\n", "order": 1, "command": "true"}]},
     "artifacts[0].name: 'x\\n' holds a control character"),
    ({"artifacts": [{"name": "x", "order": 9, "command": "true"}]},
     "artifacts[0].order: 9 is not an order of volatility"),
    ({"artifacts": [{"name": "x", "order": 1, "command": "true", "script": "probe"}]},
     "give either command or script"),
    ({"artifacts": [{"name": "x", "order": 1, "script": "nope"}]},
     "'nope' is not a script"),
    ({"artifacts": [{"name": "x", "order": 1, "command": "true", "args": ["{home}"]}]},
     "'{home}' is not a known value"),
    ({"artifacts": [{"name": "x", "order": 1, "command": "true", "needs": ["a b"]}]},
     "'a b' is not a program name"),
    ({"artifacts": [{"name": "x", "order": 1, "command": "true", "max_bytes": 0}]},
     "max_bytes: must be 1"),
    ({"artifacts": [{"name": "x", "order": 1, "command": "true", "color": "red"}]},
     "artifacts[0].color: unknown key"),
    ({"artifacts": "x"}, "must be an array of tables"),
])
def test_bad_triage_config_names_the_key(triage: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"triage": triage})
    assert expected in str(err.value)


def test_select_by_name_and_volatile_part() -> None:
    artifacts = catalog.effective(TriageSettings())
    volatile = catalog.select(artifacts, volatile_only=True)
    assert volatile and all(a.order <= catalog.VOLATILE_ORDER for a in volatile)
    assert {a.order for a in volatile} == {1, 2}
    picked = catalog.select(artifacts, ["system-identity", "network-routes"])
    assert [a.name for a in picked] == ["network-routes", "system-identity"]
    with pytest.raises(InvalidTargetError, match="unknown artifact: nope"):
        catalog.select(artifacts, ["nope"])
    with pytest.raises(InvalidTargetError, match="no artifact left"):
        catalog.select(artifacts, ["system-identity"], volatile_only=True)


def test_values_reach_artifacts_as_arguments_not_text(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    hostile = f"/nonexistent/x'; touch {marker} #$(touch {marker})`touch {marker}`"
    files = next(a for a in catalog.builtin() if a.name == "persistence-cron")
    evil = replace(files, primary=replace(files.primary, args=("paths", hostile)))
    argv = evil.argv(evil.primary, {})
    assert argv[-1] == hostile and hostile not in argv[2]
    out = subprocess.run(list(argv), capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and f"### absent: {hostile}" in out.stdout
    assert not marker.exists()
    logs = next(a for a in catalog.builtin() if a.name == "logs-auth")
    assert logs.argv(logs.primary, {"log_window_s": 3600, "recent_minutes": 5})[-1] == "3600"


def test_variant_per_host_tools_and_privileges() -> None:
    host = HostConfig("web1", "192.0.2.10", user="ir")
    artifacts = catalog.select(catalog.effective(TriageSettings()),
                               ["network-sockets", "network-conntrack", "system-identity"])
    values = catalog.placeholder_values(TriageSettings())
    planned = plan_artifacts(host, _facts(ALL_TOOLS - {"ss", "conntrack"}, sudo="yes"),
                             artifacts, values)
    sockets, conntrack, identity = planned
    assert sockets.variant == "fallback" and "triage_sockets_proc" in sockets.notes()[0]
    assert sockets.command.startswith("sudo -n sh -c ")
    assert conntrack.variant == "" and conntrack.command == ""
    assert "not available: conntrack not installed" in conntrack.notes()[0]
    assert identity.command.startswith("sh -c ")  # needs no root: no sudo
    unprivileged = plan_artifacts(host, _facts(sudo="no"), artifacts, values)
    assert not unprivileged[0].command.startswith("sudo")
    assert unprivileged[0].unprivileged and "without root" in unprivileged[0].notes()[-1]
    assert not unprivileged[2].unprivileged


def test_probe_output_parsing() -> None:
    text = ("banner noise\ntime 1000.5\nuid 1001\nuser ir\nhostname web1\n"
            "ssh 198.51.100.5 50000 192.0.2.10 22\nsudo no\ntool ss\ntool ip\nend\n")
    facts = parse_probe("web1", text, 999.0, 1001.0)
    assert facts.uid == 1001 and facts.sudo == "no" and not facts.privileged
    assert facts.tools == {"ss", "ip"} and facts.clock_offset == 0.5
    assert facts.clock_uncertainty == 1.0
    assert facts.ssh_connection.startswith("198.51.100.5 ")
    with pytest.raises(Exception, match="cut short"):
        parse_probe("web1", "time 1\nuid 0\n", 0.0, 1.0)
