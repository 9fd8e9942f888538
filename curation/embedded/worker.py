"""Entry point of the embedded rq worker process (runs in `.venv-argilla`).

`python -m curation.embedded.worker --home HOME`. argilla-server queues background jobs
(record statuses after a distribution change, Hub imports and exports, webhooks) in
Redis; this runs them with the same search engine and speed-ups as the web server. It
writes `HOME/worker.ready` once registered with Redis, which the launcher waits for.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from curation.embedded.layout import Layout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, required=True)
    args = parser.parse_args()
    layout = Layout(args.home.resolve())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    from curation.embedded import fixes, speedups

    fixes.install()
    speedups.install()

    from argilla_server.jobs.queues import DEFAULT_QUEUE, HIGH_QUEUE, REDIS_CONNECTION
    from rq import Worker

    import curation.embedded.sql_engine  # noqa: F401  (registers the search engine)

    class _ReadyWorker(Worker):
        def register_birth(self) -> None:
            super().register_birth()
            layout.worker_ready.write_text(str(os.getpid()))

    worker = _ReadyWorker([HIGH_QUEUE, DEFAULT_QUEUE], connection=REDIS_CONNECTION)
    worker.work(with_scheduler=True, logging_level="INFO")


if __name__ == "__main__":
    main()
