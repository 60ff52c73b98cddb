"""A compromised host controls what its commands print (issue 8, item 13): escape sequences
that clear the screen or set the clipboard (OSC 52), C1 controls, bidi overrides, bytes that
are not UTF-8. The CLI and the TUI log panel show them escaped; the transcript keeps the exact
bytes, escaped reversibly."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from irtui.core.config import Config
from irtui.core.text import first_control, unescape_bytes
from irtui.lab.probe import tcp_connects
from irtui.tui.app import IrtuiApp
from tests.cli_helpers import config_copy, run_irtui
from tests.tui_helpers import block_to_confirmation, settle

MARK = b"irtui-hostile-output"
HOSTILE = (MARK + b" \x1b]52;c;cm0gLXJmIH4K\x07"  # OSC 52: put "rm -rf ~" in the clipboard
           b"\x1b[2J\x1b[H"  # clear the screen, cursor home
           b" ok \xe2\x80\xae lanigiro \xc2\x9b31m \xff\xfe tab\there \\x1b \r end")
"""What the host prints on stderr before every command (from its shell's start-up file)."""
RAW_CONTROLS = (b"\x1b", b"\x07", b"\r", b"\xe2\x80\xae", b"\xc2\x9b", b"\xff")


@pytest.fixture
def hostile_host(clean_lab) -> Iterator[Path]:
    """host1's tools print :data:`HOSTILE` on stderr: a trojaned ``flock`` (which every
    change runs, under the change lock) first on the PATH of every SSH session (bash reads
    ~/.bashrc when sshd starts it; the lab gives each host its own home)."""
    home = clean_lab.hosts[0].home
    assert home is not None
    payload, rc, tools = home / "hostile.bin", home / ".bashrc", home / "bin"
    payload.write_bytes(HOSTILE + b"\n")
    tools.mkdir(exist_ok=True)
    flock = shutil.which("flock")
    assert flock is not None
    (tools / "flock").write_text(f'#!/bin/sh\ncat ~/hostile.bin >&2\nexec {flock} "$@"\n')
    (tools / "flock").chmod(0o755)
    rc.write_text('PATH="$HOME/bin:$PATH"\n')
    try:
        yield home
    finally:
        rc.unlink(missing_ok=True)
        payload.unlink(missing_ok=True)
        shutil.rmtree(tools, ignore_errors=True)


def _transcript_line(audit: Path) -> str:
    """The escaped hostile line as the transcript holds it."""
    transcripts = list(audit.glob("*.log"))
    assert len(transcripts) == 1, transcripts
    data = transcripts[0].read_bytes()
    for raw in RAW_CONTROLS:
        assert raw not in data, raw
    lines = [line for line in data.decode("utf-8").splitlines() if MARK.decode() in line]
    assert lines
    return lines[0].split(" stderr: ", 1)[1]


def test_cli_shows_hostile_output_escaped_and_records_it_exactly(clean_lab, hostile_host,
                                                                 tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    config = config_copy(clean_lab, tmp_path / "config.toml", audit={"dir": str(audit)})
    attacker, h1 = clean_lab.attacker, clean_lab.hosts[0]
    out = run_irtui("--config", str(config), "block", attacker.v4, "--on", "host1",
                    "--ttl", "1h")
    assert out.returncode == 0, out.stderr
    assert not tcp_connects(attacker.namespace, h1.v4, 22)
    assert MARK in out.stderr  # the host's output is shown…
    for raw in RAW_CONTROLS:  # …never raw
        assert raw not in out.stderr and raw not in out.stdout, raw
    shown = out.stderr.decode("utf-8")
    for visible in ("\\x1b]52;c;cm0gLXJmIH4K\\x07", "\\x1b[2J", "\\u202e", "\\x9b",
                    "\\xff\\xfe", "tab\there", "\\x0d end"):
        assert visible in shown, visible
    assert unescape_bytes(_transcript_line(audit)) == HOSTILE


async def test_tui_log_panel_shows_hostile_output_escaped(lab_config: Config, clean_lab,
                                                          hostile_host) -> None:
    attacker = clean_lab.attacker
    app = IrtuiApp(lab_config)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await block_to_confirmation(app, pilot, attacker.v4)
        await pilot.press("y")
        await settle(app, pilot)
        await settle(app, pilot)
        lines = list(app.query_one("#log").lines)
    hostile = [line for line in lines if MARK.decode() in line]
    assert hostile, lines
    assert all(first_control(line) is None for line in lines), [
        line for line in lines if first_control(line) is not None]
    assert "\\x1b]52;c;cm0gLXJmIH4K\\x07" in hostile[0]
    assert "\\u202e" in hostile[0] and "\\xff\\xfe" in hostile[0]
    assert unescape_bytes(_transcript_line(Path(lab_config.audit_dir))) == HOSTILE
