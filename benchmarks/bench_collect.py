"""Benchmark: forensic triage over SSH on lab hosts, irtui against the usual ways.

Measures
  (a) the default artifact set from one lab host: irtui (plan = probe, then stream every
      artifact to its file, seal, verify) against the same commands run one by one with
      OpenSSH (``ssh host CMD > file``, one connection per artifact, no hashes);
  (b) the default set from ten hosts in parallel (irtui with ``triage.parallel = 10``)
      against parallel OpenSSH (one shell loop of ssh calls per host, all hosts at once);
  (c) memory while streaming a 200 MB artifact: irtui's peak RSS growth against bare
      paramiko reading the output into memory (``stdout.read()``, the copy-pasted way).

Run as root from the repository root::

    python benchmarks/bench_collect.py [--hosts 10] [--mb 200] [--keep]

It brings up its own lab (test slot 19: prefix ``irtest19``, 198.18.35.0/24,
/run/irtui-lab-test-19; do not run the test suite on slot 19 meanwhile), measures, prints a
markdown table and removes the lab unless ``--keep``. Evidence goes to a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paramiko

from irtui.core.actions import Responder
from irtui.core.audit import AuditLog
from irtui.core.config import Config, load_config, parse_config
from irtui.core.plan import Plan
from irtui.lab.lab import lab_down, lab_up
from irtui.lab.spec import LabSpec

SLOT = 19


def rss_mb() -> float:
    """This process's resident set size in MiB (VmRSS of /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakRSS:
    """Samples RSS every 20 ms in a thread; ``growth`` is peak minus start, in MiB."""

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())

    @property
    def growth(self) -> float:
        return self.peak - self.start


def with_triage(config: Config, evidence: Path, **triage: object) -> Config:
    parsed = parse_config({"triage": {"evidence_dir": str(evidence), **triage}})
    return replace(config, triage=parsed.triage)


def irtui_collect(config: Config, hosts: list[str], audit: Path,
                  **options: object) -> tuple[float, float, bool, Plan]:
    """(plan seconds, execute seconds, ok, plan) for one collection with a cold pool."""
    responder = Responder(config, audit=AuditLog(audit))
    try:
        t0 = time.perf_counter()
        plan = responder.plan_collect(hosts, **options)  # type: ignore[arg-type]
        t1 = time.perf_counter()
        result = responder.execute(plan, lambda e: None)
        t2 = time.perf_counter()
    finally:
        responder.close()
    bad = [r.message for r in result.results if not r.ok]
    if bad:
        print("irtui failures:", bad, file=sys.stderr)
    return t1 - t0, t2 - t1, result.ok, plan


def ssh_argv(config: Config, address: str) -> list[str]:
    ssh = config.ssh
    return ["ssh", "-q", "-i", ssh.key_file, "-o", f"UserKnownHostsFile={ssh.known_hosts}",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
            "-o", "KexAlgorithms=curve25519-sha256", f"root@{address}"]


def openssh_host(config: Config, host: str, commands: list[str], out: Path) -> float:
    """Run each command with its own ``ssh`` call, output to a file; seconds."""
    address = config.host(host).address
    script = "\n".join(
        f"{shlex.join(ssh_argv(config, address))} {shlex.quote(cmd)} "
        f"> {shlex.quote(str(out / f'{host}-{i}.out'))} "
        f"2> {shlex.quote(str(out / f'{host}-{i}.err'))}"
        for i, cmd in enumerate(commands))
    t0 = time.perf_counter()
    subprocess.run(["sh", "-c", script], check=False)
    return time.perf_counter() - t0


def commands_of(plan: Plan, host: str) -> list[str]:
    return [s.command for s in plan.steps if s.host == host and s.purpose.startswith("artifact")
            and not s.command.startswith("#")]


def bare_paramiko_read(config: Config, host: str, command: str) -> tuple[float, float]:
    """(seconds, peak RSS growth MiB) reading a command's output the copy-pasted way."""
    h = config.host(host)
    client = paramiko.SSHClient()
    client.load_host_keys(config.ssh.known_hosts)
    client.connect(h.address, username="root", key_filename=config.ssh.key_file,
                   allow_agent=False, look_for_keys=False)
    try:
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            _, stdout, stderr = client.exec_command(command)
            data = stdout.read()
            stderr.read()
            took = time.perf_counter() - t0
        assert len(data) > 0
        del data
    finally:
        client.close()
    return took, mem.growth


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (the lab needs network namespaces)")
    spec = LabSpec.for_tests(hosts=args.hosts, slot=SLOT)
    info = lab_up(spec)
    rows: list[tuple[str, str, str, str]] = []
    try:
        base = load_config(info.config_path)
        names = [h.name for h in base.hosts]
        with tempfile.TemporaryDirectory(prefix="irtui-bench-") as tmp:
            work = Path(tmp)
            config = with_triage(base, work / "ev", parallel=args.hosts)
            plan_s, exec_s, ok, plan = irtui_collect(config, names[:1], work / "audit")
            one = plan_s + exec_s
            artifacts = len(commands_of(plan, names[0]))
            peer_dir = work / "peer"
            peer_dir.mkdir()
            ssh_one = openssh_host(config, names[0], commands_of(plan, names[0]), peer_dir)
            rows.append((f"default set ({artifacts} artifacts), 1 host",
                         f"{one:.2f} s (probe {plan_s:.2f} + collect {exec_s:.2f})"
                         + ("" if ok else " FAILED"),
                         f"{ssh_one:.2f} s", f"{ssh_one / one:.2f}× (goal < 10 s)"))

            plan_s, exec_s, ok, plan = irtui_collect(config, names, work / "audit")
            many = plan_s + exec_s
            with ThreadPoolExecutor(max_workers=len(names)) as pool:
                t0 = time.perf_counter()
                list(pool.map(lambda h: openssh_host(config, h, commands_of(plan, h), peer_dir),
                              names))
                ssh_many = time.perf_counter() - t0
            rows.append((f"default set, {len(names)} hosts in parallel",
                         f"{many:.2f} s{'' if ok else ' FAILED'}", f"{ssh_many:.2f} s",
                         f"{ssh_many / many:.2f}× (goal < 15 s)"))

            size = args.mb * 1024 * 1024
            big = [{"name": "big", "order": 1, "command": f"head -c {size} /dev/zero",
                    "max_bytes": size + 1, "timeout": 600}]
            config_big = with_triage(base, work / "ev", artifacts=big)
            with PeakRSS() as mem:
                _, exec_s, ok, _ = irtui_collect(config_big, names[:1], work / "audit",
                                                 artifacts=["big"])
            peer_s, peer_mem = bare_paramiko_read(base, names[0], f"head -c {size} /dev/zero")
            rows.append((f"{args.mb} MB artifact: peak RSS growth",
                         f"{mem.growth:.1f} MiB ({args.mb / exec_s:.0f} MB/s, streamed to disk,"
                         f" hashed, sealed){'' if ok else ' FAILED'}",
                         f"{peer_mem:.1f} MiB ({args.mb / peer_s:.0f} MB/s, bare paramiko "
                         "read())", f"{peer_mem / max(mem.growth, 0.1):.0f}× less memory"))
    finally:
        if not args.keep:
            lab_down(spec)
    print("\n| measurement | irtui | peer (OpenSSH / bare paramiko) | ratio |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\n{os.cpu_count()} CPUs; lab hosts are namespaces on this machine, sharing its "
          "file system (so `find /` runs once per host on the same disk).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
