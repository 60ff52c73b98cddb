"""Benchmark: the incident record under a 50-host block's write load (issue 13).

A block on 50 hosts writes about 700 records (plan, each step started/finished, output, host
results) from 50 worker threads into one :class:`~irtui.core.record.store.SQLiteStore`
(WAL, ``synchronous=FULL``). This starts ``--threads`` threads at once, each appending its
share of ``--records`` step-like records back to back (the worst case: no SSH time between
them), and prints per run: wall seconds, process CPU seconds, COMMITs issued (counted with
``sqlite3.Connection.set_trace_callback`` on the store's connection), and the median and
worst single ``append`` latency. The store file is created afresh in ``--dir`` (default
``/run``, which is on the disk here; use a tmpfs path to take fsync out) for every run.

Run from the repository root::

    python benchmarks/bench_record_appends.py [--threads 50] [--records 700] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from irtui.core.record.store import SQLiteStore


def one_run(folder: Path, threads: int, records: int) -> dict[str, float]:
    """Append ``records`` records from ``threads`` threads to a new store in ``folder``.

    Returns:
        ``wall_s``, ``cpu_s`` (this process, all threads), ``commits``, ``p50_ms``, ``max_ms``.
    """
    store = SQLiteStore(folder / "record.db")
    store.check()
    commits = [0]
    store._open().set_trace_callback(  # the store's own connection; counts real COMMITs
        lambda sql: commits.__setitem__(0, commits[0] + (sql.strip().upper() == "COMMIT")))
    start = threading.Barrier(threads + 1)
    latencies: list[float] = []

    def worker(n: int) -> None:
        mine = []
        start.wait()
        for i in range(n * records // threads, (n + 1) * records // threads):
            began = time.perf_counter()
            store.append({"kind": "step", "host": f"host{n:02d}", "phase": "started",
                          "purpose": "apply the blocklist", "i": i, "action": "block",
                          "ts": "2026-03-01T14:05:09.250Z", "analyst": "bench@jump"})
            mine.append(time.perf_counter() - began)
        latencies.extend(mine)

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in workers:
        thread.start()
    before = commits[0]
    cpu, wall = time.process_time(), time.perf_counter()
    start.wait()
    for thread in workers:
        thread.join()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    done = commits[0] - before
    store.close()
    assert len(latencies) == records, "every append returned"
    return {"wall_s": wall, "cpu_s": cpu, "commits": done,
            "p50_ms": statistics.median(latencies) * 1000, "max_ms": max(latencies) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=50)
    parser.add_argument("--records", type=int, default=700)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--dir", default="/run")
    args = parser.parse_args()
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="irtui-record-bench-", dir=args.dir) as folder:
            runs.append(one_run(Path(folder), args.threads, args.records))
    print(f"{args.records} appends from {args.threads} threads, {args.runs} runs, "
          f"{os.cpu_count()} CPUs, store in {args.dir}; medians (min-max):")
    for key in ("wall_s", "cpu_s", "commits", "p50_ms", "max_ms"):
        values = [run[key] for run in runs]
        print(f"  {key:8} {statistics.median(values):9.3f}  "
              f"({min(values):.3f}-{max(values):.3f})")


if __name__ == "__main__":
    main()
