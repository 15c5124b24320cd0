"""Pure pieces of the webhook API: which event types an endpoint takes, and the delivery log's cursors."""
from __future__ import annotations

import base64

import pytest

from app.errors import InvalidInput
from app.webhooks.endpoints import SUBSCRIBABLE, subscription
from app.webhooks.events import EVENT_TYPES
from app.webhooks.log import decode_cursor, encode_cursor


def test_every_event_type_but_the_test_event_can_be_subscribed_to():
    assert set(SUBSCRIBABLE) == set(EVENT_TYPES) - {"webhook.test"}
    assert subscription(list(SUBSCRIBABLE)) == list(SUBSCRIBABLE)


@pytest.mark.parametrize("given, stored", [
    (None, ["*"]), (["*"], ["*"]), (["refund.confirmed", "*"], ["*"]),
    (["order.paid", "order.created", "order.paid"], ["order.paid", "order.created"]),
], ids=["absent", "star", "star-with-others", "duplicates"])
def test_subscription_normalises(given, stored):
    assert subscription(given) == stored


@pytest.mark.parametrize("given, named", [
    (["order.paid", "Order.Paid"], "['Order.Paid']"),
    (["webhook.test", "order.paid"], "webhook.test cannot be subscribed to"),
    ([], "no event types"),
], ids=["case-sensitive", "test-event", "empty"])
def test_subscription_refuses_by_name(given, named):
    with pytest.raises(InvalidInput) as refused:
        subscription(given)
    assert named in refused.value.fields["events"][0]


@pytest.mark.parametrize("last_id", [1, 42, 2**31 + 7], ids=["one", "small", "beyond-int32"])
def test_a_cursor_round_trips_and_is_opaque(last_id):
    cursor = encode_cursor(last_id)
    assert decode_cursor(cursor) == last_id and str(last_id) not in cursor


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "", "!!!", b64("not json"), b64("[1]"), b64('{"v":1}'), b64('{"v":2,"before":5}'), b64('{"v":1,"before":-1}'),
    b64('{"v":1,"before":true}'), b64('{"v":1,"before":"5"}'), b64('{"v":1,"before":1e3}'),
    b64(f'{{"v":1,"before":{2**63}}}'), "\u2603",
], ids=["empty", "not-base64", "not-json", "list", "no-before", "other-version", "negative", "bool", "string",
        "float", "too-big", "unicode"])
def test_a_cursor_this_api_did_not_make_is_invalid_input(cursor):
    with pytest.raises(InvalidInput):
        decode_cursor(cursor)
