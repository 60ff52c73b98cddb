"""Shared fixtures: the practice lab (real namespaces + sshd) and real services."""

from __future__ import annotations

import os

import pytest

from irtui.core.actions import Responder
from irtui.core.audit import AuditLog
from irtui.core.config import Config, load_config
from tests.backend_fixtures import forced, fw  # noqa: F401  (fixtures)
from tests.lab_fixtures import clean_lab, lab  # noqa: F401  (fixtures)
from tests.service_fixtures import keyring_session, smtp_server  # noqa: F401  (fixtures)


@pytest.fixture
def lab_config(clean_lab, tmp_path) -> Config:  # noqa: F811
    """The lab's generated config, with the audit trail redirected into tmp_path."""
    from dataclasses import replace

    return replace(load_config(clean_lab.config_path), audit_dir=str(tmp_path / "audit"))


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
