from flask import Blueprint

bp = Blueprint("feedback", __name__, url_prefix="/feedback", cli_group="feedback")
