"""Load TUI themes from TOML files (``themes/*.toml``, plus the user's own folder)."""

from __future__ import annotations

import contextlib
import tomllib
from dataclasses import fields
from pathlib import Path

import platformdirs
from textual.theme import Theme

DEFAULT_THEME = "irtui-dark"
_THEME_FIELDS = {f.name for f in fields(Theme)}


def theme_dirs() -> list[Path]:
    """Folders searched for ``*.toml`` themes, later ones overriding earlier ones: the
    packaged themes, the source checkout's ``themes/`` and ``<user config dir>/themes``."""
    here = Path(__file__).resolve().parent.parent
    dirs = [here / "themes", here.parent / "themes"]
    with contextlib.suppress(RuntimeError):  # no home directory: only the packaged themes
        dirs.append(Path(platformdirs.user_config_dir("irtui")) / "themes")
    return dirs


def load_themes() -> tuple[list[Theme], list[str]]:
    """Read every theme file.

    Returns:
        ``(themes, problems)``: the valid themes, and one message per file that could not be
        used (bad TOML or unknown fields), naming the file.
    """
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    for folder in theme_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                data = tomllib.loads(path.read_text("utf-8"))
                unknown = set(data) - _THEME_FIELDS
                if unknown:
                    raise ValueError(f"unknown keys {', '.join(sorted(unknown))}")
                theme = Theme(**data)
            except (OSError, ValueError, TypeError) as exc:
                problems.append(f"theme file {path} ignored: {exc}")
                continue
            themes[theme.name] = theme
    return list(themes.values()), problems
