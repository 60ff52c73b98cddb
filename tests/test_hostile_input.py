"""Hostile and broken input through the installed binary (issue 8, items 12 and 14): one line
on stderr naming the problem and the fix, the documented exit code, no traceback, no hang,
and nothing changed on any lab host."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from irtui.core import feeds
from irtui.core.config import HostConfig, load_config
from irtui.core.errors import SSHError
from irtui.core.record.store import SQLiteStore
from irtui.core.settings import SSHSettings
from irtui.core.ssh import SSHPool
from irtui.lab.probe import tcp_connects
from tests.cli_helpers import IRTUI, config_copy, lab_rulesets, refusal_line, run_irtui

LONG_LABEL = "a" * 64
_PEAK_RSS = """
import os, signal, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
signal.signal(signal.SIGALRM, lambda *_: child.kill())
signal.alarm(120)
_, status, usage = os.wait4(child.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""
"""Run argv[1:], print ``exit_code peak_rss_kib`` of that process alone."""


def _keygen(path: Path) -> str:
    """A fresh ed25519 public key line body (``ssh-ed25519 AAAA…``), unrelated to the lab."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                   check=True)
    return " ".join(path.with_name(path.name + ".pub").read_text().split()[:2])


def _host_key(clean_lab, index: int = 0) -> str:
    """``type base64`` of lab host ``index``'s key, as its known_hosts line has it."""
    address = clean_lab.hosts[index].v4
    for line in Path(clean_lab.known_hosts_path).read_text().splitlines():
        if line.split()[0] == address:
            return " ".join(line.split()[1:3])
    raise AssertionError(f"{address} not in the lab's known_hosts")


def _refused(clean_lab, tmp_path: Path, args: list[str], code: int, *words: str,
             timeout: float = 60, **sections: dict) -> str:
    """Run ``irtui --config <lab config + sections> ARGS``; assert the refusal rules and
    return its line."""
    config = config_copy(clean_lab, tmp_path / "config.toml",
                         audit={"dir": str(tmp_path / "audit")}, **sections)
    before = lab_rulesets(clean_lab)
    out = run_irtui("--config", str(config), *args, timeout=timeout)
    line = refusal_line(out)
    assert out.returncode == code, out.stderr
    for word in words:
        assert word in line, line
    assert lab_rulesets(clean_lab) == before
    return line


# ---- known_hosts with marker lines ------------------------------------------------------

def test_known_hosts_with_marker_lines_still_connects(clean_lab, tmp_path: Path) -> None:
    """@cert-authority and @revoked lines (for other keys) and a garbage line are no reason
    to crash: the host whose plain key is listed answers."""
    other = _keygen(tmp_path / "other")
    known = tmp_path / "known_hosts"
    known.write_text(f"@cert-authority *.example.org {other}\n"
                     f"@revoked * {_keygen(tmp_path / 'revoked')}\n"
                     "this line is not a key\n"
                     + Path(clean_lab.known_hosts_path).read_text())
    config = config_copy(clean_lab, tmp_path / "config.toml",
                         ssh={"known_hosts": str(known)}, audit={"dir": str(tmp_path / "a")})
    out = run_irtui("--config", str(config), "status", "host1")
    assert out.returncode == 0, out.stderr
    assert b"Traceback" not in out.stderr
    assert b"host1" in out.stdout and b"reachable" in out.stdout


def test_revoked_host_key_is_refused(clean_lab, tmp_path: Path) -> None:
    """host1's key is listed as usual AND on an @revoked line: refused before anything
    runs, exit 3."""
    known = tmp_path / "known_hosts"
    known.write_text(Path(clean_lab.known_hosts_path).read_text()
                     + f"@revoked * {_host_key(clean_lab)}\n")
    line = _refused(clean_lab, tmp_path, ["block", "203.0.113.7", "--on", "host1"], 3,
                    "REVOKED", "host1", "SHA256:", "nothing was run",
                    ssh={"known_hosts": str(known)})
    assert "CHANGED" not in line


def test_host_trusted_only_through_a_cert_authority_is_explained(clean_lab,
                                                                 tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    others = [line for line in Path(clean_lab.known_hosts_path).read_text().splitlines()
              if line.split()[0] != clean_lab.hosts[0].v4]
    known.write_text(f"@cert-authority * {_keygen(tmp_path / 'ca')}\n" + "\n".join(others))
    _refused(clean_lab, tmp_path, ["block", "203.0.113.7", "--on", "host1"], 3,
             "unknown host key", "@cert-authority", "does not verify",
             ssh={"known_hosts": str(known)})


# ---- host addresses that are not DNS names -------------------------------------------------

def test_dns_label_over_63_characters_is_a_config_problem(clean_lab, tmp_path: Path) -> None:
    hosts = [{"name": "host1", "address": f"{LONG_LABEL}.example.org"}]
    _refused(clean_lab, tmp_path, ["block", "203.0.113.7", "--on", "host1"], 2,
             "hosts[0].address", "64 characters, more than 63", hosts=hosts)


@pytest.mark.parametrize("address", [f"{LONG_LABEL}.example.org", "a..example.org"])
def test_ssh_connect_to_an_unencodable_name_is_an_ssh_error(tmp_path: Path,
                                                            address: str) -> None:
    """A HostConfig built in code, bypassing config validation: the connect path names the
    address instead of raising UnicodeError from the idna codec."""
    known = tmp_path / "known_hosts"
    known.write_text("")
    pool = SSHPool(SSHSettings(known_hosts=str(known), use_agent=False))
    with pytest.raises(SSHError, match="cannot be resolved"):
        pool.run(HostConfig("weird", address), "true")


# ---- a UID with no passwd entry --------------------------------------------------------------

def _free_uid() -> int:
    import pwd

    for uid in range(54321, 54421):
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
    raise AssertionError("no free UID in 54321-54420")


def test_uid_without_passwd_entry_is_recorded_as_uid(clean_lab) -> None:
    """irtui run as a UID that has no passwd entry and no $USER/$LOGNAME (a container's
    ``--user 54321``): the block works and the record names the operator ``uid 54321``."""
    uid = _free_uid()
    work = Path(tempfile.mkdtemp(prefix="irtui-nouser-"))  # pytest's tmp dirs are root-only
    try:
        work.chmod(0o755)
        key = work / "key"
        shutil.copyfile(clean_lab.key_path, key)
        shutil.copyfile(clean_lab.known_hosts_path, work / "known_hosts")
        config = config_copy(clean_lab, work / "config.toml",
                             ssh={"key_file": str(key), "known_hosts": str(work / "known_hosts")},
                             audit={"dir": str(work / "audit")},
                             record={"path": str(work / "record.db")})
        for path in (key, work / "known_hosts", config):
            os.chown(path, uid, uid)
        key.chmod(0o600)
        os.chown(work, uid, uid)
        attacker, h1 = clean_lab.attacker, clean_lab.hosts[0]
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        out = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                              str(IRTUI), "--config", str(config), "block", attacker.v4,
                              "--on", "host1", "--ttl", "1h"],
                             capture_output=True, timeout=60, env=env, cwd=work)
        assert b"Traceback" not in out.stderr, out.stderr.decode()
        assert out.returncode == 0, out.stderr.decode()
        assert not tcp_connects(attacker.namespace, h1.v4, 22)
        records = SQLiteStore(work / "record.db").records()
        analysts = {r.body["analyst"] for r in records if "analyst" in r.body}
        assert analysts == {f"uid {uid}@{socket.gethostname()}"}
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---- a config file that is not UTF-8 ---------------------------------------------------------

def test_config_not_utf8_names_the_byte_and_the_fix(clean_lab, tmp_path: Path) -> None:
    config = config_copy(clean_lab, tmp_path / "config.toml")
    good = config.read_bytes()
    config.write_bytes(b"# caf\xe9 ops team\n" + good)
    before = lab_rulesets(clean_lab)
    out = run_irtui("--config", str(config), "block", "203.0.113.7", "--on", "host1")
    line = refusal_line(out)
    assert out.returncode == 2
    assert "not UTF-8" in line and "0xe9 at offset 5, line 1" in line and "iconv" in line
    assert lab_rulesets(clean_lab) == before


def test_config_that_is_binary_or_endless_is_refused_at_once() -> None:
    for path, words in (("/dev/urandom", "binary"), ("/dev/zero", "binary")):
        started = time.monotonic()
        out = run_irtui("--config", path, "status", timeout=20)
        assert out.returncode == 2, out.stderr
        assert words in refusal_line(out)
        assert time.monotonic() - started < 10


# ---- feeds: binary, endless, long lines ------------------------------------------------------

def test_feed_from_dev_urandom_is_refused_at_once(clean_lab, tmp_path: Path) -> None:
    started = time.monotonic()
    _refused(clean_lab, tmp_path, ["block", "--from-file", "/dev/urandom", "--on", "host1"],
             2, "feed /dev/urandom is binary", "NUL byte at offset", timeout=20)
    assert time.monotonic() - started < 15


def test_a_utf16_feed_is_named_as_utf16(clean_lab, tmp_path: Path) -> None:
    """Excel and PowerShell write UTF-16 with a byte order mark: say so, not "binary"."""
    for encoding in ("utf-16-le", "utf-16-be"):
        feed = tmp_path / f"{encoding}.txt"
        feed.write_bytes(("\ufeff203.0.113.7\r\n203.0.113.8\r\n").encode(encoding))
        _refused(clean_lab, tmp_path, ["block", "--from-file", str(feed), "--on", "host1"],
                 2, "is UTF-16 text", "iconv -f utf-16 -t utf-8")


def test_feed_with_a_line_over_the_cap(clean_lab, tmp_path: Path) -> None:
    feed = tmp_path / "feed.txt"
    feed.write_text("203.0.113.7\n203.0.113.8 # " + "x" * feeds.MAX_FEED_LINE + "\n")
    _refused(clean_lab, tmp_path, ["block", "--from-file", str(feed), "--on", "host1"], 2,
             f"longer than {feeds.MAX_FEED_LINE:,} characters", "line 2")


def test_endless_valid_feed_on_stdin_stops_at_the_cap_in_bounded_memory(
        clean_lab, tmp_path: Path) -> None:
    """``yes 203.0.113.1 | irtui block --from-file /dev/stdin``: valid text that never ends.
    irtui stops at its 16 MiB cap, says so, and its peak memory stays far below what reading
    it all would take."""
    config = config_copy(clean_lab, tmp_path / "config.toml",
                         audit={"dir": str(tmp_path / "audit")})
    before = lab_rulesets(clean_lab)
    yes = subprocess.Popen(["yes", "203.0.113.1"], stdout=subprocess.PIPE)
    # A small wrapper measures the peak: a child's ru_maxrss starts at its parent's RSS at
    # fork (Linux keeps the high-water mark across execve), and this pytest worker may be
    # hundreds of MiB by now.
    proc = subprocess.Popen(
        [sys.executable, "-c", _PEAK_RSS, str(IRTUI), "--config", str(config), "block",
         "--from-file", "/dev/stdin", "--on", "host1"],
        stdin=yes.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert yes.stdout is not None
    yes.stdout.close()
    try:
        # generous: the machine is shared; a hang is endless
        out, stderr = proc.communicate(timeout=150)
    finally:
        proc.kill()
        yes.kill()
        yes.wait()
    code, peak = (int(word) for word in out.split())
    seen = f"exit {code}, peak RSS {peak} KiB: {stderr!r}"
    assert code == 2, seen
    line = refusal_line(subprocess.CompletedProcess([], 2, b"", stderr))
    assert "larger than 16 MiB" in line, seen
    assert peak < 200_000, seen  # KiB on Linux
    assert lab_rulesets(clean_lab) == before


def test_message_body_from_dev_urandom_is_refused(tmp_path: Path) -> None:
    out = run_irtui("--config", "/dev/null", "notify", "--subject", "x", "--body-file",
                    "/dev/urandom", timeout=20)
    assert out.returncode == 2
    assert "binary" in refusal_line(out)


# ---- a private key others can read -----------------------------------------------------------

@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_private_key_readable_by_others_is_refused(clean_lab, tmp_path: Path,
                                                   mode: int) -> None:
    key = tmp_path / "id_ed25519"
    shutil.copyfile(clean_lab.key_path, key)
    key.chmod(mode)
    _refused(clean_lab, tmp_path, ["block", "203.0.113.7", "--on", "host1"], 3,
             "UNPROTECTED PRIVATE KEY FILE", f"mode {mode:04o}", f"chmod 600 {key}",
             ssh={"key_file": str(key)})
    key.chmod(0o600)
    config = tmp_path / "config.toml"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    out = run_irtui("--config", str(config), "status", "host1")
    assert out.returncode == 0, out.stderr


def test_lab_config_still_loads(clean_lab) -> None:
    """The lab's own config passes the stricter validation (DNS names, users, strings)."""
    assert load_config(clean_lab.config_path).hosts
