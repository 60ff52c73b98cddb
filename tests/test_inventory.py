"""Hosts from an Ansible inventory, INI and YAML, into the config with its comments kept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irtui.core.config import load_config
from irtui.core.errors import InvalidTargetError
from irtui.core.inventory import expand_range, read_inventory

DATA = Path(__file__).parent / "data" / "inventory"
EXPECTED = {
    "mail.example.org": (None, 22, None, []),
    "web01": ("198.18.200.1", 22, "deploy", ["web", "prod"]),
    "web03": ("198.18.200.1", 22, "deploy", ["web", "prod"]),
    "web-legacy": ("198.18.200.9", 2222, "legacy", ["web", "prod"]),
    "db-b.example.org": (None, 22, "dba", ["db", "prod"]),
}


@pytest.mark.parametrize("name", ["hosts.ini", "hosts.yml"])
def test_inventory_hosts_groups_and_vars(name: str) -> None:
    hosts = {h.name: h for h in read_inventory(DATA / name)}
    assert len(hosts) == 7 and "web02" in hosts and "db-a.example.org" in hosts
    for host, (address, port, user, groups) in EXPECTED.items():
        got = hosts[host]
        assert (got.address, got.port, got.user, got.groups) == (address, port, user, groups)


def test_ranges_expand_like_ansible() -> None:
    assert expand_range("web[01:03]") == ["web01", "web02", "web03"]
    assert expand_range("db-[a:c]") == ["db-a", "db-b", "db-c"]
    assert expand_range("n[0:8:4]x") == ["n0x", "n4x", "n8x"]
    assert expand_range("r[1:2]-[a:b]") == ["r1-a", "r1-b", "r2-a", "r2-b"]
    with pytest.raises(InvalidTargetError, match="range"):
        expand_range("x[1:b]")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_ini_text_is_an_inventory_or_one_clear_error(text: str) -> None:
    from irtui.core.inventory import hosts_of, parse_ini

    try:
        hosts = hosts_of(parse_ini(text, "fuzz.ini"), "fuzz.ini")
    except InvalidTargetError as exc:
        assert exc.problem.startswith("fuzz.ini") or "range" in exc.problem
    else:
        assert all(h.name for h in hosts)


def _irtui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "irtui", *args], capture_output=True,
                          text=True, timeout=60)


def test_cli_import_keeps_comments_and_skips_what_exists(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    original = ('# my team\'s config: keep this comment\n[ssh]\nuser = "root"  # inline\n\n'
                '[[hosts]]\nname = "web01"  # already known\naddress = "198.18.200.50"\n')
    config.write_text(original)
    dry = _irtui("--config", str(config), "hosts", "import", str(DATA / "hosts.ini"),
                 "--dry-run")
    assert dry.returncode == 0, dry.stderr
    # web[01:03] share one ansible_host: one machine, imported once (web02; web01 exists)
    assert "would add 5 host(s)" in dry.stdout and "web01" in dry.stdout
    assert "skipped: already in the config" in dry.stdout
    assert "web03" in dry.stdout and "same address and port as web02" in dry.stdout
    assert config.read_text() == original
    done = _irtui("--config", str(config), "hosts", "import", str(DATA / "hosts.yml"))
    assert done.returncode == 0, done.stderr
    text = config.read_text()
    assert text.startswith(original)  # every byte of the old file kept
    loaded = load_config(config)
    assert [h.name for h in loaded.hosts] == ["web01", "mail.example.org", "web02",
                                              "web-legacy", "db-a.example.org",
                                              "db-b.example.org"]
    legacy = loaded.host("web-legacy")
    assert (legacy.address, legacy.port, legacy.user, legacy.groups) == (
        "198.18.200.9", 2222, "legacy", ("web", "prod"))
    assert loaded.host("web01").address == "198.18.200.50"  # not overwritten
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    again = _irtui("--config", str(config), "hosts", "import", str(DATA / "hosts.ini"))
    assert again.returncode == 0 and "added 0 host(s)" in again.stdout
    assert config.read_text() == text


def test_cli_import_to_a_new_file_and_bad_inventory(tmp_path: Path) -> None:
    out = tmp_path / "new.toml"
    done = _irtui("--config", str(tmp_path / "none.toml"), "hosts", "import",
                  str(DATA / "hosts.ini"), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert len(load_config(out).hosts) == 5  # web02, web03: web01's address, skipped
    bad = tmp_path / "bad.yml"
    bad.write_text("all:\n  hosts: [unclosed\n")
    failed = _irtui("hosts", "import", str(bad))
    assert failed.returncode == 2
    assert "not valid YAML" in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
    port = tmp_path / "port.ini"
    port.write_text("h1 ansible_port=99999\n")
    failed = _irtui("--config", str(tmp_path / "c.toml"), "hosts", "import", str(port))
    assert failed.returncode == 2 and "hosts[0].port" in failed.stderr


def test_an_ungrouped_host_lands_in_a_config_that_ends_with_a_table(tmp_path: Path) -> None:
    """A short host table must still be appended as ``[[hosts]]``: written inline
    (``hosts = [...]``) it would belong to the config's last table (here ``[secrets]``)."""
    config = tmp_path / "config.toml"
    config.write_text('[[hosts]]\nname = "old"\naddress = "192.0.2.1"\n\n'
                      '[secrets]\nbackend = "auto"\n')
    inventory = tmp_path / "inv.ini"
    inventory.write_text("web1 ansible_host=192.0.2.60\n")
    done = _irtui("--config", str(config), "hosts", "import", str(inventory))
    assert done.returncode == 0, done.stderr
    loaded = load_config(config)
    assert [h.name for h in loaded.hosts] == ["old", "web1"]
    assert loaded.host("web1").address == "192.0.2.60"


BAD_YAML = {
    "nested without end": "all: " + "[" * 5000 + "]" * 5000 + "\n",
    "children alias loop": "all: &a\n  children:\n    x: *a\n",
    "hosts a list": "all:\n  hosts: [h1, h2]\n",
    "host vars a list": "all:\n  hosts:\n    h1: [1, 2]\n",
    "vars a list": "all:\n  vars: [1]\n  hosts: {h1: }\n",
    "children a list": "all:\n  children: [a, b]\n",
    "port a word": "all:\n  hosts:\n    h1: {ansible_port: abc}\n",
    "port a list": "all:\n  hosts:\n    h1: {ansible_port: [1]}\n",
    "address a mapping": "all:\n  hosts:\n    h1: {ansible_host: {a: 1}}\n",
    "billion laughs": "a: &a [x, x, x, x, x, x, x, x, x]\n"
                      + "".join(f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n"
                                for p, n in zip("abcdefg", "bcdefgh", strict=True))
                      + "all: {hosts: {h1: {ansible_host: *h}}}\n",
    "endless range": "all:\n  hosts:\n    'web[1:99999999]':\n",
}


@pytest.mark.parametrize("name", sorted(BAD_YAML))
def test_hostile_yaml_inventory_is_one_clear_error_at_once(tmp_path: Path, name: str) -> None:
    import threading

    path = tmp_path / "inv.yml"
    path.write_text(BAD_YAML[name])
    caught: list[BaseException] = []

    def read() -> None:
        try:
            read_inventory(path)
        except BaseException as exc:  # the test names whatever escaped
            caught.append(exc)
    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "still reading after 10 s"
    assert caught and isinstance(caught[0], InvalidTargetError), caught
    assert caught[0].problem.startswith(str(path)) and caught[0].fix, caught[0].line
