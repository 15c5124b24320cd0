"""Routes about the service itself: /healthz and /api/openapi.json."""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.api.openapi import build_spec, doc
from app.api.schemas import HealthSchema
from app.extensions import db

logger = logging.getLogger(__name__)

bp = Blueprint("meta", __name__)


@bp.get("/healthz")
@doc("Service health: database (and Redis when configured)", HealthSchema, errors=(503,))
def healthz():
    checks = {"database": _check_database()}
    if current_app.config["TILLPOINT"].REDIS_URL:
        checks["redis"] = _check_redis()
    healthy = all(value == "ok" for value in checks.values())
    return jsonify(HealthSchema().dump({"status": "ok" if healthy else "degraded", "checks": checks})), (
        200 if healthy else 503)


@bp.get("/api/openapi.json")
def openapi():
    return jsonify(build_spec(current_app))


def _check_database() -> str:
    try:
        db.session.execute(text("SELECT 1"))
        return "ok"
    except SQLAlchemyError:
        logger.warning("health check: database unreachable", exc_info=True)
        return "unavailable"


def _check_redis() -> str:
    import redis

    try:
        client = redis.Redis.from_url(current_app.config["TILLPOINT"].REDIS_URL, socket_timeout=1)
        client.ping()
        return "ok"
    except redis.RedisError:
        logger.warning("health check: redis unreachable")
        return "unavailable"
