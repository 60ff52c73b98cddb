"""The suites of ``benchmarks/fleet.py``: what is compared, each a list of contenders."""

from __future__ import annotations

import ipaddress
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import tomli_w

from benchmarks.settle import settle
from irtui.lab.info import LabInfo
from irtui.lab.probe import ns_run
from irtui.lab.spec import LabSpec

HERE = Path(__file__).resolve().parent
TTL = "1h"


@dataclass
class Context:
    """What every suite needs: the lab, the tools, and the harness's pieces."""

    spec: LabSpec
    info: LabInfo
    runs: int
    irtui: Path
    before: Path | None
    ansible: Path | None
    contender: type
    compare: Callable[..., list[list[str]]]
    peers: ModuleType

    @property
    def config(self) -> str:
        return str(self.info.config_path)

    @property
    def addresses(self) -> list[str]:
        return [h.v4 for h in self.info.hosts]

    def irtui_contenders(self, words: Callable[[int, int], list[str]]) -> list[Any]:
        """irtui (and the build given by ``--before``): ``words(run, which)`` are the verb's
        arguments, ``which`` 0 for this build and 1 for the older one."""
        out = []
        if self.before:
            out.append(self.contender("irtui before", lambda r: [
                str(self.before), "--config", self.config, *words(r, 1)]))
        out.append(self.contender("irtui", lambda r: [
            str(self.irtui), "--config", self.config, *words(r, 0)]))
        return out

    def peer_contenders(self, addresses: list[str], command: Callable[[int], str],
                        stdin: Path | None = None) -> list[Any]:
        """The floor (bare paramiko threads), parallel OpenSSH twice, and Ansible."""
        kh, key = self.spec.known_hosts_path, self.spec.key_path
        out = [self.contender(
            "paramiko, thread per host: connect + 1 command (floor)", lambda r: [
                sys.executable, str(HERE / "fleet_peers.py"), "paramiko", "--known-hosts",
                str(kh), "--key", str(key), "--command", command(r), *addresses,
                *(["--stdin", str(stdin)] if stdin else [])], floor=True)]
        for fast in (False, True):
            label = "curve25519-sha256" if fast else "default kex"
            opts = self.peers.openssh_options(kh, key, fast)
            out.append(self.contender(f"parallel OpenSSH ({label})", lambda r, o=opts: [
                "sh", "-c", self.peers.openssh_script(addresses, o, command(r), stdin)]))
        if self.ansible and stdin is None:
            inventory = self.spec.lab_dir / f"ansible-{len(addresses)}.ini"
            inventory.write_text(self.peers.ansible_inventory(addresses, kh, key))
            out.append(self.contender("Ansible -m raw", lambda r: self.peers.ansible_command(
                self.ansible, inventory, command(r), len(addresses)),
                env=_ansible_env(self.spec.lab_dir)))
        return out


def _ansible_env(lab_dir: Path) -> dict[str, str]:
    """Ansible's settings in a fresh directory of the lab (removed with it): strict host
    keys, nothing of the user's own config."""
    import os

    home = Path(tempfile.mkdtemp(prefix="ansible-home-", dir=lab_dir))
    (home / "ansible.cfg").write_text("[defaults]\nhost_key_checking = True\n")
    env = dict(os.environ)
    env.update(ANSIBLE_CONFIG=str(home / "ansible.cfg"), ANSIBLE_HOME=str(home))
    return env


def _add(address: str) -> str:
    return f"nft add element inet irtui v4_32 '{{ {address} timeout 3600s }}'"


def fleet(ctx: Context) -> list[list[str]]:
    """Block one address on every host; status of every host; a dead host among them."""
    n = len(ctx.addresses)
    _setup_block(ctx, ["--on", "all"])

    def addr(run: int, slot: int) -> str:
        return f"203.0.113.{20 + run * 10 + slot}"

    block = ctx.irtui_contenders(lambda r, w: ["block", addr(r, w), "--on", "all", "-q",
                                               "--ttl", TTL])
    block += ctx.peer_contenders(ctx.addresses, lambda r: _add(addr(r, 5)))
    rows = ctx.compare(f"block 1 address on {n} hosts, cold", block, ctx.runs)
    status = ctx.irtui_contenders(lambda r, w: ["status"])
    status += ctx.peer_contenders(ctx.addresses, lambda r: "nft -j list ruleset")
    rows += ctx.compare(f"status of {n} hosts, cold", status, ctx.runs)
    return rows + _dead_host(ctx)


def _setup_block(ctx: Context, on: list[str]) -> None:
    """One unmeasured irtui block, so irtui's table and sets exist for the peers' command."""
    subprocess.run([str(ctx.irtui), "--config", ctx.config, "block", "203.0.113.1", *on,
                    "-q", "--ttl", TTL], check=True, capture_output=True, timeout=300)


def _dead_host(ctx: Context) -> list[list[str]]:
    """``status`` with a host nobody answers listed first (connect_timeout 3 s): when does
    the last live host's line appear, and when does the command end?"""
    doc = tomllib.loads(Path(ctx.config).read_text())
    doc["ssh"]["connect_timeout"] = 3
    dead = str(ipaddress.ip_network(ctx.spec.subnet4).network_address + 200)
    doc["hosts"].insert(0, {"name": "dead", "address": dead, "port": 22})
    path = ctx.spec.lab_dir / "config-dead.toml"
    path.write_text(tomli_w.dumps(doc))
    tools = ([("irtui before", ctx.before)] if ctx.before else []) + [("irtui", ctx.irtui)]
    lasts: dict[str, list[float]] = {name: [] for name, _ in tools}
    totals: dict[str, list[float]] = {name: [] for name, _ in tools}
    print(f"\n## status with a dead host first ({dead}, connect_timeout 3 s)", flush=True)
    for _ in range(max(1, ctx.runs // 2)):
        for name, exe in tools:
            last, total = _streamed([str(exe), "--config", str(path), "status"], "dead")
            lasts[name].append(last)
            totals[name].append(total)
            print(f"  {name:<14} last live host's line {last:6.3f} s, exit {total:6.3f} s",
                  flush=True)
    n = len(ctx.addresses)
    return [[f"status of {n} hosts + 1 dead (timeout 3 s)", name,
             f"{statistics.median(totals[name]):.3f}", "", "",
             f"last live host's line at {statistics.median(lasts[name]):.3f} s"]
            for name, _ in tools]


def _streamed(argv: list[str], dead: str) -> tuple[float, float]:
    """Run ``argv``; return (seconds until the last stdout line not about ``dead``,
    seconds until exit)."""
    started = time.perf_counter()
    last = 0.0
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip() and not line.startswith(dead):
                last = time.perf_counter() - started
    return last, time.perf_counter() - started


def single(ctx: Context) -> list[list[str]]:
    """Block one address on one host, cold."""
    host1 = ctx.addresses[:1]

    def addr(run: int, slot: int) -> str:
        return f"198.51.100.{20 + run * 10 + slot}"

    block = ctx.irtui_contenders(lambda r, w: ["block", addr(r, w), "--on", "host1", "-q",
                                               "--ttl", TTL])
    block += ctx.peer_contenders(host1, lambda r: _add(addr(r, 5)))
    return ctx.compare("block 1 address on 1 host, cold", block, ctx.runs)


def startup(ctx: Context) -> list[list[str]]:
    """``irtui --help`` and the first TUI frame (tmux), next to a bare interpreter."""
    helps = ctx.irtui_contenders(lambda r, w: ["--help"])
    helps += [ctx.contender("python -c pass (the interpreter alone)",
                            lambda r: [sys.executable, "-c", "pass"], floor=True),
              ctx.contender("python -c 'import paramiko'",
                            lambda r: [sys.executable, "-c", "import paramiko"])]
    rows = ctx.compare("irtui --help", helps, ctx.runs)
    frames = [ctx.contender(name, measure=lambda r, exe=exe: _first_frame(exe, ctx.config))
              for name, exe in ([("irtui before", ctx.before)] if ctx.before else [])
              + [("irtui", ctx.irtui)]]
    return rows + ctx.compare("TUI: first frame showing the hosts (tmux 120×40)", frames,
                              ctx.runs)


TMUX = ["tmux", "-L", "irfleet-bench"]
"""The benchmark's own tmux server (its own socket): nobody else's sessions are touched."""


def _first_frame(exe: Path, config: str) -> tuple[float, str]:
    session = f"irfleet-{time.monotonic_ns()}"
    started = time.perf_counter()
    for _ in range(3):  # a server that is just exiting (its last session killed) refuses once
        made = subprocess.run([*TMUX, "new-session", "-d", "-s", session, "-x", "120", "-y",
                               "40", shlex.join([str(exe), "--config", config])],
                              capture_output=True, text=True)
        if made.returncode == 0:
            break
        time.sleep(0.2)
        started = time.perf_counter()
    else:
        return 0.0, f"tmux new-session failed: {made.stderr.strip()}"
    try:
        while time.perf_counter() - started < 30:
            screen = subprocess.run([*TMUX, "capture-pane", "-p", "-t", session],
                                    capture_output=True, text=True).stdout
            if "host1" in screen:
                return time.perf_counter() - started, ""
            time.sleep(0.01)
        return time.perf_counter() - started, "no frame with host1 within 30 s"
    finally:
        subprocess.run([*TMUX, "kill-session", "-t", session], capture_output=True)


def feed(ctx: Context) -> list[list[str]]:
    """10,000 and 100,000 addresses on host1 from a feed file, then ``blocks --json``."""
    host1 = ctx.addresses[:1]
    ns = ctx.info.hosts[0].namespace
    _setup_block(ctx, ["--on", "host1"])
    rows: list[list[str]] = []
    for n in (10_000, 100_000):
        addresses = feed_addresses(n, ctx.spec.subnet4)
        path = ctx.spec.lab_dir / f"feed-{n}.txt"
        path.write_text("\n".join(addresses) + "\n")
        script = ctx.spec.lab_dir / f"feed-{n}.nft"
        script.write_text("add element inet irtui v4_32 { " + ", ".join(
            f"{a} timeout 3600s" for a in addresses) + " }\n")
        block = ctx.irtui_contenders(lambda r, w, p=path: ["block", "--from-file", str(p),
                                                            "--on", "host1", "-q", "--ttl",
                                                            TTL])
        block += ctx.peer_contenders(host1, lambda r: "nft -f -", stdin=script)

        def flush() -> None:
            ns_run(ns, ["nft", "flush", "set", "inet", "irtui", "v4_32"], timeout=120)

        rows += ctx.compare(f"feed of {n:,} addresses on 1 host, cold", block, ctx.runs,
                            reset=flush)
    listing = ctx.irtui_contenders(lambda r, w: ["blocks", "--on", "host1", "--json"])
    listing += ctx.peer_contenders(host1, lambda r: "nft -j list ruleset")
    return rows + ctx.compare("blocks --json of 100,000 entries (peers: fetch only)",
                              listing, ctx.runs)


def feed_addresses(n: int, lab_subnet: str) -> list[str]:
    """``n`` distinct IPv4 addresses from 198.19.0.0/16 then 198.18.0.0/16, skipping the
    lab's own subnet (198.18.0.0/15 is RFC 2544's benchmarking range, never routed)."""
    lab = ipaddress.ip_network(lab_subnet)
    out: list[str] = []
    for block in ("198.19.0.0/16", "198.18.0.0/16"):
        for addr in ipaddress.ip_network(block).hosts():
            if addr not in lab:
                out.append(str(addr))
                if len(out) == n:
                    return out
    raise SystemExit(f"cannot make {n} addresses")


def warm(ctx: Context) -> list[list[str]]:
    """Connections open (the TUI's case): irtui's Responder in one process vs paramiko with
    every connection open, alternating processes; per-round medians."""
    _setup_block(ctx, ["--on", "all"])
    n = len(ctx.addresses)
    tools = ([("irtui before", ctx.before.parent / "python")] if ctx.before else []) + \
        [("irtui", ctx.irtui.parent / "python")]
    got: dict[str, dict[str, list[float]]] = {name: {} for name, _ in tools}
    floor: list[float] = []
    print(f"\n## warm, {n} hosts", flush=True)
    for run in range(max(1, ctx.runs // 2)):
        for i, (name, python) in enumerate(tools):
            # each process on a quiet machine: not while the one before still winds down
            # (50 sessions and their shells ending on the hosts)
            settle()
            out = subprocess.run([str(python), str(HERE / "fleet_warm.py"), ctx.config,
                                  str(ctx.runs), str(20 + 20 * (2 * run + i))],
                                 capture_output=True, text=True, timeout=600)
            doc = json.loads(out.stdout or "{}")
            if "error" in doc or out.returncode:
                raise SystemExit(f"{name} warm run failed: {doc} {out.stderr[-500:]}")
            for key, values in doc.items():
                got[name].setdefault(key, []).extend(values)
            print(f"  {name}: " + ", ".join(f"{k} {statistics.median(v):.3f}"
                                             for k, v in doc.items()), flush=True)
        settle()
        out = subprocess.run([sys.executable, str(HERE / "fleet_peers.py"), "paramiko-warm",
                              "--known-hosts", str(ctx.spec.known_hosts_path), "--key",
                              str(ctx.spec.key_path), "--command", "nft -j list ruleset",
                              "--rounds", str(ctx.runs), *ctx.addresses],
                             capture_output=True, text=True, timeout=600, check=True)
        floor += json.loads(out.stdout)
        print(f"  paramiko warm round: {statistics.median(floor):.3f}", flush=True)
    f = statistics.median(floor)
    rows = [[f"warm: 1 command on {n} hosts", "paramiko, connections open (floor)",
             f"{f:.3f}", f"{min(floor):.3f}–{max(floor):.3f}", "1.00×", "nft -j list ruleset"]]
    for name, _ in tools:
        d = got[name]
        for key, label in (("block", f"warm: block 1 address on {n} hosts"),
                           ("status", f"warm: status of {n} hosts")):
            med = statistics.median(d[key])
            cpu = d.get("client_cpu")
            note = (f"plan {statistics.median(d['plan']):.3f} + execute "
                    f"{statistics.median(d['execute']):.3f}"
                    + (f"; irtui's own CPU {statistics.median(cpu):.3f}" if cpu else "")
                    if key == "block" else "")
            rows.append([label, name, f"{med:.3f}", f"{min(d[key]):.3f}–{max(d[key]):.3f}",
                         f"{med / f:.2f}×", note])
    return rows


SUITES: dict[str, Callable[[Context], list[list[str]]]] = {
    "startup": startup, "single": single, "fleet": fleet, "warm": warm, "feed": feed}
