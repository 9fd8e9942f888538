"""`curate server start|status|env|stop` and `review.connection` against a real server.

These reuse the session's embedded server (its home is the default `config.argilla.home`)
and start no second one: errors are checked on fresh homes, where nothing may be left
running afterwards.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from curation.config import load_config
from curation.errors import CurationError
from curation.review.connection import connect, resolve
from curation.services import free_port
from tests.util import listen_addresses

pytestmark = pytest.mark.integration
CURATE = [sys.executable, "-m", "curation"]


def curate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ARGILLA_")}
    return subprocess.run(
        [*CURATE, *args], capture_output=True, text=True, timeout=300, env={**clean, **(env or {})}
    )


def test_running_server_status_env_and_files(argilla_server):
    home = str(argilla_server.home)
    again = curate("server", "start", "--home", home)
    assert again.returncode == 0 and "already running" in again.stdout
    status = curate("server", "status", "--home", home)
    assert status.returncode == 0 and argilla_server.url in status.stdout
    env = curate("server", "env", "--home", home)
    assert env.returncode == 0
    assert env.stdout.splitlines() == [
        f"export ARGILLA_API_URL={argilla_server.url}",
        f"export ARGILLA_API_KEY={argilla_server.api_key}",
    ]
    # The key appears where the user asked for it (env), nowhere else.
    for output in (again.stdout + again.stderr, status.stdout + status.stderr):
        assert argilla_server.api_key not in output
    credentials = argilla_server.home / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert set(json.loads(credentials.read_text())) == {"url", "username", "password", "api_key"}
    secret = json.loads(credentials.read_text())
    for log in ("argilla.log", "worker.log", "redis.log"):
        text = (argilla_server.home / log).read_text()
        assert secret["api_key"] not in text and secret["password"] not in text
    # The web server listens on loopback only; Redis has no TCP port at all.
    assert listen_addresses(argilla_server.port) == {"127.0.0.1"}


def test_stop_then_start_again_on_the_same_port(argilla_server):
    home = str(argilla_server.home)
    stopped = curate("server", "stop", "--home", home)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert curate("server", "status", "--home", home).returncode == 1
    for service in ("argilla", "worker", "redis"):
        assert not (argilla_server.home / f"{service}.pid").exists()
    started = curate("server", "start", "--home", home)  # the port comes from credentials.json
    assert started.returncode == 0, started.stderr
    assert argilla_server.url in started.stdout
    assert curate("server", "status", "--home", home).returncode == 0
    assert argilla_server.client.me.username == "argilla"  # same credentials after restart


def test_port_taken_is_one_clear_line_and_leaves_nothing_running(argilla_server, tmp_path):
    home = tmp_path / "taken"
    result = curate("server", "start", "--home", str(home), "--port", str(argilla_server.port))
    assert result.returncode == 1
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message
    assert f"port {argilla_server.port} on 127.0.0.1 is taken" in message
    assert not (home / "redis.pid").exists() and not (home / "argilla.pid").exists()


def test_redis_that_cannot_start_is_one_clear_line(tmp_path):
    home = tmp_path / "no-redis"
    result = curate(
        "server", "start", "--home", str(home), "--port", str(free_port()),
        env={"CURATION_REDIS_SERVER": str(tmp_path / "missing-redis-server")},
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "cannot start Redis" in result.stderr
    broken = tmp_path / "redis-that-fails"
    broken.write_text("#!/bin/sh\necho 'FATAL: no memory' >&2\nexit 3\n")
    broken.chmod(0o755)
    result = curate(
        "server", "start", "--home", str(home), "--port", str(free_port()),
        env={"CURATION_REDIS_SERVER": str(broken)},
    )  # fmt: skip
    assert result.returncode == 1
    assert "cannot start Redis" in result.stderr and "FATAL: no memory" in result.stderr
    assert not (home / "argilla.pid").exists()


def test_fresh_home_has_no_server(tmp_path):
    home = str(tmp_path / "fresh")
    assert curate("server", "status", "--home", home).returncode == 1
    env = curate("server", "env", "--home", home)
    assert env.returncode == 1 and "run `curate server start`" in env.stderr
    stop = curate("server", "stop", "--home", home)
    assert stop.returncode == 0 and "was not running" in stop.stdout


# --- review.connection -------------------------------------------------------------------


def test_connection_uses_the_embedded_server_by_default(argilla_server, monkeypatch):
    for key in ("ARGILLA_API_URL", "ARGILLA_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    config = load_config()
    assert resolve(config) == (argilla_server.url, argilla_server.api_key)
    assert resolve(config.argilla) == (argilla_server.url, argilla_server.api_key)
    assert connect(config).me.username == "argilla"


def test_connection_prefers_the_environment(argilla_server, monkeypatch, tmp_path):
    annotator = argilla_server.new_annotator(argilla_server.unique("env-ws"))
    monkeypatch.setenv("CURATION_ARGILLA__HOME", str(tmp_path / "no-server-here"))
    monkeypatch.setenv("ARGILLA_API_URL", argilla_server.url + "/")
    monkeypatch.setenv("ARGILLA_API_KEY", annotator.api_key)
    assert resolve(load_config()) == (argilla_server.url, annotator.api_key)
    assert connect(load_config()).me.username == annotator.username


def test_connection_errors_are_clear_and_never_show_the_key(argilla_server, monkeypatch, tmp_path):
    monkeypatch.delenv("ARGILLA_API_URL", raising=False)
    monkeypatch.delenv("ARGILLA_API_KEY", raising=False)
    monkeypatch.setenv("CURATION_ARGILLA__HOME", str(tmp_path / "nothing"))
    monkeypatch.setenv("CURATION_ARGILLA__PORT", "6999")
    with pytest.raises(CurationError) as error:
        resolve(load_config())
    assert str(error.value) == (
        "no Argilla server at http://127.0.0.1:6999: run `curate server start` "
        "or set ARGILLA_API_URL/ARGILLA_API_KEY"
    )
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("ARGILLA_API_URL", dead)
    monkeypatch.setenv("ARGILLA_API_KEY", "not-a-real-key-123")
    with pytest.raises(CurationError, match=f"no Argilla server at {dead}"):
        resolve(load_config())
    monkeypatch.setenv("ARGILLA_API_URL", argilla_server.url)
    with pytest.raises(CurationError) as error:
        resolve(load_config())
    assert "rejected the API key" in str(error.value)
    assert "not-a-real-key-123" not in str(error.value)
    monkeypatch.delenv("ARGILLA_API_KEY")
    with pytest.raises(CurationError, match="ARGILLA_API_KEY is not"):
        resolve(load_config())
