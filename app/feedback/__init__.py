from flask import Blueprint

bp = Blueprint("feedback", __name__, url_prefix="/feedback")

from app.feedback import routes  # noqa: E402,F401
