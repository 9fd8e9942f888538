"""Fixes for argilla-server 2.8 bugs the embedded server hits (server and worker processes).

`install()` runs before argilla-server serves anything. Unlike `speedups`, these change
an answer: from an error to what the endpoint documents.

1. `GET /api/v1/records/{id}` (the SDK's `record.get()`, the web UI's record page) answered
   500 `MissingGreenlet` for every record with a vector, and uvicorn then dropped the
   connection. The handler loads the record's vectors but not their vector settings, and
   the response schema reads `vector.vector_settings.name`: a lazy load, i.e. database I/O,
   in synchronous serialisation code, which SQLAlchemy's asyncio layer refuses. Plain
   argilla-server (none of our changes) answers the same, and nothing in the cause depends
   on the database; upstream's test passes only because its factories leave the settings
   in the test's session. Now a record read by id whose vectors were loaded
   gets their settings loaded with them (one query; none when already there, as in the
   PATCH handler, which loads the dataset's vector settings itself).

Every module that patches argilla-server internals (these fixes, `access`, `speedups`,
`bulk_log`) first checks
that the installed argilla-server is the version it was written for (`written_for`): a
newer one may have renamed what a patch replaces, or fixed it differently.
"""

from __future__ import annotations

from typing import Any


def install() -> None:
    written_for("2.8.0", __name__)
    _vector_settings_with_vectors()


def written_for(version: str, patcher: str) -> None:
    """Refuse to start on an argilla-server other than `version`: `patcher`'s patches were
    checked against that one's source, and access rules must not silently lapse."""
    from argilla_server._version import __version__

    if __version__ != version:
        raise RuntimeError(
            f"{patcher} was written for argilla-server {version}, found {__version__}: "
            "check its patches against the new version, then update the version here"
        )


def _vector_settings_with_vectors() -> None:
    from argilla_server.models import Record, VectorSettings
    from sqlalchemy import select
    from sqlalchemy.orm.attributes import set_committed_value

    get = Record.get.__func__  # the mixin's classmethod, bound to Record below

    async def get_with_vector_settings(cls: type, db: Any, id: Any, options: Any = ()) -> Any:
        record = await get(cls, db, id, list(options))
        if record is None or "vectors" not in record.__dict__:  # vectors not loaded: nothing to do
            return record
        missing = [vector for vector in record.vectors if "vector_settings" not in vector.__dict__]
        if missing:
            ids = {vector.vector_settings_id for vector in missing}
            found = await db.execute(select(VectorSettings).where(VectorSettings.id.in_(ids)))
            by_id = {settings.id: settings for settings in found.scalars()}
            for vector in missing:
                set_committed_value(vector, "vector_settings", by_id[vector.vector_settings_id])
        return record

    Record.get = classmethod(get_with_vector_settings)  # type: ignore[method-assign, assignment]
