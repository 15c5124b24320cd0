"""Routes about the service itself: /healthz and /api/openapi.json."""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.api.schemas import HealthSchema
from app.chain import identity
from app.chain.client import RPC_ERRORS, order_time_web3
from app.chain.settings import ChainSettings
from app.config import current_config
from app.extensions import db
from app.models import ChainCursor
from app.openapi import build_spec, doc
from app.webhooks.payloads import EventSchema, event_payloads

logger = logging.getLogger(__name__)

bp = Blueprint("meta", __name__)


@bp.get("/healthz")
@doc("Service health: database (and Redis when configured) decide the status; the chain section reports the "
     "watcher's lag behind the RPC's head", HealthSchema, errors=(503,))
def healthz():
    config = current_config()
    checks = {"database": _check_database()}
    if config.REDIS_URL:
        checks["redis"] = _check_redis()
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "degraded", "checks": checks}
    if config.CHAIN.rpc_url and checks["database"] == "ok":
        # Reported, never failing the check: API servers must stay in rotation while a watcher catches up.
        body["chain"] = _chain_lag(config.CHAIN)
    return jsonify(HealthSchema().dump(body)), 200 if healthy else 503


@bp.get("/api/openapi.json")
def openapi():
    return jsonify(build_spec(current_app, EventSchema, event_payloads()))


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
        client = redis.Redis.from_url(current_config().REDIS_URL, socket_timeout=1)
        client.ping()
        return "ok"
    except redis.RedisError:
        logger.warning("health check: redis unreachable")
        return "unavailable"


def _chain_lag(chain: ChainSettings) -> dict:
    cursor = db.session.get(ChainCursor, chain.chain_id)
    watched = cursor.block_number if cursor else None
    w3 = order_time_web3(chain.rpc_url)
    try:
        head = w3.eth.block_number
        problem = identity.problem(chain.chain_id, w3.eth.chain_id, identity.genesis_hash(w3), cursor)
    except RPC_ERRORS as exc:
        logger.warning("health check: chain rpc unreachable (%s)", type(exc).__name__)
        return {"chainId": chain.chain_id, "rpc": "unavailable", "head": None, "watcherBlock": watched,
                "lagBlocks": None}
    if problem is not None:  # the watcher refuses to run on it: say why, where operators look
        return {"chainId": chain.chain_id, "rpc": "wrong_chain", "problem": problem, "head": head,
                "watcherBlock": watched, "lagBlocks": None}
    return {"chainId": chain.chain_id, "rpc": "ok", "head": head, "watcherBlock": watched,
            "lagBlocks": None if watched is None else max(0, head - watched)}
