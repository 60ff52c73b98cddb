"""End to end: the installed ``irtui`` binary in a real terminal (tmux) on the practice lab.
Keys go in with ``tmux send-keys`` — the block keys as one burst, the way a paste or a fast
typist delivers them —, the screen comes back with ``capture-pane -p``, and the effect is
checked at the traffic level: the attacker's TCP connect to the host fails after the block.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from irtui.core.config import write_toml_atomic
from irtui.lab.probe import tcp_connects
from tests.lab_fixtures import SLOT

WAIT_SECONDS = 90.0
SIZE = (100, 30)


class Terminal:
    """One tmux server of its own (``-L``), one session running ``command``."""

    def __init__(self, socket: str, command: list[str], env: dict[str, str]) -> None:
        self.socket = socket
        flags = [item for key, value in env.items() for item in ("-e", f"{key}={value}")]
        self.tmux("new-session", "-d", "-s", "e2e", "-x", str(SIZE[0]), "-y", str(SIZE[1]),
                  *flags, *command)

    def tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, timeout=30, check=False)
        assert done.returncode == 0, (args, done.stderr)
        return done.stdout

    def screen(self) -> str:
        """What the terminal shows now."""
        return self.tmux("capture-pane", "-p", "-t", "e2e")

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", "e2e", *(["-l"] if literal else []), *keys)

    def wait_for(self, text: str, timeout: float = WAIT_SECONDS) -> str:
        """Poll the screen until it shows ``text``; returns the screen."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{screen}")

    def alive(self) -> bool:
        done = subprocess.run(["tmux", "-L", self.socket, "has-session", "-t", "e2e"],
                              capture_output=True, timeout=30, check=False)
        return done.returncode == 0

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       timeout=30, check=False)


@pytest.fixture
def terminal_config(clean_lab, tmp_path: Path) -> Path:
    """The lab's config with the audit trail and the record in ``tmp_path``."""
    data = tomllib.loads(Path(clean_lab.config_path).read_text(encoding="utf-8"))
    data["audit"] = {"dir": str(tmp_path / "audit")}
    data["record"] = {"path": str(tmp_path / "record.db")}
    path = tmp_path / "config.toml"
    write_toml_atomic(path, data)
    return path


@pytest.fixture
def terminal(terminal_config: Path, tmp_path: Path) -> Iterator[Terminal]:
    binary = Path(sys.executable).with_name("irtui")
    assert binary.is_file(), f"{binary} is not installed (run ./dev setup)"
    env = {"LANG": "C.UTF-8", "TERM": "xterm-256color", "HOME": str(tmp_path),
           "XDG_DATA_HOME": str(tmp_path / "data"), "PATH": os.environ.get("PATH", "")}
    term = Terminal(f"irtui-e2e-{SLOT}-{os.getpid()}", [str(binary), "--config",
                                                          str(terminal_config)], env)
    try:
        yield term
    finally:
        term.close()


def test_installed_binary_blocks_the_attacker_with_keys(clean_lab, terminal: Terminal) -> None:
    attacker, h1, h2 = clean_lab.attacker, clean_lab.hosts[0], clean_lab.hosts[1]
    assert tcp_connects(attacker.namespace, h1.v4, 22)
    screen = terminal.wait_for("✓ yes")
    assert "host1" in screen and "irtui ·" in screen.splitlines()[0]
    terminal.wait_for("nftables")
    terminal.keys(f"b{attacker.v4}", literal=True)  # one burst, as a paste arrives
    terminal.wait_for(attacker.v4)
    terminal.keys("Enter")
    screen = terminal.wait_for("Confirm: block")
    summary = [line for line in screen.splitlines() if "host1  1 to add" in line]
    assert summary, screen  # the summary, host by host, before any command
    assert "Cancel (n)" in screen and "nft " not in screen
    terminal.keys("y")
    terminal.wait_for("1 ok, 0 failed")  # the plan's result in the log
    terminal.wait_for("✓ block ok")  # and on host1's row
    assert not tcp_connects(attacker.namespace, h1.v4, 22)  # the attacker is cut
    assert tcp_connects(attacker.namespace, h2.v4, 22)  # only on host1
    terminal.keys("q")
    deadline = time.monotonic() + WAIT_SECONDS
    while terminal.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not terminal.alive(), "irtui did not quit on q"
    assert not tcp_connects(attacker.namespace, h1.v4, 22)  # the host keeps the block
