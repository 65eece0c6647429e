"""Which listen addresses need an ingress secret: everything beyond this machine's loopback."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def insecure_bind(setting: str, address: str, has_secret: bool) -> str | None:
    """Why listening on `address` (HOST:PORT) is refused, naming both ways out; None when it is safe."""
    if has_secret or is_loopback(address.rpartition(":")[0]):
        return None
    return (
        "would accept signals from other machines with no ingress.secret: anyone who can reach it could "
        f"trade. Set EXECUTOR__INGRESS__SECRET (or _FILE), or bind {setting} to 127.0.0.1"
    )
