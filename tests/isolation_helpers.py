"""Shared checks for the isolation tests: a host's end state as the host itself shows it (its
ruleset, its rollback timer's files and process), the audit trail, and lab configs for the
real ``irtui`` binary.

Known end states after any isolation, however interrupted (issue 8):

* ``confirmed``: isolated, no timer armed, and the host's timer log says it was disarmed;
* ``rolled back``: not isolated, and the host's timer log says it rolled back by itself;
* ``unchanged``: not isolated and no rollback ever fired (never armed, or disarmed before
  anything was applied).

Anything else (isolated with no timer and no disarm; a timer still armed past its deadline;
isolated although the rollback fired) is a stranded host.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from irtui.core.config import write_toml_atomic
from irtui.core.record.store import SQLiteStore
from irtui.lab import LabInfo
from irtui.lab.info import LabHost
from irtui.lab.probe import ns_run
from irtui.lab.sshd import descendants, live_sshd

CONFIRMED, ROLLED_BACK, UNCHANGED = "confirmed", "rolled back", "unchanged"
IRTUI = str(Path(sys.executable).with_name("irtui"))
"""The installed ``irtui`` console script of this virtualenv (a real process, no shell)."""


@dataclass
class TimerFiles:
    """A host's rollback timer as its files under its private ``/run/irtui`` show it."""

    pid: int | None = None
    deadline: int | None = None
    token: str = ""
    log: str = ""
    firing: bool = False
    leftovers: list[str] = field(default_factory=list)

    @property
    def armed(self) -> bool:
        """A timer process named in the pid file is alive."""
        return self.pid is not None and Path(f"/proc/{self.pid}").exists()


def _read(path: Path) -> str:
    """The file's text, or "" when it is not there (any more)."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def timer_files(host: LabHost) -> TimerFiles:
    """Read ``host``'s timer files from the responder's side (see ``LabHost.state_dir``)."""
    assert host.state_dir is not None
    prefix = host.state_dir / f"rollback-{host.name}"
    out = TimerFiles()
    # read, never exists()-then-read: the timer removes its files as it disarms or fires
    words = _read(Path(f"{prefix}.pid")).split()
    out.pid = int(words[0]) if words and words[0].isdigit() else None
    out.deadline = int(words[1]) if len(words) > 1 and words[1].isdigit() else None
    out.token = words[2] if len(words) > 2 else ""
    out.log = _read(Path(f"{prefix}.log")).strip()
    out.firing = Path(f"{prefix}.firing").exists()
    out.leftovers = sorted(p.name for p in host.state_dir.glob(f"rollback-{host.name}.*")
                           if p.suffix not in (".pid", ".log"))
    return out


def isolated(host: LabHost) -> bool:
    """irtui's isolation is present in ``host``'s ruleset (nft table, or the iptables raw
    chains of either variant)."""
    tables = ns_run(host.namespace, ["nft", "list", "tables"]).stdout.decode()
    if "irtui_isolation" in tables:
        return True
    for save in ("iptables-nft-save", "iptables-legacy-save"):
        if save.endswith("legacy-save"):
            names = ns_run(host.namespace, ["cat", "/proc/net/ip_tables_names"]).stdout
            if b"raw" not in names.split():
                continue
        if b":IRTUI-ISOLATE-IN" in ns_run(host.namespace, [save, "-t", "raw"]).stdout:
            return True
    return False


def wait_until_settled(host: LabHost, limit: float = 20.0) -> TimerFiles:
    """Poll (every 50 ms) until ``host``'s timer is neither armed nor firing; fail after
    ``limit`` seconds past its deadline."""
    started = time.monotonic()
    while True:
        files = timer_files(host)
        if not files.armed and not files.firing:
            return files
        extra = max(0.0, (files.deadline or 0) - time.time())
        if time.monotonic() - started > limit + extra:
            raise AssertionError(f"{host.name}: rollback timer still armed/firing: {files}")
        time.sleep(0.05)


def end_state(host: LabHost) -> str:
    """Wait for ``host`` to settle, then return ``confirmed``, ``rolled back`` or
    ``unchanged``; fail on a stranded host."""
    files = wait_until_settled(host)
    on = isolated(host)
    if on:
        assert files.log.startswith("disarmed at"), \
            f"{host.name} is isolated, no timer is armed and it was never confirmed: {files}"
        return CONFIRMED
    if files.log.startswith("rolled back at"):
        return ROLLED_BACK
    return UNCHANGED


RECORD_DB = "record.db"


def trail(audit_dir: Path) -> list[dict[str, Any]]:
    """Every record of every session in ``audit_dir``: the plain trails (``*.jsonl``, in
    file then line order), then the incident record ``audit_dir/record.db`` (the CLI's and
    the TUI's default trail; see :func:`write_lab_config`), each record with its kind as
    ``event``."""
    records: list[dict[str, Any]] = []
    for path in sorted(audit_dir.glob("*.jsonl")):
        records += [json.loads(line) for line in path.read_text().splitlines() if line]
    db = audit_dir / RECORD_DB
    if db.exists():
        records += [{**r.body, "event": r.kind} for r in SQLiteStore(db).records()]
    return records


def phases(records: list[dict[str, Any]], host: str) -> list[str]:
    """The rollback timer phases recorded for ``host`` (``armed``, ``confirmed``, ...)."""
    return [r["phase"] for r in records if r["event"] == "rollback" and r["host"] == host]


def result_for(records: list[dict[str, Any]], host: str,
               action: str = "isolate") -> dict[str, Any] | None:
    """The last ``action`` result record's entry for ``host`` (with the record's
    ``interrupted`` flag copied in), or None."""
    for r in reversed(records):
        if r["event"] == "result" and r["action"] == action:
            for entry in r["results"]:
                if entry["host"] == host:
                    return {**entry, "interrupted": r.get("interrupted")}
    return None


def assert_record_agrees(records: list[dict[str, Any]], host: str, end: str,
                         result_required: bool = True) -> None:
    """The audit trail says what the host shows: confirmed, left to roll back by itself, or
    nothing applied; and (unless the process was SIGKILLed) the result record exists."""
    assert any(r["event"] == "plan" and host in r["hosts"] for r in records), "no plan record"
    seen = phases(records, host)
    result = result_for(records, host)
    if result_required:
        assert result is not None, "no result record"
    if end == CONFIRMED:
        if result is not None or result_required:
            assert "confirmed" in seen, seen
        assert "left armed" not in seen and "disarmed" not in seen, seen
    elif end == ROLLED_BACK:
        # A SIGKILLed irtui may die between the host arming and the "armed" record: then
        # the trail shows the arm step started and nothing after it.
        arming = any(r["event"] == "step" and r["host"] == host and r["phase"] == "started"
                     and r["purpose"].startswith("arm a rollback") for r in records)
        assert ("armed" in seen or (arming and not result_required)), seen
        assert "confirmed" not in seen, seen
        if result is not None:
            assert {"left armed", "rolled back", "unknown"} & set(seen), seen
            assert result["outcome"] != "ok", result
    else:
        assert "confirmed" not in seen, seen
        if "armed" in seen and result is not None:
            assert "disarmed" in seen, seen
        if result is not None:
            assert result["outcome"] != "ok", result


def write_lab_config(lab: LabInfo, path: Path, audit_dir: Path, **isolation: Any) -> Path:
    """A copy of the lab's config with its audit trail in ``audit_dir`` and ``isolation``
    settings overridden (e.g. ``confirm_timeout=5``); returns ``path``."""
    data = tomllib.loads(lab.config_path.read_text())
    data["audit"] = {"dir": str(audit_dir)}
    data["record"] = {"path": str(audit_dir / RECORD_DB)}
    data["isolation"] = {**data.get("isolation", {}), **isolation}
    write_toml_atomic(path, data)
    return path


def wait_for(predicate: Any, limit: float, what: str, every: float = 0.01) -> Any:
    """Poll ``predicate()`` every ``every`` seconds until it returns something truthy;
    fail naming ``what`` after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit:g} s waiting for {what}")
        time.sleep(every)


def step_started(audit_dir: Path, host: str, prefix: str) -> bool:
    """True once the trail records that ``host``'s step whose purpose starts with
    ``prefix`` has started."""
    return any(r.get("event") == "step" and r.get("host") == host
               and r.get("phase", "started") == "started"
               and r.get("purpose", "").startswith(prefix) for r in trail(audit_dir))


def sshd_pids(host: LabHost) -> list[int]:
    """Every sshd process of ``host``: its listener (from its PID file, checked to be that
    host's sshd) and the per-connection sshd processes below it (``comm`` is ``sshd``;
    their command lines are rewritten to ``sshd: root@notty``)."""
    assert host.pid_file is not None
    listener = live_sshd(host.pid_file, host.pid_file.with_name("sshd_config"), host.namespace)
    if listener is None:
        return []
    found = [listener]
    for pid in descendants(listener):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "sshd":
                found.append(pid)
        except OSError:
            continue
    return found


def wait_for_no_strays(host: LabHost, limit: float = 10.0) -> None:
    """Wait until nothing but sshd runs in ``host``'s namespace (a command whose SSH channel
    was closed, e.g. an interrupted self-test, runs on to its own end), so no test leaves a
    process behind."""
    from irtui.lab.netns import namespace_pids

    def strays() -> list[int]:
        ours = set(sshd_pids(host))
        return [p for p in namespace_pids(host.namespace) if p not in ours]

    wait_for(lambda: not strays(), limit, f"processes in {host.namespace} to end: {strays()}",
             every=0.1)


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the installed ``irtui`` with ``args`` and capture its output."""
    return subprocess.run([IRTUI, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)
