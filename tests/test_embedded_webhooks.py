"""Webhooks still fire on the embedded server: the write-path speed-ups skip building
events only when no webhook listens, and the rq worker delivers them.

A small HTTP receiver on 127.0.0.1 subscribes to record and response events; logging
records (the bulk path) and an annotator's response must reach it.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from curation.services import LOOPBACK

pytestmark = pytest.mark.integration


@pytest.fixture
def receiver():
    """(URL, received payloads) of an HTTP server that records every POST."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{LOOPBACK}:{server.server_address[1]}/hook", received
    server.shutdown()


def _wait_for(received: list[dict], predicate, timeout: float = 60.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [event for event in received if predicate(event)]
        if found:
            return found
        time.sleep(0.25)
    return []


def test_record_and_response_events_reach_a_subscribed_webhook(argilla_server, receiver):
    import argilla as rg

    url, received = receiver
    http = argilla_server.client.api.http_client
    reply = http.post(
        "/api/v1/webhooks", json={"url": url, "events": ["record.created", "response.created"]}
    )
    assert reply.status_code == 201, reply.text
    webhook_id = reply.json()["id"]
    try:
        workspace = argilla_server.workspace(argilla_server.unique("hooks"))
        settings = rg.Settings(
            fields=[rg.TextField(name="text")],
            questions=[rg.LabelQuestion(name="ok", labels=["yes", "no"])],
        )
        dataset = rg.Dataset(
            name=argilla_server.unique("hooks"), workspace=workspace, settings=settings,
            client=argilla_server.client,
        ).create()  # fmt: skip
        dataset.records.log([rg.Record(id=f"h{i}", fields={"text": f"t{i}"}) for i in range(3)])
        created = _wait_for(
            received,
            lambda e: e["type"] == "record.created" and e["data"]["external_id"] == "h2",
        )
        assert created, "no record.created event arrived"
        ids = {e["data"]["external_id"] for e in received if e["type"] == "record.created"}
        assert {"h0", "h1", "h2"} <= ids

        annotator = argilla_server.new_annotator(workspace)
        record = next(r for r in dataset.records if r.id == "h1")
        reply = annotator.client.api.http_client.post(
            f"/api/v1/records/{record._server_id}/responses",
            json={"status": "submitted", "values": {"ok": {"value": "yes"}}},
        )
        assert reply.status_code == 201, reply.text
        responses = _wait_for(received, lambda e: e["type"] == "response.created")
        assert responses, "no response.created event arrived"
        assert responses[0]["data"]["values"] == {"ok": {"value": "yes"}}
        assert responses[0]["data"]["user"]["username"] == annotator.username
    finally:
        http.delete(f"/api/v1/webhooks/{webhook_id}")
