"""irtui.core must be usable with no terminal: it never imports Textual (or Rich)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# import-linter's `lint-imports` console script, run by this interpreter (the venv's): never a
# bare name looked up on PATH, which a fresh machine has only in .venv/bin.
LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports_command; " \
    "sys.exit(lint_imports_command())"


def test_core_imports_no_textual() -> None:
    code = (
        "import sys, irtui.core.actions, irtui.core.config, irtui.core.ssh, "
        "irtui.core.firewall.nftables, irtui.core.notify.email, irtui.core.notify.channels, "
        "irtui.core.notify.dispatch, irtui.core.secrets, "
        "irtui.core.audit\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich') "
        "or m.startswith('irtui.tui'))\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core pulled in UI modules: {out.stdout}"


def test_import_linter_contracts() -> None:
    """Every contract in pyproject.toml holds; the tool runs from this interpreter's
    environment (a fresh machine has it only in the venv, not on PATH)."""
    out = subprocess.run([sys.executable, "-c", LINT_IMPORTS], cwd=REPO, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "5 kept, 0 broken" in out.stdout
