"""`curate server|llm|config`: the embedded Argilla server, the local LLM, the config.

Each command parses its options and hands over to the module that does the work; heavy
libraries are imported inside the commands so `curate --help` stays fast.
"""

from __future__ import annotations

import typer

from curation.cli_shared import ConfigOption, HomeOption, PortOption, console, err_console

server_app = typer.Typer(help="The embedded Argilla server (127.0.0.1 only).", no_args_is_help=True)
llm_app = typer.Typer(
    help="The local LLM server (llama.cpp, OpenAI-compatible).", no_args_is_help=True
)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)

# --- configuration -----------------------------------------------------------------


@config_app.command("show")
def config_show(config: ConfigOption = None) -> None:
    """Print the effective config (file + environment), secrets masked."""
    import yaml

    from curation.config import config_path, load_config

    cfg = load_config(config)
    source = config_path(config)
    err_console.print(f"# config: {source or 'built-in defaults'} (+ environment overrides)")
    print(yaml.safe_dump(cfg.masked(), sort_keys=False), end="")


# --- embedded Argilla server -------------------------------------------------------


@server_app.command("start")
def server_start(home: HomeOption = None, port: PortOption = None) -> None:
    """Start the embedded Argilla server; returns once it is healthy."""
    from curation.config import load_config
    from curation.embedded import launcher

    cfg = load_config().argilla
    found, started = launcher.start(home or cfg.home, port, default_port=cfg.port)
    state = "started" if started else "already running"
    console.print(
        f"Argilla {state}: {found.url} (sign in as {found.username!r}; the password is in "
        f"{launcher.credentials_path(home or cfg.home)}; `curate server env` gives the API key)",
        soft_wrap=True,
        highlight=False,
    )


@server_app.command("status")
def server_status(home: HomeOption = None) -> None:
    """Exit 0 iff the embedded server answers."""
    from curation.config import load_config
    from curation.embedded import launcher

    home = home or load_config().argilla.home
    if launcher.is_running(home):
        console.print(f"Argilla running: {launcher.credentials(home).url}", highlight=False)
        return
    err_console.print(f"Argilla not running (home {home})")
    raise typer.Exit(1)


@server_app.command("env")
def server_env(home: HomeOption = None) -> None:
    """Print `export ARGILLA_API_URL=… ARGILLA_API_KEY=…` lines to eval in a shell."""
    from curation.config import load_config
    from curation.embedded import launcher

    # The one place a key is printed, on the user's explicit request: plain, for `eval`.
    print("\n".join(launcher.env_lines(home or load_config().argilla.home)))


@server_app.command("stop")
def server_stop(home: HomeOption = None) -> None:
    """Stop the embedded Argilla server."""
    from curation.config import load_config
    from curation.embedded import launcher

    was_running = launcher.stop(home or load_config().argilla.home)
    console.print("Argilla stopped" if was_running else "Argilla was not running")


# --- local LLM ---------------------------------------------------------------------


@llm_app.command("start")
def llm_start(config: ConfigOption = None, port: PortOption = None) -> None:
    """Start the local LLM server (SmolLM2-135M-Instruct by default)."""
    from curation.config import load_config
    from curation.llm import server

    cfg = load_config(config).llm
    if port is not None:
        cfg.port = port
    started = server.start(cfg)
    state = "started" if started else "already running"
    console.print(f"local LLM {state}: {server.base_url(cfg)} (model {cfg.alias})")


@llm_app.command("status")
def llm_status(config: ConfigOption = None) -> None:
    """Exit 0 iff the local LLM server answers."""
    from curation.config import load_config
    from curation.llm import server

    cfg = load_config(config).llm
    if server.is_healthy(cfg):
        console.print(f"local LLM running: {server.base_url(cfg)}")
        return
    err_console.print(f"local LLM not running at {server.base_url(cfg)}")
    raise typer.Exit(1)


@llm_app.command("stop")
def llm_stop() -> None:
    """Stop the local LLM server."""
    from curation.llm import server

    console.print("local LLM stopped" if server.stop() else "local LLM was not running")
