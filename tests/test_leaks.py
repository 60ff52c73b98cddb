"""Leak test: with known fake secrets configured, run every action and notification path we
can (block/unblock on the lab from the CLI and the TUI with an SSH key whose passphrase is in
the keyring, e-mail and webhook success and failure, a refused login, dry-run, secrets
list/status, the TUI compose send with its retry offer), then look for the secrets everywhere
irtui writes or shows anything: CLI output, the TUI's log panel, toasts and screen, the audit
trail and transcripts, the config, every file under the test's directories and the lab's
(hosts' homes included), and every process's command line on this machine (the lab hosts
share its process table) sampled all along."""

from __future__ import annotations

import base64
import os
import secrets as pysecrets
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest
import tomli_w

from irtui.core.config import load_config
from irtui.lab import LabInfo
from irtui.lab.probe import tcp_connects
from irtui.tui.app import IrtuiApp
from irtui.tui.compose_screens import RetryScreen
from tests.lab_fixtures import TEST_SPEC
from tests.service_fixtures import HTTPTestServer, SMTPTestServer
from tests.tui_helpers import log_text, settle

REPO = Path(__file__).resolve().parents[1]


class ProcessWatch:
    """Samples every process's command line (``/proc/*/cmdline``) every 20 ms."""

    def __init__(self) -> None:
        self.seen: set[bytes] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.02):
            # pids listed by hand: Path.glob stats each match and raised when a process
            # ended in between, which killed this watcher for the rest of the test
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as fh:
                        self.seen.add(fh.read())
                except OSError:  # the process ended meanwhile
                    continue

    def __enter__(self) -> ProcessWatch:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()


def _files(*roots: Path) -> dict[Path, bytes]:
    out = {}
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                try:
                    out[path] = path.read_bytes()
                except OSError:
                    continue
    return out


@pytest.mark.lab
async def test_no_secret_leaks_anywhere(clean_lab: LabInfo, tmp_path: Path,
                                        smtp_server: SMTPTestServer,
                                        http_server: HTTPTestServer,
                                        keyring_session: dict[str, str]) -> None:
    token, mm_token = "leak-" + pysecrets.token_hex(12), "leakmm-" + pysecrets.token_hex(12)
    wrong = "wrongpw-" + pysecrets.token_hex(12)
    url, mm_url = (f"json://{http_server.base}/hooks/{token}",
                   f"mmost://{http_server.base}/{mm_token}")
    plain = base64.b64encode(f"\0{smtp_server.username}\0{smtp_server.password}".encode())
    key_pass = "keypass-" + pysecrets.token_hex(12)
    known = [smtp_server.password, wrong, url, mm_url, token, mm_token, plain.decode(),
             key_pass]

    config = tomllib.loads(clean_lab.config_path.read_text())
    config.pop("secrets")  # the test's own Secret Service, not the lab's
    key = tmp_path / "id_protected"  # the lab key, protected by a passphrase in the keyring
    key.write_bytes(Path(config["ssh"]["key_file"]).read_bytes())
    key.chmod(0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-N", key_pass, "-f", str(key)], check=True,
                   capture_output=True)
    config["ssh"].update(key_file=str(key), key_passphrase_secret="ssh-key")
    config["audit"] = {"dir": str(tmp_path / "audit")}
    config["record"] = {"path": str(tmp_path / "record" / "record.db")}  # scanned below
    config["notify"] = {
        "email": {"host": smtp_server.host, "port": smtp_server.port,
                  "username": smtp_server.username, "sender": "irtui@example.org",
                  "to": ["soc@example.org"], "cafile": smtp_server.cafile, "timeout": 10},
        "channels": {"soc": "keyring:apprise-soc", "mm": "keyring:apprise-mm"}}
    cfg = tmp_path / "config.toml"
    cfg.write_text(tomli_w.dumps(config))
    outputs: list[str] = []

    def irtui(*args: str, stdin: str = "") -> int:
        proc = subprocess.run([sys.executable, "-m", "irtui", "--config", str(cfg), *args],
                              input=stdin, env=keyring_session, cwd=REPO, capture_output=True,
                              text=True, timeout=120, check=False)
        outputs.append(proc.stdout + proc.stderr)
        return proc.returncode

    attacker, host1 = clean_lab.attacker, clean_lab.hosts[0]
    with ProcessWatch() as watch:
        for name, value in (("smtp", smtp_server.password), ("apprise-soc", url),
                            ("apprise-mm", mm_url), ("ssh-key", key_pass)):
            assert irtui("secrets", "set", name, "--stdin", stdin=value + "\n") == 0
        assert irtui("block", attacker.v4, "--on", "host1", "--ttl", "1h") == 0
        assert not tcp_connects(attacker.namespace, host1.v4, 22)  # really blocked
        assert irtui("notify", "--subject", "blocked", "--body", "203.0.113.9 blocked") == 0
        http_server.replies[f"/hooks/{token}"] = (404, '{"error": "no hook {path}"}')
        assert irtui("notify", "--subject", "s", "--body", "b") == 4
        assert irtui("notify", "--dry-run", "--subject", "s", "--body", "b") == 0
        assert irtui("secrets", "list") == 0
        assert irtui("secrets", "status") == 0
        assert irtui("secrets", "set", "smtp", "--stdin", stdin=wrong + "\n") == 0
        assert irtui("notify", "--channel", "email", "--subject", "s", "--body", "b") == 4
        assert "rejected the login" in outputs[-1]
        assert irtui("secrets", "set", "smtp", "--stdin",
                     stdin=smtp_server.password + "\n") == 0
        assert irtui("unblock", attacker.v4, "--on", "host1") == 0
        assert tcp_connects(attacker.namespace, host1.v4, 22)

        app = IrtuiApp(load_config(cfg))
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot)
            await pilot.press("b", *attacker.v4, "enter")
            await settle(app, pilot)
            await pilot.press("y")
            await settle(app, pilot)
            assert not tcp_connects(attacker.namespace, host1.v4, 22)
            await pilot.press("3")
            await settle(app, pilot)
            await pilot.press("ctrl+o")
            await settle(app, pilot)
            outputs.append(app.export_screenshot())
            await pilot.press("escape", "ctrl+s")
            await settle(app, pilot)
            assert isinstance(app.screen, RetryScreen)  # soc still answers 404
            outputs.append(app.export_screenshot())
            await pilot.press("n")
            await settle(app, pilot)
            outputs += [log_text(app), app.export_screenshot()]
            outputs += [n.message for n in app._notifications]
            assert "✓ email (email): sent" in log_text(app)
            assert "✓ mm (Mattermost): sent" in log_text(app)
            assert "✗ soc (JSON): FAILED" in log_text(app)
    assert irtui("unblock", attacker.v4, "--on", "host1") == 0

    assert len(smtp_server.messages) == 3  # CLI twice (one with the webhook failing), TUI
    assert [a for a in smtp_server.auth_attempts if not a[1]] == [(smtp_server.username, False)]
    files = _files(tmp_path, TEST_SPEC.lab_dir)
    assert tmp_path / "record" / "record.db" in files and cfg in files
    assert any(p.suffix == ".log" for p in files)  # the transcripts
    for secret in known:
        for text in outputs:
            assert secret not in text
        for path, data in files.items():
            assert secret.encode() not in data, f"{secret[:8]}… found in {path}"
        for cmdline in watch.seen:
            assert secret.encode() not in cmdline, cmdline
    assert len(watch.seen) > 10  # the watch really sampled processes
