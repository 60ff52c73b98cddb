"""Config loading: valid files load, every problem is reported with its key and fix."""

from pathlib import Path

import pytest

from irtui.core.config import load_config, parse_config, write_toml_atomic
from irtui.core.errors import ConfigError, UnknownHostError

ROOT = Path(__file__).resolve().parent.parent


def test_example_config_loads() -> None:
    config = load_config(ROOT / "config.example.toml")
    assert [h.name for h in config.hosts] == ["web1", "db1"]
    assert config.host("db1").port == 2222
    assert config.email.security == "starttls"
    assert config.firewall.default_ttl == 86400


def test_every_problem_named_with_key() -> None:
    data = {
        "hosts": [{"name": "web1", "address": "192.0.2.10", "port": 70000},
                  {"name": "web1", "address": ""}],
        "ssh": {"connect_timeout": "fast"},
        "notify": {"email": {"security": "plain"}},
        "firewall": {"default_ttl": "soon"},
        "typo": 1,
    }
    with pytest.raises(ConfigError) as err:
        parse_config(data, "x.toml")
    text = str(err.value)
    for key in ("hosts[0].port", "hosts[1].name", "hosts[1].address", "ssh.connect_timeout",
                "notify.email.security", "firewall.default_ttl", "typo"):
        assert key in text, key
    assert len(err.value.problems) == 7


@pytest.mark.parametrize(("key", "value"), [("connect_timeout", 1e9), ("connect_timeout", 301),
                                            ("command_timeout", 86_401), ("connect_timeout", 0)])
def test_ssh_timeouts_are_bounded(key: str, value: float) -> None:
    """A huge connect_timeout made a host that accepts TCP but never answers hang `status`
    without end."""
    with pytest.raises(ConfigError) as err:
        parse_config({"ssh": {key: value}}, "x.toml")
    assert f"ssh.{key}" in str(err.value) and "at most" in str(err.value)


def test_ssh_timeouts_at_their_bounds_are_taken() -> None:
    config = parse_config({"ssh": {"connect_timeout": 300, "command_timeout": 86_400}}, "x.toml")
    assert (config.ssh.connect_timeout, config.ssh.command_timeout) == (300, 86_400)


def test_malformed_toml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[ssh]\nuser = \n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "line 2" in str(err.value) and str(path) in str(err.value)


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config\.example\.toml"):
        load_config(tmp_path / "absent.toml")


def test_an_empty_path_or_a_dangling_link_is_named_not_replaced(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as empty:
        load_config("")
    assert "empty" in str(empty.value)  # not silently the default config
    loop = tmp_path / "config.toml"
    loop.symlink_to(loop)
    with pytest.raises(ConfigError) as dangling:
        load_config(loop)
    assert "leads nowhere" in str(dangling.value) and "not found" not in str(dangling.value)


def test_select_hosts_groups_all_and_unknown() -> None:
    config = parse_config({"hosts": [
        {"name": "a", "address": "192.0.2.1", "groups": ["web"]},
        {"name": "b", "address": "192.0.2.2"},
        {"name": "c", "address": "192.0.2.3", "groups": ["web"]}]})
    assert [h.name for h in config.select(["@web"])] == ["a", "c"]
    assert [h.name for h in config.select(["all"])] == ["a", "b", "c"]
    assert [h.name for h in config.select(["c", "a", "a"])] == ["a", "c"]
    assert [h.name for h in config.select(["c, b", "a,"])] == ["a", "b", "c"]  # --on c,b
    assert [h.name for h in config.select(["b,@web"])] == ["a", "b", "c"]
    assert config.select([","]) == []  # the caller says "no host given"
    with pytest.raises(UnknownHostError, match=r"'zz'.*a, b, c"):
        config.select(["zz"])
    with pytest.raises(UnknownHostError, match=r"'zz'"):
        config.select(["a,zz"])


def test_two_entries_for_one_machine_are_refused() -> None:
    """Two [[hosts]] names for one address and port (IPv6 and DNS names normalised) are a
    config problem: a block "on b" would land on a's machine and read back ✓ there. The
    same address on another port, or behind a bastion, is another machine."""
    def problems(hosts: list[dict[str, object]]) -> str:
        with pytest.raises(ConfigError) as err:
            parse_config({"hosts": hosts})
        return str(err.value)

    text = problems([{"name": "a", "address": "192.0.2.1"}, {"name": "b", "address": "192.0.2.1"}])
    assert "hosts[1].address" in text and "'b' has the same address and port as 'a'" in text
    assert "2001:db8::1" in problems([{"name": "a", "address": "2001:db8::1"},
                                       {"name": "b", "address": "2001:DB8:0::1"}])
    assert "'b'" in problems([{"name": "a", "address": "Db.example"},
                              {"name": "b", "address": "db.example."}])
    fine = parse_config({"hosts": [{"name": "a", "address": "192.0.2.1"},
                                   {"name": "b", "address": "192.0.2.1", "port": 2222}]})
    assert [h.name for h in fine.hosts] == ["a", "b"]


def test_atomic_write_round_trip_and_keeps_old_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "cfg.toml"
    write_toml_atomic(path, {"hosts": [{"name": "a", "address": "192.0.2.1"}]})
    assert load_config(path).hosts[0].name == "a"
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(TypeError):
        write_toml_atomic(path, {"bad": object()})
    assert load_config(path).hosts[0].name == "a"
    assert [p.name for p in tmp_path.iterdir()] == ["cfg.toml"]


@pytest.mark.parametrize(("entry", "ok"), [
    ("198.51.100.5", True), ("198.51.100.0/24:443", True), ("edr.example.org:8443", True),
    ("[2001:db8::5]:22", True), ("2001:db8::/48", True), ("300.1.1.1", False),
    ("198.51.100.5:0", False), ("198.51.100.5:http", False), ("bad name!", False),
])
def test_isolation_allow_entries(entry: str, ok: bool) -> None:
    data = {"isolation": {"allow": [entry]}}
    if ok:
        assert parse_config(data).isolation.allow == (entry,)
    else:
        with pytest.raises(ConfigError, match=r"isolation\.allow"):
            parse_config(data)


@pytest.mark.parametrize("port", [0, -1, 65536])
def test_a_port_out_of_range_is_refused_never_replaced(port: int) -> None:
    """``port = 0`` is not "the default": irtui never connects anywhere but where it was
    told (it used to connect to 22)."""
    data = {"hosts": [{"name": "web1", "address": "192.0.2.10", "port": port}],
            "notify": {"email": {"host": "mail.example.org", "port": port,
                                 "sender": "irtui@example.org", "to": ["soc@example.org"]}}}
    with pytest.raises(ConfigError) as err:
        parse_config(data, "x.toml")
    text = str(err.value)
    assert f"hosts[0].port: {port} is not a TCP port" in text, text
    assert f"notify.email.port: {port} is not a TCP port" in text, text


def test_a_bracketed_ipv6_address_says_to_drop_the_brackets() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"hosts": [{"name": "v6", "address": "[2001:db8::7]"}]}, "x.toml")
    assert "without brackets" in str(err.value) and "hosts[0].address" in str(err.value)
