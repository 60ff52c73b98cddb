"""Shared fixtures: the practice lab (real namespaces + sshd) and real services."""

from __future__ import annotations

import logging
import os

import pytest
from hypothesis import HealthCheck, settings

from irtui.core.actions import Responder
from irtui.core.audit import AuditLog
from irtui.core.config import Config, load_config
from tests.backend_fixtures import forced, fw  # noqa: F401  (fixtures)
from tests.bastion_fixtures import bastion_config, bastion_lab  # noqa: F401  (fixtures)
from tests.lab_fixtures import clean_lab, lab  # noqa: F401  (fixtures)
from tests.service_fixtures import (  # noqa: F401  (fixtures)
    http_server,
    keyring_session,
    smtp_server,
)

# The suite runs on a shared 2-core machine beside namespaces full of sshds: a generated
# input's timing says nothing about irtui, so no property test may fail for being slow.
settings.register_profile("irtui", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.data_too_large])
settings.load_profile("irtui")
# the TUI's error lines (irtui.tui.bridge logs them at DEBUG): in a failing test's report
logging.getLogger("irtui.tui.bridge").setLevel(logging.DEBUG)


@pytest.fixture(autouse=True)
def _keyring_choice_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """``secret_backend.configure`` (run by the TUI and the CLI with a config's [secrets])
    sets the process's keyring and D-Bus address: restore both after every test, so a lab
    config's private keyring never leaks into the next test."""
    import keyring.core

    from irtui.core import secret_backend

    monkeypatch.setattr(keyring.core, "_keyring_backend", keyring.core._keyring_backend)
    for name in ("_settings", "_file_keyring", "_prompt", "_dbus_pending"):
        monkeypatch.setattr(secret_backend, name, getattr(secret_backend, name))
    bus = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus or "-")  # recorded for the restore
    if bus is None:
        monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS")


@pytest.fixture(autouse=True)
def private_data_home(tmp_path_factory, monkeypatch) -> None:
    """Every test gets its own XDG data directory, so the incident record's default store
    (platformdirs user data dir) is never the real one, and tests never share incidents."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))


@pytest.fixture
def lab_config(clean_lab, tmp_path) -> Config:  # noqa: F811
    """The lab's generated config, with the audit trail and the incident record redirected
    into tmp_path."""
    from dataclasses import replace

    return replace(load_config(clean_lab.config_path), audit_dir=str(tmp_path / "audit"),
                   record_path=str(tmp_path / "record.db"))


@pytest.fixture
def responder(lab_config: Config, tmp_path):
    """A Responder on the lab; its SSH connections are closed afterwards."""
    r = Responder(lab_config, audit=AuditLog(tmp_path / "audit"))
    yield r
    r.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """In CI (``CI`` set; root, every package installed by .ci/run) a skip is a failure:
    a skipped test proves nothing. Elsewhere, lab tests may skip with their reason."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where it must run: {report.longrepr}"
