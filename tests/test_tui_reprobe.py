"""``ctrl+r`` re-probes the hosts it reads (Pilot, on the lab): facts that changed behind the
TUI's back (here iptables-legacy rules appear on host1, so the backend choice changes) show at
once, not only at the next periodic probe (``PROFILE_MAX_AGE``, two minutes later)."""

from __future__ import annotations

from irtui.core.config import Config
from irtui.lab.probe import ns_run
from irtui.tui.app import IrtuiApp
from tests.tui_helpers import log_text, settle

LEGACY_RULES = ("iptables-legacy -N DOCKER && iptables-legacy -A FORWARD -o docker0 -j DOCKER")
"""Rules another tool (Docker) adds in iptables-legacy: a clean host's choice follows them."""


async def test_ctrl_r_probes_the_hosts_again(lab_config: Config, clean_lab) -> None:
    h1 = clean_lab.hosts[0]
    app = IrtuiApp(lab_config)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        before = app.views["host1"].profile
        assert before is not None and before.choice.name == "nftables", log_text(app)
        out = ns_run(h1.namespace, ["sh", "-c", LEGACY_RULES])
        assert out.returncode == 0, out.stderr
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        after = app.views["host1"].profile
        assert after is not None and after.choice.name == "iptables-legacy", (
            after and after.preflight, log_text(app))
        assert app.views["host2"].profile.choice.name == "nftables"  # its facts are the same
