"""The database extension, created unbound and bound to an app with init_app (the rate limiter is app.auth.limits)."""
from __future__ import annotations

import time

from flask import Flask
from sqlalchemy import create_engine, event, exc
from sqlalchemy.engine import Engine, Result
from sqlalchemy.orm import Session, scoped_session, sessionmaker
from sqlalchemy.sql import Executable

REST_BEFORE_PING_SECONDS = 5.0
RECYCLE_SECONDS = 1800  # below the idle limits of common proxies and managed databases


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

    def end_reads(self) -> None:
        """End the session's transaction, which must hold only reads (raises RuntimeError if it holds changes).

        A unit of work that locks calls this first, so its lock is the first statement of a new transaction
        (not a read snapshot, nor an autocommit connection from reader()); slow chain work calls it so that
        no transaction is held open meanwhile. It never commits a caller's changes.
        """
        session = self.session()
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("a unit of work must begin with its lock: this transaction already holds changes")
        session.commit()

    def read(self, statement: Executable, params: dict) -> Result:
        """Return the result of one read-only statement through reader(), retried once on a fresh connection
        if its connection turns out dead (a database restart: such a read is safe to repeat)."""
        try:
            return self.reader().execute(statement, params)
        except exc.DBAPIError as error:
            if not error.connection_invalidated:
                raise
            self.session.rollback()
            return self.reader().execute(statement, params)


def make_engine(url: str, rest_before_ping: float = REST_BEFORE_PING_SECONDS) -> Engine:
    """Return an engine for url; SQLite gets foreign keys, WAL and a busy timeout for concurrent writers."""
    if not url.startswith("sqlite"):
        engine = create_engine(url, pool_recycle=RECYCLE_SECONDS)
        ping_rested_connections(engine, rest_before_ping)
        return engine
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record):
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    return engine


def ping_rested_connections(engine: Engine, rest_seconds: float) -> None:
    """Ping a pooled connection on checkout only if it rested rest_seconds (pool_pre_ping pings every time).

    A connection back from a request a moment ago is alive; a round trip per request to ask costs a pay page
    about 6% of its time. A dead one (the server restarted) fails its first statement, which invalidates the
    whole pool; Database.read retries such a read once, and writers see the same error as during the restart.
    """

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _rest_from_now(_dbapi_conn, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_rested(dbapi_conn, record, _proxy) -> None:
        if time.monotonic() - record.info.get("idle_since", 0.0) < rest_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as error:
            raise exc.InvalidatePoolError(f"pooled connection failed its ping: {error}") from error


db = Database()
