"""SSH executor against real sshd in lab namespaces: streaming, host keys, timeouts."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from irtui.core.config import Config, HostConfig
from irtui.core.errors import HostKeyError, SSHError
from irtui.core.ssh import SSHPool

LINES = 60000  # ~4.3 MB per stream, well past the ~2 MB shared window


def _pool(config: Config, **changes: object) -> SSHPool:
    return SSHPool(replace(config.ssh, **changes))


def test_streams_several_megabytes_on_both_streams_at_once(lab_config: Config) -> None:
    pool = _pool(lab_config)
    host = lab_config.hosts[0]
    got: dict[str, list[str]] = {"stdout": [], "stderr": []}
    cmd = (f"seq -f 'err %09g ................................................' 1 {LINES} >&2 & "
           f"seq -f 'out %09g ................................................' 1 {LINES}; wait")
    try:
        result = pool.run(host, cmd, on_output=lambda s, line: got[s].append(line), timeout=60)
    finally:
        pool.close()
    assert result.exit_code == 0
    assert len(got["stdout"]) == LINES and len(got["stderr"]) == LINES
    assert got["stdout"][-1].startswith(f"out {LINES:09d}")
    assert got["stderr"][0].startswith("err 000000001")
    assert all(line.startswith("out ") for line in got["stdout"])


def test_lines_arrive_while_the_command_still_runs(lab_config: Config) -> None:
    pool = _pool(lab_config)
    seen: list[float] = []
    started = time.monotonic()
    try:
        pool.run(lab_config.hosts[0], "echo first; sleep 1.5; echo second",
                 on_output=lambda s, line: seen.append(time.monotonic() - started))
    finally:
        pool.close()
    assert len(seen) == 2 and seen[0] < seen[1] - 1.0


def test_connection_is_reused(lab_config: Config) -> None:
    pool = _pool(lab_config)
    host = lab_config.hosts[0]
    try:
        first = pool.connect(host).get_transport()
        pool.run(host, "true")
        pool.run(host, "true")
        assert pool.connect(host).get_transport() is first
    finally:
        pool.close()


def test_the_connection_has_nagles_algorithm_off(lab_config: Config) -> None:
    """irtui opens the TCP connection itself (tcp_connection) with TCP_NODELAY: with
    paramiko's own socket, each command on an open connection waited about 40 ms for the
    host's delayed ACK (a benchmark's figure, not timed here)."""
    pool = _pool(lab_config)
    host = lab_config.hosts[0]
    try:
        sock = pool.connect(host).get_transport().sock
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert pool.run(host, "echo ok", capture=True).stdout == "ok\n"
    finally:
        pool.close()


def test_cancel_closes_the_channel(lab_config: Config) -> None:
    pool = _pool(lab_config)
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    try:
        with pytest.raises(SSHError, match="cancelled"):
            pool.run(lab_config.hosts[0], "sleep 30", cancel=cancel)
    finally:
        pool.close()
    assert time.monotonic() - started < 5


def test_command_timeout(lab_config: Config) -> None:
    pool = _pool(lab_config)
    try:
        with pytest.raises(SSHError, match="timed out after 1 s"):
            pool.run(lab_config.hosts[0], "sleep 10", timeout=1)
    finally:
        pool.close()


def test_unknown_host_key_refused_and_nothing_runs(lab_config: Config, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    marker = tmp_path / "ran"
    pool = _pool(lab_config, known_hosts=str(empty))
    with pytest.raises(HostKeyError) as err:
        pool.run(lab_config.hosts[0], f"touch {marker}")
    pool.close()
    message = str(err.value)
    assert "unknown host key" in message and "SHA256:" in message and "nothing was run" in message
    assert not marker.exists()


def test_changed_host_key_shows_both_fingerprints(lab_config: Config, tmp_path: Path) -> None:
    real = Path(lab_config.ssh.known_hosts).read_text().splitlines()
    h1, h2 = lab_config.hosts[0], lab_config.hosts[1]
    key_of_h2 = next(line.split(None, 1)[1] for line in real if line.split()[0] == h2.address)
    forged = tmp_path / "known_hosts"
    forged.write_text(f"{h1.address} {key_of_h2}\n")
    marker = tmp_path / "ran"
    pool = _pool(lab_config, known_hosts=str(forged))
    with pytest.raises(HostKeyError) as err:
        pool.run(h1, f"touch {marker}")
    pool.close()
    assert "CHANGED" in str(err.value)
    assert str(err.value).count("SHA256:") == 2
    assert not marker.exists()


def test_unreachable_host_is_named_with_a_fix(lab_config: Config, clean_lab) -> None:
    subnet_base = clean_lab.hosts[0].v4.rsplit(".", 1)[0]
    ghost = HostConfig(name="ghost", address=f"{subnet_base}.99")
    pool = _pool(lab_config, connect_timeout=1.5)
    started = time.monotonic()
    with pytest.raises(SSHError, match=r"ghost .* unreachable.*check the address"):
        pool.run(ghost, "true")
    assert time.monotonic() - started < 10


def test_wrong_key_is_an_authentication_error(lab_config: Config, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    pool = _pool(lab_config, key_file=str(other), use_agent=False)
    with pytest.raises(SSHError, match="authentication failed for root@host1"):
        pool.run(lab_config.hosts[0], "true")


@pytest.mark.parametrize(("make", "message"), [
    ("public", "not a usable private key (that is the public key)"),
    ("passphrase", "protected by a passphrase — store it with irtui secrets set ssh-key"),
    ("junk", "not a usable private key"),
    ("missing", "not found"),
])
def test_bad_key_files_are_named_before_connecting(tmp_path: Path, make: str,
                                                   message: str) -> None:
    key = tmp_path / "key"
    if make in ("public", "passphrase"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N",
                        "pw" if make == "passphrase" else "", "-f", str(key)], check=True)
    if make == "public":
        key = key.with_suffix(".pub")
    if make == "junk":
        key.write_text("not a key\n")
    known = tmp_path / "known_hosts"
    known.write_text("")
    pool = SSHPool(replace(Config().ssh, key_file=str(key), known_hosts=str(known)))
    # 192.0.2.1 (TEST-NET-1) is never contacted: the key is checked first
    with pytest.raises(SSHError, match=re.escape(message)):
        pool.run(HostConfig("h", "192.0.2.1"), "true")


NOT_SSH_CLIENT = """
import sys, time
from dataclasses import replace
from irtui.core.config import load_config
from irtui.core.errors import SSHError
from irtui.core.ssh import SSHPool
config = load_config(sys.argv[1])
host = replace(config.hosts[0], address="127.0.0.1", port=int(sys.argv[2]))
pool = SSHPool(config.ssh)
try:
    pool.run(host, "true")
except SSHError as exc:
    print(exc.line)
time.sleep(0.5)  # paramiko's thread logs after the error reached irtui
pool.close()
"""


@pytest.mark.parametrize("answer", [b"HTTP/1.1 400 Bad Request\r\n\r\n", b""])
def test_a_port_that_is_not_ssh_gets_one_line_and_no_traceback(clean_lab, answer: bytes
                                                                ) -> None:
    """Something listens on the port but is not sshd (a web server; a service that closes
    at once): one clear line, and paramiko's own traceback never reaches stderr (the TUI's
    screen). In a process of its own: pytest's log capture would hide it here."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)

    def serve() -> None:
        for _ in range(4):
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.sendall(answer)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        out = subprocess.run([sys.executable, "-c", NOT_SSH_CLIENT, str(clean_lab.config_path),
                              str(server.getsockname()[1])], capture_output=True, text=True,
                             timeout=60)
    finally:
        server.close()
    assert "unreachable: something answered on that port, but not an SSH server" in \
        out.stdout, out
    assert "Traceback" not in out.stderr and "Exception (client)" not in out.stderr, out.stderr


def test_an_ipv6_host_and_its_port_are_written_apart() -> None:
    from irtui.core.endpoints import join_port, split_port

    assert join_port("2001:db8::7", 2222) == "[2001:db8::7]:2222"
    assert join_port("198.18.0.7", 22) == "198.18.0.7:22"
    assert join_port("web1.example.org", 22) == "web1.example.org:22"
    for host in ("2001:db8::7", "198.18.0.7", "web1.example.org", "2001:db8::/32"):
        assert split_port(join_port(host, 2222)) == (host, 2222)  # the parser reads it back
