"""Triage as a non-root login: through `sudo -n` when it is allowed; without it the
collection still completes, and says which artifacts ran without root."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from irtui.core.config import Config
from irtui.lab.sshd import read_pid
from tests.test_sudo import SUDOERS, USER, lab_user  # noqa: F401  (fixture)
from tests.triage_helpers import collect, log_of, responder_for, triage_config

ARTIFACTS = ["processes-exe", "network-firewall", "system-identity"]


def _sshd_row(folder: Path, pid: int) -> list[str]:
    text = (folder / log_of(folder)["processes-exe"]["stdout_file"]).read_text()
    return next(r.split("\t") for r in text.splitlines() if r.startswith(f"{pid}\t"))


def _as_user(config: Config, tmp_path: Path) -> Config:
    config = triage_config(config, tmp_path)
    return replace(config, hosts=tuple(replace(h, user=USER) for h in config.hosts))


def test_without_sudo_it_degrades_and_says_so(lab_config: Config, lab_user: str,  # noqa: F811
                                              clean_lab, tmp_path: Path) -> None:
    responder = responder_for(_as_user(lab_config, tmp_path), tmp_path)
    try:
        plan = responder.plan_collect(["host1"], artifacts=ARTIFACTS)
        assert any("is not root and sudo -n is refused" in n for n in plan.notes)
        assert not any(s.command.startswith("sudo") for s in plan.steps)
        result, folders, _ = collect(responder, ["host1"], artifacts=ARTIFACTS)
    finally:
        responder.close()
    assert result.ok
    assert "without root: network-firewall, processes-exe" in result.results[0].message
    log = log_of(folders["host1"])
    assert any(n.startswith("ran without root") for n in log["processes-exe"]["notes"])
    sshd = read_pid(clean_lab.hosts[0].pid_file)
    assert _sshd_row(folders["host1"], sshd)[3:5] == ["-", "-"]  # root's process: unreadable


def test_with_passwordless_sudo_every_root_artifact_goes_through_sudo(
        lab_config: Config, lab_user: str, clean_lab, tmp_path: Path) -> None:  # noqa: F811
    SUDOERS.write_text(f"{USER} ALL=(root) NOPASSWD: ALL\n")
    SUDOERS.chmod(0o440)
    responder = responder_for(_as_user(lab_config, tmp_path), tmp_path)
    try:
        plan = responder.plan_collect(["host1"], artifacts=ARTIFACTS)
        by_purpose = {s.purpose.split(": ")[1].split()[0]: s.command for s in plan.steps
                      if s.purpose.startswith("artifact")}
        assert by_purpose["processes-exe"].startswith("sudo -n ")
        assert by_purpose["system-identity"].startswith(("sh -c", "timeout"))
        result, folders, _ = collect(responder, ["host1"], artifacts=ARTIFACTS)
    finally:
        responder.close()
    assert result.ok and "without root" not in result.results[0].message
    sshd = read_pid(clean_lab.hosts[0].pid_file)
    row = _sshd_row(folders["host1"], sshd)
    assert row[4] == "/usr/sbin/sshd" and len(row[3]) == 64
