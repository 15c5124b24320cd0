"""Health, the OpenAPI document, and the error model for unknown routes and methods."""
from __future__ import annotations

import pytest

from app import create_app


def test_healthz_reports_database(client):
    assert client.get("/healthz").json == {"status": "ok", "checks": {"database": "ok"}}


def test_healthz_checks_real_redis_when_configured(app, redis_url):
    checked = create_app(app.config["TILLPOINT"].with_overrides(REDIS_URL=redis_url)).test_client()
    assert checked.get("/healthz").json["checks"] == {"database": "ok", "redis": "ok"}


def test_healthz_is_503_when_redis_is_unreachable(app):
    dead = create_app(app.config["TILLPOINT"].with_overrides(REDIS_URL="redis://127.0.0.1:1/0")).test_client()
    response = dead.get("/healthz")
    assert response.status_code == 503 and response.json["checks"]["redis"] == "unavailable"


def test_openapi_documents_every_route_and_method(app, client):
    spec = client.get("/api/openapi.json").json
    assert spec["openapi"].startswith("3.")
    expected = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "meta.openapi"):
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        expected |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert expected == documented
    create = spec["paths"]["/api/orders"]["post"]
    assert create["security"] == [{"subscriptionKey": ["orders:create"]}, {"apiKey": ["orders:create"]},
                                  {"session": []}]
    assert "CreateOrder" in str(create["requestBody"]) and "items" in str(spec["components"]["schemas"]["CreateOrder"])


@pytest.mark.parametrize("method, path, status, code", [
    ("get", "/api/nothing-here", 404, "not_found"), ("delete", "/api/orders", 405, "method_not_allowed"),
    ("get", "/nowhere", 404, "not_found")], ids=["unknown-api-route", "wrong-method", "unknown-page"])
def test_unknown_routes_and_methods_answer_in_the_error_model(client, method, path, status, code):
    response = getattr(client, method)(path)
    assert (response.status_code, response.json["error"]) == (status, code) and response.json["message"]


def test_an_unreachable_chain_rpc_is_reported_but_never_fails_health(app):
    from dataclasses import replace

    from tests.helpers.processes import free_ports

    [port] = free_ports(1)
    chain = replace(app.config["TILLPOINT"].CHAIN, rpc_url=f"http://127.0.0.1:{port}/v2/KEY")
    response = create_app(app.config["TILLPOINT"].with_overrides(CHAIN=chain)).test_client().get("/healthz")
    assert response.status_code == 200 and response.json["status"] == "ok"
    assert response.json["chain"]["rpc"] == "unavailable" and response.json["chain"]["lagBlocks"] is None
