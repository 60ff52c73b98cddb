"""known_hosts as irtui reads it (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): host patterns,
hashed names, ``[host]:port``, marker lines and lines that cannot be read. The lab tests in
test_hostile_input.py prove the same rules against real sshd."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import paramiko
import pytest

from irtui.core.errors import SSHError
from irtui.core.known_hosts import host_matches, load_known_hosts, parse_known_hosts


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Three fresh public keys as ``type base64``."""
    folder = tmp_path_factory.mktemp("keys")
    out = []
    for i in range(3):
        path = folder / f"k{i}"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                       check=True)
        out.append(" ".join(path.with_name(f"k{i}.pub").read_text().split()[:2]))
    return out


def _key(line: str) -> paramiko.PKey:
    kind, data = line.split()
    return paramiko.PKey.from_type_string(kind, base64.b64decode(data))


def _blob(line: str) -> bytes:
    return _key(line).asbytes()


@pytest.mark.parametrize(("name", "patterns", "matches"), [
    ("web1.example.org", ("*.example.org",), True),
    ("web1.example.org", ("*.example.org", "!web1.example.org"), False),
    ("WEB1.Example.org", ("web1.example.org",), True),
    ("web12", ("web?",), False),
    ("web1", ("web?",), True),
    ("[198.51.100.7]:2222", ("[198.51.100.7]:2222",), True),  # [ is literal, not a class
    ("[198.51.100.7]:2222", ("198.51.100.7",), False),
    ("198.51.100.7", ("[198.51.100.7]:2222",), False),
    ("host", ("*",), True),
])
def test_host_patterns(name: str, patterns: tuple[str, ...], matches: bool) -> None:
    assert host_matches(name, patterns) is matches


def test_hashed_names_match_only_their_host() -> None:
    hashed = paramiko.HostKeys.hash_host("198.51.100.7")
    assert host_matches("198.51.100.7", (hashed,))
    assert not host_matches("198.51.100.8", (hashed,))
    assert not host_matches("198.51.100.7", ("|1|bad|base64!",))


def test_markers_and_unreadable_lines(keys: list[str], tmp_path: Path) -> None:
    text = "\n".join([
        "# comment",
        f"web1,198.51.100.7 {keys[0]} ops@example",
        f"@revoked * {keys[1]}",
        f"web1 {keys[1]}",  # revoked: never offered as known
        f"@cert-authority *.example.org {keys[2]}",
        "web2 ssh-ed25519 not-base64!",
        "@unknown-marker web3 " + keys[0],
        "lonely",
        "",
    ])
    known = parse_known_hosts(text, tmp_path / "known_hosts")
    assert [k.asbytes() for k in known.keys_for("web1")] == [_blob(keys[0])]
    assert [k.asbytes() for k in known.keys_for("198.51.100.7")] == [_blob(keys[0])]
    assert known.keys_for("web2") == []
    assert known.is_revoked(_key(keys[1])) and not known.is_revoked(_key(keys[0]))
    assert known.authority_for("db.example.org") == "*.example.org"
    assert known.authority_for("web1") is None
    assert known.skipped == [6, 7, 8]
    assert "lines 6, 7, 8 of" in known.skipped_note()


def test_unreadable_file_is_an_ssh_error(tmp_path: Path) -> None:
    with pytest.raises(SSHError, match="not found"):
        load_known_hosts(tmp_path / "missing")
    binary = tmp_path / "known_hosts"
    binary.write_bytes(b"\xff\xfe\x00garbage\n")
    assert load_known_hosts(binary).skipped == [1]
