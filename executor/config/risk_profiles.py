"""Load a named risk profile from config/risk/*.toml (or a TOML path) with the daemon's overrides on top.

The only place that reads profile files; the engine itself only sees the resulting RiskProfile. The
validation is the profile's own frozen models (executor/risk/profile.py, pure); this loader lives
outside risk/ because it does I/O (files, the config directory), which the risk package never does.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from executor.config.paths import config_dir
from executor.domain.validation import prefixed
from executor.risk import ProfileError, RiskProfile


def profiles_dir() -> Path:
    return config_dir() / "risk"


def available_profiles() -> list[str]:
    return sorted(path.stem for path in profiles_dir().glob("*.toml"))


def profile_path(name_or_path: str) -> Path:
    """A bare name is a file stem in config/risk/; anything with a suffix or a separator is a path."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or len(candidate.parts) > 1:
        return candidate
    return profiles_dir() / f"{name_or_path}.toml"


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Nested tables merge key by key; any other value (lists included) replaces the base value."""
    merged = dict(base)
    for key, value in overrides.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[key] = merge(current, value)
        else:
            merged[key] = value
    return merged


def load_profile(name_or_path: str, overrides: Mapping[str, Any] | None = None) -> RiskProfile:
    path = profile_path(name_or_path)
    shown = name_or_path if len(name_or_path) <= 80 else name_or_path[:77] + "..."
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"risk profile {path}: not valid TOML: {exc}") from None
    except OSError as exc:
        names = ", ".join(available_profiles()) or "none"
        where = (
            f"no file {path}" if isinstance(exc, FileNotFoundError) else f"cannot be read ({exc.strerror})"
        )
        raise ProfileError(f"risk profile {shown!r}: {where}; available profiles: {names}") from None
    if "name" not in data:
        data["name"] = path.stem
    try:
        return RiskProfile.from_mapping(merge(data, overrides or {}))
    except ProfileError as exc:
        source = f"{path}" + (" with overrides" if overrides else "")
        raise ProfileError(prefixed(f"risk profile {source}", str(exc))) from None
