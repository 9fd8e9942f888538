"""Entry point of the embedded web server process (runs in `.venv-argilla`).

`python -m curation.embedded.serve --home HOME --port PORT`, started by the launcher with
the environment of `Layout.server_env()`. Before serving it brings the home up to date:
database migrations, our search tables, and the owner account from `credentials.json`.
argilla-server's own CLI crashes under click 8.5, so this calls its functions directly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import shutil
from pathlib import Path

from curation.embedded.layout import OWNER_USERNAME, Layout

LOOPBACK = "127.0.0.1"
log = logging.getLogger("curation.embedded")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    layout = Layout(args.home.resolve())
    # argilla-server reads its settings when first imported: everything env-based goes first.
    os.environ["ARGILLA_AUTH_SECRET_KEY"] = _auth_secret(layout)
    shutil.rmtree(layout.tmp, ignore_errors=True)  # web UI copies of earlier runs
    layout.tmp.mkdir(parents=True, exist_ok=True)

    _migrate()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    from curation.embedded import access, fixes, speedups

    fixes.install()
    access.install()
    speedups.install()

    from curation.embedded import sql_engine, sql_schema  # sql_engine registers the engine

    sql_schema.ensure_all()
    asyncio.run(_ensure_owner(layout))
    speedups.start_checkpoints(layout.database)
    sql_engine.start_warming(layout.saved_vectors)

    import uvicorn

    log.info("serving on http://%s:%d", LOOPBACK, args.port)
    uvicorn.run("argilla_server:app", host=LOOPBACK, port=args.port, log_level="info")


def _auth_secret(layout: Layout) -> str:
    """The key that signs web UI sessions; persisted so sign-ins survive a restart."""
    if layout.auth_secret.exists():
        return layout.auth_secret.read_text().strip()
    secret = secrets.token_hex(32)
    fd = os.open(layout.auth_secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(secret)
    return secret


def _migrate() -> None:
    from argilla_server.cli.database.migrate import migrate_db

    migrate_db(revision="head")
    # Alembic's logging config disables every logger that existed before it: undo that.
    for logger in logging.root.manager.loggerDict.values():
        if isinstance(logger, logging.Logger):
            logger.disabled = False


async def _ensure_owner(layout: Layout) -> None:
    """Create the owner from credentials.json, or bring its password and API key in line."""
    from argilla_server.cli.database.users.create_default import _create_default
    from argilla_server.contexts import accounts
    from argilla_server.database import AsyncSessionLocal, async_engine

    credentials = json.loads(layout.credentials.read_text())
    try:
        async with AsyncSessionLocal() as db:
            owner = await accounts.get_user_by_username(db, OWNER_USERNAME)
            if owner is not None:
                if owner.api_key != credentials["api_key"] or not accounts.verify_password(
                    credentials["password"], owner.password_hash
                ):
                    owner.api_key = credentials["api_key"]
                    owner.password_hash = accounts.hash_password(credentials["password"])
                    await db.commit()
                    log.info("owner %r: credentials updated from credentials.json", OWNER_USERNAME)
                return
        await _create_default(credentials["api_key"], credentials["password"], quiet=True)
        log.info("owner %r created", OWNER_USERNAME)
    finally:
        # The server runs in another event loop: drop connections bound to this one.
        await async_engine.dispose()


if __name__ == "__main__":
    main()
