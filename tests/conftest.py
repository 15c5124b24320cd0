"""Fixtures: a real database (SQLite file by default, PostgreSQL when DATABASE_URL is set),
migrated with Alembic once per session and emptied after every test."""
from __future__ import annotations

import os
from contextlib import contextmanager

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, func, select

from app import create_app, migrate
from app.config import Config, normalize_database_url
from app.extensions import db
from app.models import Base
from tests.factories import US_CA, Factory, Shop
from tests.helpers.config import TEST_SECRET_KEY
from tests.helpers.db import reset_database

# CI replays the same generated examples every run (a red gate must be reproducible); local runs
# explore new ones each time.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
# Processes the tests start (tillpoint watch, gunicorn, the CLI) run in production mode and need one too.
os.environ.setdefault("SECRET_KEY", TEST_SECRET_KEY)


def pytest_collection_modifyitems(config, items):
    """Leave out tests marked postgresql when the suite runs on SQLite (CI's PostgreSQL pass runs them):
    not collected rather than skipped, since CI counts a skip as a missing service."""
    if (os.environ.get("DATABASE_URL") or "").startswith("postgres"):
        return
    left_out = [item for item in items if item.get_closest_marker("postgresql")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("postgresql")]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("DATABASE_URL")
    url = normalize_database_url(url) if url else f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    reset_database(url)
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def base_config(database_url, tmp_path_factory) -> Config:
    # Every test signs in from 127.0.0.1 within a few minutes: sign-in gets the API's allowance, not its own 60/min
    # (tests/api/test_rate_limits.py checks each family's limit with an app of its own).
    return Config(ENV="test", DATABASE_URL=database_url, INSTANCE_PATH=str(tmp_path_factory.mktemp("instance")),
                  SECRET_KEY=TEST_SECRET_KEY, RATE_LIMIT_AUTH="600 per minute")


@pytest.fixture(scope="session")
def app(base_config):
    return create_app(base_config)


@pytest.fixture(autouse=True)
def _empty_tables(request):
    yield
    if "database_url" not in request.fixturenames:
        return
    engine = create_engine(request.getfixturevalue("database_url"))
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def in_app(app):
    """Run a block inside its own app context (never held across requests)."""

    @contextmanager
    def context():
        with app.app_context():
            yield db.session

    return context


@pytest.fixture
def count_rows(in_app):
    def count(model) -> int:
        with in_app() as session:
            return session.scalar(select(func.count()).select_from(model))

    return count


@pytest.fixture
def factory(in_app) -> Factory:
    return Factory(in_app)


@pytest.fixture
def shop(factory):
    """A merchant with a key holding every scope, US-CA tax, and the reference's items."""
    merchant = factory.merchant("My Coffee Shop", jurisdictions=[US_CA])
    secret = factory.key(merchant)
    items = {sku: factory.item(merchant, sku, price, taxable) for sku, price, taxable in [
        ("BIG-100", "100.00", True), ("FOOD-001", "10.00", True), ("MEDICINE-001", "15.00", False),
        ("COFFEE-001", "3.50", True), ("PASTRY-001", "4.50", True)]}
    return Shop(merchant, secret, items)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A real Redis: REDIS_URL, else the local default; CI fails rather than skips without one."""
    import redis

    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    redis.Redis.from_url(url, socket_timeout=2).ping()
    return url
