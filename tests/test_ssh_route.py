"""Resolving hosts the way OpenSSH does: ssh config aliases, precedence, ProxyJump chains,
Include, and every refusal named with its key and fix (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irtui.core.config import load_config, parse_config
from irtui.core.errors import ConfigError, SSHError
from irtui.core.settings import JumpHost
from irtui.core.ssh import SSHPool
from irtui.core.ssh_route import JumpSpec, parse_jump_chain


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HOME, so ``~/.ssh/config`` is the test's own (or absent)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home" / ".ssh").mkdir(parents=True)
    return tmp_path / "home"


def _config(tmp_path: Path, ssh_config: str, hosts: list[dict], **ssh: object):
    path = tmp_path / "ssh_config"
    path.write_text(ssh_config)
    return parse_config({"ssh": {"config_file": str(path), "user": "root", **ssh},
                         "hosts": hosts})


def _problems(tmp_path: Path, ssh_config: str, hosts: list[dict], **ssh: object) -> str:
    with pytest.raises(ConfigError) as err:
        _config(tmp_path, ssh_config, hosts, **ssh)
    return str(err.value)


SITE = """
Host bastion
    HostName 192.0.2.5
    User jump
    Port 2200
    IdentityFile ~/.ssh/id_bastion

Host web1-prod
    HostName 192.0.2.11
    User deploy
    Port 2222
    IdentityFile ~/.ssh/id_web
    ProxyJump bastion

Host db*
    ProxyJump ops@bastion:22,inner

Host inner
    HostName 192.0.2.6
    ProxyJump somewhere-else

Host *
    User fallback
"""


# -- ProxyJump chains ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "hops"), [
    ("bastion", [JumpSpec("bastion")]),
    ("ops@b1:2222,b2", [JumpSpec("b1", "ops", 2222), JumpSpec("b2")]),
    ("ssh://ops@b1:2200", [JumpSpec("b1", "ops", 2200)]),
    ("[2001:db8::1]:22", [JumpSpec("2001:db8::1", None, 22)]),
    ("root@2001:db8::1", [JumpSpec("2001:db8::1", "root")]),
    ("a@b@c.example.org", [JumpSpec("c.example.org", "a@b")]),
    (" b1 , b2 ", [JumpSpec("b1"), JumpSpec("b2")]),
])
def test_jump_chains_parse(text: str, hops: list[JumpSpec]) -> None:
    assert list(parse_jump_chain(text)) == hops


@pytest.mark.parametrize(("text", "why"), [
    ("", "empty"), ("b1,,b2", "empty hop"), ("b1,", "empty hop"), ("b1:0", "1-65535"),
    ("b1:70000", "1-65535"), ("b1:ssh", "1-65535"), ("@b1", "empty user"),
    ("[b1]:22", "not an IPv6"), ("[2001:db8::1", "IPv6"), ("b1 b2", r"not \[user@\]host"),
    ("b1;reboot", "not a host name"), ("ssh://b1/path", "path"), ("2001:db8::zz", "IPv6"),
    (",".join(["b"] * 9), "at most 8"),
])
def test_bad_jump_chains_name_the_hop(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_jump_chain(text)


_hosts = st.one_of(
    st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True),
    st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str))
_hops = st.builds(JumpSpec, _hosts,
                  st.none() | st.from_regex(r"[a-z_][a-z0-9_-]{0,8}", fullmatch=True),
                  st.none() | st.integers(1, 65535))


@settings(max_examples=300, deadline=None)
@given(st.lists(_hops, min_size=1, max_size=8))
def test_jump_chain_round_trips(hops: list[JumpSpec]) -> None:
    assert list(parse_jump_chain(",".join(map(str, hops)))) == hops


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
def test_any_text_parses_or_is_refused_with_a_reason(text: str) -> None:
    try:
        hops = parse_jump_chain(text)
    except ValueError as exc:
        assert str(exc)
        return
    assert 1 <= len(hops) <= 8
    for hop in hops:  # nothing a shell or a log line could trip on reaches a host name
        assert hop.host and not any(c.isspace() or c in ",;/'\"`$" for c in hop.host)
        assert hop.port is None or 0 < hop.port < 65536


# -- resolving hosts ----------------------------------------------------------------------


def test_alias_resolves_hostname_user_port_identity_and_jump(tmp_path: Path) -> None:
    config = _config(tmp_path, SITE, [{"name": "web1", "ssh_alias": "web1-prod"}])
    web1 = config.host("web1")
    assert (web1.address, web1.port, web1.user) == ("192.0.2.11", 2222, "deploy")
    assert web1.key_file.endswith("/.ssh/id_web") and not web1.key_file.startswith("~")
    assert web1.jump == (JumpHost("bastion", "192.0.2.5", 2200, "jump",
                                  web1.jump[0].key_file),)
    assert web1.jump[0].key_file.endswith("/.ssh/id_bastion")
    assert web1.via == " via bastion" and web1.ssh_alias == "web1-prod"


def test_a_host_may_be_just_its_alias(tmp_path: Path) -> None:
    config = _config(tmp_path, SITE, [{"name": "web1-prod"}, {"name": "bastion"}])
    assert config.host("web1-prod").address == "192.0.2.11"
    assert config.host("bastion").jump == () and config.host("bastion").port == 2200


def test_irtui_keys_win_over_the_ssh_config_which_wins_over_ssh_defaults(
        tmp_path: Path) -> None:
    config = _config(tmp_path, SITE, [
        {"name": "web1", "ssh_alias": "web1-prod", "user": "ir", "port": 22},
        {"name": "plain", "address": "192.0.2.30"}])
    web1, plain = config.host("web1"), config.host("plain")
    assert (web1.user, web1.port, web1.address) == ("ir", 22, "192.0.2.11")
    assert plain.user == "fallback"  # Host * in the ssh config beats [ssh] user = "root"
    assert plain.jump == () and plain.port == 22


def test_address_is_looked_up_like_openssh_would(tmp_path: Path) -> None:
    config = _config(tmp_path, "Host 192.0.2.* !192.0.2.5\n  ProxyJump ops@192.0.2.5\n",
                     [{"name": "a", "address": "192.0.2.40"}])
    assert config.host("a").jump == (JumpHost("192.0.2.5", "192.0.2.5", 22, "ops"),)


def test_only_the_first_hops_own_proxyjump_is_followed(tmp_path: Path) -> None:
    text = SITE + "\nHost first\n  ProxyJump bastion\n"
    config = _config(tmp_path, text, [{"name": "dbx", "address": "192.0.2.50",
                                      "proxy_jump": "first,inner"}])
    # first's own ProxyJump (bastion) comes before it; inner's own is ignored (ssh -J)
    assert [j.name for j in config.host("dbx").jump] == ["bastion", "first", "inner"]


def test_chain_hops_take_user_and_port_from_the_spec_first(tmp_path: Path) -> None:
    config = _config(tmp_path, SITE, [{"name": "db1"}])
    first, inner = config.host("db1").jump
    assert (first.name, first.user, first.port, first.address) == ("bastion", "ops", 22,
                                                                   "192.0.2.5")
    assert (inner.user, inner.address) == ("fallback", "192.0.2.6")


def test_explicit_proxy_jump_overrides_and_none_disables(tmp_path: Path) -> None:
    config = _config(tmp_path, SITE, [
        {"name": "web1", "ssh_alias": "web1-prod", "proxy_jump": "none"},
        {"name": "x", "address": "192.0.2.60", "proxy_jump": "root@[2001:db8::5]:2022"}])
    assert config.host("web1").jump == ()
    assert config.host("x").jump == (JumpHost("2001:db8::5", "2001:db8::5", 2022, "root"),)


def test_proxy_jump_works_without_any_ssh_config() -> None:
    config = parse_config({"ssh": {"config_file": "none"}, "hosts": [
        {"name": "x", "address": "192.0.2.60", "proxy_jump": "ops@192.0.2.5"}]})
    assert config.host("x").jump == (JumpHost("192.0.2.5", "192.0.2.5", 22, "ops"),)


def test_default_is_the_users_ssh_config_and_none_reads_nothing(home: Path) -> None:
    (home / ".ssh" / "config").write_text("Host w\n  HostName 192.0.2.70\n")
    assert parse_config({"hosts": [{"name": "w"}]}).host("w").address == "192.0.2.70"
    with pytest.raises(ConfigError, match=r"hosts\[0\]\.address: missing"):
        parse_config({"ssh": {"config_file": "none"}, "hosts": [{"name": "w"}]})


def test_include_is_followed_at_top_level(tmp_path: Path, home: Path) -> None:
    (home / ".ssh" / "conf.d").mkdir()
    (home / ".ssh" / "conf.d" / "10-web").write_text("Host w\n  HostName 192.0.2.80\n")
    text = "Include conf.d/*\nUser top\nHost other\n  User o\n"
    config = _config(tmp_path, text, [{"name": "w"}])
    # 'User top' stays a top-level setting after the included Host block
    assert (config.host("w").address, config.host("w").user) == ("192.0.2.80", "top")


# -- refusals, each naming the key and the fix --------------------------------------------


@pytest.mark.parametrize(("ssh_config", "host", "expected"), [
    (SITE, {"name": "nope"}, r"hosts\[0\]\.address: missing, and 'nope' is not a Host in"),
    (SITE, {"name": "w", "ssh_alias": "nope"}, r"hosts\[0\]\.ssh_alias: 'nope': it is not a "
     r"Host in .*add a Host nope block"),
    (SITE, {"name": "w", "ssh_alias": "web1-prod", "address": "192.0.2.1"},
     r"ssh_alias: given together with address"),
    ("Host pc\n  ProxyCommand nc %h %p\n", {"name": "pc"},
     r"address: Host pc in .* sets ProxyCommand, which irtui does not run; use ProxyJump"),
    ("Host b\n  ProxyCommand nc %h %p\nHost t\n  ProxyJump b\n", {"name": "t"},
     r"bastion b in .* sets ProxyCommand"),
    ("Host b\n  ProxyJump b\nHost t\n  ProxyJump b\n", {"name": "t"},
     r"ProxyJump loop: t → b → b; exclude the bastion"),
    ("Host t\n  Port 99999\n", {"name": "t"}, r"Host t in .*port '99999' is not 1-65535"),
    ("Host t\n  ProxyJump a,,b\n", {"name": "t"}, r"ProxyJump 'a,,b' .* empty hop"),
    ("Host t\n  HostName 192.0.2.300\n", {"name": "t"},
     r"'192.0.2.300' \(HostName in the ssh config\) is not a valid IP"),
    (SITE, {"name": "x", "address": "192.0.2.9", "proxy_jump": "b;x"},
     r"hosts\[0\]\.proxy_jump: ProxyJump 'b;x'"),
])
def test_route_problems_name_key_and_fix(tmp_path: Path, ssh_config: str, host: dict,
                                         expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        _config(tmp_path, ssh_config, [host])


def test_ssh_config_file_problems(tmp_path: Path, home: Path) -> None:
    missing = str(tmp_path / "absent")
    with pytest.raises(ConfigError, match=r"ssh\.config_file: ssh config .*absent not found"):
        parse_config({"ssh": {"config_file": missing}, "hosts": []})
    bad = tmp_path / "latin1"
    bad.write_bytes(b"Host caf\xe9\n")
    with pytest.raises(ConfigError, match=r"ssh\.config_file: .* is not UTF-8"):
        parse_config({"ssh": {"config_file": str(bad)}, "hosts": [{"name": "w"}]})
    text = _problems(tmp_path, "Host a\n  Include other\n", [])
    assert "line 2: an Include inside a Host/Match block" in text
    assert "Unparsable" in _problems(tmp_path, "Host a\n  Port\n", [])
    (home / ".ssh" / "loop").write_text("Include loop\n")
    assert "deeper than 16" in _problems(tmp_path, "Include loop\n", [])
    marker = tmp_path / "ran"
    text = _problems(tmp_path, f"Match host x !exec \"touch {marker}\"\n  User x\n",
                     [{"name": "w", "address": "192.0.2.1"}])
    assert "Match exec, which irtui does not run" in text and not marker.exists()


def test_the_example_config_documents_a_jump() -> None:
    example = load_config(Path(__file__).resolve().parent.parent / "config.example.toml")
    assert example.host("db1").jump == (JumpHost("192.0.2.5", "192.0.2.5", 22, "ops"),)
    assert example.host("web1").jump == () and example.ssh.config_file == ""


def test_a_missing_identity_file_is_named_before_any_connection(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    config = _config(tmp_path, f"Host w\n  HostName 192.0.2.1\n  ProxyJump 192.0.2.5\n"
                     f"  IdentityFile {tmp_path}/gone\n", [{"name": "w"}],
                     known_hosts=str(known), key_file="")
    pool = SSHPool(config.ssh)
    # 192.0.2.0/24 (TEST-NET-1) is never contacted: the key is checked first
    with pytest.raises(SSHError, match=r"SSH key file .*/gone not found — set the IdentityFile "
                                       r"for w in your ssh config"):
        pool.run(config.host("w"), "true")
    assert pool.bastion_connections() == {}
