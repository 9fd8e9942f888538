"""Background services (Argilla, the local LLM, the dashboard): start, health, stop.

Each service lives in a state directory holding `<name>.pid` and `<name>.log`. It runs
in its own process session so it outlives the `curate` command that started it, and
`stop` signals the whole process group so child processes go too.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from curation.errors import CurationError
from curation.paths import private_dir

LOOPBACK = "127.0.0.1"


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True if nothing listens on host:port (so a server can bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port on loopback that is free right now (for tests and throwaway servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def http_ok(url: str, timeout: float = 2.0, headers: dict[str, str] | None = None) -> bool:
    """True if GET url answers 2xx."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException):
        return False  # nothing answers, or what answers does not speak HTTP


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie counts as dead: reap it if it is our child, else read its state.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return False
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@dataclass
class Service:
    """One background process with a pid file and a log in `state_dir`."""

    name: str
    state_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid of the running process, or None (a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if _alive(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def running(self) -> bool:
        return self.pid() is not None

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_file.read_text(errors="replace").strip().splitlines()
        except FileNotFoundError:
            return ""
        return " | ".join(line.strip() for line in text[-lines:])

    def start(
        self,
        command: Sequence[str],
        *,
        healthy: Callable[[], bool],
        port: int | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 120.0,
    ) -> bool:
        """Start the process unless it already runs; return once `healthy()` holds.

        Returns False when it was already running (idempotent start), True when started.
        Raises CurationError if the port is taken by something else, the process dies,
        or it does not become healthy within `timeout` seconds.
        """
        if self.running():
            if _wait(healthy, timeout):
                return False
            raise CurationError(f"{self.name} is running but not healthy; see {self.log_file}")
        if port is not None and not port_is_free(port):
            raise CurationError(
                f"port {port} on {LOOPBACK} is taken by another program; "
                f"choose another with --port or stop that program"
            )
        private_dir(self.state_dir)
        log_fd = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with open(log_fd, "ab") as log:
            process = subprocess.Popen(
                list(command),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
                umask=0o077,  # what it writes (database, logs) is its owner's alone
            )
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise CurationError(
                    f"{self.name} exited with code {process.returncode} while starting: "
                    f"{self.log_tail()} (log: {self.log_file})"
                )
            if healthy():
                return True
            time.sleep(0.25)
        self.stop()
        raise CurationError(
            f"{self.name} did not become healthy within {timeout:.0f} s: {self.log_tail()} "
            f"(log: {self.log_file})"
        )

    def stop(self, timeout: float = 20.0) -> bool:
        """Stop the process group (SIGTERM, then SIGKILL). False if it was not running."""
        pid = self.pid()
        if pid is None:
            return False
        _signal_group(pid, signal.SIGTERM)
        if not _wait(lambda: not _alive(pid), timeout):
            _signal_group(pid, signal.SIGKILL)
            _wait(lambda: not _alive(pid), 5.0)
        self.pid_file.unlink(missing_ok=True)
        return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def _wait(condition: Callable[[], bool], timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)
