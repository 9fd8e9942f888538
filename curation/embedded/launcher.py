"""`curate server start|status|env|stop`: the embedded Argilla server's three processes.

One home directory (see `layout`) holds everything: Redis on a Unix socket (no TCP port),
the web server (`serve`, argilla-server + our SQL search engine, 127.0.0.1 only) and the
rq worker (`worker`), each a `Service` with its pid file and log. argilla-server runs in
its own virtual environment (`.venv-argilla`, or `$CURATION_ARGILLA_PYTHON`), because its
pins clash with the main stack. The first start creates the owner's random password and
API key in `credentials.json` (mode 0600); nothing here prints or logs them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import curation
from curation.embedded.layout import OWNER_USERNAME, Layout
from curation.errors import CurationError
from curation.paths import private_dir
from curation.services import LOOPBACK, Service, http_ok, port_is_free

ARGILLA_PYTHON_ENV = "CURATION_ARGILLA_PYTHON"
REDIS_SERVER_ENV = "CURATION_REDIS_SERVER"
DEFAULT_PORT = 6900
START_TIMEOUT = 300.0  # a first start migrates a new database; slow on a busy 2-core machine


@dataclass(frozen=True)
class Credentials:
    url: str
    username: str
    password: str = field(repr=False)  # never shown, even in a traceback
    api_key: str = field(repr=False)


def argilla_python() -> Path:
    """The interpreter of argilla-server's virtual environment."""
    if os.environ.get(ARGILLA_PYTHON_ENV):
        path = Path(os.environ[ARGILLA_PYTHON_ENV])
    else:
        path = Path(curation.__file__).resolve().parent.parent / ".venv-argilla" / "bin" / "python"
    if not path.exists():
        raise CurationError(
            f"argilla-server's virtual environment not found ({path}): run `make install` "
            f"or set {ARGILLA_PYTHON_ENV} to its python"
        )
    return path


def redis_server() -> str:
    """The redis-server program (Debian's package, or `$CURATION_REDIS_SERVER`)."""
    program = os.environ.get(REDIS_SERVER_ENV) or shutil.which("redis-server")
    if not program or not Path(program).exists():
        raise CurationError(
            "cannot start Redis: redis-server not found; install Debian's redis-server "
            f"(`make install`) or set {REDIS_SERVER_ENV}"
        )
    return program


def services(home: Path) -> tuple[Service, Service, Service]:
    """(redis, web server, worker) of a home, in start order."""
    return Service("redis", home), Service("argilla", home), Service("worker", home)


def credentials_path(home: Path) -> Path:
    return Layout(home.expanduser().resolve()).credentials


def read_credentials(home: Path) -> Credentials | None:
    path = credentials_path(home)
    try:
        data = json.loads(path.read_text())
        return Credentials(**{key: data[key] for key in ("url", "username", "password", "api_key")})
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        raise CurationError(f"{path}: not valid embedded-server credentials") from None


def credentials(home: Path) -> Credentials:
    """The owner's credentials, or a CurationError saying how to get them."""
    found = read_credentials(home)
    if found is None:
        raise CurationError(f"no embedded Argilla server in {home}: run `curate server start`")
    return found


def is_running(home: Path) -> bool:
    """True iff the home's web server answers."""
    found = read_credentials(home)
    return found is not None and _answers(found.url)


def start(
    home: Path, port: int | None = None, *, default_port: int = DEFAULT_PORT
) -> tuple[Credentials, bool]:
    """Start Redis, the web server and the worker unless running; return once healthy.

    Returns the credentials and whether the web server was started now (False: it was
    already running, whatever `port` says).
    """
    home = home.expanduser().resolve()
    layout = Layout(home)
    python, redis_program = argilla_python(), redis_server()
    redis, server, worker = services(home)
    previous = read_credentials(home)
    if previous is not None and server.running():
        if not _answers(previous.url):
            raise CurationError(
                f"the Argilla server in {home} runs but does not answer at {previous.url} "
                f"(log: {server.log_file}); stop it with `curate server stop`"
            )
        _start_redis(redis, layout, redis_program)
        _start_worker(worker, layout, python)
        return previous, False

    port = port or (_port_of(previous.url) if previous else None) or default_port
    if not port_is_free(port):
        raise CurationError(
            f"port {port} on {LOOPBACK} is taken by another program; "
            "choose another with --port or stop that program"
        )
    private_dir(home)  # the database, logs and credentials: 0600 files in a 0700 folder
    found = _save_credentials(layout, previous, f"http://{LOOPBACK}:{port}")
    started_redis = _start_redis(redis, layout, redis_program)
    serve = "curation.embedded.serve"
    command = [str(python), "-m", serve, "--home", str(home), "--port", str(port)]
    # The worker needs only Redis: it starts while the web server migrates and loads.
    with ThreadPoolExecutor(max_workers=1) as pool:
        worker_started = pool.submit(_start_worker, worker, layout, python)
        try:
            server.start(
                command,
                healthy=lambda: _answers(found.url),
                port=port,
                env=_process_env(layout),
                timeout=START_TIMEOUT,
            )
            worker_started.result()
        except CurationError:
            wait([worker_started])
            worker.stop()
            server.stop()
            if started_redis:
                redis.stop()
            raise
    return found, True


def stop(home: Path) -> bool:
    """Stop worker, web server and Redis; True if the web server was running."""
    redis, server, worker = services(home.expanduser().resolve())
    worker.stop()
    was_running = server.stop()
    redis.stop()
    return was_running


def env_lines(home: Path) -> list[str]:
    """`export` lines pointing the Argilla SDK and `curate` at this server."""
    found = credentials(home)
    return [f"export ARGILLA_API_URL={found.url}", f"export ARGILLA_API_KEY={found.api_key}"]


def _answers(url: str) -> bool:
    return http_ok(f"{url}/api/v1/status")


def _port_of(url: str) -> int | None:
    return urlsplit(url).port


def _save_credentials(layout: Layout, previous: Credentials | None, url: str) -> Credentials:
    from curation.runs import write_json

    found = Credentials(
        url=url,
        username=previous.username if previous else OWNER_USERNAME,
        password=previous.password if previous else secrets.token_urlsafe(18),
        api_key=previous.api_key if previous else secrets.token_urlsafe(48),
    )
    if found != previous:
        write_json(found.__dict__, layout.credentials, mode=0o600)
    return found


def _process_env(layout: Layout) -> dict[str, str]:
    return {
        **layout.server_env(),
        "PYTHONPATH": str(Path(curation.__file__).resolve().parent.parent),
        "PYTHONUNBUFFERED": "1",
    }


def _start_redis(redis: Service, layout: Layout, program: str) -> bool:
    layout.redis_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    socket_path = layout.redis_socket
    command = [
        program,
        "--port", "0",  # no TCP listener at all: clients use the Unix socket
        "--bind", LOOPBACK,
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--dir", str(layout.redis_dir),
        "--daemonize", "no",
        "--logfile", "",
    ]  # fmt: skip
    if not redis.running():
        socket_path.unlink(missing_ok=True)
    try:
        return redis.start(command, healthy=lambda: _redis_pings(socket_path), timeout=30)
    except CurationError as error:
        raise CurationError(f"cannot start Redis: {error}") from None


def _redis_pings(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(2)
            client.connect(str(path))
            client.sendall(b"PING\r\n")
            return client.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _start_worker(worker: Service, layout: Layout, python: Path) -> bool:
    if not worker.running():
        layout.worker_ready.unlink(missing_ok=True)

    def ready() -> bool:
        try:
            return layout.worker_ready.read_text().strip() == str(worker.pid())
        except FileNotFoundError:
            return False

    return worker.start(
        [str(python), "-m", "curation.embedded.worker", "--home", str(layout.home)],
        healthy=ready,
        env=_process_env(layout),
        timeout=120,
    )
