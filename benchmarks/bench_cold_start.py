"""Benchmark: cold start to the first frame — the installed ``irtui`` binary in a fresh
process on a pseudo-terminal (80x24, like an SSH session), timed from ``exec`` until the
screen shows the tab bar ("1 Hosts"). Side by side, in the same run: a minimal Textual app
(a header, a label, a footer) started the same way, and the bare Python interpreter, so the
figure can be read as a ratio to what any Textual app costs on the machine.

The config has no hosts (no network is touched); the record and the audit trail go to a
temporary directory. Target (issue 14): under 0.6 s. Run::

    python benchmarks/bench_cold_start.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ESCAPES = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")
MINIMAL_APP = """
from textual.app import App
from textual.widgets import Footer, Header, Label
class Hello(App):
    def compose(self):
        yield Header()
        yield Label("1 Hosts")
        yield Footer()
Hello().run()
"""
TIMEOUT = 30.0


def first_frame(argv: list[str], marker: bytes, env: dict[str, str]) -> float:
    """Seconds from starting ``argv`` on a fresh 80x24 pty until its output shows
    ``marker`` (escape sequences removed); the process is then stopped."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True)
    os.close(slave)
    seen = b""
    try:
        while time.perf_counter() - started < TIMEOUT:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break
                if marker in ESCAPES.sub(b"", seen):
                    return time.perf_counter() - started
        raise RuntimeError(f"{argv[0]} showed no {marker!r}; output: {seen[-400:]!r}")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        os.close(master)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="irtui-cold-"))
    config = folder / "config.toml"
    config.write_text(f'[audit]\ndir = "{folder / "audit"}"\n[record]\n'
                      f'path = "{folder / "record.db"}"\n', encoding="utf-8")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(folder), "LANG": "C.UTF-8",
           "TERM": "xterm-256color", "XDG_DATA_HOME": str(folder / "data")}
    binary = str(Path(sys.executable).with_name("irtui"))
    cases = {
        "irtui (installed binary, no hosts)": [binary, "--config", str(config)],
        "minimal Textual app (Header, Label, Footer)": [sys.executable, "-c", MINIMAL_APP],
    }
    load = os.getloadavg()[0]
    print(f"cold start to first frame, 80x24 pty, median of {args.repeats} (load average "
          f"{load:.1f}); Python {sys.version.split()[0]}")
    results = {}
    for name, argv in cases.items():
        first_frame(argv, b"1 Hosts", env)  # warm the page cache once, not timed
        times = [first_frame(argv, b"1 Hosts", env) for _ in range(args.repeats)]
        results[name] = times
    started = time.perf_counter()
    for _ in range(args.repeats):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    bare = (time.perf_counter() - started) / args.repeats
    print(f"{'what':<46}{'median s':>10}{'min s':>8}{'max s':>8}")
    for name, times in results.items():
        print(f"{name:<46}{statistics.median(times):>10.3f}{min(times):>8.3f}"
              f"{max(times):>8.3f}")
    print(f"{'bare python -c pass':<46}{bare:>10.3f}")
    irtui, minimal = (statistics.median(t) for t in results.values())
    print(f"irtui / minimal Textual app: {irtui / minimal:.2f}×")


if __name__ == "__main__":
    main()
