"""The CLI's own output going nowhere: stdout a pipe whose reader is gone (``irtui status |
head -1``), stdout or stderr closed (``>&-``, ``2>&-``), stdout on a full disk. A change
still runs to its end and is recorded; no traceback; the exit code is the verb's; and output
the responder asked for but that was lost (not just unread) is never an exit code 0."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from irtui.lab import LabInfo
from tests.cli_helpers import CLI_TIMEOUT, IRTUI, config_copy, refusal_line
from tests.lab_fixtures import nft_set_elements


def _run(args: list[str], stdout: int | None = subprocess.PIPE,
         before: Callable[[], None] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(IRTUI), *args], stdout=stdout, stderr=subprocess.PIPE,
                          timeout=CLI_TIMEOUT, preexec_fn=before, check=False)


def _broken_pipe() -> int:
    """The write end of a pipe whose reader has already gone: the first write is EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    return write_end


def _close(fd: int) -> Callable[[], None]:
    return lambda: os.close(fd)


def _blocked(info: LabInfo, address: str) -> bool:
    return any(address in str(e) for e in nft_set_elements(info.hosts[0].namespace, "v4_32"))


@pytest.fixture
def config(clean_lab: LabInfo, tmp_path: Path) -> str:
    return str(config_copy(clean_lab, tmp_path / "config.toml",
                           audit={"dir": str(tmp_path / "audit")},
                           record={"path": str(tmp_path / "record.db")}))


@pytest.mark.parametrize("verb", [["status"], ["blocks"], ["probe"], ["status", "--json"]])
def test_reading_verbs_with_the_reader_gone_or_stdout_closed(config: str, verb: list[str]) -> None:
    for how in ("broken pipe", "closed"):
        if how == "broken pipe":
            fd = _broken_pipe()
            out = _run(["--config", config, *verb], stdout=fd)
            os.close(fd)
        else:
            out = _run(["--config", config, *verb], before=_close(1))
        stderr = out.stderr.decode("utf-8", "replace")
        assert "Traceback" not in stderr and "Exception ignored" not in stderr, (how, stderr)
        assert out.returncode == 0, (how, out.returncode, stderr)


@pytest.mark.parametrize("how", ["stdout a broken pipe", "stdout closed", "stderr closed"])
def test_a_block_runs_to_its_end_and_says_so_whatever_happened_to_the_output(
        clean_lab: LabInfo, config: str, how: str) -> None:
    args = ["--config", config, "block", "--on", "host1", "203.0.113.41"]
    if how == "stdout a broken pipe":
        fd = _broken_pipe()
        out = _run(args, stdout=fd)
        os.close(fd)
    else:
        out = _run(args, before=_close(1 if how == "stdout closed" else 2))
    assert "Traceback" not in out.stderr.decode("utf-8", "replace"), out.stderr
    assert out.returncode == 0, (out.returncode, out.stderr)
    assert _blocked(clean_lab, "203.0.113.41")
    shown = _run(["--config", config, "incident", "show"])
    assert b"OK" in shown.stdout and b"block 203.0.113.41/32 on host1" in shown.stdout


@pytest.mark.parametrize("verb", [["status"], ["status", "--json"], ["incident", "list"]])
def test_output_lost_on_a_full_disk_is_never_exit_0(config: str, verb: list[str]) -> None:
    _run(["--config", config, "incident", "new", "output on a full disk"])
    with open("/dev/full", "wb") as full:
        out = _run(["--config", config, *verb], stdout=full.fileno())
    line = refusal_line(out)
    assert "No space left on device" in line, line
    assert out.returncode == 1, (out.returncode, out.stderr)


def test_the_tui_without_a_terminal_says_so_at_once(tmp_path: Path) -> None:
    """``irtui`` without a verb from cron, a pipe or a script has no terminal to draw on or
    read keys from: one line and exit 2, never a TUI running blind until killed."""
    from irtui.core.config import write_toml_atomic

    cfg = tmp_path / "config.toml"
    write_toml_atomic(cfg, {"hosts": [{"name": "web1", "address": "192.0.2.10"}],
                            "audit": {"dir": str(tmp_path / "audit")},
                            "record": {"path": str(tmp_path / "record.db")}})
    for extra in ([], ["tui"], ["--read-only"]):
        out = subprocess.run([str(IRTUI), "--config", str(cfg), *extra],
                             stdin=subprocess.DEVNULL, capture_output=True, timeout=20,
                             start_new_session=True, check=False)
        assert out.returncode == 2, (extra, out.returncode)
        line = refusal_line(out)
        assert "needs a terminal" in line, line
        assert b"\x1b[" not in out.stderr + out.stdout  # no screen drawn into the files


def test_a_terminal_that_cannot_show_unicode_still_gets_every_result(
        clean_lab: LabInfo, config: str) -> None:
    """An ASCII (or Latin-1) terminal: "host1: ok — done" is shown with the dash escaped,
    never dropped (the result lines used to vanish while the block was applied)."""
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    out = subprocess.run([str(IRTUI), "--config", config, "block", "--on", "host1",
                          "203.0.113.42"], capture_output=True, timeout=CLI_TIMEOUT, env=env,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert _blocked(clean_lab, "203.0.113.42")
    assert b"host1: ok \\u2014 done" in out.stdout, out.stdout
    assert b"block 203.0.113.42/32 on host1" in out.stdout, out.stdout
    assert b"Traceback" not in out.stderr
