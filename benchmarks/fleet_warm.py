"""irtui with connections already open (what the TUI pays), timed inside one process.

Run by ``benchmarks/fleet.py`` as ``VENV/bin/python benchmarks/fleet_warm.py CONFIG ROUNDS``
(the venv's own irtui is imported, so an older checkout can be measured too). It opens
one :class:`~irtui.core.actions.Responder` (the object the TUI holds), reads every host once
(connections open, preflight cached), then times ``ROUNDS`` rounds of:

* ``block``: ``plan_block`` + ``execute`` of one new address on every host (plan read, checked
  apply, flow cut, read-back verification), through the same API the TUI's block key uses;
* ``status``: every host's live firewall state read in parallel, as the TUI's refresh does.

Prints ``{"block": [s...], "status": [s...], "plan": [s...], "execute": [s...],
"client_cpu": [s...]}`` as JSON (``client_cpu``: this process's user + system CPU seconds
during each block: the rest of the wall time is the hosts' work and waiting).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from irtui.core.actions import Responder
from irtui.core.audit import AuditLog
from irtui.core.config import load_config


def main() -> int:
    config = load_config(sys.argv[1])
    rounds = int(sys.argv[2])
    base = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    responder = Responder(config, audit=AuditLog(Path(config.audit_dir) / "warm"))
    names = [h.name for h in config.hosts]
    parallel = getattr(config.ssh, "max_parallel", 16)

    def status() -> None:
        with ThreadPoolExecutor(max_workers=min(parallel, len(names))) as pool:
            list(pool.map(responder.read_state, names))

    status()  # connections open, profiles cached
    out: dict[str, list[float]] = {"block": [], "plan": [], "execute": [], "status": [],
                                   "client_cpu": []}

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    for i in range(rounds):
        address = f"198.51.100.{base + i}"
        c0 = cpu()
        t0 = time.perf_counter()
        plan = responder.plan_block([address], ["all"], 3600)
        t1 = time.perf_counter()
        result = responder.execute(plan, lambda event: None)
        t2 = time.perf_counter()
        if not result.ok:
            print(json.dumps({"error": [r.message for r in result.results if not r.ok][:3]}))
            return 1
        out["client_cpu"].append(cpu() - c0)
        out["plan"].append(t1 - t0)
        out["execute"].append(t2 - t1)
        out["block"].append(t2 - t0)
        t0 = time.perf_counter()
        status()
        out["status"].append(time.perf_counter() - t0)
    responder.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
