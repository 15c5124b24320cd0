"""The engine's connection pool against a server that drops its connections (PostgreSQL only: SQLite has none)."""
from __future__ import annotations

import pytest
from sqlalchemy import exc, text

from app.extensions import make_engine
from tests.helpers.db import drop_connections


pytestmark = pytest.mark.postgresql  # a connection the server drops needs a database server


@pytest.fixture
def postgres_url(database_url) -> str:
    return database_url


def backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(text("SELECT pg_backend_pid()"))


def test_a_rested_pooled_connection_the_server_dropped_is_replaced_on_checkout(postgres_url):
    engine = make_engine(postgres_url, rest_before_ping=0)
    try:
        before = backend_pid(engine)
        drop_connections(postgres_url)
        assert backend_pid(engine) != before
    finally:
        engine.dispose()


def test_a_busy_pooled_connection_is_not_pinged_and_one_failure_renews_the_whole_pool(postgres_url):
    engine = make_engine(postgres_url, rest_before_ping=3600)
    try:
        backend_pid(engine)
        drop_connections(postgres_url)
        with pytest.raises(exc.DBAPIError) as failure:
            backend_pid(engine)
        assert failure.value.connection_invalidated
        backend_pid(engine)
    finally:
        engine.dispose()

