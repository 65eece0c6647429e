"""Where the project's config/ directory is, whether run from a checkout, a wheel or the container."""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_DIR_ENV = "EXECUTOR_CONFIG_DIR"


def config_dir() -> Path:
    """The config/ directory: $EXECUTOR_CONFIG_DIR, else ./config, else the checkout's config/."""
    explicit = os.environ.get(CONFIG_DIR_ENV)
    if explicit:
        return Path(explicit)
    cwd_config = Path.cwd() / "config"
    if (cwd_config / "default.toml").is_file():
        return cwd_config
    return Path(__file__).resolve().parents[2] / "config"
