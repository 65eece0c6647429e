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


MIGRATIONS_DIR_ENV = "EXECUTOR_MIGRATIONS_DIR"


def migrations_dir() -> Path:
    """The Alembic migrations/: $EXECUTOR_MIGRATIONS_DIR, else ./migrations, else the checkout's."""
    explicit = os.environ.get(MIGRATIONS_DIR_ENV)
    if explicit:
        return Path(explicit)
    cwd_migrations = Path.cwd() / "migrations"
    if (cwd_migrations / "env.py").is_file():
        return cwd_migrations
    return Path(__file__).resolve().parents[2] / "migrations"
