"""Remote commands and the shell scripts irtui runs on hosts.

Every script is a real file in this package (``*.sh``, POSIX sh, checked by shellcheck in the
test suite). A script is sent as ``sh -c SCRIPT NAME ARG...``: values reach it only as
positional arguments, environment or stdin lines, never pasted into its text, so no value can
change what the script does.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Command:
    """One remote command, before quoting/sudo are applied.

    Attributes:
        argv: the words (``("nft", "-f", "-")``); scripts are ``("sh", "-c", text, name,
            arg...)``.
        purpose: a short human description shown in plans and logs.
        stdin: text fed to stdin, or None.
    """

    argv: tuple[str, ...]
    purpose: str
    stdin: str | None = None


@cache
def script(name: str) -> str:
    """The text of ``irtui/core/remote/<name>.sh``.

    Raises:
        FileNotFoundError: no such script (a programming error).
    """
    return resources.files(__package__).joinpath(f"{name}.sh").read_text("utf-8")


def script_names() -> list[str]:
    """Names of every script shipped in this package (without ``.sh``)."""
    return sorted(p.name.removesuffix(".sh") for p in resources.files(__package__).iterdir()
                  if p.name.endswith(".sh"))


def run_script(name: str, *args: str | int, purpose: str, stdin: str | None = None) -> Command:
    """The command running script ``name`` with positional ``args`` (``$1``...; ``$0`` is
    ``irtui-<name>``, which is what ``ps`` shows on the host)."""
    return Command(("sh", "-c", script(name), f"irtui-{name}", *(str(a) for a in args)),
                   purpose, stdin)


def sections(text: str, marker: str = "### ") -> dict[str, list[str]]:
    """Split a script's output into sections: a line ``<marker>NAME`` starts section
    ``NAME``; lines before the first marker (login banners, warnings) are dropped.

    Returns:
        ``{name: [lines]}``; a repeated name keeps appending to the same list.
    """
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(marker):
            current = found.setdefault(line[len(marker):].strip(), [])
        elif current is not None:
            current.append(line)
    return found
