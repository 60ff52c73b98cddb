"""Benchmark: act on N lab hosts as fast as the network allows (issue 13).

Brings up its own N-host lab (prefix ``irfleet``, 198.18.240.0/24 and fd00:1ab:f0::/64, files
in /run/irtui-lab-fleet), then runs, side by side in one run, each contender as a whole
process, alternating A B C A B C, and prints medians and ratios to the floor:

* irtui: the installed ``irtui`` CLI (``--irtui``, default this checkout's ``.venv/bin/irtui``)
  and, with ``--before``, an older build's ``irtui`` for a before/after in the same run;
* the floor: bare paramiko, one thread per host, connect + one command + close
  (``benchmarks/fleet_peers.py``);
* parallel OpenSSH: one ``ssh`` per host in the background, ``BatchMode=yes``, strict host
  keys from the lab's known_hosts, with OpenSSH's default key exchange and with
  ``curve25519-sha256`` (the one paramiko uses);
* Ansible ad-hoc ``-m raw`` with N forks, when ``ansible`` is found (``--ansible``); it is not a
  dependency of irtui.

Suites (``--only``): ``fleet`` (block one address / status on N hosts, and a dead host among
them), ``single`` (one host), ``startup`` (``irtui --help``, first TUI frame in tmux),
``feed`` (10,000 and 100,000 addresses on one host, then ``blocks --json`` of the 100,000),
``warm`` (connections open, as in the TUI). Run as root from the repository root::

    python benchmarks/fleet.py [--hosts 50] [--runs 5] [--only fleet,warm] [--before PATH]

The lab is removed at the end unless ``--keep``. Blocked addresses come from 203.0.113.0/24,
198.51.100.0/24 and, for the feeds, 198.18.0.0/15 outside the lab's own /24.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks import fleet_peers as peers  # noqa: E402
from benchmarks.fleet_suites import SUITES, Context  # noqa: E402
from benchmarks.settle import settle  # noqa: E402
from irtui.lab.lab import lab_down, lab_up  # noqa: E402
from irtui.lab.probe import ns_run  # noqa: E402
from irtui.lab.spec import LabSpec  # noqa: E402

LAB_DIR = Path("/run/irtui-lab-fleet")


def spec(hosts: int) -> LabSpec:
    """The benchmark's own lab: no test or other lab uses 198.18.240.0/24."""
    return LabSpec(prefix="irfleet", hosts=hosts, subnet4="198.18.240.0/24",
                   subnet6="fd00:1ab:f0::/64", lab_dir=LAB_DIR)


@dataclass
class Contender:
    """One tool in a comparison: ``argv(run)`` is timed as a whole process (or ``measure(run)``
    returns ``(seconds, error)`` for what a process exit cannot show, like a TUI frame)."""

    name: str
    argv: Callable[[int], list[str]] = lambda run: []
    stdin: Callable[[int], Path | None] = lambda run: None
    floor: bool = False
    env: dict[str, str] | None = None
    measure: Callable[[int], tuple[float, str]] | None = None
    times: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def timed(argv: list[str], stdin: Path | None, env: dict[str, str] | None) -> tuple[float, str]:
    """Run ``argv`` to its end; returns (seconds, error text or "")."""
    with open(stdin or os.devnull, "rb") as feed:
        started = time.perf_counter()
        proc = subprocess.run(argv, stdin=feed, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, env=env, timeout=600, check=False)
        took = time.perf_counter() - started
    error = "" if proc.returncode == 0 else (
        f"exit {proc.returncode}: " + proc.stderr.decode(errors="replace").strip()[-300:])
    return took, error


def compare(title: str, contenders: list[Contender], runs: int,
            reset: Callable[[], None] | None = None) -> list[list[str]]:
    """Run every contender ``runs`` times, alternating; return the table rows."""
    print(f"\n## {title}", flush=True)
    for run in range(runs):
        for c in contenders:
            if reset:
                reset()
            took, error = (c.measure(run) if c.measure
                           else timed(c.argv(run), c.stdin(run), c.env))
            c.times.append(took)
            if error:
                c.failures.append(error)
            print(f"  run {run + 1}: {c.name:<52} {took:7.3f} s {error[:120]}", flush=True)
    floor = next((statistics.median(c.times) for c in contenders if c.floor), None)
    rows = []
    for c in contenders:
        med = statistics.median(c.times)
        ratio = f"{med / floor:.2f}×" if floor else "–"
        note = f"FAILED {len(c.failures)}/{runs}: {c.failures[0][:80]}" if c.failures else ""
        rows.append([title, c.name, f"{med:.3f}", f"{min(c.times):.3f}–{max(c.times):.3f}",
                     ratio, note])
    return rows


def machine() -> str:
    """One line: CPUs, memory, load, versions."""
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    ssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    nft = subprocess.run(["nft", "--version"], capture_output=True, text=True).stdout.strip()
    import paramiko

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{platform.node()}: {os.cpu_count()} CPUs, {mem:.0f} GiB, load average {load}; "
            f"Linux {platform.release()}, Python {platform.python_version()}, "
            f"paramiko {paramiko.__version__}, {ssh}, {nft}")


def markdown(rows: list[list[str]]) -> str:
    head = ["scenario", "contender", "median s", "min–max s", "vs floor", "note"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|---:|---:|---:|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hosts", type=int, default=50)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--only", default=",".join(SUITES), help="comma list of suites")
    p.add_argument("--irtui", default=str(HERE.parent / ".venv/bin/irtui"))
    p.add_argument("--before", help="an older build's irtui executable, measured alongside")
    p.add_argument("--ansible", default=shutil.which("ansible"))
    p.add_argument("--keep", action="store_true", help="leave the lab up")
    args = p.parse_args()
    chosen = [s for s in args.only.split(",") if s]
    unknown = [s for s in chosen if s not in SUITES]
    if unknown:
        p.error(f"unknown suite(s) {unknown}; use {', '.join(SUITES)}")
    # Measured as installed: pip compiles an installed package's bytecode, so a CLI start
    # does not compile irtui's modules again each time (about 0.3 s of every cold run here
    # when PYTHONDONTWRITEBYTECODE is set, as it is in some CI and sandbox shells).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    for tool in (args.irtui, args.before):
        python = Path(tool).parent / "python" if tool else None
        if python and python.exists():
            subprocess.run([str(python), "-P", "-c", "import compileall, irtui, os; "
                            "compileall.compile_dir(os.path.dirname(irtui.__file__), quiet=1)"],
                           check=False)
    lab_spec = spec(args.hosts)
    before_load = machine()
    info = lab_up(lab_spec)
    for host in info.hosts:  # a kept lab may hold an earlier run's 100,000 entries
        ns_run(host.namespace, ["nft", "flush", "ruleset"], timeout=120)
    try:
        ctx = Context(spec=lab_spec, info=info, runs=args.runs, irtui=Path(args.irtui),
                      before=Path(args.before) if args.before else None,
                      ansible=Path(args.ansible) if args.ansible else None,
                      contender=Contender, compare=compare, peers=peers)
        rows: list[list[str]] = []
        for name in chosen:
            print(f"\n{name}: machine settled, {settle()}", flush=True)
            rows += SUITES[name](ctx)
    finally:
        if not args.keep:
            lab_down(lab_spec)
    print("\n" + markdown(rows))
    print(f"\nbefore: {before_load}\nafter:  {machine()}")
    print(json.dumps({"rows": rows}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
