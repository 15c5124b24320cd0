"""Tillpoint: the Flask application factory."""
from __future__ import annotations

import logging
import secrets

from flask import Flask

from app.config import Config
from app.errors import register_error_handlers
from app.extensions import db
from app.jsoncodec import DecimalJSONProvider

logger = logging.getLogger(__name__)


def create_app(config: Config | None = None) -> Flask:
    """Return a configured app; config defaults to Config.from_env(). Raises ValueError on an unsafe config."""
    config = with_secret_key(config or Config.from_env())
    app = Flask(__name__, template_folder="../templates", static_folder="../static",
                instance_path=config.INSTANCE_PATH or None)
    app.json = DecimalJSONProvider(app)
    app.config.update(TILLPOINT=config, MAX_CONTENT_LENGTH=config.MAX_CONTENT_LENGTH)
    db.init_app(app, config.database_url())
    # Without Redis the limits live in each process (fine for one worker; `tillpoint serve` warns).
    app.config.update(RATELIMIT_STORAGE_URI=config.REDIS_URL or "memory://",
                      RATELIMIT_KEY_PREFIX=config.RATE_LIMIT_KEY_PREFIX,
                      RATELIMIT_STORAGE_OPTIONS={"socket_timeout": 1, "socket_connect_timeout": 1})
    register_error_handlers(app)

    from app import security
    from app.api import bp as api_bp
    from app.api.meta import bp as meta_bp
    from app.auth import edge, limits
    from app.auth.views import bp as auth_bp
    from app.pay import views as pay_views
    from app.pay.claims import bp as claims_bp

    limiter = limits.init_app(app)
    edge.init_app(app)
    security.init_app(app)
    app.register_blueprint(api_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(meta_bp)
    pay_views.init_app(app)
    app.register_blueprint(claims_bp)
    limiter.exempt(meta_bp)
    return app


def with_secret_key(config: Config) -> Config:
    """Return config after validation; in dev/test without SECRET_KEY, with one made for this process."""
    config.validate()
    if config.SECRET_KEY:
        return config
    logger.warning("SECRET_KEY is not set: sessions are signed with a key of this process only (dev/test)")
    return config.with_overrides(SECRET_KEY=secrets.token_urlsafe(48))
