"""The embedded Argilla server: argilla-server on SQLite, Redis, the rq worker, our search engine.

Modules here run in two places: `launcher` in the `curate` process (main venv), the rest
inside the server and worker processes (`.venv-argilla`), so this file imports nothing.
"""
