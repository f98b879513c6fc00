"""Flask extensions, created unbound and bound in ``create_app`` via ``init_app``."""

from flask_babel import Babel
from flask_bootstrap import Bootstrap5
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from app.config import check_rate_limit_storage
from app.models.base import Base


class SharedLimiter(Limiter):
    """Flask-Limiter that will not start with per-process counters where several worker
    processes serve production (see :func:`app.config.check_rate_limit_storage`)."""

    def init_app(self, app) -> None:
        check_rate_limit_storage(app.config)
        super().init_app(app)


db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True, compare_type=True)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
bootstrap = Bootstrap5()
limiter = SharedLimiter(key_func=get_remote_address, default_limits=[])
