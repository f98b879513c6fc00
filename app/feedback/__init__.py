from flask import Blueprint

bp = Blueprint("feedback", __name__, url_prefix="/feedback", cli_group="feedback")

from app.feedback import cli, routes  # noqa: E402,F401
