"""Small helpers shared by tests."""

from __future__ import annotations

import psutil


def listen_addresses(port: int) -> set[str]:
    """The local IP addresses a TCP server listens on at `port` (for 127.0.0.1-only checks)."""
    return {
        conn.laddr.ip
        for conn in psutil.net_connections(kind="tcp")
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port
    }
