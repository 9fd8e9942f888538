"""`curate dashboard`: serve the Streamlit app (`dashboards/app.py`) in the background.

The server binds 127.0.0.1 only, runs headless without usage statistics, and lives under
`service_home("dashboard")` like every other background service. Starting it again is
idempotent: it answers with the URL of the running server, pointed at the requested run
(the app reads `?run=` from the URL, so one server serves every run).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import quote

from curation.config import Config
from curation.errors import CurationError
from curation.paths import service_home
from curation.runs import RunDir
from curation.services import LOOPBACK, Service, http_ok

APP = Path(__file__).resolve().parent.parent / "dashboards" / "app.py"
STATE = "dashboard.json"


def service() -> Service:
    return Service("dashboard", service_home("dashboard"))


def url(port: int, run: Path | None = None) -> str:
    """The address of the app, opened on `run` when given."""
    base = f"http://{LOOPBACK}:{port}/"
    return f"{base}?run={quote(str(run), safe='')}" if run is not None else base


def is_healthy(port: int) -> bool:
    return http_ok(f"http://{LOOPBACK}:{port}/_stcore/health")


def running_port() -> int | None:
    """The port of the dashboard started under this home, if it runs."""
    if not service().running():
        return None
    try:
        return int(json.loads((service_home("dashboard") / STATE).read_text())["port"])
    except (FileNotFoundError, KeyError, ValueError):
        return None


def start(
    config: Config,
    run: str | None = None,
    port: int | None = None,
    config_file: Path | None = None,
) -> tuple[bool, str]:
    """Start the dashboard unless it runs; return (started now, URL of the run).

    The app reads the same config (`config_file`) and runs root as this command.
    """
    if not APP.exists():
        raise CurationError(f"the dashboard app is missing: {APP} (a source checkout is needed)")
    run = run or config.dashboard.run
    run_path = RunDir.open(run, config.runs_dir, create=False).path.resolve() if run else None
    current = running_port()
    if current is not None:
        if port is not None and port != current:
            raise CurationError(
                f"the dashboard already runs on port {current}; stop it with `curate stop` "
                f"to move it to port {port}"
            )
        if not is_healthy(current):
            raise CurationError(f"the dashboard runs but does not answer; see {service().log_file}")
        return False, url(current, run_path)
    port = port or config.dashboard.port
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", LOOPBACK,
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--global.developmentMode", "false",
        "--client.toolbarMode", "minimal",
    ]  # fmt: skip
    env = {"CURATION_RUNS_DIR": str(Path(config.runs_dir).resolve())}
    if run_path is not None:
        env["CURATION_DASHBOARD__RUN"] = str(run_path)
    if config_file is not None:
        env["CURATION_CONFIG"] = str(Path(config_file).resolve())
    started = service().start(
        command, healthy=lambda: is_healthy(port), port=port, env=env, cwd=APP.parent.parent
    )
    (service_home("dashboard") / STATE).write_text(json.dumps({"port": port}))
    return started, url(port, run_path)


def stop() -> bool:
    return service().stop()
