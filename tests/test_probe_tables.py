"""The preflight probe's table list (issue 13): taken from nft's terse ruleset (``nft -t``: no
set elements, so a host holding 100,000 blocks answers in milliseconds), it must be exactly
what ``nft list tables`` prints, whatever the host holds, and an nft that refuses ``-t`` still
gets its tables listed. Run in fresh network namespaces (``unshare --net``), as root."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from irtui.core.remote import script

pytestmark = pytest.mark.lab

SETUP = {
    "empty": "",
    "every family, a table without chains": (
        "nft add table inet empty; nft add table ip filter; "
        "nft add chain ip filter INPUT '{ type filter hook input priority 0; }'; "
        "nft add table ip6 weird; nft add table bridge br; nft add table netdev nd; "
        "nft add table arp a; nft add table inet irtui"),
    # far more than 64 KiB of terse ruleset: the sed path
    "thousands of iptables-nft rules": (
        "i=0; while [ $i -lt 2500 ]; do echo \"-A INPUT -s 198.51.100.$((i % 250))/32 "
        "-p tcp --dport $((1000 + i)) -j ACCEPT\"; i=$((i+1)); done > \"$TMP/rules\"; "
        "{ echo '*filter'; cat \"$TMP/rules\"; echo COMMIT; } | iptables-nft-restore --noflush; "
        "nft add table inet irtui; nft add set inet irtui v4_32 '{ type ipv4_addr; }'; "
        "nft add element inet irtui v4_32 '{ 192.0.2.1, 192.0.2.2 }'"),
}


def _probe_tables(setup: str, tmp_path: Path, path: str | None = None) -> tuple[str, str]:
    """(the probe's ``### nft-tables`` section, ``nft list tables``) in a new namespace."""
    env = {**os.environ, "TMP": str(tmp_path)}
    if path:
        env["PATH"] = f"{path}:{env['PATH']}"
    body = (f'{setup}\nsh -c "$PROBE" irtui-probe x; echo "### listed"; '
            "/usr/sbin/nft list tables")
    proc = subprocess.run(["unshare", "--net", "sh", "-c", body],
                          env={**env, "PROBE": script("probe")}, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    section = out.split("### nft-tables\n", 1)[1].split("### legacy-rules", 1)[0]
    return section, out.split("### listed\n", 1)[1]


@pytest.mark.parametrize("case", list(SETUP))
def test_the_probe_lists_the_tables_nft_lists(case: str, tmp_path: Path) -> None:
    section, listed = _probe_tables(SETUP[case], tmp_path)
    assert section == listed
    if case != "empty":
        assert "table inet irtui\n" in section


def test_an_nft_refusing_terse_output_still_lists_its_tables(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "nft").write_text('#!/bin/sh\n[ "$1" = -t ] && { echo "nft: invalid option -- '
                              "'t'\" >&2; exit 1; }\nexec /usr/sbin/nft \"$@\"\n")
    (fake / "nft").chmod(0o755)
    section, listed = _probe_tables(SETUP["every family, a table without chains"], tmp_path,
                                    str(fake))
    assert section == listed and "table inet empty\n" in section
