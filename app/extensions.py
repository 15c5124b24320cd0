"""Extensions created unbound and bound to an app with init_app."""
from __future__ import annotations

import hashlib

from flask import Flask, current_app, request
from flask_limiter import Limiter
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session, sessionmaker


class Database:
    """One engine and a request-scoped session, bound with init_app."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self._factory = sessionmaker(expire_on_commit=False)
        self.session: scoped_session[Session] = scoped_session(self._factory)

    def init_app(self, app: Flask, url: str) -> None:
        """Bind the engine for url and remove the session at the end of every request."""
        self.engine = make_engine(url)
        self._factory.configure(bind=self.engine)
        app.teardown_appcontext(lambda exc: self.session.remove())

    def reader(self) -> Session:
        """Return the request's session, in autocommit if it has not begun: for a read of ONE statement.

        Without BEGIN and ROLLBACK such a read is one round trip, and psycopg keeps its prepared statements
        (it drops them on every rollback). Never write through it: each statement would commit on its own.
        """
        session = self.session()
        if not session.in_transaction():
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        return session


def make_engine(url: str) -> Engine:
    """Return an engine for url; SQLite gets foreign keys, WAL and a busy timeout for concurrent writers."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record):
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    return engine


db = Database()


def rate_limit_key() -> str:
    """Return who a request counts against: the gateway-stamped wallet, its subscription key (by hash),
    its signed-in wallet, else its client address."""
    from app.auth import edge, sessions

    if stamped := edge.stamped_wallet():
        return "wallet:" + stamped.lower()
    key = request.headers.get("Ocp-Apim-Subscription-Key") or request.headers.get("x-api-key")
    if key:
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:32]
    if wallet := sessions.subject_or_none():
        return "session:" + wallet
    return "ip:" + client_address()


def client_address() -> str:
    """Return the caller's address: behind the gateway, the last X-Forwarded-For hop (the one it appended)."""
    from app.auth import edge

    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and edge.came_through_edge():
        return forwarded.split(",")[-1].strip()
    return request.remote_addr or "unknown"


def configured_rate_limit() -> str:
    """Return the RATE_LIMIT setting of the current app."""
    return current_app.config["TILLPOINT"].RATE_LIMIT


# One bucket per caller across every route; Redis-backed when REDIS_URL is set, so all workers share it.
limiter = Limiter(key_func=rate_limit_key, application_limits=[configured_rate_limit], headers_enabled=True,
                  strategy="fixed-window", in_memory_fallback_enabled=True)
