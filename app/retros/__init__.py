from flask import Blueprint

bp = Blueprint("retros", __name__, url_prefix="/retros")

from app.retros import routes  # noqa: E402,F401
