"""Benchmark: block a 10,000-address IOC feed on one lab host over SSH.

Compares
  (a) irtui: ``Responder.plan_block`` + ``Responder.execute`` (one nft transaction),
      once with a new SSH connection (cold) and once more, on fresh addresses, with the
      connection already open (warm);
  (b) one ``nft add element`` per address, each a separate remote command over one reused
      SSH connection (irtui's SSHPool, paramiko), and, for scale, the same commands run in one
      remote shell loop (no SSH round trip per address);
  (c) the iptables-legacy way: ``iptables-legacy -A INPUT -s ADDR -j DROP`` per address in
      one remote shell loop (every append rewrites the whole rule table).

Run as root from the repository root::

    python benchmarks/bench_feed.py [--entries 10000] [--budget 300] [--keep]

It brings up (or reuses) its own one-host lab (prefix ``irbench``, 198.18.9.0/24,
/run/irtui-lab-bench), empties host1's firewall, measures, prints a markdown table and removes
the lab (unless ``--keep``). Addresses come from 198.19.0.0/16 (RFC 2544 benchmarking range;
the lab itself lives in 198.18.x.x), so no lab address is ever blocked.

A method whose projected time exceeds ``--budget`` seconds is measured on its first 1,000
addresses and extrapolated (linearly, or quadratically for iptables-legacy); the table says so.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from irtui.core.actions import Responder
from irtui.core.config import Config, HostConfig, load_config
from irtui.core.events import Event, HostResult, PlanResult, StepFinished
from irtui.core.firewall.nftables import block_script
from irtui.core.plan import Plan, command_line
from irtui.lab.lab import lab_down, lab_up
from irtui.lab.probe import ns_run
from irtui.lab.spec import LabSpec

SPEC = LabSpec(prefix="irbench", hosts=1, subnet4="198.18.9.0/24", subnet6="fd00:1ab:9::/64",
               lab_dir=Path("/run/irtui-lab-bench"))
HOST = "host1"
SAMPLE = 1_000
TTL = 3600
QUARTER = 16_384  # each measurement uses its own quarter of 198.19.0.0/16


def addresses(quarter: int, n: int) -> list[str]:
    """``n`` distinct addresses from quarter ``quarter`` (0-3) of 198.19.0.0/16."""
    if not 0 < n < QUARTER:
        raise SystemExit(f"--entries must be 1..{QUARTER - 1}")
    base = ipaddress.IPv4Address("198.19.0.0") + quarter * QUARTER + 1
    return [str(base + i) for i in range(n)]


@dataclass
class Row:
    """One line of the result table."""

    method: str
    entries: int
    seconds: float
    note: str = ""
    extrapolated_from: int | None = None
    failed: str | None = None

    def cells(self) -> list[str]:
        rate = f"{self.entries / self.seconds:,.0f}" if self.seconds > 0 else "—"
        secs = f"{self.seconds:.2f}"
        note = self.note
        if self.extrapolated_from:
            secs = f"≈{secs}"
            rate = f"≈{rate}"
            note = (f"measured {self.extrapolated_from:,}, extrapolated; " + note).rstrip("; ")
        if self.failed:
            note = (f"FAILED: {self.failed}; " + note).rstrip("; ")
        return [self.method, f"{self.entries:,}", secs, rate, note]


@dataclass
class IrtuiRun:
    """Timings of one plan_block + execute."""

    plan_s: float
    execute_s: float
    steps: dict[str, float] = field(default_factory=dict)
    verify_s: float | None = None
    ok: bool = True
    message: str = ""
    live: int = 0

    @property
    def total_s(self) -> float:
        return self.plan_s + self.execute_s


# ---- lab helpers -----------------------------------------------------------------------------


def reset_host(namespace: str) -> None:
    """Empty host1's firewall: the nftables ruleset and any iptables-legacy INPUT rules."""
    ns_run(namespace, ["nft", "flush", "ruleset"])
    tables = ns_run(namespace, ["cat", "/proc/net/ip_tables_names"]).stdout.decode().split()
    if "filter" in tables:
        ns_run(namespace, ["iptables-legacy", "-F", "INPUT"], timeout=120)


def nft_set_size(namespace: str, set_name: str = "v4_32") -> int:
    out = ns_run(namespace, ["nft", "-j", "list", "set", "inet", "irtui", set_name], timeout=60)
    if out.returncode != 0:
        return 0
    doc = json.loads(out.stdout)
    return len(next(i["set"] for i in doc["nftables"] if "set" in i).get("elem", []))


def legacy_rule_count(namespace: str) -> int:
    out = ns_run(namespace, ["iptables-legacy", "-S", "INPUT"], timeout=120)
    return sum(1 for line in out.stdout.decode().splitlines() if line.startswith("-A INPUT"))


# ---- (a) irtui ---------------------------------------------------------------------------------


def run_irtui(responder: Responder, addrs: list[str], namespace: str) -> IrtuiRun:
    """plan_block + execute of ``addrs`` on host1, with per-step timings."""
    finished: list[StepFinished] = []
    host_results: list[HostResult] = []

    def sink(event: Event) -> None:
        if isinstance(event, StepFinished):
            finished.append(event)
        elif isinstance(event, HostResult):
            host_results.append(event)

    t0 = time.perf_counter()
    plan: Plan = responder.plan_block(addrs, [HOST], TTL)
    t1 = time.perf_counter()
    result: PlanResult = responder.execute(plan, sink)
    t2 = time.perf_counter()
    adds = [s for s in plan.steps if s.purpose.startswith("add")]
    if len(adds) != 1:
        raise SystemExit(f"expected one apply transaction, the plan has {len(adds)}")
    run = IrtuiRun(plan_s=t1 - t0, execute_s=t2 - t1, ok=result.ok)
    for event in finished:
        kind = ("apply (nft -f -)" if event.purpose.startswith("add")
                else "conntrack flow cut" if "conntrack" in event.purpose
                else event.purpose)
        run.steps[kind] = event.duration
        if event.exit_code != 0:
            run.message = f"{kind} exited {event.exit_code}"
    if host_results:
        hr = host_results[0]
        if not hr.ok:
            run.message = hr.message
        elif plan.verify is not None:
            run.verify_s = max(0.0, hr.duration - sum(e.duration for e in finished))
    run.live = nft_set_size(namespace)
    return run


# ---- (b) and (c): one command per address -------------------------------------------------------


def timed_loop(total: int, budget: float, one_batch: Callable[[int, int], None],
               quadratic: bool = False) -> tuple[float, int]:
    """Run ``one_batch(start, stop)`` over ``range(total)``; the first batch is SAMPLE long.

    Returns:
        (seconds, entries actually done). When the projection from the first SAMPLE entries
        exceeds ``budget``, stops there.
    """
    first = min(SAMPLE, total)
    t0 = time.perf_counter()
    one_batch(0, first)
    elapsed = time.perf_counter() - t0
    if first == total:
        return elapsed, total
    factor = (total / first) ** 2 if quadratic else total / first
    if elapsed * factor > budget:
        return elapsed, first
    t0 = time.perf_counter()
    one_batch(first, total)
    return elapsed + time.perf_counter() - t0, total


def run_per_address_ssh(responder: Responder, host: HostConfig, addrs: list[str],
                        budget: float) -> tuple[float, int]:
    def batch(start: int, stop: int) -> None:
        for addr in addrs[start:stop]:
            line = command_line(host, ("nft", "add", "element", "inet", "irtui", "v4_32",
                                       "{", addr, "timeout", f"{TTL}s", "}"))
            result = responder.pool.run(host, line, capture=True)
            if result.exit_code != 0:
                raise SystemExit(f"per-address nft failed on {addr}: {result.stderr.strip()}")

    return timed_loop(len(addrs), budget, batch)


def run_remote_loop(responder: Responder, host: HostConfig, script: str, addrs: list[str],
                    budget: float, quadratic: bool = False) -> tuple[float, int]:
    """``script`` reads one address per line on stdin; one SSH command per batch."""
    def batch(start: int, stop: int) -> None:
        data = "".join(f"{a}\n" for a in addrs[start:stop]).encode()
        result = responder.pool.run(host, command_line(host, ("sh", "-c", script)),
                                    stdin=data, capture=True, timeout=max(budget * 2, 600))
        if result.exit_code != 0:
            raise SystemExit(f"remote loop failed: {result.stderr.strip()[-300:]}")

    return timed_loop(len(addrs), budget, batch, quadratic)


NFT_LOOP = ('while read -r a; do nft add element inet irtui v4_32 "{ $a timeout '
            f'{TTL}s }}" || exit 1; done')
LEGACY_LOOP = 'while read -r a; do iptables-legacy -A INPUT -s "$a" -j DROP || exit 1; done'


# ---- report ------------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    head = ["Method", "Entries", "Seconds", "Entries/s", "Notes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * 3 + ["---"])
             + "|"]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    return "\n".join(lines)


def breakdown(run: IrtuiRun) -> str:
    parts = [f"plan {run.plan_s:.2f}"]
    parts += [f"{k} {v:.2f}" for k, v in run.steps.items()]
    if run.verify_s is not None:
        parts.append(f"verify {run.verify_s:.2f}")
    return ", ".join(parts) + " s"


def irtui_rows(label: str, run: IrtuiRun, n: int) -> list[Row]:
    failed = run.message or None
    apply_s = run.steps.get("apply (nft -f -)")
    rows = [Row(f"irtui {label}: plan_block + execute", n, run.total_s, breakdown(run),
                failed=failed),
            Row(f"irtui {label}: execute only", n, run.execute_s,
                "apply + flow cut + verify", failed=failed)]
    if apply_s is not None:
        rows.append(Row(f"irtui {label}: the nft transaction alone", n, apply_s,
                        "`nft -f -` step, one SSH command"))
    return rows


def environment() -> str:
    nft = ns_run(SPEC.namespace(HOST), ["nft", "--version"]).stdout.decode().strip()
    return (f"{platform.node()}: {os.cpu_count()} CPUs, Linux {platform.release()}, "
            f"Python {platform.python_version()}, {nft}; client and host on the same machine "
            "(network namespace lab, paramiko over a veth)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--budget", type=float, default=300.0,
                        help="seconds a per-address method may take before it is sampled "
                        f"on {SAMPLE:,} addresses and extrapolated (default 300)")
    parser.add_argument("--skip-legacy", action="store_true", help="skip (c) iptables-legacy")
    parser.add_argument("--keep", action="store_true", help="leave the bench lab up")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_feed.py needs root (it runs a network-namespace lab)", file=sys.stderr)
        return 2
    n = args.entries
    info = lab_up(SPEC)
    namespace = info.hosts[0].namespace
    rows: list[Row] = []
    try:
        reset_host(namespace)
        config: Config = load_config(info.config_path)
        host = config.host(HOST)
        responder = Responder(config)
        try:
            print(f"(a) irtui, cold: {n:,} addresses ...", file=sys.stderr, flush=True)
            cold = run_irtui(responder, addresses(0, n), namespace)
            print(f"    {breakdown(cold)}; ok={cold.ok} {cold.message}; {cold.live:,} in the "
                  "live set", file=sys.stderr, flush=True)
            rows += irtui_rows("cold (new SSH connection)", cold, n)
            reset_host(namespace)

            print(f"(a) irtui, warm: {n:,} fresh addresses ...", file=sys.stderr, flush=True)
            warm = run_irtui(responder, addresses(1, n), namespace)
            print(f"    {breakdown(warm)}; ok={warm.ok} {warm.message}; {warm.live:,} in the "
                  "live set", file=sys.stderr, flush=True)
            rows += irtui_rows("warm (connection open)", warm, n)
            reset_host(namespace)
            for run in (cold, warm):
                if run.ok and run.live != n:
                    raise SystemExit(f"irtui reported success but the set holds {run.live:,}")

            # the table and set irtui would use, so every method adds to the same v4_32 set
            ns_run(namespace, ["nft", "-f", "-"], input=block_script([], ["v4_32"]).encode())
            print("(b) nft add element, one SSH command per address ...", file=sys.stderr,
                  flush=True)
            secs, done = run_per_address_ssh(responder, host, addresses(2, n), args.budget)
            assert nft_set_size(namespace) == done, "per-address nft: set size mismatch"
            rows.append(Row("`nft add element` per address, one SSH command each", n,
                            secs * n / done, "one reused paramiko connection",
                            extrapolated_from=done if done < n else None))
            ns_run(namespace, ["nft", "flush", "set", "inet", "irtui", "v4_32"])

            print("(b') nft add element per address, one remote shell loop ...",
                  file=sys.stderr, flush=True)
            secs, done = run_remote_loop(responder, host, NFT_LOOP, addresses(3, n),
                                         args.budget)
            assert nft_set_size(namespace) == done, "nft loop: set size mismatch"
            rows.append(Row("`nft add element` per address, one remote shell loop", n,
                            secs * n / done, "one SSH command; one nft process per address",
                            extrapolated_from=done if done < n else None))
            reset_host(namespace)

            if not args.skip_legacy:
                print("(c) iptables-legacy -A per address, one remote shell loop ...",
                      file=sys.stderr, flush=True)
                secs, done = run_remote_loop(responder, host, LEGACY_LOOP, addresses(0, n),
                                             args.budget, quadratic=True)
                assert legacy_rule_count(namespace) == done, "iptables-legacy: rule count"
                est = secs * (n / done) ** 2 if done < n else secs
                rows.append(Row("`iptables-legacy -A INPUT -s ADDR -j DROP` per address", n,
                                est, "one SSH command; every append rewrites the table, "
                                "cost grows with the rule count",
                                extrapolated_from=done if done < n else None))
                if done < n:
                    rows[-1].note += " (extrapolated quadratically)"
                reset_host(namespace)
        finally:
            responder.close()
        env = environment()
    finally:
        if args.keep:
            print(f"bench lab left up: {info.config_path}", file=sys.stderr)
        else:
            lab_down(SPEC)
    print()
    print(table(rows))
    print()
    print(f"Measured on {env}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
