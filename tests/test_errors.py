"""One renderer for every error: the shopper's error page under /pay/ and /receipt/, the JSON error model
elsewhere, for unknown paths, wrong methods and failures alike."""
from __future__ import annotations

import pytest

from app import create_app

UNKNOWN = "R-AAAAAAAAAAAA"


@pytest.fixture
def failing_client(base_config):
    """A client of an app with a route under /pay/ and one under /api/ that fail unexpectedly."""
    app = create_app(base_config)

    def explode(**_):
        raise RuntimeError("boom")

    app.add_url_rule("/pay/<receipt_id>/explode", "pay_explode", explode)
    app.add_url_rule("/api/explode", "api_explode", explode)
    return app.test_client()


def assert_error_page(response, status: int) -> str:
    """Assert response is the shopper's error page with status and the pages' headers; return its text."""
    assert response.status_code == status and response.mimetype == "text/html"
    assert "style-src 'self'" in response.headers["Content-Security-Policy"], "the page's stylesheet may load"
    body = response.get_data(as_text=True)
    assert '<main class="sheet">' in body and '"error"' not in body
    return body


@pytest.mark.parametrize("path", [f"/pay/{UNKNOWN}/nope", f"/pay/{UNKNOWN}/status/more", f"/receipt/{UNKNOWN}/x",
                                  f"/pay/{UNKNOWN}/qr/USDC"],
                         ids=["pay-sub-path", "below-a-json-route", "receipt-sub-path", "qr-without-format"])
def test_unknown_path_under_a_page_is_the_404_page(client, path):
    assert "Receipt not found" in assert_error_page(client.get(path), 404)


@pytest.mark.parametrize("method, path", [("delete", f"/pay/{UNKNOWN}"), ("put", f"/receipt/{UNKNOWN}"),
                                          ("get", f"/pay/{UNKNOWN}/requote")],
                         ids=["delete-pay-page", "put-receipt", "get-requote"])
def test_wrong_method_on_a_page_is_the_405_page(client, method, path):
    response = getattr(client, method)(path)
    assert "That did not work" in assert_error_page(response, 405)
    assert "GET" in response.headers["Allow"] or "POST" in response.headers["Allow"]


def test_unexpected_failure_on_a_page_is_the_500_page(failing_client):
    body = assert_error_page(failing_client.get(f"/pay/{UNKNOWN}/explode"), 500)
    assert "Internal server error" in body and "boom" not in body
    assert f'href="/pay/{UNKNOWN}"' in body, "a failure offers the way back to the payment"


def test_unexpected_failure_on_the_api_is_the_json_error_model(failing_client):
    response = failing_client.get("/api/explode")
    assert response.status_code == 500 and response.mimetype == "application/json"
    assert response.json == {"error": "internal_error", "message": "Internal server error"}


@pytest.mark.parametrize("method, path, status, code", [
    ("get", "/api/receipts/R-AAAAAAAAAAAA/nope", 404, "not_found"), ("put", "/api/receipts", 405, "method_not_allowed"),
    ("get", "/auth/nope", 404, "not_found"), ("delete", "/healthz", 405, "method_not_allowed"),
    ("get", f"/pay/{UNKNOWN}/status", 404, "not_found"), ("get", f"/pay/{UNKNOWN}/qr/USDC.png", 404, "not_found"),
    ("get", f"/pay/{UNKNOWN}/events", 404, "not_found")],
    ids=["api-sub-path", "api-method", "auth-path", "health-method", "pay-status", "pay-qr", "pay-events"])
def test_api_auth_health_and_the_pages_json_routes_answer_the_error_model(client, method, path, status, code):
    response = getattr(client, method)(path)
    assert response.status_code == status and response.mimetype == "application/json"
    assert set(response.json) == {"error", "message"} and response.json["error"] == code


@pytest.mark.parametrize("method, path", [("post", "/api/inventory"), ("put", "/api/shop/config"),
                                          ("post", "/api/keys"), ("post", "/auth/login")],
                         ids=["inventory", "shop-config", "keys", "login"])
def test_a_body_over_64_kib_is_413_in_the_error_model(client, shop, method, path):
    body = b'{"pad": "' + b"x" * (64 * 1024) + b'"}'
    response = getattr(client, method)(path, data=body, headers={**shop.headers, "Content-Type": "application/json"})
    assert response.status_code == 413 and set(response.json) == {"error", "message"}
    assert response.json == {"error": "payload_too_large", "message": "Request body too large: at most 65536 bytes"}
