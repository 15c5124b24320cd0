"""gunicorn embedded, so `tillpoint serve` needs no separate config file."""
from __future__ import annotations

import hashlib
import ipaddress
import logging
import signal
import tempfile
from pathlib import Path

from gunicorn.app.base import BaseApplication

logger = logging.getLogger(__name__)

UNIX_PATH_MAX = 100  # sun_path holds 108 bytes on Linux; leave room
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


class TillpointServer(BaseApplication):
    """A gunicorn application that builds the Flask app in each worker (never before the fork)."""

    def __init__(self, options: dict, behind_proxy: bool = False) -> None:
        self.options = options
        self.behind_proxy = behind_proxy
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self):
        from app import create_app
        from app.config import Config

        config = Config.from_env()
        return create_app(config.with_overrides(BEHIND_PROXY=True) if self.behind_proxy else config)


def is_loopback(host: str) -> bool:
    """Return True when host is a loopback name or address (only this machine can connect)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def control_socket(instance_path: str, port: int) -> str:
    """Return this server's own gunicorn control socket: instance/gunicorn-<port>.ctl (a port has one server),
    or the same name in the temp folder when the instance path is too long for a Unix socket."""
    path = Path(instance_path) / f"gunicorn-{port}.ctl"
    if len(str(path)) > UNIX_PATH_MAX:
        folder = hashlib.sha256(instance_path.encode()).hexdigest()[:12]
        path = Path(tempfile.gettempdir()) / f"tillpoint-{folder}-gunicorn-{port}.ctl"
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def post_worker_init(worker) -> None:
    """gunicorn hook: on any stop signal, end this worker's pay-page streams first, so they never hold it."""
    from app.pay import stream

    for signum in STOP_SIGNALS:
        handler = signal.getsignal(signum)

        def closing_then(sig, frame, handler=handler):
            stream.close_all()
            if callable(handler):
                handler(sig, frame)

        signal.signal(signum, closing_then)


def run_gunicorn(host: str, port: int, workers: int, threads: int = 4, behind_proxy: bool = False) -> None:
    """Serve until stopped, with gthread workers so slow clients don't hold a whole worker."""
    from app.config import Config

    config = Config.from_env()
    if workers > 1 and not config.REDIS_URL:
        logger.warning("REDIS_URL is not set: each of the %d workers keeps its own rate limits "
                       "(a caller gets up to %d times the limit), and pay pages hear of changes only by re-reading "
                       "the database each second; set REDIS_URL to share limits and live events", workers, workers)
    TillpointServer({"bind": f"{host}:{port}", "workers": workers, "worker_class": "gthread",
                     "threads": threads, "accesslog": "-", "graceful_timeout": 10,
                     "control_socket": control_socket(config.INSTANCE_PATH, port),
                     "post_worker_init": post_worker_init}, behind_proxy).run()
