"""Small helpers shared by tests."""

from __future__ import annotations

import subprocess

import psutil


def listen_addresses(port: int) -> set[str]:
    """The local IP addresses a TCP server listens on at `port` (for 127.0.0.1-only checks)."""
    return {
        conn.laddr.ip
        for conn in psutil.net_connections(kind="tcp")
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port
    }


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed command printed: exit 1, stderr only, no traceback."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]
