"""Database chores the fixtures and the pool tests share."""
from __future__ import annotations

import psycopg
from sqlalchemy import create_engine, text

from app.models import Base


def reset_database(url: str) -> None:
    """Drop everything in the test database so the migrations start from nothing."""
    engine = create_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        else:
            Base.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


def drop_connections(url: str) -> None:
    """Do what a server restart does to every other connection of the database: terminate it."""
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND pid <> pg_backend_pid()")
