"""Transaction boundaries are visible: a unit of work begins with its lock, never on top of pending changes,
and authentication writes nothing into the request's transaction."""
from __future__ import annotations

import pytest

from app.extensions import db
from app.models import ApiKey, Merchant


def test_a_unit_of_work_cannot_begin_on_top_of_uncommitted_changes(in_app, factory):
    merchant = factory.merchant("Shop")
    with in_app() as session:
        session.get(Merchant, merchant.id).name = "Renamed, never committed"
        with pytest.raises(RuntimeError, match="must begin with its lock"):
            db.end_reads()
        session.rollback()
        db.end_reads()  # only reads now: it ends them
        assert session.get(Merchant, merchant.id).name == "Shop"


def test_authentication_commits_only_the_keys_use_and_leaves_nothing_pending(app, shop, in_app):
    with app.test_request_context("/api/receipts", headers=shop.headers):
        from app.auth.keys import key_caller

        key_caller(shop.key)
        session = db.session()
        assert not (session.new or session.dirty or session.deleted)
        session.rollback()  # the request's later work is thrown away: the key's last use was committed first
    with in_app() as session:
        assert session.query(ApiKey).one().last_used_at is not None
