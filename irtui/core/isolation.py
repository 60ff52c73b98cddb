"""Commit-confirmed isolation: the remote pieces (rollback timer, disarm, self-test, ruleset
snapshot) and the resolution of the management allowlist.

The sequence (see :meth:`irtui.core.actions.Responder.plan_isolate`) follows the
commit-confirmed pattern of network operating systems (e.g. Junos ``commit confirmed``):
arm a rollback on the host, apply, confirm over a new connection, and only then disarm.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from irtui.core.errors import InvalidTargetError
from irtui.core.firewall.backend import Command
from irtui.core.firewall.state import Network
from irtui.core.targets import looks_like_address

STATE_DIR = "/run"
"""Where the rollback timer keeps its pid/deadline/log files (tmpfs: gone after a reboot,
like the isolation rules themselves)."""

# $1 seconds, $2 file prefix, $3 rollback script. The timer runs in its own session
# (setsid(1)) so it survives the SSH channel closing.
ARM_SCRIPT = r"""
umask 077
if [ -f "$2.pid" ] && kill -0 "$(cat "$2.pid")" 2>/dev/null; then
  echo "a rollback timer is already armed (pid $(cat "$2.pid"))" >&2; exit 3
fi
rm -f "$2.log" "$2.firing"
deadline=$(( $(date +%s) + $1 ))
timer='sleep "$1"; trap "" TERM; : > "$2.firing"; eval "$3"
echo "rolled back at $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$2.log"
rm -f "$2.pid" "$2.deadline" "$2.firing"'
setsid sh -c "$timer" irtui-rollback "$1" "$2" "$3" </dev/null >/dev/null 2>&1 &
echo $! > "$2.pid"
echo "$deadline" > "$2.deadline"
echo "rollback armed: pid $! fires in $1 s"
"""

# $1 file prefix. Kills the timer's whole process group (it is a session leader). Once the
# timer fires it ignores TERM and marks itself firing, so a late disarm cannot cut a rollback
# in half.
DISARM_SCRIPT = r"""
if [ -f "$1.firing" ]; then
  echo "the rollback is already running; it cannot be disarmed" >&2; exit 4
elif [ -f "$1.pid" ] && kill -0 "$(cat "$1.pid")" 2>/dev/null; then
  kill -s TERM -- "-$(cat "$1.pid")" 2>/dev/null || kill -s TERM "$(cat "$1.pid")"
  rm -f "$1.pid" "$1.deadline"
  echo "rollback disarmed"
else
  echo "no rollback timer was armed (it may have fired)" >&2; exit 4
fi
"""

# $1 file prefix. Prints `armed <deadline-epoch>`, `fired <when>` or `none`.
STATUS_SCRIPT = r"""
if [ -f "$1.pid" ] && kill -0 "$(cat "$1.pid")" 2>/dev/null; then
  echo "armed $(cat "$1.deadline" 2>/dev/null)"
elif [ -f "$1.log" ]; then
  echo "fired $(cat "$1.log")"
else
  echo none
fi
"""

# $1 address, $2 port. Exit 0 when the canary is unreachable (the isolation holds).
CANARY_SCRIPT = r"""
if command -v bash >/dev/null 2>&1; then
  if timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; then
    echo "self-test: canary $1:$2 is REACHABLE from the isolated host"; exit 1
  fi
  echo "self-test: canary $1:$2 unreachable, as it should be"; exit 0
fi
echo "self-test skipped: no bash on the host"
"""

SNAPSHOT_SCRIPT = r"""
echo '### nft list ruleset'; nft list ruleset 2>/dev/null
echo '### iptables-save'; iptables-save 2>/dev/null
echo '### ip6tables-save'; ip6tables-save 2>/dev/null
echo '### ipset save'; ipset save 2>/dev/null
true
"""


def file_prefix(host: str) -> str:
    """Path prefix of the host's timer files; the name comes from the validated config."""
    return f"{STATE_DIR}/irtui-rollback-{host}"


def arm_command(host: str, seconds: int, rollback: str) -> Command:
    """Command arming a rollback that runs ``rollback`` (POSIX sh) after ``seconds``.
    Fails (exit 3) if a timer is already armed."""
    return Command(("sh", "-c", ARM_SCRIPT, "irtui-arm", str(seconds), file_prefix(host),
                    rollback), f"arm a rollback on the host: undo in {seconds} s unless confirmed")


def disarm_command(host: str) -> Command:
    """Command disarming the rollback timer (exit 4 if none is armed)."""
    return Command(("sh", "-c", DISARM_SCRIPT, "irtui-disarm", file_prefix(host)),
                   "disarm the rollback timer")


def status_command(host: str) -> Command:
    """Read-only command printing the timer's state (``armed EPOCH``/``fired ...``/``none``)."""
    return Command(("sh", "-c", STATUS_SCRIPT, "irtui-status", file_prefix(host)),
                   "read the rollback timer")


def canary_command(address: str, port: int) -> Command:
    """Self-test from the isolated host: exit 0 only if ``address:port`` is unreachable."""
    return Command(("sh", "-c", CANARY_SCRIPT, "irtui-canary", address, str(port)),
                   f"self-test: {address}:{port} must be unreachable")


def snapshot_command() -> Command:
    """Read-only command dumping every firewall ruleset on the host (nft, iptables, ipset)."""
    return Command(("sh", "-c", SNAPSHOT_SCRIPT), "save the current rulesets")


def split_port(entry: str) -> tuple[str, int | None]:
    """Split ``host:port`` / ``[v6]:port`` / ``[v6/64]:port`` into ``(host, port)``; a bare
    address, CIDR (IPv6 included) or name gives ``(entry, None)``.

    Raises:
        InvalidTargetError: a port that is not 1-65535.
    """
    text = entry.strip()
    host, port = text, ""
    if text.startswith("["):
        inner, _, rest = text[1:].partition("]")
        host, port = inner, rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not port:
        return host, None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidTargetError(f"management entry {entry!r} has a bad port {port!r}",
                                 "use a port from 1 to 65535, e.g. 198.51.100.5:22")
    return host, int(port)


def resolve_allow(entries: Iterable[str]) -> list[tuple[Network, int | None]]:
    """Turn ``isolation.allow`` entries (``addr``, ``cidr``, ``name``, each optionally with
    ``:port``) into ``(network, port)`` pairs, resolving DNS names to every IPv4 and IPv6
    address now (DNS is unreachable once the host is isolated). ``port`` None = any port.

    Raises:
        InvalidTargetError: a malformed address or port, or a name that does not resolve.
    """
    out: list[tuple[Network, int | None]] = []
    for entry in entries:
        host, port = split_port(entry)
        try:
            nets = [ipaddress.ip_network(host, strict=False)]
        except ValueError:
            if looks_like_address(host):
                raise InvalidTargetError(f"management entry {entry!r} is not a valid IP "
                                         "address or CIDR", "fix the address; nothing was "
                                         "changed") from None
            try:
                infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
            except OSError as exc:
                raise InvalidTargetError(
                    f"isolation.allow entry {entry!r} does not resolve ({exc.strerror or exc})",
                    "fix the name or use an address; nothing was changed") from None
            nets = [ipaddress.ip_network(str(info[4][0]).split("%")[0]) for info in infos]
        out += [(n, port) for n in nets if (n, port) not in out]
    return out
