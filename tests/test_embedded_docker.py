"""docker/: the production compose file resolves (docker-compose's offline `config` check).

No Docker engine runs here, but `docker-compose config` parses the file, interpolates the
environment and validates it against the Compose schema, so a malformed file fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker" / "docker-compose.yml"
SECRETS = {
    "POSTGRES_PASSWORD": "pg-secret",
    "ARGILLA_OWNER_PASSWORD": "pw-secret",
    "ARGILLA_API_KEY": "key",
}

pytestmark = pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="docker-compose is installed by `make install`"
)


def _config(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    empty = tmp_path / "empty.env"  # never read a developer's docker/.env
    empty.write_text("")
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "--env-file", str(empty), "config"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_file_resolves_to_the_production_stack(tmp_path):
    result = _config(tmp_path, SECRETS)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert set(services) == {"argilla", "worker", "postgres", "elasticsearch", "redis", "dashboard"}
    argilla = services["argilla"]
    assert argilla["image"] == "argilla/argilla-server:v2.8.0"
    assert services["worker"]["image"] == argilla["image"]
    assert "python -m argilla_server worker" in services["worker"]["command"]
    env = argilla["environment"]
    assert env["ARGILLA_ELASTICSEARCH"] == "http://elasticsearch:9200"
    assert env["ARGILLA_DATABASE_URL"].startswith("postgresql+asyncpg://argilla:pg-secret@postgres")
    assert env["ARGILLA_REDIS_URL"] == "redis://redis:6379/0"
    assert env["API_KEY"] == "key"
    # Every published port binds loopback only; the dashboard shares the host's loopback.
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)
    dashboard = services["dashboard"]
    assert dashboard["network_mode"] == "host"
    assert dashboard["environment"]["ARGILLA_API_URL"] == "http://127.0.0.1:6900"
    assert dashboard["environment"]["ARGILLA_API_KEY"] == "key"
    assert Path(dashboard["build"]["context"], dashboard["build"]["dockerfile"]).exists()


def test_compose_file_refuses_to_run_without_its_secrets(tmp_path):
    result = _config(tmp_path, {k: v for k, v in SECRETS.items() if k != "ARGILLA_API_KEY"})
    assert result.returncode != 0
    assert "set ARGILLA_API_KEY in docker/.env" in result.stderr
