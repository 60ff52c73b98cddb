"""The addresses of the machine irtui runs on (the jump host), which no block may cover.

The responder's session address is protected per host (its preflight reads it from
``$SSH_CONNECTION``), but the jump host has others: its IPv6 address on the same link, a
second interface another config or a colleague's session uses. Blocking one of them on a
host cuts that host off from the jump host on that path. They are read from this
machine's own interfaces with ``ip -j address show`` (iproute2, ip-address(8)); a machine
without ``ip`` protects only the session address, as before.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time

from irtui.core.firewall.fastnet import network_from_text
from irtui.core.firewall.state import Network

READ_EVERY_SECONDS = 60.0
"""How long a reading is reused: a long-running TUI sees an address added since."""

_lock = threading.Lock()
_cache: tuple[float, tuple[Network, ...]] | None = None


def _parse(text: str) -> tuple[Network, ...]:
    """The global and site addresses (as /32 or /128) in ``ip -j address show`` output;
    loopback and link-local ones are left out (special ranges refuse them anyway)."""
    out: list[Network] = []
    for link in json.loads(text):
        for info in link.get("addr_info", []) if isinstance(link, dict) else []:
            local = info.get("local") if isinstance(info, dict) else None
            if not isinstance(local, str) or info.get("scope") in ("host", "link"):
                continue
            try:
                out.append(network_from_text(local.split("%")[0]))
            except ValueError:
                continue
    return tuple(dict.fromkeys(out))


def local_networks() -> tuple[Network, ...]:
    """This machine's own addresses (see the module docstring), read at most once every
    :data:`READ_EVERY_SECONDS`; ``()`` when ``ip`` is missing, fails or prints no JSON."""
    global _cache
    with _lock:
        now = time.monotonic()
        if _cache is not None and now - _cache[0] < READ_EVERY_SECONDS:
            return _cache[1]
        try:
            done = subprocess.run(["ip", "-j", "address", "show"], capture_output=True,
                                  text=True, timeout=5, check=True)
            found = _parse(done.stdout)
        except (OSError, subprocess.SubprocessError, ValueError, AttributeError):
            found = ()
        _cache = (now, found)
        return found
