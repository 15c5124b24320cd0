"""`tillpoint watch`: one active watcher per chain, the others standing by on a Redis lock; and
`tillpoint deliver`: any number of webhook workers on PostgreSQL, one active on SQLite."""
from __future__ import annotations

import logging
import time

import redis

from app.chain.client import make_web3
from app.chain.settings import ChainSettings
from app.workers.settler import Settler
from app.workers.watcher import Watcher
from app.config import Config
from app.extensions import db
from app.services import refunds
from app.webhooks import delivery

logger = logging.getLogger(__name__)

LOCK_SECONDS = 60  # longer than the watcher's longest backoff, renewed after every tick
STANDBY_SECONDS = 5
DELIVER_LOCK = "tillpoint:deliver"


def lock_name(chain_id: int) -> str:
    """Return the Redis key that elects the active watcher of a chain."""
    return f"tillpoint:watcher:{chain_id}"


def run_watcher(config: Config, stop=lambda: False, standby_seconds: float = STANDBY_SECONDS) -> None:
    """Watch config's chain until stop() is true; with REDIS_URL only while holding the chain's lock."""
    chain = config.CHAIN
    w3 = make_web3(chain.rpc_url)
    watcher = Watcher(w3, chain)
    after_tick = follow_up(w3, chain)
    if not config.REDIS_URL:
        logger.warning("REDIS_URL is not set: nothing stops a second watcher; run exactly one per chain")
        watcher.run(stop, after_tick=after_tick)
        return
    lock = redis.Redis.from_url(config.REDIS_URL).lock(lock_name(chain.chain_id), timeout=LOCK_SECONDS)
    while not stop():
        if not _acquire(lock):
            time.sleep(standby_seconds)
            continue
        logger.info("watcher active chain=%d", chain.chain_id)
        try:
            watcher.run(lambda: stop() or not _renew(lock), after_tick=after_tick)
        finally:
            _release(lock)


def run_deliverer(config: Config, stop=lambda: False, standby_seconds: float = STANDBY_SECONDS) -> None:
    """Deliver webhooks until stop() is true. PostgreSQL claims with SKIP LOCKED, so workers share the work;
    SQLite has no such claim, so there only the holder of a Redis lock delivers (with REDIS_URL)."""
    if db.engine.dialect.name == "postgresql":
        delivery.run(config, stop)
        return
    if not config.REDIS_URL:
        logger.warning("SQLite and no REDIS_URL: nothing stops a second `tillpoint deliver`; run exactly one")
        delivery.run(config, stop)
        return
    lock = redis.Redis.from_url(config.REDIS_URL).lock(DELIVER_LOCK, timeout=LOCK_SECONDS)
    while not stop():
        if not _acquire(lock):
            time.sleep(standby_seconds)
            continue
        logger.info("webhook deliverer active")
        try:
            delivery.run(config, _stop_or_lost(lock, stop, standby_seconds))
        finally:
            _release(lock)


def _stop_or_lost(lock, stop, seconds: float):
    """Return a stop check that is also true once the lock is lost (renewing it at most every seconds)."""
    renewed = [time.monotonic()]

    def check() -> bool:
        if stop():
            return True
        if time.monotonic() - renewed[0] < seconds:
            return False
        renewed[0] = time.monotonic()
        return not _renew(lock)

    return check


def follow_up(w3, chain: ChainSettings):
    """Return the work the watcher does after each tick: verify submitted refunds, and settle unless disabled."""
    settler = None
    if chain.settle and chain.operator_key and chain.factory:
        settler = Settler(w3, chain)
    else:
        logger.warning("settler off (SETTLER=off, or no OPERATOR_PRIVATE_KEY / DEPOSIT_FACTORY): paid orders "
                       "stay paid until something settles them")

    def work() -> None:
        refunds.verify_submitted(w3, chain)
        if settler is not None:
            settler.tick()

    return work


def _acquire(lock) -> bool:
    try:
        return lock.acquire(blocking=False)
    except redis.RedisError:
        logger.warning("redis unavailable: watcher standing by", exc_info=True)
        return False


def _renew(lock) -> bool:
    """Return True while this process still owns the lock (its lifetime extended)."""
    try:
        lock.reacquire()
        return True
    except (redis.RedisError, redis.exceptions.LockError):
        logger.warning("watcher lost its lock: standing by")
        return False


def _release(lock) -> None:
    try:
        lock.release()
    except (redis.RedisError, redis.exceptions.LockError):
        logger.info("watcher lock already gone")
