from flask import Blueprint

bp = Blueprint("rollout", __name__, url_prefix="/rollout")

from app.rollout import routes  # noqa: E402,F401
