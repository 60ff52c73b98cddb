"""Start-up of a CLI verb that changes hosts (issue 13): what ``irtui block`` loads before it
connects. Notification code, the keyring stack, the report's templates and paramiko's
optional ``invoke`` (for ``Match exec``, which irtui refuses) load only when used."""

from __future__ import annotations

import subprocess
import sys

BLOCK_PATH = """
import sys
from irtui.commands import common, contain
from irtui.core import secret_backend
from irtui.core.actions import Responder
from irtui.core.config import load_config
from irtui.core.settings import SecretsSettings
secret_backend.configure(SecretsSettings(dbus_address="unix:path=/nonexistent/bus"))
late = ("keyring", "secretstorage", "jeepney", "jinja2", "apprise", "invoke",
        "irtui.core.notify.dispatch", "irtui.core.triage.collector")
print(",".join(sorted(m for m in sys.modules if sys.modules[m] is not None
                      and (m.split(".")[0] in late or m in late))))
"""


def test_a_block_loads_no_keyring_templates_or_notification_code() -> None:
    out = subprocess.run([sys.executable, "-c", BLOCK_PATH], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "", f"loaded before they are needed: {out.stdout}"


def test_the_keyring_loads_at_the_first_secret_operation() -> None:
    code = ("import sys\n"
            "from irtui.core import secret_backend\n"
            "from irtui.core.settings import SecretsSettings\n"
            "secret_backend.configure(SecretsSettings(dbus_address='unix:path=/nonexistent'))\n"
            "print(secret_backend.status().state.name, 'keyring' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["NO_BACKEND", "True"], out.stdout + out.stderr
