"""The peers irtui is measured against in ``benchmarks/fleet.py``, each run as a whole process.

* ``paramiko``: bare paramiko, one thread per host: connect (strict host keys from the lab's
  known_hosts, the lab key), run one command, close. The key and known_hosts are loaded once.
  This is the floor: the least any paramiko-based tool can do for one command per host.
* ``paramiko-warm``: the same with every connection opened first; prints the seconds of each
  round of one command on every host (what a tool with connections already open pays).
* OpenSSH and Ansible are built here as command lines (see :func:`openssh_script`,
  :func:`ansible_command`) and run by the harness.

Run as ``python benchmarks/fleet_peers.py paramiko --known-hosts F --key F --command C ADDR...``;
stdin (if any) is read once and sent to every host. Only paramiko and the standard library are
imported, so the process pays what a bare script would.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import threading
import time
from pathlib import Path


def _client(address: str, known_hosts: str, key: object, timeout: float) -> object:
    import paramiko

    client = paramiko.SSHClient()
    client.load_host_keys(known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(address, username="root", pkey=key, allow_agent=False, look_for_keys=False,
                   timeout=timeout, banner_timeout=timeout, auth_timeout=timeout)
    return client


def _run(client: object, command: str, stdin: bytes) -> int:
    chan = client.get_transport().open_session()  # type: ignore[attr-defined]
    chan.exec_command(command)
    if stdin:
        chan.sendall(stdin)
    chan.shutdown_write()
    while not chan.exit_status_ready() or chan.recv_ready() or chan.recv_stderr_ready():
        if chan.recv_ready():
            chan.recv(65536)
        elif chan.recv_stderr_ready():
            chan.recv_stderr(65536)
        else:
            chan.status_event.wait(0.05)
    code = chan.recv_exit_status()
    chan.close()
    return code


def paramiko_threads(addresses: list[str], known_hosts: str, key_path: str, command: str,
                     stdin: bytes, timeout: float = 10.0) -> dict[str, object]:
    """Connect + one command + close on every address, one thread each.

    Returns:
        ``{"failed": [address...], "codes": {address: exit code}}``.
    """
    import paramiko

    key = paramiko.PKey.from_path(key_path)
    codes: dict[str, object] = {}

    def one(address: str) -> None:
        try:
            client = _client(address, known_hosts, key, timeout)
            try:
                codes[address] = _run(client, command, stdin)
            finally:
                client.close()  # type: ignore[attr-defined]
        except Exception as exc:  # a peer's failure is reported, not raised
            codes[address] = f"{type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=one, args=(a,)) for a in addresses]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"failed": [a for a, c in codes.items() if c != 0], "codes": codes}


def paramiko_warm(addresses: list[str], known_hosts: str, key_path: str, command: str,
                  rounds: int) -> list[float]:
    """Open every connection, then time ``rounds`` rounds of ``command`` on all hosts at once
    (one thread per host per round). Returns seconds per round."""
    import paramiko

    key = paramiko.PKey.from_path(key_path)
    clients: list[object] = [None] * len(addresses)

    def connect(i: int) -> None:
        clients[i] = _client(addresses[i], known_hosts, key, 10.0)

    _all(connect, len(addresses))
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        _all(lambda i: _run(clients[i], command, b""), len(addresses))
        times.append(time.perf_counter() - started)
    for c in clients:
        c.close()  # type: ignore[union-attr]
    return times


def _all(fn: object, n: int) -> None:
    threads = [threading.Thread(target=fn, args=(i,)) for i in range(n)]  # type: ignore[arg-type]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def openssh_options(known_hosts: Path, key: Path, fast_kex: bool) -> list[str]:
    """``ssh`` options for the lab: batch mode, strict host keys from the lab's known_hosts
    only, the lab key only, no user config. ``fast_kex`` picks ``curve25519-sha256``, the key
    exchange paramiko uses (OpenSSH 9.2's default, sntrup761x25519, costs more CPU)."""
    opts = ["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "IdentitiesOnly=yes", "-i", str(key), "-o", "ConnectTimeout=10",
            "-l", "root"]
    if fast_kex:
        opts += ["-o", "KexAlgorithms=curve25519-sha256"]
    return opts


def openssh_script(addresses: list[str], options: list[str], command: str,
                   stdin_file: Path | None) -> str:
    """A ``sh`` script starting one ``ssh`` per host in the background, then waiting for all
    (exit status 1 if any failed)."""
    opts = shlex.join(options)
    feed = f"< {shlex.quote(str(stdin_file))}" if stdin_file else "< /dev/null"
    lines = ["fail=0", "pids="]
    for a in addresses:
        lines.append(f"ssh {opts} {shlex.quote(a)} {shlex.quote(command)} {feed} >/dev/null &")
        lines.append('pids="$pids $!"')
    lines.append('for p in $pids; do wait "$p" || fail=1; done')
    lines.append('exit "$fail"')
    return "\n".join(lines)


def ansible_command(ansible: Path, inventory: Path, command: str, forks: int) -> list[str]:
    """``ansible all -m raw`` with ``forks`` parallel connections."""
    return [str(ansible), "all", "-i", str(inventory), "-m", "raw", "-a", command,
            "-f", str(forks), "-o"]


def ansible_inventory(addresses: list[str], known_hosts: Path, key: Path) -> str:
    """An INI inventory for the lab (root, the lab key, strict keys from the lab's
    known_hosts, Debian's python3: /root's pyenv shims are visible in the namespaces). No
    SSH connection sharing: ``-m raw`` runs one command per host, and every run is cold."""
    ssh_args = (f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes "
                "-o GlobalKnownHostsFile=/dev/null -o KexAlgorithms=curve25519-sha256 "
                "-o ControlMaster=no")  # cold every run, like the others
    lines = ["[lab]"] + [f"h{i} ansible_host={a}" for i, a in enumerate(addresses, 1)]
    lines += ["[lab:vars]", "ansible_user=root", f"ansible_ssh_private_key_file={key}",
              "ansible_python_interpreter=/usr/bin/python3", f"ansible_ssh_args='{ssh_args}'"]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("paramiko", "paramiko-warm"))
    p.add_argument("--known-hosts", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--command", required=True)
    p.add_argument("--stdin", help="file whose bytes are sent to the command's stdin")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("addresses", nargs="+")
    args = p.parse_args()
    if args.mode == "paramiko-warm":
        times = paramiko_warm(args.addresses, args.known_hosts, args.key, args.command,
                              args.rounds)
        print(json.dumps(times))
        return 0
    data = Path(args.stdin).read_bytes() if args.stdin else b""
    result = paramiko_threads(args.addresses, args.known_hosts, args.key, args.command, data)
    if result["failed"]:
        print(json.dumps(result), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
