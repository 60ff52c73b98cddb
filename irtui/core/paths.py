"""Where irtui looks for its config: kept apart from :mod:`irtui.core.config` so that
``irtui --help`` can show the path without importing the config parser."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from irtui.core.errors import ConfigError

ENV_CONFIG = "IRTUI_CONFIG"


def default_config_path() -> Path:
    """Return the config path: ``$IRTUI_CONFIG`` if set, else the platform config dir
    (``~/.config/irtui/config.toml`` on Linux, per platformdirs).

    Raises:
        ConfigError: there is no home directory to expand ``~`` in.
    """
    env = os.environ.get(ENV_CONFIG)
    try:
        if env:
            return Path(env).expanduser()
        return Path(platformdirs.user_config_dir("irtui")) / "config.toml"
    except RuntimeError:  # no $HOME and no passwd entry (a container's --user 1234)
        raise ConfigError(["no home directory to find the default config in (no $HOME and "
                           "no passwd entry for this user); pass --config PATH or set "
                           "IRTUI_CONFIG to an absolute path"]) from None
