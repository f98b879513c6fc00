from flask import Blueprint

bp = Blueprint("pilots", __name__, url_prefix="/pilots")

from app.pilots import routes  # noqa: E402,F401
