"""Test helpers for triage on the lab: plant evidence inside one lab host (its own mount,
network and UTS namespaces, entered through its sshd), hide tools from one host, run a
collection and find its folders."""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from irtui.core.actions import Responder
from irtui.core.audit import AuditLog
from irtui.core.config import Config, parse_config
from irtui.core.events import Event
from irtui.lab import LabInfo
from irtui.lab.probe import tcp_connects
from irtui.lab.sshd import read_pid

PYTHON = "/usr/bin/python3"
LISTENER = ("import socket, sys, time; s = socket.socket(); "
            "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
            "s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(); time.sleep(600)")


def enter(info: LabInfo, index: int) -> list[str]:
    """argv prefix running a command inside lab host ``index`` as its sshd sees the world
    (its private /root, network and host name)."""
    host = info.hosts[index]
    assert host.pid_file is not None
    pid = read_pid(host.pid_file)
    assert pid is not None, f"{host.name}'s sshd is not running"
    return ["nsenter", "-t", str(pid), "-m", "-n", "-u", "--"]


def wait_for(condition, what: str, limit: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Poll ``condition()`` every 50 ms until it is true; fail after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@dataclass
class Planted:
    """What was planted in one lab host."""

    marker: str
    port: int
    deleted_exe: str
    deleted_sha256: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)


@contextlib.contextmanager
def plant(info: LabInfo, index: int = 0) -> Iterator[Planted]:
    """Plant, inside lab host ``index``: a process listening on a random TCP port, a process
    started from a binary that is then deleted, a root crontab entry (on a tmpfs over
    /var/spool visible only in that host) and an extra authorized key in its home."""
    host = info.hosts[index]
    assert host.home is not None
    ns = enter(info, index)
    marker = f"irtuiplant{secrets.token_hex(4)}"
    port = 40000 + secrets.randbelow(20000)
    binary = host.home / f".{marker}"
    shutil.copyfile("/bin/sleep", binary)
    binary.chmod(0o755)
    planted = Planted(marker, port, f"/root/.{marker} (deleted)",
                      hashlib.sha256(binary.read_bytes()).hexdigest())
    keys = host.home / ".ssh" / "authorized_keys"
    spool = False
    try:
        planted.processes.append(subprocess.Popen([*ns, PYTHON, "-c", LISTENER, str(port)]))
        wait_for(lambda: tcp_connects(None, host.v4, port, 0.5), "the planted listener")
        proc = subprocess.Popen([*ns, f"/root/.{marker}", "600"])
        planted.processes.append(proc)
        wait_for(lambda: Path(f"/proc/{proc.pid}/exe").exists()
                 and marker in str(Path(f"/proc/{proc.pid}/exe").readlink()), "the binary")
        binary.unlink()
        line = f"*/5 * * * * /root/.{marker} 1 # {marker}"
        subprocess.run([*ns, "sh", "-c", "mount -t tmpfs -o mode=0755 irtui-test /var/spool "
                        "&& mkdir -p /var/spool/cron/crontabs && printf '%s\\n' \"$1\" > "
                        "/var/spool/cron/crontabs/root", "plant", line], check=True)
        spool = True
        keys.parent.mkdir(mode=0o700, exist_ok=True)
        keys.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAbCdEfGhIjKlMnOpQrStUvWxYz0123456"
                        f"789abcdefghij {marker}\n")
        yield planted
    finally:
        for p in planted.processes:
            p.kill()
            p.wait(10)
        binary.unlink(missing_ok=True)
        if spool:
            subprocess.run([*ns, "umount", "/var/spool"], check=True)
        shutil.rmtree(keys.parent, ignore_errors=True)


@contextlib.contextmanager
def hidden_tools(info: LabInfo, index: int, tools: list[str]) -> Iterator[None]:
    """Make ``tools`` disappear for lab host ``index`` only: an empty, non-executable file is
    bind-mounted over each binary inside that host's private mount namespace."""
    ns = enter(info, index)
    empty = info.lab_dir / f"hidden-{index}"
    empty.write_bytes(b"")
    empty.chmod(0o644)
    mounted: list[str] = []
    try:
        for tool in tools:
            path = shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin")
            assert path, f"{tool} must be installed to hide it"
            subprocess.run([*ns, "mount", "--bind", str(empty), path], check=True)
            mounted.append(path)
        yield
    finally:
        for path in mounted:
            subprocess.run([*ns, "umount", path], check=True)
        empty.unlink(missing_ok=True)


def triage_config(config: Config, tmp_path: Path, **triage: Any) -> Config:
    """``config`` with evidence in ``tmp_path/evidence`` and ``[triage]`` keys applied."""
    parsed = parse_config({"triage": {"evidence_dir": str(tmp_path / "evidence"), **triage}})
    return replace(config, triage=parsed.triage, audit_dir=str(tmp_path / "audit"))


def responder_for(config: Config, tmp_path: Path) -> Responder:
    """A Responder whose audit trail is in ``tmp_path/audit``."""
    return Responder(config, audit=AuditLog(tmp_path / "audit"))


def evidence_entries(responder: Responder) -> list[dict[str, Any]]:
    """The ``evidence`` entries of the responder's audit trail, in order."""
    lines = responder.audit.trail_path.read_text().splitlines()
    return [doc for doc in map(json.loads, lines) if doc["event"] == "evidence"]


def collect(responder: Responder, hosts: list[str], **options: Any
            ) -> tuple[Any, dict[str, Path], list[Event]]:
    """Plan and run a collection; returns the plan result, host → collection folder (from
    the audit trail) and every event."""
    events: list[Event] = []
    plan = responder.plan_collect(hosts, **options)
    result = responder.execute(plan, events.append)
    folders = {e["host"]: Path(e["path"]) for e in evidence_entries(responder)}
    return result, folders, events


def log_of(folder: Path) -> dict[str, dict[str, Any]]:
    """The collection log's artifacts by name."""
    doc = json.loads((folder / "collection.json").read_text())
    return {a["name"]: a for a in doc["artifacts"]}


def artifact_text(folder: Path, name: str) -> str:
    """The stdout file of artifact ``name`` as text."""
    entry = log_of(folder)[name]
    return (folder / entry["stdout_file"]).read_text(errors="replace")
