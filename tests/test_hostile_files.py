"""Files that are not files, through the installed binary: a FIFO nobody writes to, a
device that never ends, a feed that is empty. Each is refused at once with one line naming
the problem and the fix, before any connection, and changes nothing on any lab host."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from irtui.core.config import write_toml_atomic
from irtui.core.notify.attachments import MAX_ATTACHMENT_BYTES
from tests.cli_helpers import config_copy, lab_rulesets, refusal_line, run_irtui

QUICK = 20.0
"""Seconds: a refusal takes well under one; a hang is cut here (TimeoutExpired fails)."""


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """A named pipe nobody writes to: open(2) for reading it blocks forever."""
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP listener on loopback standing in for the SMTP server, to prove nothing
    connected."""
    with socket.create_server(("127.0.0.1", 0)) as srv:
        srv.setblocking(False)
        yield srv


def _connected(srv: socket.socket) -> bool:
    try:
        conn, _ = srv.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def _notify_config(tmp_path: Path, smtp_port: int, **ssh: str) -> Path:
    """A config with one host (never contacted) and e-mail to ``127.0.0.1:smtp_port``."""
    path = tmp_path / "notify.toml"
    write_toml_atomic(path, {
        "hosts": [{"name": "host1", "address": "192.0.2.10"}],
        "ssh": ssh,
        "notify": {"email": {"host": "127.0.0.1", "port": smtp_port,
                             "sender": "irtui@example.org", "to": ["soc@example.org"]}},
        "audit": {"dir": str(tmp_path / "audit")},
        "record": {"path": str(tmp_path / "record.db")},
    })
    return path


# ---- 1. --attach: regular files within the cap ------------------------------------------------

@pytest.mark.parametrize("attach", ["/dev/urandom", "fifo", "dir"])
def test_attachment_that_is_not_a_regular_file_is_refused_before_connecting(
        tmp_path: Path, fifo: Path, listener: socket.socket, attach: str) -> None:
    path = {"fifo": str(fifo), "dir": str(tmp_path)}.get(attach, attach)
    cfg = _notify_config(tmp_path, listener.getsockname()[1])
    for dry in ((), ("--dry-run",)):
        started = time.monotonic()
        out = run_irtui("--config", str(cfg), "notify", "--subject", "s", "--body", "b",
                        "--attach", path, *dry, timeout=QUICK)
        line = refusal_line(out)
        assert out.returncode == 2, out.stderr
        assert f"attachment {path} is a " in line and "not a file" in line, line
        assert "attach a regular file" in line
        assert time.monotonic() - started < 10
    assert not _connected(listener)
    assert not (tmp_path / "record.db").exists()  # refused before anything was recorded


def test_attachments_over_the_cap_are_refused_before_connecting(
        tmp_path: Path, listener: socket.socket) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as fh:  # sparse: the size is what is checked, nothing is read
        fh.truncate(MAX_ATTACHMENT_BYTES // 2 + 1)
    cfg = _notify_config(tmp_path, listener.getsockname()[1])
    out = run_irtui("--config", str(cfg), "notify", "--subject", "s", "--body", "b",
                    "--attach", str(big), "--attach", str(big), timeout=QUICK)
    assert out.returncode == 2, out.stderr
    assert f"attachments exceed {MAX_ATTACHMENT_BYTES >> 20} MiB" in refusal_line(out)
    assert not _connected(listener)


# ---- 6. a dry run that shows a failure ---------------------------------------------------------

def test_dry_run_showing_a_channel_would_not_send_exits_4(tmp_path: Path,
                                                          listener: socket.socket) -> None:
    cfg = _notify_config(tmp_path, listener.getsockname()[1])
    out = run_irtui("--config", str(cfg), "notify", "--to", "not an address", "--subject",
                    "s", "--body", "b", "--dry-run", timeout=QUICK)
    assert b"would not send" in out.stdout and b"FAILED" in out.stdout
    assert out.returncode == 4, out.stdout + out.stderr
    fine = run_irtui("--config", str(cfg), "notify", "--subject", "s", "--body", "b",
                     "--dry-run", timeout=QUICK)
    assert fine.returncode == 0 and b"would not send" not in fine.stdout, fine.stdout
    assert not _connected(listener)


# ---- 2. configuration files that are FIFOs ------------------------------------------------------

def test_config_that_is_a_fifo_is_refused_without_opening_it(fifo: Path) -> None:
    out = run_irtui("--config", str(fifo), "status", timeout=QUICK)
    assert out.returncode == 2, out.stderr
    assert f"{fifo}: is a FIFO, not a file" in refusal_line(out)


def test_config_dev_null_still_loads_and_urandom_is_still_refused() -> None:
    empty = run_irtui("--config", "/dev/null", "status", timeout=QUICK)
    assert empty.returncode == 2 and "no hosts in /dev/null" in refusal_line(empty)
    binary = run_irtui("--config", "/dev/urandom", "status", timeout=QUICK)
    assert binary.returncode == 2 and "binary" in refusal_line(binary)


def test_ssh_config_that_is_a_fifo_is_a_config_problem(tmp_path: Path, fifo: Path,
                                                       listener: socket.socket) -> None:
    cfg = _notify_config(tmp_path, listener.getsockname()[1], config_file=str(fifo))
    out = run_irtui("--config", str(cfg), "status", timeout=QUICK)
    assert out.returncode == 2, out.stderr
    line = refusal_line(out)
    assert f"ssh config {fifo} is a FIFO, not a file" in line and "ssh.config_file" in line


def test_inventory_that_is_a_fifo_is_refused(tmp_path: Path, fifo: Path,
                                             listener: socket.socket) -> None:
    cfg = _notify_config(tmp_path, listener.getsockname()[1])
    before = cfg.read_bytes()
    out = run_irtui("--config", str(cfg), "hosts", "import", str(fifo), timeout=QUICK)
    assert out.returncode == 2, out.stderr
    assert f"inventory {fifo} is a FIFO, not a file" in refusal_line(out)
    assert cfg.read_bytes() == before


def test_feed_and_body_from_a_pipe_still_work(tmp_path: Path,
                                              listener: socket.socket) -> None:
    """Pipes stay welcome where the data is the responder's own stream (``-``,
    ``<(cmd)``): the message body from stdin is previewed."""
    cfg = _notify_config(tmp_path, listener.getsockname()[1])
    out = run_irtui("--config", str(cfg), "notify", "--subject", "s", "--body-file", "-",
                    "--dry-run", input=b"piped body line\n", timeout=QUICK)
    assert out.returncode == 0, out.stderr
    assert b"piped body line" in out.stdout


@pytest.mark.lab
def test_known_hosts_that_is_a_fifo_is_refused(clean_lab, tmp_path: Path, fifo: Path) -> None:
    cfg = config_copy(clean_lab, tmp_path / "config.toml", ssh={"known_hosts": str(fifo)},
                      audit={"dir": str(tmp_path / "audit")})
    before = lab_rulesets(clean_lab)
    out = run_irtui("--config", str(cfg), "block", "203.0.113.7", "--on", "host1",
                    timeout=QUICK)
    assert f"known_hosts file {fifo} is a FIFO, not a file" in refusal_line(out)
    assert out.returncode == 3, out.stderr
    assert lab_rulesets(clean_lab) == before


# ---- 3. an empty feed ------------------------------------------------------------------------

@pytest.mark.lab
def test_empty_feed_is_named_with_the_fix(clean_lab, tmp_path: Path) -> None:
    cfg = config_copy(clean_lab, tmp_path / "config.toml",
                      audit={"dir": str(tmp_path / "audit")})
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n")
    before = lab_rulesets(clean_lab)
    for verb, feed in (("block", "/dev/null"), ("unblock", str(empty))):
        out = run_irtui("--config", str(cfg), verb, "--from-file", feed, "--on", "host1",
                        timeout=QUICK)
        line = refusal_line(out)
        assert out.returncode == 2, out.stderr
        assert f"feed {feed} held no address" in line and "--from-file" in line, line
        assert "no address given" not in line
    assert lab_rulesets(clean_lab) == before


def test_ssh_config_including_a_fifo_is_a_config_problem(tmp_path: Path, fifo: Path,
                                                         listener: socket.socket) -> None:
    """``Include`` globs can pick up a FIFO too: refused, not opened."""
    main = tmp_path / "ssh_config"
    main.write_text(f"Include {fifo}\n")
    cfg = _notify_config(tmp_path, listener.getsockname()[1], config_file=str(main))
    out = run_irtui("--config", str(cfg), "status", timeout=QUICK)
    assert out.returncode == 2, out.stderr
    assert f"ssh config {fifo} is a FIFO, not a file" in refusal_line(out)


# ---- 5. some requested entries refused: exit 5, the valid ones still blocked ------------------

@pytest.mark.lab
def test_mixed_block_blocks_the_valid_entry_and_exits_5(clean_lab, tmp_path: Path) -> None:
    """``block --on host1 <attacker> 999.1.1.1``: the attacker is cut, the bad IOC is named,
    and the exit code tells a script that not everything it passed was blocked."""
    from irtui.lab.probe import tcp_connects

    h1, attacker = clean_lab.hosts[0], clean_lab.attacker
    cfg = config_copy(clean_lab, tmp_path / "config.toml",
                      audit={"dir": str(tmp_path / "audit")})
    dry = run_irtui("--config", str(cfg), "block", "--on", "host1", attacker.v4, "999.1.1.1",
                    "--dry-run", timeout=60)
    assert dry.returncode == 5, dry.stderr
    assert tcp_connects(attacker.namespace, h1.v4, 22)
    out = run_irtui("--config", str(cfg), "block", "--on", "host1", attacker.v4, "999.1.1.1",
                    timeout=60)
    assert out.returncode == 5, out.stdout + out.stderr
    assert b"host1: 999.1.1.1 refused" in out.stderr and b"1 to add" in out.stderr
    assert b"host1: ok" in out.stdout
    assert not tcp_connects(attacker.namespace, h1.v4, 22)  # the valid one IS blocked
    again = run_irtui("--config", str(cfg), "unblock", "--on", "host1", attacker.v4,
                      timeout=60)
    assert again.returncode == 0, again.stderr  # nothing refused: still 0
    assert tcp_connects(attacker.namespace, h1.v4, 22)
