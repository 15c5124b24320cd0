"""gunicorn embedded, so `tillpoint serve` needs no separate config file."""
from __future__ import annotations

import logging

from gunicorn.app.base import BaseApplication

logger = logging.getLogger(__name__)


class TillpointServer(BaseApplication):
    """A gunicorn application that builds the Flask app in each worker (never before the fork)."""

    def __init__(self, options: dict) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self):
        from app import create_app

        return create_app()


def run_gunicorn(host: str, port: int, workers: int, threads: int = 4) -> None:
    """Serve until stopped, with gthread workers so slow clients don't hold a whole worker."""
    from app.config import Config

    if workers > 1 and not Config.from_env().REDIS_URL:
        logger.warning("REDIS_URL is not set: each of the %d workers keeps its own rate limits "
                       "(a caller gets up to %d times the limit), and pay pages hear of changes only by re-reading "
                       "the database each second; set REDIS_URL to share limits and live events", workers, workers)
    TillpointServer({"bind": f"{host}:{port}", "workers": workers, "worker_class": "gthread",
                     "threads": threads, "accesslog": "-", "graceful_timeout": 10}).run()
