"""The files of one embedded server home, and the environment its processes run with.

Shared by the launcher (main venv) and the server and worker processes (`.venv-argilla`),
so it uses the standard library only.

    HOME/credentials.json   owner credentials (mode 0600): url, username, password, api_key
    HOME/auth_secret        signing key of web UI sessions (mode 0600), so logins survive restarts
    HOME/argilla.db         the SQLite database (WAL mode): Argilla's tables and our search tables
    HOME/redis/             Redis data and its Unix socket (no TCP port)
    HOME/vectors/           binary copies of the vector matrices (0700, files 0600), see `vectors`
    HOME/*.log, HOME/*.pid  one per process: argilla (web server), worker, redis
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

ENGINE_NAME = "curation-sql"
OWNER_USERNAME = "argilla"
# A Unix socket path must fit in 108 bytes; longer homes put the socket in the temp dir.
_MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class Layout:
    home: Path

    @property
    def credentials(self) -> Path:
        return self.home / "credentials.json"

    @property
    def auth_secret(self) -> Path:
        return self.home / "auth_secret"

    @property
    def database(self) -> Path:
        return self.home / "argilla.db"

    @property
    def saved_vectors(self) -> Path:
        return self.home / "vectors"

    @property
    def redis_dir(self) -> Path:
        return self.home / "redis"

    @property
    def redis_socket(self) -> Path:
        socket = self.redis_dir / "redis.sock"
        if len(str(socket)) <= _MAX_SOCKET_PATH:
            return socket
        digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"curation-redis-{digest}.sock"

    @property
    def tmp(self) -> Path:
        """TMPDIR of the web server, which copies its web UI there on every start."""
        return self.home / "tmp"

    @property
    def worker_ready(self) -> Path:
        return self.home / "worker.ready"

    def server_env(self) -> dict[str, str]:
        """The argilla-server settings shared by the web server and the worker."""
        return {
            "ARGILLA_HOME_PATH": str(self.home),
            "ARGILLA_DATABASE_URL": f"sqlite+aiosqlite:///{self.database}?check_same_thread=False",
            "ARGILLA_DATABASE_SQLITE_TIMEOUT": "30",
            "ARGILLA_REDIS_URL": f"unix://{self.redis_socket}?db=0",
            "ARGILLA_SEARCH_ENGINE": ENGINE_NAME,
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "OPENBLAS_NUM_THREADS": "1",  # vector search: see curation.embedded.vectors
            "TMPDIR": str(self.tmp),
        }
