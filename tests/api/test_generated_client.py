"""A Python client generated from /api/openapi.json with openapi-python-client works against the app: typed
orders and receipts, the Idempotency-Key, errors in the error model, and webhook bodies as typed events."""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from app.models import WebhookEvent

pytestmark = pytest.mark.slow  # runs the generator as a process
BODY = {"items": [{"sku": "FOOD-001", "qty": 1}]}
PACKAGE = "tillpoint_client"


@pytest.fixture
def generated(client, tmp_path):
    """The client package generated from the served document, importable for the test."""
    (tmp_path / "openapi.json").write_text(json.dumps(client.get("/api/openapi.json").json))
    (tmp_path / "config.json").write_text(json.dumps({"package_name_override": PACKAGE, "post_hooks": []}))
    result = subprocess.run(
        [str(Path(sys.executable).with_name("openapi-python-client")), "generate", "--path", "openapi.json",
         "--meta", "none", "--config", "config.json", "--output-path", PACKAGE],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "removal of" not in result.stdout, result.stdout  # no schema dropped as unreadable
    sys.path.insert(0, str(tmp_path))
    try:
        yield lambda name: importlib.import_module(f"{PACKAGE}.{name}")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def test_the_generated_client_creates_and_reads_orders_and_parses_events(generated, app, shop, in_app):
    package, models = generated("client"), generated("models")
    create_order, get_receipt = generated("api.orders.create_order"), generated("api.receipts.get_receipt")
    transport = {"transport": httpx.WSGITransport(app=app)}
    api = package.AuthenticatedClient(base_url="http://localhost", token=shop.key, prefix="",
                                      auth_header_name="x-api-key", httpx_args=transport)

    first = create_order.sync_detailed(client=api, body=models.CreateOrder.from_dict(BODY), idempotency_key="k-1")
    again = create_order.sync_detailed(client=api, body=models.CreateOrder.from_dict(BODY), idempotency_key="k-1")
    assert isinstance(first.parsed, models.ReceiptEnvelope) and first.parsed.ok
    receipt_id = first.parsed.receipt.receipt_id
    assert (again.parsed.receipt.receipt_id, again.headers["Idempotent-Replayed"]) == (receipt_id, "true")
    read = get_receipt.sync(client=api, receipt_id=receipt_id)
    assert (read.receipt.receipt_id, read.receipt.status, read.receipt.total_usd) == (receipt_id, "generated", 10.05)

    anonymous = package.Client(base_url="http://localhost", httpx_args=transport)
    refused = get_receipt.sync_detailed(client=anonymous, receipt_id=receipt_id)
    assert refused.status_code == 401 and isinstance(refused.parsed, models.Error)
    assert refused.parsed.error == "unauthorized" and "X-RateLimit-Remaining" in refused.headers

    with in_app() as session:
        body = json.loads(session.scalar(select(WebhookEvent.body).where(WebhookEvent.type == "order.created")))
    event = models.OrderCreatedEvent.from_dict(body)
    assert (event.type_, event.data.sequence, event.data.receipt.receipt_id) == ("order.created", 1, receipt_id)
