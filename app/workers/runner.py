"""`tillpoint watch`: one active watcher per chain, the others standing by on a Redis lock; and
`tillpoint deliver`: any number of webhook workers on PostgreSQL, one active on SQLite."""
from __future__ import annotations

import logging
import threading
import time

import redis

from app.chain.client import make_web3
from app.chain.settings import ChainSettings
from app.config import Config
from app.extensions import db
from app.services import refunds
from app.webhooks import delivery
from app.workers.settler import Settler
from app.workers.watcher import Watcher

logger = logging.getLogger(__name__)

# The lock is renewed by a thread of its own every RENEW_SECONDS, however long a tick or a backoff takes, so it
# can be short: a killed watcher's lock lapses within LOCK_SECONDS and a standby polling every STANDBY_SECONDS
# takes over within their sum (under 10 s).
LOCK_SECONDS = 6
RENEW_SECONDS = 2
STANDBY_SECONDS = 1


def lock_name(prefix: str, chain_id: int) -> str:
    """Return the Redis key that elects the active watcher of a chain within one deployment (its key prefix)."""
    return f"{prefix}:watcher:{chain_id}"


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
    # thread_local=False: the renewing thread must see the token the watcher's thread acquired with.
    lock = redis.Redis.from_url(config.REDIS_URL).lock(lock_name(config.RATE_LIMIT_KEY_PREFIX, chain.chain_id),
                                                       timeout=LOCK_SECONDS, thread_local=False)
    while not stop():
        if not _acquire(lock):
            time.sleep(standby_seconds)
            continue
        logger.info("watcher active chain=%d", chain.chain_id)
        _run_holding(lock, lambda should_stop: watcher.run(should_stop, after_tick=after_tick), stop)


def _run_holding(lock, work, stop) -> None:
    """Run work(should_stop) while a thread keeps the acquired lock renewed; it stops when stop() is true or the
    lock is lost, then the lock is released."""
    done = threading.Event()
    renewer = threading.Thread(target=_keep, args=(lock, done), name="worker-lock", daemon=True)
    renewer.start()
    try:
        work(lambda: stop() or done.is_set())
    finally:
        done.set()
        renewer.join()
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
    lock = redis.Redis.from_url(config.REDIS_URL).lock(f"{config.RATE_LIMIT_KEY_PREFIX}:deliver",
                                                       timeout=LOCK_SECONDS, thread_local=False)
    while not stop():
        if not _acquire(lock):
            time.sleep(standby_seconds)
            continue
        logger.info("webhook deliverer active")
        _run_holding(lock, lambda should_stop: delivery.run(config, should_stop), stop)


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
        logger.warning("redis unavailable: standing by", exc_info=True)
        return False


def _keep(lock, done: threading.Event) -> None:
    """Renew the lock every RENEW_SECONDS until done is set; set done when the lock is lost (the watcher stops)."""
    while not done.wait(RENEW_SECONDS):
        if not _renew(lock):
            done.set()


def _renew(lock) -> bool:
    """Return True while this process still owns the lock (its lifetime extended)."""
    try:
        lock.reacquire()
        return True
    except (redis.RedisError, redis.exceptions.LockError):
        logger.warning("lost the lock: standing by")
        return False


def _release(lock) -> None:
    try:
        lock.release()
    except (redis.RedisError, redis.exceptions.LockError):
        logger.info("lock already gone")
